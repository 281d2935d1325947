//! rerun-task: a manual (or scheduled) request -> RunTask.
//!
//! Payload: `{"select", "exclude", "command", "environment", "cluster", "task_definition",
//! "container", "from_task_arn", "dry_run"}` or a delayed re-run's `{"planned_launch"}`; see
//! `dbt_rerun_service::RerunRequest`. A bad
//! payload is an error naming the field.

// The handler's future nests the services' futures deeply (rustc's layout query).
#![recursion_limit = "256"]

use dbt_rerun_aws::RerunTaskService;
use dbt_rerun_service::{RerunRequest, RerunResponse};
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::value::RawValue;

/// The event as Lambda delivered it, unparsed: the service decodes it once, naming any bad
/// field.
type Payload = Box<RawValue>;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let (config, aws) = dbt_rerun_aws::cold_start().await?;
    let service = dbt_rerun_aws::rerun_task(&aws, config);
    let service = &service;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Payload>| async move {
        handle(service, event).await
    }))
    .await
}

async fn handle(
    service: &RerunTaskService,
    event: LambdaEvent<Payload>,
) -> Result<RerunResponse, Error> {
    let request = RerunRequest::from_json(event.payload.get().as_bytes())?;
    let launched = service.handle(&request, &event.context.request_id);
    // Throttled calls stop waiting before Lambda's deadline (an error Lambda can retry).
    match dbt_rerun_aws::before_deadline(event.context.deadline, launched).await {
        Ok(response) => {
            println!(
                "{}",
                serde_json::json!({"message": "dbt-rerun launch", "response": response})
            );
            Ok(response)
        }
        Err(e) => {
            tracing::error!(error = %e, request_id = %event.context.request_id, "no launch");
            Err(e.into())
        }
    }
}
