//! `dbt-rerun history` against moto: on-task-stopped's real decisions on real tasks (and
//! rerun-task's launch when a schedule fires), their lines written to the functions' log
//! groups as Lambda writes them, read back with FilterLogEvents through the real SDK adapter.
//! moto's FilterLogEvents ignores the JSON pattern (it returns every event): the lines are
//! checked after reading, which these tests rely on; the pattern's logic is not tested here.

use dbt_rerun_aws::CloudWatchLogs;
use dbt_rerun_core::config::{ScheduleTarget, ServiceConfig};
use dbt_rerun_core::delay::{DelaySettings, Jitter};
use dbt_rerun_core::event::EcsTask;
use dbt_rerun_core::history::{ChainHistory, Filter, History, LogEvent, Outcome};
use dbt_rerun_core::metrics::decision_log_line;
use dbt_rerun_core::testing::{decide_record, TaskBuilder};
use dbt_rerun_core::{DecisionKind, DecisionRecord};
use dbt_rerun_service::{AwsError, DecisionLog, EventPage, RerunRequest};
use dbt_rerun_tests::moto::{stopped_event, Moto, Stop};
use dbt_rerun_tests::{fixture_argv, fixture_lines};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

const STACK: &str = "dbt-nightly";
const TRANSIENT: &str = "1.10/transient_model_error";
const MINUTE: i64 = 60_000;
const GROUP: &str = "dbt-rerun";

struct World {
    moto: Moto,
    aws: aws_config::SdkConfig,
    ecs: aws_sdk_ecs::Client,
    logs: aws_sdk_cloudwatchlogs::Client,
    groups: [String; 2],
}

async fn world() -> World {
    let moto = Moto::start();
    let aws = moto.sdk_config().await;
    let logs = aws_sdk_cloudwatchlogs::Client::new(&aws);
    let groups = moto.create_function_log_groups(&logs, STACK).await;
    World {
        ecs: aws_sdk_ecs::Client::new(&aws),
        logs,
        groups,
        aws,
        moto,
    }
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// The lines on-task-stopped printed, a minute apart from three hours ago.
struct Printed {
    at: i64,
    lines: Vec<(i64, String)>,
}

impl Printed {
    fn new() -> Self {
        Self {
            at: now_ms() - 180 * MINUTE,
            lines: Vec::new(),
        }
    }

    fn decision(&mut self, record: &DecisionRecord) {
        self.at += MINUTE;
        let line = decision_log_line(record, "DbtRerun", self.at as u64);
        self.lines.push((self.at, line));
    }
}

impl World {
    fn config(&self) -> ServiceConfig {
        self.moto.service_config(Duration::from_secs(1))
    }

    /// The configuration of a stack with a 10-minute delay before a re-run.
    async fn delayed_config(&self) -> ServiceConfig {
        aws_sdk_scheduler::Client::new(&self.aws)
            .create_schedule_group()
            .name(GROUP)
            .send()
            .await
            .expect("CreateScheduleGroup");
        let mut config = self.config();
        config.delay = DelaySettings {
            delay_seconds: 600,
            backoff_rate: 2.0,
            max_delay_seconds: 3600,
            jitter: Jitter::None,
        };
        config.schedule = Some(ScheduleTarget {
            group: GROUP.to_owned(),
            target_arn: "arn:aws:lambda:eu-west-1:123456789012:function:dbt-nightly-rerun-task"
                .to_owned(),
            role_arn: "arn:aws:iam::123456789012:role/dbt-nightly-scheduler".to_owned(),
        });
        config
    }

    /// An original run of the transient fixture, its log written, stopped.
    async fn original(&self) -> EcsTask {
        let argv = fixture_argv(TRANSIENT);
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        let task = self.moto.run_original(&self.ecs, &argv, &[]).await;
        self.moto
            .write_log(&self.logs, &task, &fixture_lines(TRANSIENT), true)
            .await;
        task
    }

    /// The re-run `record` started, stopped with `exit_code` (its log, for a failure, the
    /// transient fixture's again).
    async fn rerun_stopped(&self, record: &DecisionRecord, exit_code: i32) -> EcsTask {
        let arn = record
            .rerun
            .as_ref()
            .and_then(|r| r.task_arn.clone())
            .expect("a started re-run");
        let task = self.moto.describe(&arn).await;
        if exit_code != 0 {
            self.moto
                .write_log(&self.logs, &task, &fixture_lines(TRANSIENT), true)
                .await;
        }
        self.moto.stop(&self.ecs, &task, exit_code).await
    }

    async fn history(&self, filter: &Filter) -> History {
        let logs = CloudWatchLogs::new(&self.aws);
        dbt_rerun_service::history::history(
            &logs,
            &self.groups,
            now_ms() - 24 * 60 * MINUTE,
            filter,
        )
        .await
        .expect("history")
    }
}

fn chain_of<'a>(history: &'a History, origin: &EcsTask) -> &'a ChainHistory {
    history
        .chains
        .iter()
        .find(|c| c.origin_task.as_deref() == Some(origin.task_arn.as_str()))
        .unwrap_or_else(|| panic!("no chain of {}: {:#?}", origin.task_arn, history.chains))
}

fn attempts(chain: &ChainHistory) -> Vec<(u32, &str, &str)> {
    chain
        .attempts
        .iter()
        .map(|a| (a.attempt, a.decision.as_str(), a.task_arn.as_str()))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn history_tells_each_chain_from_the_functions_log_groups() {
    let w = world().await;
    let service = dbt_rerun_aws::on_task_stopped(&w.aws, w.config());
    let mut printed = Printed::new();
    let handle = |task: &EcsTask, stop: Stop<'_>| {
        let event = stopped_event(task, &stop);
        let service = &service;
        async move { service.handle(&event).await.expect("a decision") }
    };

    // Recovered: a transient failure, re-run once, the re-run succeeds.
    let a1 = w.original().await;
    let r = handle(&a1, Stop::exit(1)).await;
    assert_eq!(r.decision, DecisionKind::Rerun, "{}", r.reason);
    printed.decision(&r);
    let a2 = w.rerun_stopped(&r, 0).await;
    let r = handle(&a2, Stop::exit(0)).await;
    assert_eq!(r.decision, DecisionKind::Ignore, "{}", r.reason);
    printed.decision(&r);

    // Gave up: the same failure three times spends the budget of 3 runs.
    let b1 = w.original().await;
    let r1 = handle(&b1, Stop::exit(1)).await;
    printed.decision(&r1);
    let b2 = w.rerun_stopped(&r1, 1).await;
    let r2 = handle(&b2, Stop::exit(1)).await;
    printed.decision(&r2);
    let b3 = w.rerun_stopped(&r2, 1).await;
    let r3 = handle(&b3, Stop::exit(1)).await;
    assert_eq!(r3.decision, DecisionKind::GiveUp, "{}", r3.reason);
    printed.decision(&r3);
    // The same event delivered twice: a second line for the same stop.
    printed.decision(&handle(&b3, Stop::exit(1)).await);

    // A person stopped it.
    let c1 = w.original().await;
    let r = handle(
        &c1,
        Stop {
            exit_code: Some(143),
            stop_code: "UserInitiated",
            reason: None,
        },
    )
    .await;
    assert_eq!(r.decision, DecisionKind::Ignore, "{}", r.reason);
    printed.decision(&r);

    // Scheduled: a stack that waits 10 minutes before a re-run.
    let delayed = dbt_rerun_aws::on_task_stopped(&w.aws, w.delayed_config().await);
    let d1 = w.original().await;
    let scheduled = delayed
        .handle(&stopped_event(&d1, &Stop::exit(1)))
        .await
        .expect("a decision");
    let due = scheduled
        .rerun
        .as_ref()
        .and_then(|r| r.scheduled_at.clone())
        .expect("scheduled");
    printed.decision(&scheduled);

    // Lambda's own lines around each decision, as the log group has them.
    let mut lines = printed.lines.clone();
    for (at, _) in &printed.lines {
        lines.push((*at - 1, "START RequestId: 8f5e Version: $LATEST".to_owned()));
        lines.push((
            *at + 1,
            r#"{"time":"2026-11-27T02:14:31Z","type":"platform.report","record":{"metrics":{"durationMs":812.4}}}"#
                .to_owned(),
        ));
    }
    w.moto
        .write_function_log(&w.logs, &w.groups[0], &lines)
        .await;

    let history = w.history(&Filter::default()).await;
    assert_eq!(history.unreadable, 0);
    assert_eq!(history.chains.len(), 4, "{:#?}", history.chains);
    let origins: Vec<Option<&str>> = history
        .chains
        .iter()
        .map(|c| c.origin_task.as_deref())
        .collect();
    assert_eq!(
        origins,
        [&d1, &c1, &b1, &a1].map(|t| Some(t.task_arn.as_str())),
        "newest first"
    );

    let a = chain_of(&history, &a1);
    assert_eq!(
        attempts(a),
        [
            (1, "rerun", a1.task_arn.as_str()),
            (2, "ignore", a2.task_arn.as_str())
        ]
    );
    assert!(a.attempts[1].recovered);
    assert_eq!((a.outcome, a.outcome_attempt), (Outcome::Recovered, 2));
    assert_eq!(a.attempts[0].failed_nodes, ["fct_orders"]);
    assert_eq!(a.attempts[0].skipped_nodes, 10);
    assert_eq!(a.command.as_deref(), Some(&fixture_argv(TRANSIENT)[..]));
    assert_eq!(
        Some(a.cluster.as_str()),
        w.moto.setup.cluster.rsplit('/').next()
    );
    assert_eq!(a.family, "dbt-models-building");

    let b = chain_of(&history, &b1);
    assert_eq!(
        attempts(b),
        [
            (1, "rerun", b1.task_arn.as_str()),
            (2, "rerun", b2.task_arn.as_str()),
            (3, "give_up", b3.task_arn.as_str())
        ],
        "the repeated event adds nothing"
    );
    assert_eq!((b.outcome, b.outcome_attempt), (Outcome::GaveUp, 3));

    let c = chain_of(&history, &c1);
    assert_eq!((c.outcome, c.outcome_attempt), (Outcome::Ignored, 1));
    assert!(
        c.attempts[0].reason.contains("UserInitiated"),
        "{:?}",
        c.attempts
    );

    let d = chain_of(&history, &d1);
    assert_eq!((d.outcome, d.outcome_attempt), (Outcome::Scheduled, 2));
    assert_eq!(d.scheduled_at.as_deref(), Some(due.as_str()));

    // Filters.
    let only = |family: &str| Filter {
        family: Some(family.to_owned()),
        cluster: None,
    };
    assert_eq!(
        w.history(&only("dbt-models-building")).await.chains.len(),
        4
    );
    assert!(w.history(&only("other")).await.chains.is_empty());

    // The schedule fires: rerun-task launches the re-run and prints its launch line into its
    // own log group; the chain is running that task.
    let schedules = aws_sdk_scheduler::Client::new(&w.aws);
    let name = scheduled
        .rerun
        .as_ref()
        .unwrap()
        .schedule_name
        .clone()
        .unwrap();
    let schedule = schedules
        .get_schedule()
        .group_name(GROUP)
        .name(&name)
        .send()
        .await
        .expect("GetSchedule");
    let input = schedule.target().unwrap().input().unwrap().to_owned();
    let request = RerunRequest::from_json(input.as_bytes()).unwrap();
    let response = dbt_rerun_aws::rerun_task(&w.aws, w.config())
        .handle(&request, "schedule-fired")
        .await
        .expect("launched");
    let launched = response.task_arn.clone().expect("a task");
    let line = serde_json::json!({"message": "dbt-rerun launch", "response": response}).to_string();
    w.moto
        .write_function_log(&w.logs, &w.groups[1], &[(now_ms() - MINUTE, line)])
        .await;
    let history = w.history(&Filter::default()).await;
    let d = chain_of(&history, &d1);
    assert_eq!((d.outcome, d.outcome_attempt), (Outcome::Running, 2));
    assert_eq!(d.running_task.as_deref(), Some(launched.as_str()));
}

/// The adapter, counting its pages.
struct Counting {
    logs: CloudWatchLogs,
    pages: AtomicUsize,
}

impl DecisionLog for Counting {
    async fn filter(
        &self,
        group: &str,
        pattern: &str,
        start_ms: i64,
        token: Option<&str>,
    ) -> Result<EventPage, AwsError> {
        self.pages.fetch_add(1, Ordering::Relaxed);
        self.logs.filter(group, pattern, start_ms, token).await
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_page_is_read() {
    let w = world().await;
    let start = now_ms() - 12 * 60 * MINUTE;
    let mut lines = Vec::new();
    const CHAINS: usize = 150;
    for i in 0..CHAINS {
        let arn = format!("arn:aws:ecs:eu-west-1:123456789012:task/dbt/{i:032x}");
        let task = TaskBuilder::exited(Some(127)).arn(&arn).build();
        let command = ["dbt", "build"].map(str::to_owned);
        let record = decide_record(dbt_rerun_core::DecisionInput {
            task: &task,
            report: None,
            log_note: None,
            command: Some(&command),
            entry_point: None,
            invocations: None,
            config: &dbt_rerun_core::DecisionConfig::default(),
        });
        assert_eq!(record.decision, DecisionKind::GiveUp, "{}", record.reason);
        let at = start + i as i64 * MINUTE;
        lines.push((at, decision_log_line(&record, "DbtRerun", at as u64)));
        for k in 0..15 {
            lines.push((at + k + 1, format!("END RequestId: {i}-{k}")));
        }
    }
    // Lines older than the window are not read.
    let old = TaskBuilder::exited(Some(127)).build();
    let command = ["dbt", "build"].map(str::to_owned);
    let record = decide_record(dbt_rerun_core::DecisionInput {
        task: &old,
        report: None,
        log_note: None,
        command: Some(&command),
        entry_point: None,
        invocations: None,
        config: &dbt_rerun_core::DecisionConfig::default(),
    });
    let before = start - 60 * MINUTE;
    lines.push((
        before,
        decision_log_line(&record, "DbtRerun", before as u64),
    ));
    w.moto
        .write_function_log(&w.logs, &w.groups[0], &lines)
        .await;

    let counting = Counting {
        logs: CloudWatchLogs::new(&w.aws).with_filter_limit(40),
        pages: AtomicUsize::new(0),
    };
    let events: Vec<LogEvent> =
        dbt_rerun_service::history::read_events(&counting, &w.groups, start)
            .await
            .expect("read");
    assert_eq!(events.len(), CHAINS * 16, "every event of the window, once");
    let pages = counting.pages.load(Ordering::Relaxed);
    assert!(pages >= CHAINS * 16 / 40, "{pages} pages");
    let history = dbt_rerun_core::history::chains(&events, &Filter::default());
    assert_eq!(history.chains.len(), CHAINS);
    assert!(history
        .chains
        .iter()
        .all(|c| c.outcome == Outcome::GaveUp && c.attempts.len() == 1));
}
