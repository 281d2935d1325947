//! The service's ports over the AWS SDK, one adapter each: [`EcsClient`] (`aws-sdk-ecs`),
//! [`CloudWatchLogs`] (`aws-sdk-cloudwatchlogs`), [`SnsAlerts`] (`aws-sdk-sns`) and
//! [`SchedulerClient`] (`aws-sdk-scheduler`). Nothing else in dbt-rerun sees an SDK type:
//! the adapters turn the core's plain types into requests and the answers back.
//!
//! With the `doctor` feature, [`doctor`]: the reads of `dbt-rerun doctor` (CloudFormation,
//! EventBridge, IAM, EC2).
//!
//! Also here: the SDK configuration (bounded retries and timeouts), the functions' cold
//! start, and the services wired to the real clients.

/// Sends the SDK request builder `request` (cloned for each try), made again while AWS
/// throttles it ([`patiently`]); an error is named after `operation`.
macro_rules! send_patiently {
    ($request:ident, $operation:expr) => {
        $crate::throttle::patiently(|| {
            let request = $request.clone();
            async move {
                request
                    .send()
                    .await
                    .map_err(|e| $crate::sdk_error($operation, e))
            }
        })
        .await
    };
}

#[cfg(feature = "doctor")]
pub mod doctor;
mod ecs;
mod logs;
mod scheduler;
mod sns;
mod throttle;

pub use ecs::EcsClient;
pub use logs::CloudWatchLogs;
pub use scheduler::SchedulerClient;
pub use sns::SnsAlerts;

pub use dbt_rerun_service::AwsError;

use dbt_rerun_core::config::{ConfigError, ServiceConfig};
use dbt_rerun_service::{OnTaskStopped, RerunTask, SystemClock};

/// How long one attempt of an AWS call may take before it is abandoned (and retried).
pub const ATTEMPT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
/// How long an AWS call may take in all, retries included.
pub const CALL_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(35);
/// Attempts per AWS call: throttling, 5xx, timeouts and dropped connections are retried with
/// backoff this many times in all (the SDK's standard retry: exponential backoff with full
/// jitter), then the invocation fails and Lambda's retries take over. Throttling alone is
/// retried further, see [`THROTTLE_BUDGET`].
pub const MAX_ATTEMPTS: u32 = 3;

pub use throttle::{before_deadline, DEADLINE_MARGIN, THROTTLE_BUDGET};

/// The SDK configuration of the functions and the CLI: region, credentials and endpoint from
/// the standard AWS environment (`AWS_ENDPOINT_URL` reaches moto), with bounded retries and
/// timeouts so a hung call cannot eat the function's timeout.
pub async fn load_config() -> aws_config::SdkConfig {
    config_loader().load().await
}

/// [`load_config`]'s loader, before it reads the environment: the retries and timeouts of
/// the functions (tests add an endpoint and test credentials).
pub fn config_loader() -> aws_config::ConfigLoader {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(MAX_ATTEMPTS))
        .timeout_config(
            aws_config::timeout::TimeoutConfig::builder()
                .connect_timeout(std::time::Duration::from_secs(3))
                .operation_attempt_timeout(ATTEMPT_TIMEOUT)
                .operation_timeout(CALL_TIMEOUT)
                .build(),
        )
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

/// on-task-stopped over the real AWS clients.
pub type OnTaskStoppedService =
    OnTaskStopped<EcsClient, CloudWatchLogs, SnsAlerts, SchedulerClient, SystemClock>;

/// rerun-task over the real AWS clients.
pub type RerunTaskService = RerunTask<EcsClient, CloudWatchLogs>;

/// on-task-stopped with SDK clients for `aws`, built once per process.
pub fn on_task_stopped(aws: &aws_config::SdkConfig, config: ServiceConfig) -> OnTaskStoppedService {
    OnTaskStopped {
        ecs: EcsClient::new(aws),
        logs: CloudWatchLogs::new(aws),
        alerts: SnsAlerts::new(aws),
        schedules: SchedulerClient::new(aws),
        clock: SystemClock,
        config,
    }
}

/// rerun-task with SDK clients for `aws`, built once per process.
pub fn rerun_task(aws: &aws_config::SdkConfig, config: ServiceConfig) -> RerunTaskService {
    RerunTask {
        ecs: EcsClient::new(aws),
        logs: CloudWatchLogs::new(aws),
        config,
    }
}

/// A function's cold start: its configuration from the environment (an error names the
/// variable) and the SDK configuration, each read once per process.
pub async fn cold_start() -> Result<(ServiceConfig, aws_config::SdkConfig), ConfigError> {
    let config = dbt_rerun_core::config::service_config(|name| std::env::var(name).ok())
        .inspect_err(|e| tracing::error!(error = %e, "bad configuration"))?;
    Ok((config, load_config().await))
}
