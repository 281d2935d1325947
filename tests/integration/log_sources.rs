//! on-task-stopped against moto with the dbt container's log shipped the other ways ECS tasks
//! ship it: FireLens (Fluent Bit's `cloudwatch_logs` output) writing JSON records, with and
//! without `log_key`, a FireLens stream every task writes to, and the awslogs driver joining
//! lines into multi-line events (`awslogs-multiline-pattern`). Each is the output of the same
//! real dbt run, and each must give the same decision and re-run command as that run's log
//! with one line per event.

use dbt_rerun_core::event::EcsTask;
use dbt_rerun_core::{DecisionKind, DecisionRecord};
use dbt_rerun_tests::moto::{stopped_event, Moto, Options, Stop, REGION};
use dbt_rerun_tests::{fixture_argv, fixture_lines};
use serde_json::json;
use std::time::Duration;

const TRANSIENT: &str = "1.10/transient_model_error";
const JSON_TRANSIENT: &str = "1.10/json_transient_model_error";
const CONTAINER: &str = "dbt-aws-project";
const FIRELENS_GROUP: &str = "/ecs/dbt-firelens";

struct World {
    moto: Moto,
    ecs: aws_sdk_ecs::Client,
    logs: aws_sdk_cloudwatchlogs::Client,
    service: dbt_rerun_aws::OnTaskStoppedService,
}

async fn world(log_configuration: Option<serde_json::Value>) -> World {
    let moto = Moto::start_with(Options {
        log_configuration,
        ..Options::default()
    });
    let aws = moto.sdk_config().await;
    let service = dbt_rerun_aws::on_task_stopped(&aws, moto.service_config(Duration::from_secs(2)));
    World {
        ecs: aws_sdk_ecs::Client::new(&aws),
        logs: aws_sdk_cloudwatchlogs::Client::new(&aws),
        service,
        moto,
    }
}

impl World {
    /// The original task of `fixture`, stopped; its log is the test's to write.
    async fn original(&self, fixture: &str) -> EcsTask {
        let argv = fixture_argv(fixture);
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        self.moto.run_original(&self.ecs, &argv, &[]).await
    }

    async fn decide(&self, task: &EcsTask) -> DecisionRecord {
        self.service
            .handle(&stopped_event(task, &Stop::exit(1)))
            .await
            .expect("a decision")
    }
}

/// What must be the same however the log was shipped.
fn verdict(record: &DecisionRecord) -> serde_json::Value {
    json!({
        "decision": record.decision,
        "reason": record.reason,
        "failure_kind": record.failure_kind,
        "rerun_command": record.rerun_command,
        "plan_shape": record.plan_shape,
        "failed_nodes": record.failed_nodes,
        "skipped_nodes": record.skipped_nodes,
        "log_complete": record.log_complete,
    })
}

/// The decision on `fixture`'s log written as the awslogs driver writes it by default: one
/// line per event.
async fn one_line_per_event(fixture: &str) -> serde_json::Value {
    let w = world(None).await;
    let task = w.original(fixture).await;
    w.moto
        .write_log(&w.logs, &task, &fixture_lines(fixture), true)
        .await;
    let record = w.decide(&task).await;
    assert_eq!(record.decision, DecisionKind::Rerun, "{}", record.reason);
    verdict(&record)
}

fn firelens(options: serde_json::Value) -> serde_json::Value {
    let mut all = json!({
        "Name": "cloudwatch_logs",
        "region": REGION,
        "log_group_name": FIRELENS_GROUP,
        "auto_create_group": "true",
    });
    for (k, v) in options.as_object().unwrap() {
        all[k] = v.clone();
    }
    json!({"logDriver": "awsfirelens", "options": all})
}

/// A FireLens record of `container` in `task`, as Fluent Bit's forward input gets it from
/// Docker's Fluentd driver with ECS metadata.
fn record(task: &EcsTask, container: &str, line: &str) -> String {
    json!({
        "container_id": "9c1f7ab2e4d04b0e8f3c1a2b3c4d5e6f-2531612879",
        "container_name": container,
        "ecs_cluster": task.cluster_name(),
        "ecs_task_arn": task.task_arn,
        "ecs_task_definition": "dbt-models-building:1",
        "log": line,
        "source": "stdout",
    })
    .to_string()
}

fn tag_stream(prefix: &str, task: &EcsTask) -> String {
    format!("{prefix}{CONTAINER}-firelens-{}", task.task_id())
}

#[tokio::test(flavor = "multi_thread")]
async fn firelens_records_decide_as_the_awslogs_log_of_the_same_run() {
    let want = one_line_per_event(TRANSIENT).await;
    let w = world(Some(firelens(json!({"log_stream_prefix": "fluent-bit-"})))).await;
    assert_eq!(w.moto.setup.log_group, FIRELENS_GROUP);
    let task = w.original(TRANSIENT).await;
    let records: Vec<String> = fixture_lines(TRANSIENT)
        .iter()
        .map(|l| record(&task, CONTAINER, l))
        .collect();
    w.moto
        .write_events(&w.logs, &tag_stream("fluent-bit-", &task), &records, true)
        .await;
    let record = w.decide(&task).await;
    assert_eq!(verdict(&record), want);
    let location = serde_json::to_value(&record.log_stream).unwrap();
    assert_eq!(location["group"], FIRELENS_GROUP);
    assert_eq!(location["events"]["firelens"]["container"], CONTAINER);
    let launched = w.moto.reruns(&w.ecs).await;
    assert_eq!(launched.len(), 1, "the re-run was started");
}

#[tokio::test(flavor = "multi_thread")]
async fn firelens_with_log_key_decides_as_the_awslogs_log_of_the_same_run() {
    let want = one_line_per_event(TRANSIENT).await;
    let w = world(Some(firelens(
        json!({"log_stream_prefix": "dbt/", "log_key": "log"}),
    )))
    .await;
    let task = w.original(TRANSIENT).await;
    // With log_key, Fluent Bit sends the value alone: the text.
    w.moto
        .write_events(
            &w.logs,
            &tag_stream("dbt/", &task),
            &fixture_lines(TRANSIENT),
            true,
        )
        .await;
    let record = w.decide(&task).await;
    assert_eq!(verdict(&record), want);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_firelens_stream_every_task_writes_to_keeps_this_tasks_dbt_records_only() {
    let want = one_line_per_event(JSON_TRANSIENT).await;
    let w = world(Some(firelens(json!({"log_stream_name": "dbt-all-tasks"})))).await;
    let task = w.original(JSON_TRANSIENT).await;
    let other = w.original(JSON_TRANSIENT).await;
    // This task's dbt output (dbt's JSON lines inside the records), interleaved with the
    // log router's own lines and with another task that failed elsewhere.
    let mut events = Vec::new();
    let theirs = fixture_lines("1.10/json_model_error");
    for (i, line) in fixture_lines(JSON_TRANSIENT).iter().enumerate() {
        events.push(record(&task, CONTAINER, line));
        if i % 7 == 0 {
            events.push(record(&task, "log_router", "[2026/11/27 02:14:31] [ info] [output:cloudwatch_logs:cloudwatch_logs.0] Created log stream dbt-all-tasks"));
        }
        if let Some(line) = theirs.get(i) {
            events.push(record(&other, CONTAINER, line));
        }
    }
    w.moto
        .write_events(&w.logs, "dbt-all-tasks", &events, true)
        .await;
    let record = w.decide(&task).await;
    assert_eq!(verdict(&record), want);
}

/// `awslogs-multiline-pattern`: a line matching the pattern starts an event, the others join
/// it (dbt's lines start with its timestamp, after a colour code).
const MULTILINE_PATTERN: &str = r"^(\x1b\[0m)?\d{2}:\d{2}:\d{2}";

fn starts_event(line: &str) -> bool {
    let line = line.strip_prefix("\u{1b}[0m").unwrap_or(line);
    let b = line.as_bytes();
    b.len() >= 8
        && b[2] == b':'
        && b[5] == b':'
        && [0, 1, 3, 4, 6, 7].iter().all(|&i| b[i].is_ascii_digit())
}

#[tokio::test(flavor = "multi_thread")]
async fn awslogs_events_of_several_lines_decide_as_one_line_per_event() {
    let want = one_line_per_event(TRANSIENT).await;
    let w = world(Some(json!({
        "logDriver": "awslogs",
        "options": {
            "awslogs-group": "/ecs/dbt-models-building",
            "awslogs-region": REGION,
            "awslogs-stream-prefix": "dbt",
            "awslogs-multiline-pattern": MULTILINE_PATTERN,
        },
    })))
    .await;
    let task = w.original(TRANSIENT).await;
    let mut events: Vec<String> = Vec::new();
    for line in fixture_lines(TRANSIENT) {
        match events.last_mut() {
            Some(event) if !starts_event(&line) => {
                event.push('\n');
                event.push_str(&line);
            }
            _ => events.push(line),
        }
    }
    let lines = fixture_lines(TRANSIENT).len();
    assert!(
        events.len() < lines && events.iter().any(|e| e.lines().count() > 3),
        "{} events for {lines} lines",
        events.len()
    );
    w.moto
        .write_events(&w.logs, &w.moto.stream_of(&task), &events, true)
        .await;
    let record = w.decide(&task).await;
    assert_eq!(verdict(&record), want);
}
