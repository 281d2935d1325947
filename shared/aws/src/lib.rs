//! The service's ports over the AWS SDK, one adapter each: [`EcsClient`] (`aws-sdk-ecs`),
//! [`CloudWatchLogs`] (`aws-sdk-cloudwatchlogs`), [`SnsAlerts`] (`aws-sdk-sns`) and
//! [`SchedulerClient`] (`aws-sdk-scheduler`). Nothing else in dbt-rerun sees an SDK type:
//! the adapters turn the core's plain types into requests and the answers back.
//!
//! Also here: the SDK configuration (bounded retries and timeouts), the functions' cold
//! start, and the services wired to the real clients.

/// Sends the SDK request builder `request` (cloned for each try), made again while AWS
/// throttles it ([`patiently`]); an error is named after `operation`.
macro_rules! send_patiently {
    ($request:ident, $operation:expr) => {
        $crate::patiently(|| {
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

mod ecs;
mod logs;
mod scheduler;
mod sns;

pub use ecs::EcsClient;
pub use logs::CloudWatchLogs;
pub use scheduler::SchedulerClient;
pub use sns::SnsAlerts;

pub use dbt_rerun_service::AwsError;

use dbt_rerun::config::{ConfigError, ServiceConfig};
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

/// How long one AWS call keeps being made again while AWS throttles it, beyond the SDK's
/// attempts: pauses drawn at random below a ceiling that doubles from 0.5 s to 8 s (full
/// jitter), until the next pause would pass this budget.
///
/// A burst of failed tasks spends the account's per-second quotas (GetLogEvents 10 or 25 a
/// second, ECS's task read bucket 100 then 20 a second) in the first second; three attempts
/// in about 1.5 s then fail most calls, and Lambda's two retries fall inside the same burst.
/// A throttled call did nothing, so making it again is safe (RunTask carries its clientToken
/// too); waiting costs only the invocation's time, which the reserved concurrency of the
/// template bounds. Four calls each spending the whole budget, plus the log wait (at most
/// 240 s, 60 s by default), still end within the function's 300 s in the default setup.
pub const THROTTLE_BUDGET: std::time::Duration = std::time::Duration::from_secs(45);
const THROTTLE_FIRST_CEILING: std::time::Duration = std::time::Duration::from_millis(500);
const THROTTLE_LONGEST_CEILING: std::time::Duration = std::time::Duration::from_secs(8);

/// Makes `call` again while AWS throttles it, within [`THROTTLE_BUDGET`]; any other answer
/// (and the last throttling error) is returned as it is.
pub(crate) async fn patiently<T, F, Fut>(mut call: F) -> Result<T, AwsError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, AwsError>>,
{
    let started = tokio::time::Instant::now();
    let mut ceiling = THROTTLE_FIRST_CEILING;
    loop {
        match call().await {
            Err(e) if e.is_throttling() => {
                let pause = below(ceiling);
                if started.elapsed() + pause > THROTTLE_BUDGET {
                    return Err(e);
                }
                tracing::debug!(operation = e.operation, ?pause, "throttled; trying again");
                tokio::time::sleep(pause).await;
                ceiling = (ceiling * 2).min(THROTTLE_LONGEST_CEILING);
            }
            other => return other,
        }
    }
}

/// A duration drawn uniformly below `ceiling` (the OS-seeded keys of `RandomState` differ on
/// every call: no random-number crate is needed for a jitter).
fn below(ceiling: std::time::Duration) -> std::time::Duration {
    use std::hash::{BuildHasher, Hasher};
    let draw = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    ceiling.mul_f64(draw as f64 / u64::MAX as f64)
}

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
    let config = dbt_rerun::config::service_config(|name| std::env::var(name).ok())
        .inspect_err(|e| tracing::error!(error = %e, "bad configuration"))?;
    Ok((config, load_config().await))
}
