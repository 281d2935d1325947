//! The ECS port of an offline `dbt-rerun plan --log-file`: it knows only what the event says.
//! The log comes from the file ([`dbt_rerun_service::FileLog`]), so the container's log
//! location is a placeholder the file log ignores; nothing is launched or listed.

use dbt_rerun_core::event::EcsTask;
use dbt_rerun_core::launch::Launch;
use dbt_rerun_core::task_definition::{
    AwsLogsOptions, ContainerDefinition, LogDriver, TaskDefinition,
};
use dbt_rerun_service::{AwsError, Ecs};

/// The task definition as far as the event shows it: its containers, no command (the event's
/// override or `--command` gives it), a log the file stands for.
pub struct EventOnlyEcs {
    definition: TaskDefinition,
}

impl EventOnlyEcs {
    pub fn new(task: &EcsTask) -> Self {
        let containers = task
            .containers
            .iter()
            .map(|c| ContainerDefinition {
                name: c.name.clone(),
                entry_point: None,
                command: None,
                essential: true,
                log: Some(LogDriver::AwsLogs(AwsLogsOptions {
                    group: "(file)".to_owned(),
                    ..AwsLogsOptions::default()
                })),
                ..ContainerDefinition::default()
            })
            .collect();
        Self {
            definition: TaskDefinition {
                arn: task.task_definition_arn.clone(),
                family: task.family().to_owned(),
                containers,
                ..TaskDefinition::default()
            },
        }
    }
}

fn offline(operation: &'static str) -> AwsError {
    AwsError::local(
        operation,
        "dbt-rerun plan --log-file works offline and never calls ECS",
    )
}

impl Ecs for EventOnlyEcs {
    async fn task_definition(&self, _arn: &str) -> Result<TaskDefinition, AwsError> {
        Ok(self.definition.clone())
    }

    async fn task(&self, _cluster: &str, _task_arn: &str) -> Result<Option<EcsTask>, AwsError> {
        Err(offline("ecs:DescribeTasks"))
    }

    async fn running_tasks(&self, _cluster: &str, _family: &str) -> Result<Vec<EcsTask>, AwsError> {
        Err(offline("ecs:ListTasks"))
    }

    async fn run_task(&self, _launch: &Launch) -> Result<String, AwsError> {
        Err(offline("ecs:RunTask"))
    }
}
