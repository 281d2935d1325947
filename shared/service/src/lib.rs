//! The two Lambda functions' work, over small ports: gather the inputs a decision needs (task
//! definition, log), call the pure core, act on its answer.
//!
//! - [`OnTaskStopped`]: an ECS task state change in, a
//!   [`DecisionRecord`](dbt_rerun_core::record::DecisionRecord) out, and at most one
//!   RunTask (or one schedule, for a delayed re-run).
//! - [`RerunTask`]: a person's request to re-run, or a delayed re-run's schedule firing; see
//!   [`RerunRequest`].
//! - [`history`]: the functions' decision lines read back (`dbt-rerun history`).
//! - [`Doctor`]: a deployment read and checked before its first failure (`dbt-rerun doctor`).
//!
//! A key design decision: the flows reach the outside only through the traits of [`ports`],
//! which speak the core's plain types. The AWS crate implements them over the SDK;
//! [`memory`] implements each in a few lines for tests, and [`FileLog`] reads a log from a
//! file for the CLI. Waiting (the log wait) uses tokio's timer, so a test with paused time
//! runs a minute's wait in a millisecond; the wall clock is a port too.

mod doctor;
mod file_log;
mod gather;
pub mod history;
mod log_wait;
pub mod memory;
mod on_task_stopped;
mod once;
pub mod ports;
mod request;
mod rerun_task;

pub use doctor::{Doctor, DoctorError, DoctorRequest};
pub use file_log::FileLog;
pub use gather::{gather_and_decide, Gathered};
pub use log_wait::{read_log, LogRead, QUIET};
pub use on_task_stopped::OnTaskStopped;
pub use once::{launch_once, schedule_once};
pub use ports::{
    Alerts, AwsError, Clock, DecisionLog, Ecs, EcsInventory, EventPage, LogPage, Logs, Network,
    Roles, Rules, Schedules, Stacks, SystemClock,
};
pub use request::{Manual, Mode, RequestError, RerunRequest, Terms};
pub use rerun_task::{RerunResponse, RerunTask};

use dbt_rerun_core::event::EventError;

/// Why an invocation failed (Lambda then retries it, and its failure destination gets it
/// last). A decision that cannot be carried out is an error, never a silent success.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("bad event: {0}")]
    Event(#[from] EventError),
    #[error(transparent)]
    Aws(#[from] AwsError),
    #[error("bad request: {0}")]
    Request(#[from] RequestError),
}

#[cfg(test)]
mod tests;
