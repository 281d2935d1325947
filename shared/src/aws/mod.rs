//! AWS access, behind one small trait per service with one real implementation each:
//! [`Ecs`] ([`EcsClient`], `aws-sdk-ecs`), [`Logs`] ([`CloudWatchLogs`],
//! `aws-sdk-cloudwatchlogs`) and [`Alerts`] ([`SnsAlerts`], `aws-sdk-sns`). The traits speak the plain types of this module, so the
//! services in [`crate::service`] never see an SDK type.

mod ecs;
mod logs;
mod scheduler;
mod sns;

pub use ecs::EcsClient;
pub use logs::CloudWatchLogs;
pub use scheduler::SchedulerClient;
pub use sns::SnsAlerts;

use crate::event::{ContainerOverride, EcsTask, KeyValue};
use serde::Serialize;
use std::future::Future;

/// How long one attempt of an AWS call may take before it is abandoned (and retried).
pub const ATTEMPT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
/// How long an AWS call may take in all, retries included.
pub const CALL_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(35);
/// Attempts per AWS call: throttling, 5xx, timeouts and dropped connections are retried with
/// backoff this many times in all, then the invocation fails and Lambda's retries take over.
pub const MAX_ATTEMPTS: u32 = 3;

/// The SDK configuration of the functions and the CLI: region, credentials and endpoint from
/// the standard AWS environment (`AWS_ENDPOINT_URL` reaches moto), with bounded retries and
/// timeouts so a hung call cannot eat the function's timeout.
pub async fn load_config() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(MAX_ATTEMPTS))
        .timeout_config(
            aws_config::timeout::TimeoutConfig::builder()
                .connect_timeout(std::time::Duration::from_secs(3))
                .operation_attempt_timeout(ATTEMPT_TIMEOUT)
                .operation_timeout(CALL_TIMEOUT)
                .build(),
        )
        .load()
        .await
}

/// A failed AWS call: which call, the service's error code, and its message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{operation} failed: {message}{}", code.as_deref().map(|c| format!(" ({c})")).unwrap_or_default())]
pub struct AwsError {
    pub operation: &'static str,
    pub code: Option<String>,
    pub message: String,
}

/// An SDK error as an [`AwsError`] naming `operation` (the same shape for every service).
pub(crate) fn sdk_error<E, R>(
    operation: &'static str,
    err: aws_sdk_ecs::error::SdkError<E, R>,
) -> AwsError
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    use aws_smithy_types::error::metadata::ProvideErrorMetadata;
    AwsError {
        operation,
        code: err.code().map(str::to_owned),
        message: err.message().map(str::to_owned).unwrap_or_else(|| {
            aws_smithy_types::error::display::DisplayErrorContext(&err).to_string()
        }),
    }
}

impl AwsError {
    /// An error of `operation` found before or after the call (a request that cannot be
    /// built, an answer without what it must hold).
    pub(crate) fn local(operation: &'static str, message: impl ToString) -> Self {
        Self {
            operation,
            code: None,
            message: message.to_string(),
        }
    }

    /// The resource does not exist (a log group or stream not there yet, a task gone).
    pub fn is_not_found(&self) -> bool {
        self.code.as_deref() == Some("ResourceNotFoundException")
    }

    /// RunTask saw the same clientToken with other parameters: a launch for this attempt
    /// already happened.
    pub fn is_conflict(&self) -> bool {
        matches!(
            self.code.as_deref(),
            Some("ConflictException") | Some("IdempotentParameterMismatchException")
        )
    }
}

/// Where a container's log is: awslogs group, stream, and region when it is not the
/// function's own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LogLocation {
    pub group: String,
    pub stream: String,
    pub region: Option<String>,
}

/// One page of log events, each a line of the container's output.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogPage {
    pub lines: Vec<String>,
    /// Where the next page starts; at the end of the stream, the token given.
    pub next_token: Option<String>,
}

/// CloudWatch Logs, as dbt-rerun reads it.
pub trait Logs {
    /// The page of `at` after `token` (from the stream's first event when None), oldest first.
    fn page(
        &self,
        at: &LogLocation,
        token: Option<&str>,
    ) -> impl Future<Output = Result<LogPage, AwsError>> + Send;
}

/// What dbt-rerun needs of a task definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskDefinition {
    pub arn: String,
    pub family: String,
    pub containers: Vec<ContainerDefinition>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerDefinition {
    pub name: String,
    pub command: Option<Vec<String>>,
    pub essential: bool,
    /// The awslogs options, when the container logs to CloudWatch.
    pub awslogs: Option<AwsLogsOptions>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsLogsOptions {
    pub group: String,
    pub stream_prefix: Option<String>,
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

/// A RunTask request, as plain data. It carries environment values: never log it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Launch {
    pub cluster: String,
    pub task_definition: String,
    pub launch_type: Option<String>,
    pub capacity_provider: Option<String>,
    pub platform_version: Option<String>,
    pub network: Option<Network>,
    pub container: String,
    pub command: Vec<String>,
    pub environment: Vec<KeyValue>,
    /// Other containers' overrides of the original task, passed on unchanged.
    pub other_overrides: Vec<ContainerOverride>,
    pub cpu: Option<String>,
    pub memory: Option<String>,
    pub started_by: String,
    pub client_token: String,
    pub tags: Vec<(String, String)>,
}

impl Launch {
    /// Characters of this launch's RunTask `overrides`, as ECS counts them.
    pub fn overrides_len(&self) -> usize {
        crate::plan::overrides_len(
            &self.container,
            &self.command,
            &self.environment,
            &self.other_overrides,
            self.cpu.as_deref(),
            self.memory.as_deref(),
        )
    }
}

/// awsvpc network configuration of a launch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Network {
    pub subnets: Vec<String>,
    pub security_groups: Vec<String>,
    pub assign_public_ip: bool,
}

/// ECS, as dbt-rerun uses it.
pub trait Ecs {
    /// DescribeTaskDefinition (implementations may cache: revisions never change).
    fn task_definition(
        &self,
        arn: &str,
    ) -> impl Future<Output = Result<TaskDefinition, AwsError>> + Send;

    /// DescribeTasks of one task; None when ECS no longer knows it.
    fn task(
        &self,
        cluster: &str,
        task_arn: &str,
    ) -> impl Future<Output = Result<Option<EcsTask>, AwsError>> + Send;

    /// The family's tasks ECS runs or is starting (ListTasks `desiredStatus` RUNNING, then
    /// DescribeTasks), as events would describe them.
    fn running_tasks(
        &self,
        cluster: &str,
        family: &str,
    ) -> impl Future<Output = Result<Vec<EcsTask>, AwsError>> + Send;

    /// RunTask; the started task's ARN. A `failures` entry in the answer is an error.
    fn run_task(&self, launch: &Launch) -> impl Future<Output = Result<String, AwsError>> + Send;
}

/// SNS, as dbt-rerun alerts through it.
pub trait Alerts {
    /// Publishes `alert` to `topic_arn` (`MessageStructure: json`, with its attributes).
    fn publish(
        &self,
        topic_arn: &str,
        alert: &crate::alert::Alert,
    ) -> impl Future<Output = Result<(), AwsError>> + Send;
}

/// A one-time EventBridge Scheduler schedule that invokes a function with an input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleRequest {
    pub name: String,
    pub group: String,
    /// `at(yyyy-mm-ddThh:mm:ss)`, UTC.
    pub expression: String,
    pub target_arn: String,
    pub role_arn: String,
    /// The target's input. It carries environment values: never log it.
    pub input: String,
}

/// EventBridge Scheduler, as dbt-rerun delays re-runs with it.
pub trait Schedules {
    /// Creates the schedule (flexible window off, deleted after it fires). Ok(false) when a
    /// schedule of that name already exists: the re-run is already scheduled.
    fn create(
        &self,
        request: &ScheduleRequest,
    ) -> impl Future<Output = Result<bool, AwsError>> + Send;
}
