//! What dbt-rerun needs of a task definition, and where a container's log is: the plain types
//! the ECS and logs ports speak.

use serde::Serialize;

/// A task definition revision (DescribeTaskDefinition), as far as dbt-rerun reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskDefinition {
    pub arn: String,
    pub family: String,
    pub containers: Vec<ContainerDefinition>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerDefinition {
    pub name: String,
    /// ECS runs `entryPoint` followed by `command` (an override replaces `command` only).
    pub entry_point: Option<Vec<String>>,
    pub command: Option<Vec<String>>,
    pub essential: bool,
    /// The awslogs options, when the container logs to CloudWatch.
    pub awslogs: Option<AwsLogsOptions>,
}

/// The options of the `awslogs` log driver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsLogsOptions {
    pub group: String,
    pub stream_prefix: Option<String>,
    pub region: Option<String>,
}

/// Where a container's log is: awslogs group, stream, and region when it is not the
/// function's own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LogLocation {
    pub group: String,
    pub stream: String,
    pub region: Option<String>,
}

impl TaskDefinition {
    pub fn container(&self, name: &str) -> Option<&ContainerDefinition> {
        self.containers.iter().find(|c| c.name == name)
    }
}

impl ContainerDefinition {
    /// The log stream of this container in task `task_id`: `prefix/container/task-id`.
    pub fn log_location(&self, task_id: &str) -> Option<LogLocation> {
        let logs = self.awslogs.as_ref()?;
        let stream = match &logs.stream_prefix {
            Some(prefix) => format!("{prefix}/{}/{task_id}", self.name),
            None => task_id.to_owned(),
        };
        Some(LogLocation {
            group: logs.group.clone(),
            stream,
            region: logs.region.clone(),
        })
    }
}
