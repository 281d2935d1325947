//! dbt-rerun's core: everything that decides, as plain functions over plain data.
//!
//! - [`log`]: dbt's console output (text or JSON, any version from 1.5) into a [`RunReport`].
//! - [`node`]: the nodes a log names, and [`NodeName`], the only way a name reaches an argv.
//! - [`event`]: the EventBridge ECS task state change.
//! - [`classify`]: what kind of failure stopped a task; [`transient`]: warehouse errors that
//!   go away.
//! - [`policy`]: which failures are re-run, and how often.
//! - [`command`] and [`plan`]: the original dbt command, and the re-run command.
//! - [`decision`]: all of the above combined into a [`DecisionRecord`].
//! - [`alert`] and [`metrics`]: what a person is told (SNS) and the decision log line (EMF).
//! - [`aws`] and [`service`]: the shell around the core: AWS behind one trait per service,
//!   and the functions' work (gather inputs, decide, launch).

pub mod alert;
pub mod aws;
pub mod classify;
pub mod command;
pub mod config;
pub mod decision;
pub mod delay;
pub mod event;
pub mod fargate;
pub mod log;
pub mod metrics;
pub mod node;
pub mod plan;
pub mod policy;
pub mod service;
pub mod transient;

pub use decision::{decide, Decision, DecisionConfig, DecisionInput, DecisionRecord};
pub use log::{LogParser, RunReport};
pub use node::{FailedNode, NodeName, ResourceType, SkippedNode};
