//! A delayed re-run: the one-time EventBridge Scheduler schedule that holds it, and the
//! schedule's input, [`PlannedLaunch`].
//!
//! **API boundary**: a schedule's input is written by one version of on-task-stopped and may
//! be read, when the schedule fires, by the rerun-task of a later deploy. Its JSON
//! (`{"planned_launch": {...}}`) therefore only grows: fields are added with defaults, never
//! renamed or removed, and [`PlannedLaunch::version`] says which shape wrote it.

use crate::chain::Chain;
use crate::launch::Launch;
use serde::{Deserialize, Serialize};

/// The schedule input shape this version writes. Inputs without a version were written
/// before versions existed and have the same shape as version 1.
pub(crate) const PLANNED_LAUNCH_VERSION: u32 = 1;

fn first_version() -> u32 {
    1
}

/// A re-run planned for later: the launch and what the checks at launch time need. It is the
/// input of a delayed re-run's schedule, and carries environment values: never log it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlannedLaunch {
    /// The input's shape; inputs from before versions read as 1.
    #[serde(default = "first_version")]
    pub version: u32,
    /// The RunTask request to make when the schedule fires.
    pub launch: Launch,
    /// The task definition family, to find the family's running tasks before launching.
    pub family: String,
    /// The chain's original task.
    pub origin_task_arn: String,
    /// The chain's first command, so a newer run of it can supersede this re-run.
    pub original_command: Option<Vec<String>>,
    /// The attempt the launch will be in its chain.
    pub attempt: u32,
}

/// A schedule input this version cannot read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("planned_launch.version is {0}, and this rerun-task reads versions up to {PLANNED_LAUNCH_VERSION}: deploy the newer dbt-rerun that wrote it")]
pub struct UnknownVersion(pub u32);

impl PlannedLaunch {
    /// The launch of attempt `attempt` of `chain`, for a task of `family`.
    pub fn new(launch: Launch, family: String, chain: &Chain, attempt: u32) -> Self {
        Self {
            version: PLANNED_LAUNCH_VERSION,
            launch,
            family,
            origin_task_arn: chain.origin_task_arn().to_owned(),
            original_command: chain.original_command().map(<[String]>::to_vec),
            attempt,
        }
    }

    /// The chain this launch continues.
    pub fn chain(&self) -> Chain {
        Chain::new(self.origin_task_arn.clone(), self.original_command.clone())
    }

    /// Refuses inputs written by a newer shape.
    pub fn check_version(&self) -> Result<(), UnknownVersion> {
        if self.version > PLANNED_LAUNCH_VERSION {
            return Err(UnknownVersion(self.version));
        }
        Ok(())
    }

    /// The schedule's input, as rerun-task reads it.
    pub fn schedule_input(&self) -> String {
        serde_json::json!({ "planned_launch": self }).to_string()
    }
}

/// A one-time EventBridge Scheduler schedule that invokes a function with an input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleRequest {
    /// The schedule's name: one per chain and attempt, so a repeated event finds it taken.
    pub name: String,
    /// The schedule group (`DBT_RERUN_SCHEDULE_GROUP`).
    pub group: String,
    /// `at(yyyy-mm-ddThh:mm:ss)`, UTC.
    pub expression: String,
    /// The function it invokes: rerun-task (`DBT_RERUN_SCHEDULER_TARGET_ARN`).
    pub target_arn: String,
    /// The role EventBridge Scheduler assumes to invoke it (`DBT_RERUN_SCHEDULER_ROLE_ARN`).
    pub role_arn: String,
    /// The target's input. It carries environment values: never log it.
    pub input: String,
}
