//! on-task-stopped: EventBridge "ECS Task State Change" -> decide -> RunTask.
//!
//! Thin by design: configuration and AWS clients are built once at cold start; each event
//! goes to `dbt_rerun_service::OnTaskStopped` over the AWS adapters. A malformed event or a failed AWS call is
//! the invocation's error (Lambda retries it, then its failure destination gets it); the
//! runtime keeps serving the next event.

// The handler's future nests the services' futures deeply (rustc's layout query).
#![recursion_limit = "256"]

use dbt_rerun_aws::OnTaskStoppedService;
use dbt_rerun_core::DecisionRecord;
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::value::RawValue;

/// The event as Lambda delivered it, unparsed: the service decodes it once, naming any bad
/// field.
type Payload = Box<RawValue>;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let (config, aws) = dbt_rerun_aws::cold_start().await?;
    let service = dbt_rerun_aws::on_task_stopped(&aws, config);
    let service = &service;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Payload>| async move {
        handle(service, event).await
    }))
    .await
}

async fn handle(
    service: &OnTaskStoppedService,
    event: LambdaEvent<Payload>,
) -> Result<DecisionRecord, Error> {
    let payload = event.payload.get().as_bytes();
    // The service writes the decision's log line (EMF) itself, before alerting. Throttled
    // calls stop waiting before Lambda's deadline (an error Lambda retries, not a timeout).
    let decided = service.handle(payload);
    dbt_rerun_aws::before_deadline(event.context.deadline, decided)
        .await
        .map_err(|e| {
            tracing::error!(error = %e, request_id = %event.context.request_id, "no decision");
            e.into()
        })
}
