//! rerun-task: a manual (or scheduled) request -> RunTask.
//!
//! Payload: `{"select", "exclude", "command", "environment", "cluster", "task_definition",
//! "container", "from_task_arn", "dry_run"}`; see `dbt_rerun::service::RerunRequest`. A bad
//! payload is an error naming the field.

use dbt_rerun::config::service_config;
use dbt_rerun::service::{RerunRequest, RerunResponse, RerunTask};
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::Value;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let config = service_config(|name| std::env::var(name).ok()).inspect_err(|e| {
        tracing::error!(error = %e, "bad configuration");
    })?;
    let aws = dbt_rerun::aws::load_config().await;
    let service = RerunTask::new(&aws, config);
    let service = &service;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        handle(service, event).await
    }))
    .await
}

async fn handle<E, L>(
    service: &RerunTask<E, L>,
    event: LambdaEvent<Value>,
) -> Result<RerunResponse, Error>
where
    E: dbt_rerun::aws::Ecs,
    L: dbt_rerun::aws::Logs,
{
    let request = RerunRequest::from_json(&serde_json::to_vec(&event.payload)?)?;
    match service.handle(&request, &event.context.request_id).await {
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
