//! Delayed re-runs through EventBridge Scheduler (moto stores schedules, never fires them:
//! the tests invoke rerun-task with a schedule's input as the schedule would), and never a
//! re-run beside a newer run of the same command.

use dbt_rerun_aws::OnTaskStoppedService;
use dbt_rerun_core::config::{OnOverlap, ScheduleTarget, ServiceConfig};
use dbt_rerun_core::decision::ATTEMPT_VAR;
use dbt_rerun_core::delay::{DelaySettings, Jitter};
use dbt_rerun_core::event::EcsTask;
use dbt_rerun_core::DecisionKind;
use dbt_rerun_service::RerunRequest;
use dbt_rerun_tests::moto::{env_value, stopped_event, Moto, Stop};
use dbt_rerun_tests::{fixture_argv, fixture_lines};
use std::time::Duration;

const FIXTURE: &str = "1.10/transient_model_error";
const GROUP: &str = "dbt-rerun";

struct World {
    moto: Moto,
    aws: aws_config::SdkConfig,
    ecs: aws_sdk_ecs::Client,
    scheduler: aws_sdk_scheduler::Client,
}

async fn world() -> World {
    let moto = Moto::start();
    let aws = moto.sdk_config().await;
    let scheduler = aws_sdk_scheduler::Client::new(&aws);
    scheduler
        .create_schedule_group()
        .name(GROUP)
        .send()
        .await
        .expect("CreateScheduleGroup");
    World {
        ecs: aws_sdk_ecs::Client::new(&aws),
        scheduler,
        aws,
        moto,
    }
}

impl World {
    fn config(&self, delay: u64, max: u64, on_overlap: OnOverlap) -> ServiceConfig {
        let mut config = self.moto.service_config(Duration::from_secs(1));
        config.delay = DelaySettings {
            delay_seconds: delay,
            backoff_rate: 2.0,
            max_delay_seconds: max,
            jitter: Jitter::None,
        };
        config.schedule = (delay > 0).then(|| ScheduleTarget {
            group: GROUP.to_owned(),
            target_arn: "arn:aws:lambda:eu-west-1:123456789012:function:dbt-rerun-rerun-task"
                .to_owned(),
            role_arn: "arn:aws:iam::123456789012:role/dbt-rerun-scheduler".to_owned(),
        });
        config.on_overlap = on_overlap;
        config
    }

    fn on_task_stopped(&self, config: ServiceConfig) -> OnTaskStoppedService {
        dbt_rerun_aws::on_task_stopped(&self.aws, config)
    }

    /// A task that ran `argv` and failed like `FIXTURE`, its log written; env for its chain.
    async fn failed(&self, argv: &[&str], env: &[(&str, &str)]) -> EcsTask {
        let logs = aws_sdk_cloudwatchlogs::Client::new(&self.aws);
        let task = self.moto.run_original(&self.ecs, argv, env).await;
        self.moto
            .write_log(&logs, &task, &fixture_lines(FIXTURE), true)
            .await;
        task
    }

    async fn schedules(
        &self,
    ) -> Vec<aws_sdk_scheduler::operation::get_schedule::GetScheduleOutput> {
        let listed = self
            .scheduler
            .list_schedules()
            .group_name(GROUP)
            .send()
            .await
            .expect("ListSchedules");
        let mut out = Vec::new();
        for s in listed.schedules() {
            let name = s.name().unwrap();
            out.push(
                self.scheduler
                    .get_schedule()
                    .group_name(GROUP)
                    .name(name)
                    .send()
                    .await
                    .expect("GetSchedule"),
            );
        }
        out
    }
}

fn argv() -> Vec<String> {
    fixture_argv(FIXTURE)
}

fn seconds_ahead(expression: &str) -> i64 {
    let at = expression.trim_start_matches("at(").trim_end_matches(')');
    let when = chrono::NaiveDateTime::parse_from_str(at, "%Y-%m-%dT%H:%M:%S")
        .unwrap()
        .and_utc();
    (when - chrono::Utc::now()).num_seconds()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_delayed_rerun_is_scheduled_once_and_launched_once_when_it_fires() {
    let w = world().await;
    let service = w.on_task_stopped(w.config(300, 3600, OnOverlap::Skip));
    let argv = argv();
    let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
    let task = w.failed(&argv, &[("DBT_TARGET", "prod")]).await;
    let event = stopped_event(&task, &Stop::exit(1));

    let record = service.handle(&event).await.unwrap();
    assert_eq!(record.decision, DecisionKind::Rerun, "{}", record.reason);
    let rerun = record.rerun.as_ref().unwrap();
    assert_eq!(rerun.task_arn, None, "nothing starts now");
    assert_eq!(
        rerun.schedule_name.as_deref(),
        Some(format!("dbt-rerun-{}-2", task.task_id()).as_str())
    );
    assert!(rerun.scheduled_at.is_some());
    assert!(w.moto.reruns(&w.ecs).await.is_empty(), "no task now");
    let schedules = w.schedules().await;
    assert_eq!(schedules.len(), 1);
    let schedule = &schedules[0];
    let ahead = seconds_ahead(schedule.schedule_expression().unwrap());
    assert!((295..=301).contains(&ahead), "{ahead} s ahead");
    assert_eq!(
        schedule.action_after_completion().map(|a| a.as_str()),
        Some("DELETE")
    );
    assert_eq!(
        schedule.flexible_time_window().unwrap().mode().as_str(),
        "OFF"
    );
    let input = schedule.target().unwrap().input().unwrap().to_owned();
    let request =
        RerunRequest::from_json(input.as_bytes()).expect("the input is a rerun-task payload");
    let planned = request.planned_launch.clone().expect("a planned launch");
    assert_eq!(planned.launch.command, rerun.command);
    assert_eq!(planned.attempt, 2);

    // The same event again: still one schedule, and the invocation succeeds.
    let again = service.handle(&event).await.unwrap();
    assert_eq!(again.decision, DecisionKind::Ignore, "{}", again.reason);
    assert!(
        again.reason.contains("already scheduled"),
        "{}",
        again.reason
    );
    assert_eq!(w.schedules().await.len(), 1);

    // The schedule fires: rerun-task launches exactly the plan, once.
    let rerun_task = dbt_rerun_aws::rerun_task(&w.aws, w.config(300, 3600, OnOverlap::Skip));
    let fired = rerun_task.handle(&request, "schedule-1").await.unwrap();
    let arn = fired.task_arn.clone().expect("launched");
    let launched = w.moto.describe(&arn).await;
    assert_eq!(
        launched.started_by.as_deref(),
        Some(format!("dbt-rerun/{}/2", task.task_id()).as_str())
    );
    let ov = launched
        .container_override(&w.moto.setup.container)
        .unwrap();
    assert_eq!(ov.command.as_ref(), Some(&rerun.command));
    assert_eq!(env_value(&ov.environment, ATTEMPT_VAR), Some("2"));
    assert_eq!(env_value(&ov.environment, "DBT_TARGET"), Some("prod"));
    let twice = rerun_task
        .handle(&request, "schedule-1-again")
        .await
        .unwrap();
    assert_eq!(twice.task_arn, None, "{:?}", twice.note);
    assert!(twice.note.unwrap().contains("already running"));
    assert_eq!(w.moto.reruns(&w.ecs).await.len(), 1, "one task");
}

#[tokio::test(flavor = "multi_thread")]
async fn later_attempts_wait_longer_up_to_the_maximum() {
    let w = world().await;
    let argv = argv();
    let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
    let origin = "arn:aws:ecs:eu-west-1:123456789012:task/dbt-project-cluster/ffffffffffffffffffffffffffffffff";
    let second = w
        .failed(
            &argv,
            &[(ATTEMPT_VAR, "2"), ("DBT_RERUN_ORIGIN_TASK", origin)],
        )
        .await;
    let record = w
        .on_task_stopped(w.config(300, 3600, OnOverlap::Skip))
        .handle(&stopped_event(&second, &Stop::exit(1)))
        .await
        .unwrap();
    assert_eq!(record.rerun.as_ref().unwrap().attempt, 3);
    let schedules = w.schedules().await;
    let ahead = seconds_ahead(schedules[0].schedule_expression().unwrap());
    assert!(
        (595..=601).contains(&ahead),
        "attempt 3 waits 600 s: {ahead}"
    );

    let capped = w.failed(&argv, &[(ATTEMPT_VAR, "2")]).await;
    w.on_task_stopped(w.config(300, 400, OnOverlap::Skip))
        .handle(&stopped_event(&capped, &Stop::exit(1)))
        .await
        .unwrap();
    let name = format!("dbt-rerun-{}-3", capped.task_id());
    let schedule = w
        .scheduler
        .get_schedule()
        .group_name(GROUP)
        .name(name)
        .send()
        .await
        .unwrap();
    let ahead = seconds_ahead(schedule.schedule_expression().unwrap());
    assert!(
        (395..=401).contains(&ahead),
        "DBT_RERUN_MAX_DELAY_SECONDS caps it: {ahead}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_newer_run_of_the_same_command_supersedes_the_rerun() {
    let w = world().await;
    let argv = argv();
    let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
    let failed = w.failed(&argv, &[]).await;
    // The next scheduled run of the same command is already running (left RUNNING in moto).
    let newer = w.moto.start_task(&w.ecs, &argv, &[]).await.task_arn;
    let event = stopped_event(&failed, &Stop::exit(1));

    for delay in [0, 300] {
        let record = w
            .on_task_stopped(w.config(delay, 3600, OnOverlap::Skip))
            .handle(&event)
            .await
            .unwrap();
        assert_eq!(record.decision, DecisionKind::Ignore, "{}", record.reason);
        assert!(
            record
                .reason
                .contains(&format!("superseded by task {newer}")),
            "{}",
            record.reason
        );
    }
    assert!(w.moto.reruns(&w.ecs).await.is_empty(), "no launch");
    assert!(w.schedules().await.is_empty(), "no schedule");

    // Another command of the family does not count.
    let other = w
        .failed(
            &[
                "dbt",
                "build",
                "--select",
                "fct_orders",
                "--vars",
                "{transient_error: true}",
            ],
            &[],
        )
        .await;
    let record = w
        .on_task_stopped(w.config(0, 3600, OnOverlap::Skip))
        .handle(&stopped_event(&other, &Stop::exit(1)))
        .await
        .unwrap();
    assert_eq!(record.decision, DecisionKind::Rerun, "{}", record.reason);

    // `allow` launches beside it.
    let record = w
        .on_task_stopped(w.config(0, 3600, OnOverlap::Allow))
        .handle(&event)
        .await
        .unwrap();
    assert_eq!(record.decision, DecisionKind::Rerun, "{}", record.reason);
    assert_eq!(w.moto.reruns(&w.ecs).await.len(), 2);
}
