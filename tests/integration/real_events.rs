//! The ECS events that AWS documentation and public projects published, read at run time from
//! `../shared/real-world/ecs-events/` (beside the repository; never copied into it; its
//! `SOURCES.md` says where each came from). Every file either decodes and gets the decision
//! a person would give a dbt task that ran `dbt build` and left no log, or, for the partial
//! ones, is refused with an error naming what is missing. The files are decided twice: by the
//! core, and by on-task-stopped over the in-memory ports (dry run), which must agree.

use dbt_rerun_core::config::{service_config, ServiceConfig};
use dbt_rerun_core::decision::{DecisionConfig, DecisionInput};
use dbt_rerun_core::event::{parse_task_event, EcsTask};
use dbt_rerun_core::record::DecisionKind::{self, GiveUp, Ignore, Rerun};
use dbt_rerun_core::task_definition::{
    AwsLogsOptions, ContainerDefinition, LogDriver, TaskDefinition,
};
use dbt_rerun_core::testing::decide_record;
use dbt_rerun_service::memory::{MemoryAlerts, MemoryEcs, MemoryLogs, MemorySchedules, TestClock};
use dbt_rerun_service::OnTaskStopped;
use dbt_rerun_tests::repo_root;
use std::collections::BTreeSet;
use std::path::PathBuf;

/// What a file must give.
enum Expect {
    /// It decodes, and the decision is this kind with a reason containing the fragment.
    Decision(DecisionKind, &'static str),
    /// It is refused, with an error containing the fragment.
    Error(&'static str),
}

use Expect::{Decision, Error};

/// Each file (by its number) with what it must give and why.
const EXPECTED: &[(&str, Expect, &str)] = &[
    (
        "01",
        Decision(Ignore, "RUNNING, not STOPPED"),
        "a RUNNING task (one sidecar already exited 0): nothing to decide until it stops",
    ),
    (
        "02",
        Decision(Ignore, "RUNNING, not STOPPED"),
        "a RUNNING Fargate task",
    ),
    (
        "03",
        Error("`ECS Container Instance State Change`"),
        "not a task event: the rule never sends it, and a wrong event is an error",
    ),
    (
        "04",
        Decision(Ignore, "not STOPPED: nothing to do yet (ECS is stopping it: stopCode TerminationNotice"),
        "a Spot warning for a task still RUNNING, without containers: its STOPPED event decides",
    ),
    (
        "05",
        Decision(Ignore, "a person stopped the task (stopCode UserInitiated"),
        "stopped by a person: never re-run",
    ),
    (
        "06",
        Decision(Ignore, "RUNNING, not STOPPED"),
        "a RUNNING task with sidecars (GuardDuty's has \"cpu\": \"null\")",
    ),
    (
        "07",
        Decision(Ignore, "RUNNING, not STOPPED"),
        "a RUNNING EC2 task",
    ),
    (
        "08",
        Decision(Ignore, "not STOPPED: nothing to do yet (ECS is stopping it: stopCode SpotInterruption"),
        "the newer Spot warning, RUNNING, without containers",
    ),
    (
        "09",
        Decision(Ignore, "the ECS service scheduler stopped the task (stopCode ServiceSchedulerInitiated: Scaling activity"),
        "a service scaled in (exit 0 anyway): the service owns the task",
    ),
    (
        "10",
        Decision(Ignore, "RUNNING, not STOPPED"),
        "a RUNNING task",
    ),
    (
        "11",
        Decision(GiveUp, "exited 255, which dbt does not use"),
        "2018, no stopCode, exit 255: not a dbt failure dbt-rerun knows to re-run",
    ),
    (
        "12",
        Decision(Rerun, "the task failed to start (Task failed to start)"),
        "2018, no stopCode: the old reason for a failed start, no exit code; a fresh start can work",
    ),
    (
        "13",
        Decision(Ignore, "RUNNING, not STOPPED"),
        "a RUNNING task with four containers",
    ),
    (
        "14",
        Decision(Ignore, "dbt exited 0: nothing to re-run"),
        "2017, no stopCode, placeholder ARNs: a success",
    ),
    (
        "15",
        Decision(GiveUp, "dbt exited 1 but the log could not be read"),
        "two containers (exit 1, and 137 without ECS's OOM reason): the one that exited 1 is dbt's failure, and without its log nothing says a re-run helps",
    ),
    (
        "16",
        Decision(Rerun, "the container has no exit code"),
        "an unknown stopCode is kept as a string; no exit code means dbt never ran or was killed: re-run as infra",
    ),
    (
        "17",
        Decision(Ignore, "PENDING, not STOPPED"),
        "a Spot task still PENDING",
    ),
    (
        "18",
        Error("`ECS Service Action`"),
        "not a task event",
    ),
    (
        "19",
        Error("`ECS Deployment State Change`"),
        "not a task event",
    ),
    (
        "20",
        Decision(GiveUp, "dbt itself failed (exit 2)"),
        "envoy exited 0, the app 2: exit 2 is dbt's own error, which a re-run cannot fix",
    ),
    (
        "21",
        Decision(Ignore, "dbt exited 0: nothing to re-run"),
        "2018, no stopCode: a success",
    ),
    (
        "22",
        Decision(Ignore, "a person stopped the task"),
        "UserInitiated, account redacted into every ARN",
    ),
    (
        "23",
        Error("no `lastStatus` and no `taskArn`"),
        "only the detail, trimmed: without lastStatus it cannot be told stopped, without taskArn nothing can be re-run",
    ),
    (
        "24",
        Error("no `lastStatus` and no `taskArn`"),
        "as 23",
    ),
    (
        "25",
        Error("no `lastStatus` and no `taskArn`"),
        "as 23 (TerminationNotice)",
    ),
    (
        "26",
        Decision(Ignore, "the task is DEACTIVATING, not STOPPED: nothing to do yet"),
        "DEACTIVATING with an empty container list: not stopped, so nothing else is required",
    ),
    (
        "27",
        Decision(Ignore, "service scheduler stopped the task (stopCode ServiceSchedulerInitiated: Scaling activity"),
        "exit 137 from a scale-in (SIGKILL after the stop timeout) is no OOM: no re-run, no memory",
    ),
    (
        "28",
        Decision(Ignore, "service scheduler stopped the task (stopCode ServiceSchedulerInitiated: Scaling activity"),
        "as 27, on EC2 in bridge mode",
    ),
    (
        "29",
        Error("`EC2 Instance State-change Notification`"),
        "an EC2 event, not ECS",
    ),
    (
        "30",
        Decision(Ignore, "after failed health checks (stopCode ServiceSchedulerInitiated: Task failed ELB health checks"),
        "exit 143 from a health-check stop: the service replaces the task; no re-run",
    ),
    (
        "31",
        Error("no `lastStatus` and no `taskArn`"),
        "only the containers array was published",
    ),
    (
        "32",
        Decision(Ignore, "not STOPPED: nothing to do yet (ECS is stopping it: stopCode TerminationNotice"),
        "the Spot warning with time and region: still RUNNING",
    ),
    (
        "33",
        Decision(Ignore, "RUNNING, not STOPPED"),
        "RUNNING, with an ENI already DELETED",
    ),
    (
        "34",
        Error("no `source`"),
        "a synthetic fixture without source (nor exit code or container name)",
    ),
    (
        "35",
        Decision(GiveUp, "exited 999, which dbt does not use"),
        "two containers named `default`, exit 999 and 0: the failed one is chosen; 999 is no dbt exit code",
    ),
    (
        "36",
        Decision(Ignore, "dbt exited 0: nothing to re-run"),
        "Windows Fargate, `event_time` for `time`: a success",
    ),
    (
        "37",
        Decision(GiveUp, "dbt exited 1 but the log could not be read"),
        "exit 1 without a log: nothing says what failed",
    ),
    (
        "38",
        Decision(GiveUp, "dbt exited 1 but the log could not be read"),
        "2019 EC2, exit 1 without a log",
    ),
    (
        "39",
        Decision(Ignore, "dbt exited 0: nothing to re-run"),
        "detail-only (wrapped by the corpus), exit 0",
    ),
    (
        "40",
        Decision(Ignore, "a person stopped the task"),
        "UserInitiated, with an elb attachment",
    ),
];

fn events_dir() -> PathBuf {
    let dir = repo_root()
        .parent()
        .expect("the repository has a parent directory")
        .join("shared/real-world/ecs-events");
    assert!(
        dir.is_dir(),
        "the real-world ECS events are not at {} (../shared/real-world/ecs-events beside the \
         repository): this test reads them there and they are not copied into the project",
        dir.display()
    );
    dir
}

/// Every event file, sorted, as (number, name, bytes).
fn event_files() -> Vec<(String, String, Vec<u8>)> {
    let dir = events_dir();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|e| e.expect("readable directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let name = path
                .file_name()
                .expect("a file name")
                .to_string_lossy()
                .into_owned();
            let number = name.split('-').next().unwrap_or_default().to_owned();
            let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            (number, name, bytes)
        })
        .collect()
}

/// on-task-stopped over the in-memory ports, dry run, no log anywhere: ECS knows each stopped
/// task's definition (`dbt build`, its containers logging with awslogs).
fn service_for(
    task: &EcsTask,
) -> OnTaskStopped<MemoryEcs, MemoryLogs, MemoryAlerts, MemorySchedules, TestClock> {
    let mut names: Vec<String> = task.containers.iter().map(|c| c.name.clone()).collect();
    names.dedup();
    let definition = TaskDefinition {
        arn: task.task_definition_arn.clone(),
        family: task.family().to_owned(),
        containers: names
            .into_iter()
            .map(|name| ContainerDefinition {
                name,
                entry_point: None,
                command: Some(vec!["dbt".into(), "build".into()]),
                essential: true,
                log: Some(LogDriver::AwsLogs(AwsLogsOptions {
                    group: "/ecs/dbt".into(),
                    stream_prefix: Some("dbt".into()),
                    ..AwsLogsOptions::default()
                })),
                ..ContainerDefinition::default()
            })
            .collect(),
        ..TaskDefinition::default()
    };
    OnTaskStopped {
        ecs: MemoryEcs::default().with_definition(definition),
        logs: MemoryLogs::default(),
        alerts: MemoryAlerts::default(),
        schedules: MemorySchedules::default(),
        clock: TestClock::at("2026-12-01T02:00:00Z".parse().expect("a time")),
        config: config(),
    }
}

fn config() -> ServiceConfig {
    let vars = [
        ("DBT_RERUN_DRY_RUN", "true"),
        ("DBT_RERUN_LOG_WAIT_SECONDS", "0"),
    ];
    service_config(|name| {
        vars.iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| (*v).to_owned())
    })
    .expect("a valid configuration")
}

#[tokio::test]
async fn every_published_ecs_event_decodes_and_gets_the_right_decision() {
    let files = event_files();
    let numbers: BTreeSet<&str> = files.iter().map(|(n, _, _)| n.as_str()).collect();
    let expected: BTreeSet<&str> = EXPECTED.iter().map(|(n, _, _)| *n).collect();
    assert_eq!(
        numbers, expected,
        "every file has a row in EXPECTED and every row a file"
    );
    assert_eq!(files.len(), 40, "one file per number");

    let command = ["dbt".to_owned(), "build".to_owned()];
    let config = DecisionConfig::default();
    let mut wrong = Vec::new();
    for (number, name, bytes) in &files {
        let (_, expect, why) = EXPECTED
            .iter()
            .find(|(n, _, _)| n == number)
            .expect("checked above");
        let parsed = parse_task_event(bytes);
        // The same bytes through on-task-stopped: the same answer.
        let service = parsed.as_ref().ok().map(|e| service_for(&e.detail));
        let handled = match &service {
            Some(service) => service.handle(bytes).await.map_err(|e| e.to_string()),
            None => Err(parsed
                .as_ref()
                .err()
                .map(ToString::to_string)
                .unwrap_or_default()),
        };
        let got = match (&parsed, expect) {
            (Ok(event), Decision(kind, fragment)) => {
                let record = decide_record(DecisionInput {
                    task: &event.detail,
                    report: None,
                    log_note: None,
                    command: Some(&command),
                    entry_point: None,
                    invocations: None,
                    config: &config,
                });
                let served = handled.as_ref().map(|r| r.decision);
                if record.decision == *kind
                    && record.reason.contains(fragment)
                    && served.as_ref() == Ok(kind)
                {
                    None
                } else {
                    Some(format!(
                        "{:?}: {} (on-task-stopped: {served:?})",
                        record.decision, record.reason
                    ))
                }
            }
            (Err(e), Error(fragment)) => {
                let e = e.to_string();
                let served = handled.as_ref().err();
                if e.contains(fragment) && served.is_some_and(|s| s.contains(fragment)) {
                    None
                } else {
                    Some(format!("error: {e} (on-task-stopped: {served:?})"))
                }
            }
            (Ok(event), Error(_)) => Some(format!("decoded: {:?}", event.detail.last_status)),
            (Err(e), Decision(..)) => Some(format!("error: {e}")),
        };
        if let Some(got) = got {
            let wanted = match expect {
                Decision(kind, fragment) => format!("{kind:?} with \"{fragment}\""),
                Error(fragment) => format!("an error with \"{fragment}\""),
            };
            wrong.push(format!("{name}\n  wanted {wanted} ({why})\n  got {got}"));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {} events decided wrong:\n{}",
        wrong.len(),
        files.len(),
        wrong.join("\n")
    );
}
