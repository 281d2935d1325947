//! Test support, by what it stands for: the recorded dbt fixtures ([`fixtures`]), real dbt
//! ([`dbt`]), moto as the local AWS ([`moto`], [`fault_proxy`]), the template deployed in
//! moto's CloudFormation ([`stack`]) and a Lambda Runtime API for the binaries
//! ([`runtime_api`]), a fixture generator kept running to run dbt on its run's warehouse
//! ([`generator`]).

pub mod dbt;
pub mod fault_proxy;
pub mod fixtures;
pub mod generator;
pub mod moto;
pub mod runtime_api;
pub mod stack;
pub mod warehouse;

pub use dbt::*;
pub use fixtures::*;
pub use generator::*;
pub use warehouse::*;
