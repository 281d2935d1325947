//! The outside systems the flows use, one small trait each: [`Ecs`], [`Logs`], [`Alerts`],
//! [`Schedules`], [`DecisionLog`] and [`Clock`]; and what `dbt-rerun doctor` reads besides:
//! [`EcsInventory`], [`Stacks`] (CloudFormation), [`Rules`] (EventBridge), [`Roles`] (IAM) and
//! [`Network`] (EC2). They speak the core's plain types, so a flow never sees an SDK type; each
//! has one real implementation (the AWS crate, [`SystemClock`]) and an in-memory one
//! ([`crate::memory`]).

use dbt_rerun_core::alert::Alert;
use dbt_rerun_core::doctor::{DefinitionFacts, Policy, RuleFacts, StackFacts};
use dbt_rerun_core::event::EcsTask;
use dbt_rerun_core::history::LogEvent;
use dbt_rerun_core::launch::Launch;
use dbt_rerun_core::schedule::ScheduleRequest;
use dbt_rerun_core::task_definition::{LogLocation, TaskDefinition};
use std::future::Future;

/// A failed call to an outside system: which call, the service's error code, and its message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{operation} failed: {message}{}", code.as_deref().map(|c| format!(" ({c})")).unwrap_or_default())]
pub struct AwsError {
    pub operation: &'static str,
    pub code: Option<String>,
    pub message: String,
}

impl AwsError {
    /// An error of `operation` found before or after the call (a request that cannot be
    /// built, an answer without what it must hold).
    pub fn local(operation: &'static str, message: impl ToString) -> Self {
        Self {
            operation,
            code: None,
            message: message.to_string(),
        }
    }

    /// An error the service answered with `code`.
    pub fn coded(operation: &'static str, code: &str, message: impl ToString) -> Self {
        Self {
            operation,
            code: Some(code.to_owned()),
            message: message.to_string(),
        }
    }

    /// The resource does not exist (a log group or stream not there yet, a task gone).
    pub fn is_not_found(&self) -> bool {
        self.code.as_deref() == Some("ResourceNotFoundException")
    }

    /// AWS refused the call for its request rate (ECS and CloudWatch Logs answer
    /// `ThrottlingException`; the other codes are those the AWS SDKs treat as throttling). A
    /// throttled call did nothing: it can be made again.
    pub fn is_throttling(&self) -> bool {
        matches!(
            self.code.as_deref(),
            Some(
                "ThrottlingException"
                    | "Throttling"
                    | "ThrottledException"
                    | "RequestThrottledException"
                    | "TooManyRequestsException"
                    | "RequestLimitExceeded"
                    | "RequestThrottled"
                    | "SlowDown"
            )
        )
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

/// One page of log events, oldest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogPage {
    /// Each event's message as the log driver sent it: a line of the container's output,
    /// several (awslogs multi-line events), or a FireLens record; `log_wait.rs` reads them
    /// into lines through the core's `LineReader`.
    pub lines: Vec<String>,
    /// Where the next page starts; at the end of the stream, the token given.
    pub next_token: Option<String>,
}

/// A container's log, as dbt-rerun reads it (CloudWatch Logs, or a file for the CLI).
pub trait Logs {
    /// The page of `at` after `token` (from the stream's first event when None), oldest first.
    fn page(
        &self,
        at: &LogLocation,
        token: Option<&str>,
    ) -> impl Future<Output = Result<LogPage, AwsError>> + Send;

    /// Whether the log is complete as it is, with nothing more to arrive (a file): then it is
    /// read once, without waiting for dbt's end-of-run marker, and the record names no log
    /// stream.
    fn complete(&self) -> bool {
        false
    }
}

/// One page of a log group's events that match a filter pattern.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventPage {
    pub events: Vec<LogEvent>,
    /// Where the next page starts; None after the last page.
    pub next_token: Option<String>,
}

/// The functions' own log groups, read back for `dbt-rerun history` (CloudWatch Logs
/// `FilterLogEvents`).
pub trait DecisionLog {
    /// The events of `group` from `start_ms` (milliseconds since the Unix epoch) that match
    /// `pattern`, the page after `token` (the first page when None). A pattern narrows what
    /// is read; the caller still checks every line.
    fn filter(
        &self,
        group: &str,
        pattern: &str,
        start_ms: i64,
        token: Option<&str>,
    ) -> impl Future<Output = Result<EventPage, AwsError>> + Send;
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

    /// The family's tasks ECS runs or is starting (every page of ListTasks `desiredStatus`
    /// RUNNING, then DescribeTasks), as events would describe them. Implementations may keep
    /// a task's description once read (its startedBy, overrides and task definition never
    /// change); which tasks run is asked each time.
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
        alert: &Alert,
    ) -> impl Future<Output = Result<(), AwsError>> + Send;
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

/// The wall clock: when a delayed re-run is due, the decision line's timestamp, the jitter
/// seed. Waiting uses tokio's timer, which tests pause.
pub trait Clock {
    fn now(&self) -> chrono::DateTime<chrono::Utc>;
}

/// The system's clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        chrono::Utc::now()
    }
}

/// ECS as the doctor surveys it: the account's families, a family's latest definition with
/// its roles, and the stopped tasks ECS still lists (about an hour).
pub trait EcsInventory {
    /// The ACTIVE task definition families whose names start with `prefix` (every page).
    fn families(&self, prefix: &str) -> impl Future<Output = Result<Vec<String>, AwsError>> + Send;

    /// The latest ACTIVE revision of `family`, with its roles; None when there is none.
    fn latest_definition(
        &self,
        family: &str,
    ) -> impl Future<Output = Result<Option<DefinitionFacts>, AwsError>> + Send;

    /// At most `max` of the family's stopped tasks in `cluster`, newest first.
    fn stopped_tasks(
        &self,
        cluster: &str,
        family: &str,
        max: usize,
    ) -> impl Future<Output = Result<Vec<EcsTask>, AwsError>> + Send;
}

/// CloudFormation, as the doctor reads a deployed stack.
pub trait Stacks {
    /// The stack's status, parameters and resources; None when there is no such stack.
    fn stack(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<Option<StackFacts>, AwsError>> + Send;
}

/// EventBridge, as the doctor reads the rule that invokes on-task-stopped.
pub trait Rules {
    /// The rule's state, pattern and targets; None when there is no such rule.
    fn rule(&self, name: &str) -> impl Future<Output = Result<Option<RuleFacts>, AwsError>> + Send;
}

/// IAM, as the doctor reads what the functions may do.
pub trait Roles {
    /// Every policy of role `role_name`: the managed ones attached (their default version) and
    /// the inline ones.
    fn policies(
        &self,
        role_name: &str,
    ) -> impl Future<Output = Result<Vec<Policy>, AwsError>> + Send;
}

/// EC2, as the doctor checks where re-runs run.
pub trait Network {
    /// Those of `ids` that exist.
    fn existing_subnets(
        &self,
        ids: &[String],
    ) -> impl Future<Output = Result<Vec<String>, AwsError>> + Send;
    /// Those of `ids` that exist.
    fn existing_security_groups(
        &self,
        ids: &[String],
    ) -> impl Future<Output = Result<Vec<String>, AwsError>> + Send;
}
