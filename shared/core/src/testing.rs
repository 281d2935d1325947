//! Builders for the tests of this crate and the others (feature `testing`): a stopped task as
//! ECS describes it, and a decision's record without a launch.

pub mod history;

use crate::decision::{decide, DecisionInput};
use crate::event::{ContainerOverride, EcsContainer, EcsTask, KeyValue, LaunchType, TaskOverrides};
use crate::record::{DecisionRecord, LogFacts};

/// The task ARN the builders use.
pub const TASK_ARN: &str =
    "arn:aws:ecs:eu-west-1:123456789012:task/dbt/0123456789abcdef0123456789abcdef";

/// A task as the state-change event describes it: by default a Fargate task of family
/// `dbt-build` in cluster `dbt`, 1024 CPU units and 2048 MiB, whose one container `dbt`
/// stopped with exit code 1.
#[derive(Debug, Clone)]
pub struct TaskBuilder(EcsTask);

impl Default for TaskBuilder {
    fn default() -> Self {
        Self(EcsTask {
            task_arn: TASK_ARN.into(),
            cluster_arn: "arn:aws:ecs:eu-west-1:123456789012:cluster/dbt".into(),
            task_definition_arn: "arn:aws:ecs:eu-west-1:123456789012:task-definition/dbt-build:7"
                .into(),
            last_status: "STOPPED".into(),
            desired_status: Some("STOPPED".into()),
            stop_code: Some("EssentialContainerExited".to_owned().into()),
            cpu: Some("1024".into()),
            memory: Some("2048".into()),
            launch_type: Some(LaunchType::Fargate),
            group: Some("family:dbt-build".into()),
            containers: vec![EcsContainer {
                name: "dbt".into(),
                exit_code: Some(1),
                last_status: Some("STOPPED".into()),
                ..Default::default()
            }],
            ..Default::default()
        })
    }
}

impl TaskBuilder {
    /// The default task with its dbt container's exit code.
    pub fn exited(code: Option<i32>) -> Self {
        Self::default().exit_code(code)
    }

    /// With the dbt container's exit code (None: it never ran).
    pub fn exit_code(mut self, code: Option<i32>) -> Self {
        self.0.containers[0].exit_code = code;
        self
    }

    /// With ECS's `stopCode`, as ECS writes it (unknown codes too).
    pub fn stop_code(mut self, code: &str) -> Self {
        self.0.stop_code = Some(code.to_owned().into());
        self
    }

    /// The dbt container's reason (`OutOfMemoryError: ...`).
    pub fn reason(mut self, reason: &str) -> Self {
        self.0.containers[0].reason = Some(reason.into());
        self
    }

    /// With `lastStatus` (`RUNNING`, `STOPPING`, ...).
    pub fn status(mut self, status: &str) -> Self {
        self.0.last_status = status.into();
        self
    }

    /// With another task ARN (a chain's re-run, a second task).
    pub fn arn(mut self, arn: &str) -> Self {
        self.0.task_arn = arn.into();
        self
    }

    /// With `startedBy`, as a dbt-rerun launch or a person sets it.
    pub fn started_by(mut self, started_by: &str) -> Self {
        self.0.started_by = Some(started_by.into());
        self
    }

    /// The dbt container's override: its command (when given) and environment.
    pub fn overrides(mut self, command: Option<&[&str]>, env: &[(&str, &str)]) -> Self {
        self.0.overrides = TaskOverrides {
            container_overrides: vec![ContainerOverride {
                name: "dbt".into(),
                command: command.map(|c| c.iter().map(|s| (*s).to_owned()).collect()),
                environment: env
                    .iter()
                    .map(|(name, value)| KeyValue {
                        name: (*name).into(),
                        value: (*value).into(),
                    })
                    .collect(),
            }],
            ..Default::default()
        };
        self
    }

    /// Adds a container.
    pub fn container(mut self, name: &str, exit_code: Option<i32>) -> Self {
        self.0.containers.push(EcsContainer {
            name: name.into(),
            exit_code,
            ..Default::default()
        });
        self
    }

    /// The task, as the event would carry it.
    pub fn build(self) -> EcsTask {
        self.0
    }
}

/// The record of the decision on `input`, as a dry run would show it (no log read, no
/// launch).
pub fn decide_record(input: DecisionInput<'_>) -> DecisionRecord {
    DecisionRecord::assemble(&decide(input), &LogFacts::default(), None)
}
