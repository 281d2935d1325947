//! dbt-rerun's core: everything that decides, as plain functions over plain data.
//!
//! A key design decision made in this crate is that it depends on no async runtime, no AWS
//! crate and no clock: it is handed the event, the log's lines, the task definition and the
//! time, and answers with plain data. The service crate gathers those inputs through its
//! ports and acts on the answers; `scripts/test` fails if this crate's dependency tree ever
//! holds tokio or an `aws-` crate.
//!
//! - [`log`]: dbt's console output (text or JSON, any version from 1.5) into a [`RunReport`].
//! - [`node`]: the nodes a log names, and [`NodeName`], the only way a name reaches an argv.
//! - [`event`]: the EventBridge ECS task state change.
//! - [`classify`]: what kind of failure stopped a task; [`transient`]: warehouse errors that
//!   go away.
//! - [`policy`]: which failures are re-run, and how often.
//! - [`command`] and [`plan`]: the original dbt command, and the re-run command;
//!   [`microbatch`]: the window that builds again the batches of microbatch models;
//!   [`script`]: shell scripts around dbt, read into steps and re-run from the failed one.
//! - [`chain`]: a chain of runs and every name derived from it (`startedBy`, `clientToken`,
//!   schedule name, tags, environment).
//! - [`decision`]: all of the above combined into a [`Decision`]; [`record`]: the record a
//!   person or a program reads, assembled from it.
//! - [`launch`], [`schedule`], [`task_definition`]: the plain types the ports speak;
//!   [`overrides`]: ECS's limit on RunTask overrides and how they are measured;
//!   [`launch_rules`]: what rerun-task may launch for whoever invokes it.
//! - [`alert`] and [`metrics`]: what a person is told (SNS) and the decision log line (EMF).
//! - [`doctor`]: a deployed setup checked, as a checklist, from what was read of it.
//! - [`config`]: environment variables to typed settings; [`scope`]: the clusters and task
//!   families a deployment serves.

#![warn(missing_docs)]

pub mod alert;
pub mod chain;
pub mod classify;
pub mod command;
pub mod config;
pub mod decision;
pub mod delay;
pub mod doctor;
pub mod event;
pub mod fargate;
pub mod history;
pub mod launch;
pub mod launch_rules;
pub mod log;
pub mod metrics;
pub mod microbatch;
pub mod node;
pub mod overrides;
pub mod plan;
pub mod policy;
pub mod record;
pub mod schedule;
pub mod scope;
pub mod script;
pub mod task_definition;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod transient;

pub use decision::{decide, Decided, Decision, DecisionConfig, DecisionInput, PlannedRerun};
pub use log::{LogParser, RunReport};
pub use node::{FailedNode, NodeName, ResourceType, SkippedNode};
pub use record::{DecisionKind, DecisionRecord};
