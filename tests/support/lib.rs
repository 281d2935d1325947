//! Test support, by what it stands for: the recorded dbt fixtures (the `dbt-rerun-fixtures`
//! crate, `tests/fixture-support`, re-exported here: the core's own tests read them too), real dbt
//! ([`dbt`]), moto as the local AWS ([`moto`], [`fault_proxy`]), the template deployed in
//! moto's CloudFormation ([`stack`]) and a Lambda Runtime API for the binaries
//! ([`runtime_api`]), a fixture generator kept running to run dbt on its run's warehouse
//! ([`generator`]).

pub mod dbt;
pub mod fault_proxy;
pub mod generator;
pub mod moto;
pub mod runtime_api;
pub mod stack;
pub mod warehouse;

pub use dbt::*;
pub use dbt_rerun_fixtures::*;
pub use generator::*;
pub use warehouse::*;
