//! Both flows over the in-memory ports, with tokio's time paused: a minute's log wait or a
//! five-minute delay costs these tests nothing. The logs are real dbt runs from the fixture
//! corpus; moto and the real SDK are the integration tests' business.

use crate::memory::{MemoryAlerts, MemoryEcs, MemoryLogs, MemorySchedules, TestClock};
use crate::{OnTaskStopped, RerunRequest, RerunTask};
use dbt_rerun_core::chain::ATTEMPT_VAR;
use dbt_rerun_core::config::ServiceConfig;
use dbt_rerun_core::event::{EcsContainer, EcsTask, LaunchType};
use dbt_rerun_core::record::{DecisionKind, DecisionRecord};
use dbt_rerun_core::task_definition::{
    AwsLogsOptions, ContainerDefinition, LogDriver, LogLocation, TaskDefinition,
};
use dbt_rerun_core::testing::TaskBuilder;
use std::path::Path;
use std::time::Duration;

const DEFINITION: &str = "arn:aws:ecs:eu-west-1:123456789012:task-definition/dbt-build:7";

type Service = OnTaskStopped<MemoryEcs, MemoryLogs, MemoryAlerts, MemorySchedules, TestClock>;

fn config(extra: &[(&str, &str)]) -> ServiceConfig {
    let mut vars = vec![
        ("DBT_RERUN_SECURITY_GROUPS", "sg-0123"),
        ("DBT_RERUN_SUBNETS", "subnet-0123"),
        ("DBT_RERUN_LOG_WAIT_SECONDS", "60"),
    ];
    vars.extend_from_slice(extra);
    dbt_rerun_core::config::service_config(|name| {
        vars.iter()
            .rev()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| (*v).to_owned())
    })
    .unwrap()
}

fn definition() -> TaskDefinition {
    TaskDefinition {
        arn: DEFINITION.into(),
        family: "dbt-build".into(),
        containers: vec![ContainerDefinition {
            name: "dbt".into(),
            entry_point: None,
            command: Some(vec!["dbt".into(), "build".into()]),
            essential: true,
            log: Some(LogDriver::AwsLogs(AwsLogsOptions {
                group: "/ecs/dbt".into(),
                stream_prefix: Some("dbt".into()),
                ..AwsLogsOptions::default()
            })),
            ..ContainerDefinition::default()
        }],
        requires: vec![LaunchType::Fargate],
        network_mode: Some("awsvpc".into()),
    }
}

fn service(extra: &[(&str, &str)]) -> Service {
    OnTaskStopped {
        ecs: MemoryEcs::default().with_definition(definition()),
        logs: MemoryLogs::default(),
        alerts: MemoryAlerts::default(),
        schedules: MemorySchedules::default(),
        clock: TestClock::at("2026-12-01T02:00:00Z".parse().unwrap()),
        config: config(extra),
    }
}

/// The lines of a recorded dbt run (`runs/1.10/transient_model_error`).
fn fixture_lines(fixture: &str) -> Vec<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures")
        .join(fixture)
        .join("output.log");
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    String::from_utf8_lossy(&bytes)
        .lines()
        .map(str::to_owned)
        .collect()
}

fn stream_of(task: &EcsTask) -> LogLocation {
    LogLocation::text("/ecs/dbt", format!("dbt/dbt/{}", task.task_id()), None)
}

fn event(task: &EcsTask) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "detail-type": "ECS Task State Change",
        "source": "aws.ecs",
        "detail": task,
    }))
    .unwrap()
}

/// The original run: `dbt build` failed with a transient error (exit 1).
fn failed_original() -> EcsTask {
    TaskBuilder::exited(Some(1))
        .overrides(None, &[("DBT_TARGET", "prod")])
        .build()
}

/// A task the service launched, stopped by ECS with `exit_code`.
fn stopped(mut task: EcsTask, exit_code: i32) -> EcsTask {
    task.last_status = "STOPPED".into();
    task.desired_status = Some("STOPPED".into());
    task.stop_code = Some("EssentialContainerExited".into());
    task.containers = vec![EcsContainer {
        name: "dbt".into(),
        exit_code: Some(exit_code),
        ..Default::default()
    }];
    task
}

async fn handle(service: &Service, task: &EcsTask) -> DecisionRecord {
    service.handle(&event(task)).await.unwrap()
}

#[tokio::test(start_paused = true)]
async fn a_log_that_lags_the_event_is_waited_for_and_the_rerun_launched_once() {
    let service = service(&[]);
    let task = failed_original();
    let lines = fixture_lines("runs/1.10/transient_model_error");
    // The awslogs driver delivers the first half at once and the rest 20 s later.
    let (first, rest) = lines.split_at(lines.len() / 2);
    service.logs.write(&stream_of(&task), first);
    service
        .logs
        .write_after(&stream_of(&task), Duration::from_secs(20), rest);
    let started = tokio::time::Instant::now();
    let record = handle(&service, &task).await;
    assert_eq!(record.decision, DecisionKind::Rerun, "{}", record.reason);
    assert!(record.log_complete);
    let waited = record.log_wait_seconds.unwrap();
    assert!((20.0..25.0).contains(&waited), "waited {waited} s");
    assert!(started.elapsed() >= Duration::from_secs(20));
    let launches = service.ecs.launches();
    assert_eq!(launches.len(), 1);
    assert_eq!(launches[0].command, record.rerun.unwrap().command);
    assert!(launches[0].command.contains(&"fct_orders".to_owned()));
}

#[tokio::test(start_paused = true)]
async fn a_page_ending_with_dbts_stats_line_ends_the_read_and_an_error_block_reads_on() {
    // A whole log in one page, ending with dbt's `Done. PASS=...`: one GetLogEvents, no empty
    // page to confirm the end. The 1.6 log is shorter than the window its prefix is decided
    // on: it is decided on the page.
    for fixture in [
        "runs/1.6/transient_model_error",
        "runs/1.10/transient_model_error",
        "runs/1.10/json_transient_model_error",
    ] {
        let service = service(&[]);
        let task = failed_original();
        service
            .logs
            .write(&stream_of(&task), &fixture_lines(fixture));
        let record = handle(&service, &task).await;
        assert_eq!(
            record.decision,
            DecisionKind::Rerun,
            "{fixture}: {}",
            record.reason
        );
        assert!(record.log_complete, "{fixture}");
        assert_eq!(service.logs.pages_read(), 1, "{fixture}");
    }
    // dbt's own error (exit 2) is the end of its run but is read to the end of the stream:
    // its lines follow the marker.
    let service = service(&[]);
    let task = TaskBuilder::exited(Some(2)).build();
    service
        .logs
        .write(&stream_of(&task), &fixture_lines("runs/1.10/compile_error"));
    let record = handle(&service, &task).await;
    assert_eq!(record.decision, DecisionKind::GiveUp, "{}", record.reason);
    assert_eq!(service.logs.pages_read(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_log_without_its_end_is_decided_on_what_there_is_when_the_wait_runs_out() {
    let service = service(&[]);
    let task = failed_original();
    let lines = fixture_lines("runs/1.10/transient_model_error");
    service
        .logs
        .write(&stream_of(&task), &lines[..lines.len() / 2]);
    let record = handle(&service, &task).await;
    assert!(!record.log_complete);
    assert_eq!(record.log_wait_seconds, Some(60.0));
    assert!(
        record.reason.contains("end-of-run marker did not appear"),
        "{}",
        record.reason
    );
}

#[tokio::test(start_paused = true)]
async fn a_killed_runs_log_is_read_until_it_is_quiet() {
    let service = service(&[]);
    let task = TaskBuilder::exited(Some(137))
        .reason("OutOfMemoryError: Container killed due to memory usage")
        .build();
    service.logs.write(
        &stream_of(&task),
        &fixture_lines("killed/1.11/build_sigkill"),
    );
    let record = handle(&service, &task).await;
    assert_eq!(record.decision, DecisionKind::Rerun, "{}", record.reason);
    assert!(record.resume, "{record:?}");
    let waited = record.log_wait_seconds.unwrap();
    assert!(
        (crate::QUIET.as_secs_f64()..15.0).contains(&waited),
        "waited {waited} s"
    );
    assert_eq!(service.ecs.launches()[0].memory.as_deref(), Some("4096"));
}

#[tokio::test(start_paused = true)]
async fn a_repeated_event_starts_no_second_task() {
    let service = service(&[]);
    let task = failed_original();
    service.logs.write(
        &stream_of(&task),
        &fixture_lines("runs/1.10/transient_model_error"),
    );
    let first = handle(&service, &task).await;
    let again = handle(&service, &task).await;
    assert_eq!(first.decision, DecisionKind::Rerun);
    assert_eq!(again.decision, DecisionKind::Ignore, "{}", again.reason);
    assert!(again.duplicate);
    assert!(again.reason.contains("already running"), "{}", again.reason);
    assert!(again.rerun.is_none());
    assert_eq!(service.ecs.launches().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn each_rerun_is_the_chains_next_attempt_until_the_budget_is_spent() {
    let service = service(&[]);
    let lines = fixture_lines("runs/1.10/transient_model_error");
    let mut task = failed_original();
    for attempt in 1..=3 {
        service.logs.write(&stream_of(&task), &lines);
        let record = handle(&service, &task).await;
        assert_eq!(record.attempt, attempt);
        if attempt == 3 {
            assert_eq!(record.decision, DecisionKind::GiveUp);
            assert!(
                record.reason.contains("attempt 3 of 3"),
                "{}",
                record.reason
            );
            break;
        }
        assert_eq!(record.decision, DecisionKind::Rerun, "{}", record.reason);
        let launched = service.ecs.tasks().pop().unwrap();
        let env = &launched.overrides.container_overrides[0].environment;
        let next = (attempt + 1).to_string();
        assert!(env
            .iter()
            .any(|kv| kv.name == ATTEMPT_VAR && kv.value == next));
        service.ecs.stop(&launched.task_arn);
        task = stopped(launched, 1);
    }
    assert_eq!(service.ecs.launches().len(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_newer_run_of_the_same_command_supersedes_the_rerun() {
    let service = service(&[]);
    let task = failed_original();
    service.logs.write(
        &stream_of(&task),
        &fixture_lines("runs/1.10/transient_model_error"),
    );
    // The next scheduled run of the same task definition command is already running.
    let newer = TaskBuilder::exited(None)
        .arn("arn:aws:ecs:eu-west-1:123456789012:task/dbt/ffff")
        .status("RUNNING")
        .build();
    let mut newer = newer;
    newer.desired_status = Some("RUNNING".into());
    service.ecs.add_task(newer);
    let record = handle(&service, &task).await;
    assert_eq!(record.decision, DecisionKind::Ignore, "{}", record.reason);
    assert!(
        record.reason.contains("superseded by task"),
        "{}",
        record.reason
    );
    assert!(service.ecs.launches().is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_delayed_rerun_is_scheduled_once_and_launched_once_when_it_fires() {
    let delays = [
        ("DBT_RERUN_DELAY_SECONDS", "300"),
        (
            "DBT_RERUN_SCHEDULER_TARGET_ARN",
            "arn:aws:lambda:eu-west-1:123456789012:function:rerun-task",
        ),
        (
            "DBT_RERUN_SCHEDULER_ROLE_ARN",
            "arn:aws:iam::123456789012:role/scheduler",
        ),
    ];
    let service = service(&delays);
    let task = failed_original();
    service.logs.write(
        &stream_of(&task),
        &fixture_lines("runs/1.10/transient_model_error"),
    );
    let record = handle(&service, &task).await;
    assert_eq!(record.decision, DecisionKind::Rerun, "{}", record.reason);
    let rerun = record.rerun.unwrap();
    assert_eq!(rerun.scheduled_at.as_deref(), Some("2026-12-01T02:05:00Z"));
    assert!(service.ecs.launches().is_empty(), "not yet");
    let again = handle(&service, &task).await;
    assert!(again.duplicate && again.reason.contains("already scheduled"));
    let schedules = service.schedules.schedules();
    assert_eq!(schedules.len(), 1);
    assert_eq!(schedules[0].expression, "at(2026-12-01T02:05:00)");
    assert_eq!(Some(schedules[0].name.clone()), rerun.schedule_name);

    // The schedule fires: rerun-task launches exactly the plan, and only once.
    let rerun_task = RerunTask {
        ecs: service.ecs,
        logs: MemoryLogs::default(),
        config: config(&delays),
    };
    let request = RerunRequest::from_json(schedules[0].input.as_bytes()).unwrap();
    let fired = rerun_task.handle(&request, "fired-1").await.unwrap();
    assert!(fired.task_arn.is_some(), "{:?}", fired.note);
    assert_eq!(fired.command, rerun.command);
    let twice = rerun_task.handle(&request, "fired-2").await.unwrap();
    assert_eq!(twice.task_arn, None);
    assert!(twice.note.unwrap().contains("already running"));
    assert_eq!(rerun_task.ecs.launches().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_delayed_rerun_the_task_definition_does_not_account_for_is_checked_against_its_origin() {
    let delays = [
        ("DBT_RERUN_DELAY_SECONDS", "300"),
        (
            "DBT_RERUN_SCHEDULER_TARGET_ARN",
            "arn:aws:lambda:eu-west-1:123456789012:function:rerun-task",
        ),
        (
            "DBT_RERUN_SCHEDULER_ROLE_ARN",
            "arn:aws:iam::123456789012:role/scheduler",
        ),
    ];
    let service = service(&delays);
    // The origin ran with a variable that is neither dbt's nor listed by the stack.
    let task = TaskBuilder::exited(Some(1))
        .overrides(None, &[("RUN_DATE", "2026-12-07")])
        .build();
    service.logs.write(
        &stream_of(&task),
        &fixture_lines("runs/1.10/transient_model_error"),
    );
    let record = handle(&service, &task).await;
    assert_eq!(record.decision, DecisionKind::Rerun, "{}", record.reason);
    let input = service.schedules.schedules()[0].input.clone();
    let request = RerunRequest::from_json(input.as_bytes()).unwrap();

    // ECS no longer lists the origin: the task definition alone cannot account for RUN_DATE.
    let forgotten = RerunTask {
        ecs: MemoryEcs::default().with_definition(definition()),
        logs: MemoryLogs::default(),
        config: config(&delays),
    };
    let err = forgotten.handle(&request, "fired-1").await.unwrap_err();
    assert!(
        matches!(
            &err,
            crate::ServiceError::Request(crate::RequestError::RefusedWithoutOrigin { .. })
        ),
        "{err}"
    );
    assert!(forgotten.ecs.launches().is_empty());

    // While ECS lists it, the origin's own override accounts for it.
    let remembered = RerunTask {
        ecs: MemoryEcs::default().with_definition(definition()),
        logs: MemoryLogs::default(),
        config: config(&delays),
    };
    remembered.ecs.add_task(task.clone());
    let fired = remembered.handle(&request, "fired-2").await.unwrap();
    assert!(fired.task_arn.is_some(), "{:?}", fired.note);
}

#[tokio::test(start_paused = true)]
async fn a_failed_alert_fails_the_invocation_after_the_launch() {
    let service = service(&[
        (
            "DBT_RERUN_ALERT_TOPIC_ARN",
            "arn:aws:sns:eu-west-1:123456789012:dbt",
        ),
        ("DBT_RERUN_ALERT_ON", "rerun"),
    ]);
    service.alerts.fail();
    let task = failed_original();
    service.logs.write(
        &stream_of(&task),
        &fixture_lines("runs/1.10/transient_model_error"),
    );
    let err = service.handle(&event(&task)).await.unwrap_err();
    assert!(err.to_string().contains("sns:Publish"), "{err}");
    assert_eq!(service.ecs.launches().len(), 1, "launched before the alert");
    // Lambda retries: the retry finds the task, launches nothing, and alerts nothing new.
    let again = service.handle(&event(&task)).await.unwrap();
    assert!(again.duplicate);
    assert_eq!(service.ecs.launches().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_stopped_task_is_replanned_on_request_even_past_the_policy() {
    let service = service(&[("DBT_RERUN_RETRY_ON", "infra")]);
    let task = failed_original();
    service.ecs.add_task(task.clone());
    service.logs.write(
        &stream_of(&task),
        &fixture_lines("runs/1.10/transient_model_error"),
    );
    let record = handle(&service, &task).await;
    assert_eq!(record.decision, DecisionKind::GiveUp, "the policy says no");
    let rerun_task = RerunTask {
        ecs: service.ecs,
        logs: service.logs,
        config: config(&[("DBT_RERUN_RETRY_ON", "infra")]),
    };
    let request = RerunRequest::from_json(
        serde_json::json!({ "from_task_arn": task.task_arn })
            .to_string()
            .as_bytes(),
    )
    .unwrap();
    let response = rerun_task.handle(&request, "person-1").await.unwrap();
    assert!(response.task_arn.is_some());
    assert_eq!(Some(response.command), record.rerun_command);
    assert_eq!(
        response.started_by,
        format!("dbt-rerun/{}/2", task.task_id())
    );
}

#[tokio::test(start_paused = true)]
async fn rerun_task_launches_only_the_families_and_clusters_it_serves() {
    let request =
        |body: serde_json::Value| RerunRequest::from_json(body.to_string().as_bytes()).unwrap();
    let manual = request(serde_json::json!({
        "select": "fct_orders", "cluster": "dbt", "task_definition": DEFINITION
    }));
    let rerun_task = |vars: &[(&str, &str)]| RerunTask {
        ecs: MemoryEcs::default().with_definition(definition()),
        logs: MemoryLogs::default(),
        config: config(vars),
    };
    let served = rerun_task(&[
        ("DBT_RERUN_CLUSTERS", "dbt,dbt-dev"),
        ("DBT_RERUN_TASK_FAMILIES", "dbt-*"),
    ]);
    let launched = served.handle(&manual, "person-1").await.unwrap();
    assert!(launched.task_arn.is_some());

    let other_family = rerun_task(&[("DBT_RERUN_TASK_FAMILIES", "dbt-hourly,dbt-nightly")]);
    let err = other_family.handle(&manual, "person-2").await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "bad request: task_definition: task family dbt-build is not one of this deployment's \
         (DBT_RERUN_TASK_FAMILIES: dbt-hourly, dbt-nightly)"
    );
    let other_cluster = rerun_task(&[("DBT_RERUN_CLUSTERS", "dbt-prod")]);
    let err = other_cluster.handle(&manual, "person-3").await.unwrap_err();
    assert!(
        err.to_string()
            .starts_with("bad request: cluster: cluster dbt is not"),
        "{err}"
    );
    assert!(other_family.ecs.launches().is_empty() && other_cluster.ecs.launches().is_empty());

    // A planned launch (a schedule written by an earlier deploy) is checked the same way.
    let service = service(&[
        ("DBT_RERUN_DELAY_SECONDS", "300"),
        (
            "DBT_RERUN_SCHEDULER_TARGET_ARN",
            "arn:aws:lambda:eu-west-1:123456789012:function:rerun-task",
        ),
        (
            "DBT_RERUN_SCHEDULER_ROLE_ARN",
            "arn:aws:iam::123456789012:role/scheduler",
        ),
    ]);
    let task = failed_original();
    service.logs.write(
        &stream_of(&task),
        &fixture_lines("runs/1.10/transient_model_error"),
    );
    assert_eq!(handle(&service, &task).await.decision, DecisionKind::Rerun);
    let input = service.schedules.schedules()[0].input.clone();
    let err = other_family
        .handle(
            &RerunRequest::from_json(input.as_bytes()).unwrap(),
            "fired-1",
        )
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("task family dbt-build is not one"),
        "{err}"
    );
    assert!(other_family.ecs.launches().is_empty());
}

#[tokio::test(start_paused = true)]
async fn on_task_stopped_ignores_a_family_it_does_not_serve_reading_nothing() {
    let service = service(&[("DBT_RERUN_TASK_FAMILIES", "dbt-hourly,dbt-nightly")]);
    let task = failed_original();
    assert_eq!(task.family(), "dbt-build");
    let record = handle(&service, &task).await;
    assert_eq!(record.decision, DecisionKind::Ignore);
    assert_eq!(
        record.reason,
        "task family dbt-build is not one of this deployment's \
         (DBT_RERUN_TASK_FAMILIES: dbt-hourly, dbt-nightly): not handled"
    );
    assert!(service.ecs.launches().is_empty());
    assert_eq!(service.ecs.definitions_read(), 0, "nothing read");
}

#[tokio::test(start_paused = true)]
async fn a_task_that_has_not_stopped_is_ignored_before_anything_is_read() {
    // No task definition, no log, a container name no event lists: none of it is needed.
    let service = OnTaskStopped {
        ecs: MemoryEcs::default(),
        config: config(&[("DBT_RERUN_CONTAINER", "dbt-core")]),
        ..service(&[])
    };
    // The AWS docs' Fargate Spot notice (no containers), and a DEACTIVATING task with an
    // empty container list.
    let notice = br#"{"detail-type": "ECS Task State Change", "source": "aws.ecs",
      "detail": {"clusterArn": "arn:aws:ecs:us-east-1:111122223333:cluster/default",
        "taskArn": "arn:aws:ecs:us-east-1:111122223333:task/b99d40b3", "lastStatus": "RUNNING",
        "desiredStatus": "STOPPED", "stopCode": "SpotInterruption",
        "stoppedReason": "Your Spot Task was interrupted."}}"#;
    let deactivating = br#"{"detail-type": "ECS Task State Change", "source": "aws.ecs",
      "detail": {"lastStatus": "DEACTIVATING", "taskArn": "arn:aws:ecs:us-west-2:123:task/c/t",
        "containers": [], "overrides": {"containerOverrides": [{"name": "s", "command": []}]}}}"#;
    for event in [&notice[..], &deactivating[..]] {
        let record = service.handle(event).await.unwrap();
        assert_eq!(record.decision, DecisionKind::Ignore, "{}", record.reason);
        assert!(record.reason.contains("not STOPPED"), "{}", record.reason);
        assert_eq!(record.log_wait_seconds, None);
    }
    assert!(service.ecs.launches().is_empty());
    assert_eq!(service.logs.pages_read(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_scale_in_that_killed_dbt_is_not_an_oom_and_reads_no_log() {
    let service = service(&[]);
    let mut task = TaskBuilder::exited(Some(137))
        .stop_code("ServiceSchedulerInitiated")
        .build();
    task.stopped_reason =
        Some("Scaling activity initiated by (deployment ecs-svc/8646900195280463695)".into());
    service.logs.write(
        &stream_of(&task),
        &fixture_lines("killed/1.11/build_sigkill"),
    );
    let record = handle(&service, &task).await;
    assert_eq!(record.decision, DecisionKind::Ignore, "{}", record.reason);
    assert_eq!(
        serde_json::to_value(record.failure_kind).unwrap(),
        "infra",
        "not oom"
    );
    assert!(
        record.reason.contains("service scheduler"),
        "{}",
        record.reason
    );
    assert_eq!(service.logs.pages_read(), 0);
    assert!(service.ecs.launches().is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_rerun_that_succeeds_closes_its_chain_reading_nothing_and_launching_nothing() {
    let service = service(&[]);
    let original = failed_original();
    service.logs.write(
        &stream_of(&original),
        &fixture_lines("runs/1.10/transient_model_error"),
    );
    let first = handle(&service, &original).await;
    assert_eq!(first.decision, DecisionKind::Rerun, "{}", first.reason);
    let launched = service.ecs.tasks().pop().unwrap();
    service.ecs.stop(&launched.task_arn);
    let (definitions, pages) = (service.ecs.definitions_read(), service.logs.pages_read());

    let started = tokio::time::Instant::now();
    let record = handle(&service, &stopped(launched.clone(), 0)).await;
    assert_eq!(record.decision, DecisionKind::Ignore, "{}", record.reason);
    assert_eq!(
        record.reason,
        format!(
            "recovered: attempt 2 of chain {} succeeded (dbt exited 0): nothing to re-run",
            original.task_id()
        )
    );
    let recovered = record.recovered.as_ref().expect("recovered");
    assert_eq!(
        (recovered.origin_task_arn.as_str(), recovered.attempt),
        (original.task_arn.as_str(), 2)
    );
    assert_eq!(
        record.command,
        launched.overrides.container_overrides[0].command
    );
    assert_eq!(
        service.ecs.definitions_read(),
        definitions,
        "no task definition read"
    );
    assert_eq!(service.logs.pages_read(), pages, "no log read");
    assert_eq!(record.log_wait_seconds, None);
    assert_eq!(started.elapsed(), Duration::ZERO, "no wait");
    assert_eq!(service.ecs.launches().len(), 1, "nothing launched");
    let line = dbt_rerun_core::metrics::decision_log_line(&record, "DbtRerun", 0);
    let line: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(
        (&line["Recovered"], &line["Ignored"]),
        (&1.into(), &1.into())
    );
}

#[tokio::test(start_paused = true)]
async fn with_inspect_success_a_rerun_that_exited_0_is_read_and_hidden_failures_win() {
    let service = service(&[("DBT_RERUN_INSPECT_SUCCESS", "true")]);
    let original = failed_original();
    let lines = fixture_lines("runs/1.10/transient_model_error");
    service.logs.write(&stream_of(&original), &lines);
    handle(&service, &original).await;
    let launched = service.ecs.tasks().pop().unwrap();
    service.ecs.stop(&launched.task_arn);
    // A wrapper hid the same transient failure behind exit 0: the log shows it.
    service.logs.write(&stream_of(&launched), &lines);
    let pages = service.logs.pages_read();
    let record = handle(&service, &stopped(launched, 0)).await;
    assert!(service.logs.pages_read() > pages, "the log was read");
    assert_eq!(record.decision, DecisionKind::Rerun, "{}", record.reason);
    assert_eq!(record.recovered, None);
    assert_eq!(record.rerun.unwrap().attempt, 3);
    assert_eq!(service.ecs.launches().len(), 2);
}

/// The task definition with its dbt container logging through FireLens to CloudWatch Logs.
fn firelens_definition() -> TaskDefinition {
    let mut definition = definition();
    definition.containers[0].log = Some(LogDriver::from_config(
        "awsfirelens",
        [
            ("Name", "cloudwatch_logs"),
            ("region", "eu-west-1"),
            ("log_group_name", "/ecs/dbt-firelens"),
            ("log_stream_prefix", "fb-"),
        ],
    ));
    definition
}

#[tokio::test(start_paused = true)]
async fn a_firelens_stream_without_the_dbt_containers_records_says_what_it_held() {
    let mut service = service(&[]);
    service.ecs = MemoryEcs::default().with_definition(firelens_definition());
    let task = failed_original();
    let at = LogLocation::text(
        "/ecs/dbt-firelens",
        format!("fb-dbt-firelens-{}", task.task_id()),
        None,
    );
    let sidecar = r#"{"container_name":"datadog-agent","log":"agent started","source":"stdout"}"#;
    service.logs.write(&at, &[sidecar, sidecar, "not a record"]);
    let record = handle(&service, &task).await;
    assert_eq!(record.decision, DecisionKind::GiveUp, "{}", record.reason);
    assert!(
        record
            .reason
            .contains("none was a record of container dbt (2 of other containers, 0 of other tasks, 1 not records"),
        "{}",
        record.reason
    );
    assert!(service.ecs.launches().is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_log_of_another_driver_gives_up_saying_which() {
    let mut service = service(&[]);
    let mut definition = definition();
    definition.containers[0].log = Some(LogDriver::from_config(
        "splunk",
        [("splunk-url", "https://splunk.example.com:8088")],
    ));
    service.ecs = MemoryEcs::default().with_definition(definition);
    let record = handle(&service, &failed_original()).await;
    assert_eq!(record.decision, DecisionKind::GiveUp, "{}", record.reason);
    assert!(
        record.reason.contains("logs with the splunk driver"),
        "{}",
        record.reason
    );
}

#[tokio::test(start_paused = true)]
async fn a_manual_launch_runs_where_its_task_definition_says() {
    // (requiresCompatibilities, networkMode) -> launch type, awsvpc network. With no subnets
    // configured, only an awsvpc launch is refused (it has no task to take subnets from).
    let cases = [
        (
            vec![LaunchType::Fargate],
            Some("awsvpc"),
            Some(LaunchType::Fargate),
            true,
        ),
        (
            vec![LaunchType::Ec2, LaunchType::Fargate],
            Some("awsvpc"),
            Some(LaunchType::Fargate),
            true,
        ),
        (
            vec![LaunchType::Ec2],
            Some("bridge"),
            Some(LaunchType::Ec2),
            false,
        ),
        (
            vec![LaunchType::Ec2],
            Some("awsvpc"),
            Some(LaunchType::Ec2),
            true,
        ),
        (
            vec![LaunchType::External],
            None,
            Some(LaunchType::External),
            false,
        ),
        // No requirement: no launch type, so the cluster's default capacity provider
        // strategy places it (EC2 without one), as RunTask does.
        (vec![], None, None, false),
    ];
    let request = RerunRequest::from_json(br#"{"select": "fct_orders"}"#).unwrap();
    for (requires, mode, launch_type, awsvpc) in cases {
        let what = format!("{requires:?} {mode:?}");
        let mut definition = definition();
        definition.requires = requires;
        definition.network_mode = mode.map(str::to_owned);
        for subnets in ["subnet-0123", ""] {
            let rerun_task = RerunTask {
                ecs: MemoryEcs::default().with_definition(definition.clone()),
                logs: MemoryLogs::default(),
                config: config(&[
                    ("DBT_RERUN_SUBNETS", subnets),
                    ("DBT_RERUN_CLUSTER", "dbt"),
                    ("DBT_RERUN_TASK_DEFINITION", DEFINITION),
                ]),
            };
            let answer = rerun_task.handle(&request, "manual-1").await;
            if awsvpc && subnets.is_empty() {
                let err = answer.unwrap_err().to_string();
                assert!(
                    err.contains("DBT_RERUN_SUBNETS is not set"),
                    "{what}: {err}"
                );
                assert!(rerun_task.ecs.launches().is_empty(), "{what}");
                continue;
            }
            assert!(answer.unwrap().task_arn.is_some(), "{what}");
            let launch = &rerun_task.ecs.launches()[0];
            assert_eq!(launch.launch_type, launch_type, "{what}");
            assert_eq!(launch.capacity_provider, None, "{what}");
            assert_eq!(launch.network.is_some(), awsvpc, "{what}");
        }
    }
}
