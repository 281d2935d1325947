//! on-task-stopped against a real AWS API: moto's server, reached by the real SDK clients,
//! with logs from real dbt runs. Each test starts its own moto.

use dbt_rerun_core::decision::{ATTEMPT_VAR, ORIGIN_VAR};
use dbt_rerun_core::event::EcsTask;
use dbt_rerun_core::{DecisionKind, DecisionRecord};
use dbt_rerun_service::ServiceError;
use dbt_rerun_tests::moto::{env_value, event_json, stopped_event, Moto, Stop};
use dbt_rerun_tests::{fixture_argv, fixture_lines};
use std::time::Duration;

struct World {
    moto: Moto,
    ecs: aws_sdk_ecs::Client,
    logs: aws_sdk_cloudwatchlogs::Client,
    service: dbt_rerun_aws::OnTaskStoppedService,
}

async fn world(log_wait: Duration) -> World {
    let moto = Moto::start();
    let aws = moto.sdk_config().await;
    let service = dbt_rerun_aws::on_task_stopped(&aws, moto.service_config(log_wait));
    World {
        ecs: aws_sdk_ecs::Client::new(&aws),
        logs: aws_sdk_cloudwatchlogs::Client::new(&aws),
        service,
        moto,
    }
}

impl World {
    /// An original task that ran `fixture`'s command, with its log written.
    async fn original(&self, fixture: &str, env: &[(&str, &str)]) -> EcsTask {
        let argv = fixture_argv(fixture);
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        let task = self.moto.run_original(&self.ecs, &argv, env).await;
        self.moto
            .write_log(&self.logs, &task, &fixture_lines(fixture), true)
            .await;
        task
    }

    async fn handle(&self, task: &EcsTask, stop: Stop<'_>) -> DecisionRecord {
        self.service
            .handle(&stopped_event(task, &stop))
            .await
            .expect("a decision")
    }
}

const TRANSIENT: &str = "1.10/transient_model_error";

#[tokio::test(flavor = "multi_thread")]
async fn a_transient_failure_is_rerun_once_exactly_and_the_chain_ends_at_the_budget() {
    let w = world(Duration::from_secs(2)).await;
    let original = w
        .original(
            TRANSIENT,
            &[("DBT_TARGET", "prod"), ("DB_PASSWORD", "hunter2")],
        )
        .await;

    let record = w.handle(&original, Stop::exit(1)).await;
    assert_eq!(record.decision, DecisionKind::Rerun, "{}", record.reason);
    let rerun = record.rerun.as_ref().unwrap();
    let launched = rerun.task_arn.clone().expect("launched");
    let reruns = w.moto.reruns(&w.ecs).await;
    assert_eq!(reruns.len(), 1, "exactly one new task");
    let second = &reruns[0];
    assert_eq!(second.task_arn, launched);
    assert_eq!(
        second.started_by.as_deref(),
        Some(format!("dbt-rerun/{}/2", original.task_id()).as_str())
    );
    let ov = second
        .container_override(&w.moto.setup.container)
        .expect("dbt container override");
    let command = ov.command.clone().unwrap();
    assert_eq!(Some(&command), record.rerun_command.as_ref());
    assert_eq!(
        command.join(" "),
        "dbt build --vars {transient_error: true} --select fct_orders not_null_fct_orders_order_id \
         relationships_fct_orders_customer_id__customer_id__ref_dim_customers_ unique_fct_orders_order_id \
         warn_large_orders test_agg_daily_revenue_sums_orders agg_daily_revenue customer_ltv \
         assert_no_negative_revenue unique_agg_daily_revenue_order_date not_null_customer_ltv_customer_id \
         --indirect-selection empty"
    );
    assert_eq!(env_value(&ov.environment, "DBT_TARGET"), Some("prod"));
    assert_eq!(
        env_value(&ov.environment, "DB_PASSWORD"),
        Some("hunter2"),
        "the original environment travels"
    );
    assert_eq!(env_value(&ov.environment, ATTEMPT_VAR), Some("2"));
    assert_eq!(
        env_value(&ov.environment, ORIGIN_VAR),
        Some(original.task_arn.as_str())
    );
    assert_eq!(
        second.subnets(),
        std::slice::from_ref(&w.moto.setup.subnet),
        "network configuration"
    );
    assert_eq!(
        second.launch_type,
        Some(dbt_rerun_core::event::LaunchType::Fargate)
    );

    // The same event again: nothing new.
    let again = w.handle(&original, Stop::exit(1)).await;
    assert_eq!(again.decision, DecisionKind::Ignore, "{}", again.reason);
    assert!(
        again.reason.contains("already launched"),
        "{}",
        again.reason
    );
    assert_eq!(w.moto.reruns(&w.ecs).await.len(), 1);

    // The re-run fails the same way: attempt 3.
    w.moto
        .write_log(&w.logs, second, &fixture_lines(TRANSIENT), true)
        .await;
    let record = w.handle(second, Stop::exit(1)).await;
    assert_eq!(record.decision, DecisionKind::Rerun, "{}", record.reason);
    assert_eq!(record.attempt, 2);
    let third_arn = record.rerun.unwrap().task_arn.unwrap();
    let third = w.moto.describe(&third_arn).await;
    assert_eq!(
        third.started_by.as_deref(),
        Some(format!("dbt-rerun/{}/3", original.task_id()).as_str())
    );
    let ov = third.container_override(&w.moto.setup.container).unwrap();
    assert_eq!(env_value(&ov.environment, ATTEMPT_VAR), Some("3"));
    assert_eq!(
        env_value(&ov.environment, ORIGIN_VAR),
        Some(original.task_arn.as_str())
    );

    // And the third run fails too: the budget (3 runs) is spent.
    w.moto
        .write_log(&w.logs, &third, &fixture_lines(TRANSIENT), true)
        .await;
    let record = w.handle(&third, Stop::exit(1)).await;
    assert_eq!(record.decision, DecisionKind::GiveUp, "{}", record.reason);
    assert!(
        record.reason.contains("attempt 3 of 3"),
        "{}",
        record.reason
    );
    assert_eq!(
        w.moto.reruns(&w.ecs).await.len(),
        2,
        "no task after the budget"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn failures_a_rerun_cannot_fix_and_success_start_nothing() {
    let w = world(Duration::from_secs(2)).await;
    for (fixture, exit, decision, kind, says) in [
        (
            "1.10/model_error",
            1,
            DecisionKind::GiveUp,
            "dbt_nodes",
            "model fct_orders: Binder Error",
        ),
        (
            "1.10/test_failure_build",
            1,
            DecisionKind::GiveUp,
            "dbt_nodes",
            "test_failure",
        ),
        (
            "1.10/compile_error",
            2,
            DecisionKind::GiveUp,
            "dbt_runtime",
            "Compilation Error",
        ),
        (
            "1.10/success",
            0,
            DecisionKind::Ignore,
            "none",
            "dbt exited 0",
        ),
    ] {
        let task = w.original(fixture, &[]).await;
        let record = w.handle(&task, Stop::exit(exit)).await;
        assert_eq!(record.decision, decision, "{fixture}: {}", record.reason);
        assert_eq!(
            serde_json::to_value(record.failure_kind).unwrap(),
            kind,
            "{fixture}"
        );
        assert!(record.reason.contains(says), "{fixture}: {}", record.reason);
        assert!(record.rerun.is_none(), "{fixture}");
    }
    assert!(w.moto.reruns(&w.ecs).await.is_empty(), "no task started");
}

const KILLED: &str = "killed/1.11/build_sigkill";

/// A world in which the killed run's task stopped as `stop` says, and the decision on it.
async fn killed_run(
    exit_code: i32,
    stop_code: &str,
    reason: Option<&str>,
) -> (World, DecisionRecord) {
    let w = world(Duration::from_secs(1)).await;
    let task = w.original(KILLED, &[]).await;
    let record = w
        .handle(
            &task,
            Stop {
                exit_code: Some(exit_code),
                stop_code,
                reason,
            },
        )
        .await;
    (w, record)
}

/// The re-run's dbt command, and the names of the nodes the killed run finished.
fn resumed(w: &World, rerun: &EcsTask, record: &DecisionRecord) -> (String, Vec<String>) {
    let ov = rerun.container_override(&w.moto.setup.container).unwrap();
    (
        ov.command.as_deref().unwrap().join(" "),
        record.finished_node_names.clone(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn an_oom_kill_resumes_with_the_next_larger_fargate_memory() {
    let (w, record) = killed_run(
        137,
        "EssentialContainerExited",
        Some("OutOfMemoryError: Container killed due to memory usage"),
    )
    .await;
    assert_eq!(record.decision, DecisionKind::Rerun, "{}", record.reason);
    assert!(record.resume, "{}", record.reason);
    let reruns = w.moto.reruns(&w.ecs).await;
    assert_eq!(reruns.len(), 1);
    assert_eq!(
        reruns[0].overrides.memory.as_deref(),
        Some("4096"),
        "twice 2048 at 1 vCPU"
    );
    assert_eq!(reruns[0].overrides.cpu.as_deref(), Some("1024"));
    let (command, finished) = resumed(&w, &reruns[0], &record);
    let truth = dbt_rerun_tests::killed_fixtures()
        .into_iter()
        .find(|f| format!("killed/{}", f.id) == KILLED)
        .unwrap()
        .finished_per_file_log();
    assert_eq!(
        finished.len(),
        truth.len(),
        "what dbt's own file log says finished: {finished:?}"
    );
    assert!(
        command.starts_with("dbt build --vars {slow_rows: 200000000} --exclude "),
        "{command}"
    );
    for name in &finished {
        assert!(
            command.split(' ').any(|a| a == name),
            "{name} is not excluded: {command}"
        );
    }
    assert!(command.ends_with("--indirect-selection empty"), "{command}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_spot_interruption_resumes_with_the_same_memory() {
    let (w, record) = killed_run(143, "SpotInterruption", None).await;
    assert_eq!(record.decision, DecisionKind::Rerun, "{}", record.reason);
    assert_eq!(serde_json::to_value(record.failure_kind).unwrap(), "infra");
    assert!(record.resume);
    let reruns = w.moto.reruns(&w.ecs).await;
    assert_eq!(reruns.len(), 1);
    assert_eq!(reruns[0].overrides.memory, None, "same memory");
    let (command, _) = resumed(&w, &reruns[0], &record);
    assert!(command.contains(" --exclude "), "{command}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_task_a_person_stopped_is_not_rerun() {
    let (w, record) = killed_run(143, "UserInitiated", None).await;
    assert_eq!(record.decision, DecisionKind::Ignore, "{}", record.reason);
    assert!(
        record.reason.contains("a person stopped the task"),
        "{}",
        record.reason
    );
    assert!(w.moto.reruns(&w.ecs).await.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_task_that_never_started_reruns_its_original_command() {
    let w = world(Duration::from_secs(1)).await;
    let task = w
        .moto
        .run_original(&w.ecs, &["dbt", "build", "--select", "stg_orders+"], &[])
        .await;
    let record = w
        .handle(
            &task,
            Stop {
                exit_code: None,
                stop_code: "TaskFailedToStart",
                reason: Some(
                    "CannotPullContainerError: pull image manifest has been retried 5 time(s)",
                ),
            },
        )
        .await;
    assert_eq!(record.decision, DecisionKind::Rerun, "{}", record.reason);
    assert_eq!(serde_json::to_value(record.failure_kind).unwrap(), "infra");
    let reruns = w.moto.reruns(&w.ecs).await;
    assert_eq!(reruns.len(), 1);
    let ov = reruns[0]
        .container_override(&w.moto.setup.container)
        .unwrap();
    assert_eq!(
        ov.command.as_deref().unwrap().join(" "),
        "dbt build --select stg_orders+"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_log_that_arrives_after_the_event_is_waited_for() {
    let w = world(Duration::from_secs(20)).await;
    let argv = fixture_argv(TRANSIENT);
    let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
    let task = w.moto.run_original(&w.ecs, &argv, &[]).await;
    let lines = fixture_lines(TRANSIENT);
    let (head, tail) = lines.split_at(lines.len() * 2 / 3);
    w.moto.write_log(&w.logs, &task, head, true).await;
    let event = stopped_event(&task, &Stop::exit(1));
    let decision = tokio::spawn({
        let service = w.service;
        async move { service.handle(&event).await }
    });
    tokio::time::sleep(Duration::from_millis(1500)).await;
    w.moto.write_log(&w.logs, &task, tail, false).await;
    let record = decision.await.unwrap().expect("a decision");
    assert!(record.log_complete, "{}", record.reason);
    assert!(
        record.log_wait_seconds.unwrap() >= 1.0,
        "it waited: {:?}",
        record.log_wait_seconds
    );
    assert_eq!(record.decision, DecisionKind::Rerun, "{}", record.reason);
    assert_eq!(record.skipped_nodes.len(), 10, "decided on the whole log");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_log_stream_gives_up_and_says_so() {
    let w = world(Duration::from_secs(1)).await;
    let task = w.moto.run_original(&w.ecs, &["dbt", "build"], &[]).await;
    let record = w.handle(&task, Stop::exit(1)).await;
    assert_eq!(record.decision, DecisionKind::GiveUp);
    assert!(
        record.reason.contains("did not appear within 1 s"),
        "{}",
        record.reason
    );
    assert!(
        record.reason.contains(&w.moto.stream_of(&task)),
        "{}",
        record.reason
    );
    assert!(w.moto.reruns(&w.ecs).await.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn running_and_malformed_events_start_nothing() {
    let w = world(Duration::from_secs(1)).await;
    let task = w.moto.run_original(&w.ecs, &["dbt", "build"], &[]).await;
    let mut running = task.clone();
    running.last_status = "RUNNING".into();
    let record = w.service.handle(&event_json(&running)).await.unwrap();
    assert_eq!(record.decision, DecisionKind::Ignore);
    assert!(record.reason.contains("RUNNING"), "{}", record.reason);

    for bad in [&b"{}"[..], b"not json", br#"{"detail-type": "ECS Task State Change", "source": "aws.ecs", "detail": {"taskArn": 7}}"#] {
        match w.service.handle(bad).await {
            Err(ServiceError::Event(e)) => assert!(!e.to_string().is_empty()),
            other => panic!("{:?} gave {other:?}", String::from_utf8_lossy(bad)),
        }
    }
    assert!(w.moto.reruns(&w.ecs).await.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rerun_that_succeeds_is_logged_as_its_chains_recovery_and_starts_nothing() {
    let w = world(Duration::from_secs(2)).await;
    let original = w.original(TRANSIENT, &[("DBT_TARGET", "prod")]).await;
    let first = w.handle(&original, Stop::exit(1)).await;
    assert_eq!(first.decision, DecisionKind::Rerun, "{}", first.reason);
    assert_eq!((first.rerun_nodes, first.nodes_saved), (Some(11), 17));
    let reruns = w.moto.reruns(&w.ecs).await;
    assert_eq!(reruns.len(), 1);

    // The re-run, as ECS describes it, stops with dbt's exit 0. No log of it is written:
    // the function reads none.
    let rerun = w.moto.stop(&w.ecs, &reruns[0], 0).await;
    let record = w.handle(&rerun, Stop::exit(0)).await;
    assert_eq!(record.decision, DecisionKind::Ignore, "{}", record.reason);
    assert_eq!(
        record.reason,
        format!(
            "recovered: attempt 2 of chain {} succeeded (dbt exited 0): nothing to re-run",
            original.task_id()
        )
    );
    assert_eq!(record.attempt, 2);
    assert_eq!(
        (&record.log_stream, record.log_wait_seconds),
        (&None, None),
        "no log read"
    );
    assert_eq!(record.command, first.rerun_command);
    let recovered = record.recovered.as_ref().expect("recovered");
    assert_eq!(recovered.origin_task_arn, original.task_arn);
    assert_eq!(w.moto.reruns(&w.ecs).await.len(), 1, "nothing launched");

    // The line the function logs for it: EMF with Recovered 1, no work planned.
    let line = dbt_rerun_core::metrics::decision_log_line(&record, "DbtRerun", 1_764_000_000_000);
    dbt_rerun_core::metrics::check_emf(&line).unwrap();
    let line: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(line["message"], "dbt-rerun decision");
    assert_eq!(
        (&line["Recovered"], &line["Ignored"], &line["Reruns"]),
        (&1.into(), &1.into(), &0.into())
    );
    assert_eq!(
        (&line["RerunNodes"], &line["NodesSaved"]),
        (&0.into(), &0.into())
    );
    assert_eq!(line["record"]["recovered"]["attempt"], 2);

    // The original's own success would not be a recovery.
    let plain = w.original("1.10/success", &[]).await;
    let record = w.handle(&plain, Stop::exit(0)).await;
    assert_eq!(record.reason, "dbt exited 0: nothing to re-run");
    assert_eq!(record.recovered, None);
}
