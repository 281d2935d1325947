//! rerun-task against moto through the real SDK: by selection, by command, and "like
//! on-task-stopped would" for a stopped task.

use dbt_rerun_aws::{CloudWatchLogs, EcsClient};
use dbt_rerun_core::decision::ATTEMPT_VAR;
use dbt_rerun_service::{RerunRequest, RerunTask, ServiceError};
use dbt_rerun_tests::moto::{env_value, Moto};
use dbt_rerun_tests::{fixture_argv, fixture_lines};
use std::time::Duration;

async fn service(moto: &Moto) -> RerunTask<EcsClient, CloudWatchLogs> {
    let mut config = moto.service_config(Duration::from_secs(1));
    config.decision.cluster = Some(moto.setup.cluster.clone());
    config.task_definition = Some("dbt-models-building".to_owned());
    dbt_rerun_aws::rerun_task(&moto.sdk_config().await, config)
}

fn request(json: &str) -> RerunRequest {
    RerunRequest::from_json(json.as_bytes()).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_selection_replaces_the_task_definitions_selection_and_launches_once_per_invocation() {
    let moto = Moto::start();
    let ecs = aws_sdk_ecs::Client::new(&moto.sdk_config().await);
    let service = service(&moto).await;
    let req = request(r#"{"select": "fct_orders+", "environment": {"DBT_FULL_REFRESH": "1"}}"#);
    let response = service
        .handle(&req, "0f1e2d3c-aaaa-4bbb-8ccc-0123456789ab")
        .await
        .unwrap();
    assert_eq!(
        response.command.join(" "),
        "dbt build --target prod --select fct_orders+"
    );
    assert_eq!(response.container, moto.setup.container);
    let arn = response.task_arn.clone().expect("launched");
    let task = moto.describe(&arn).await;
    let ov = task.container_override(&moto.setup.container).unwrap();
    assert_eq!(ov.command.as_ref(), Some(&response.command));
    assert_eq!(env_value(&ov.environment, "DBT_FULL_REFRESH"), Some("1"));
    assert_eq!(
        task.started_by.as_deref(),
        Some("dbt-rerun/manual/0f1e2d3c-aaaa-4bbb-8ccc-0123456789ab")
    );
    assert_eq!(task.subnets(), std::slice::from_ref(&moto.setup.subnet));

    let dry = service
        .handle(
            &request(r#"{"command": ["dbt", "run"], "dry_run": true}"#),
            "r2",
        )
        .await
        .unwrap();
    assert_eq!((dry.task_arn, dry.dry_run), (None, true));
    assert_eq!(dry.command, ["dbt", "run"]);
    assert_eq!(
        moto.reruns(&ecs).await.len(),
        1,
        "a dry run launches nothing"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stopped_task_is_replanned_from_its_log_like_on_task_stopped() {
    let moto = Moto::start();
    let aws = moto.sdk_config().await;
    let ecs = aws_sdk_ecs::Client::new(&aws);
    let logs = aws_sdk_cloudwatchlogs::Client::new(&aws);
    let service = service(&moto).await;
    // A deterministic error: on-task-stopped would give up, a person asking re-runs it.
    let fixture = "1.11/model_error";
    let argv = fixture_argv(fixture);
    let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
    let task = moto
        .run_original(&ecs, &argv, &[("DBT_TARGET", "prod")])
        .await;
    moto.write_log(&logs, &task, &fixture_lines(fixture), true)
        .await;
    let stopped = moto.stop(&ecs, &task, 1).await;
    assert_eq!(stopped.containers[0].exit_code, Some(1));

    let req = request(&format!(r#"{{"from_task_arn": "{}"}}"#, task.task_arn));
    let response = service.handle(&req, "r1").await.unwrap();
    let decision = response.decision.as_ref().unwrap();
    assert_eq!(
        serde_json::to_value(decision.decision).unwrap(),
        "give_up",
        "{}",
        decision.reason
    );
    assert_eq!(Some(&response.command), decision.rerun_command.as_ref());
    assert!(response.command.contains(&"fct_orders".to_string()));
    let launched = moto.describe(response.task_arn.as_deref().unwrap()).await;
    assert_eq!(
        launched.started_by.as_deref(),
        Some(format!("dbt-rerun/{}/2", task.task_id()).as_str())
    );
    let ov = launched.container_override(&moto.setup.container).unwrap();
    assert_eq!(env_value(&ov.environment, ATTEMPT_VAR), Some("2"));
    assert_eq!(env_value(&ov.environment, "DBT_TARGET"), Some("prod"));
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_requests_name_the_field_and_launch_nothing() {
    let moto = Moto::start();
    let ecs = aws_sdk_ecs::Client::new(&moto.sdk_config().await);
    let service = service(&moto).await;
    for (json, field) in [
        ("{}", "select"),
        (r#"{"select": "--full-refresh"}"#, "select:"),
        (r#"{"select": "a", "container": "nope"}"#, "container:"),
        (
            r#"{"command": ["dbt", "build"], "environment": {"1BAD": "x"}}"#,
            "environment:",
        ),
        (
            r#"{"from_task_arn": "arn:aws:ecs:eu-west-1:123456789012:task/dbt-project-cluster/0000"}"#,
            "from_task_arn:",
        ),
        (r#"{"from_task_arn": "x", "select": "a"}"#, "from_task_arn:"),
    ] {
        match service.handle(&request(json), "r").await {
            Err(ServiceError::Request(e)) => assert!(e.to_string().contains(field), "{json}: {e}"),
            other => panic!("{json}: {other:?}"),
        }
    }
    assert!(moto.reruns(&ecs).await.is_empty());
}
