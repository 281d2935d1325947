//! The AWS calls one handled event costs, counted against moto: one DescribeTaskDefinition
//! per warm process (the definition is cached), one page of the log (dbt's final stats line
//! ends the reading: no empty page to confirm it), one ListTasks, one RunTask.

use dbt_rerun_aws::{CloudWatchLogs, EcsClient};
use dbt_rerun_core::alert::Alert;
use dbt_rerun_core::event::EcsTask;
use dbt_rerun_core::launch::Launch;
use dbt_rerun_core::schedule::ScheduleRequest;
use dbt_rerun_core::task_definition::{LogLocation, TaskDefinition};
use dbt_rerun_core::DecisionKind;
use dbt_rerun_service::{
    Alerts, AwsError, Ecs, LogPage, Logs, OnTaskStopped, Schedules, SystemClock,
};
use dbt_rerun_tests::moto::{stopped_event, Moto, Stop};
use dbt_rerun_tests::{fixture_argv, fixture_lines};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Counts calls, then makes them with the real adapter.
#[derive(Clone, Default)]
struct Calls(Arc<Mutex<BTreeMap<&'static str, usize>>>);

impl Calls {
    fn add(&self, call: &'static str) {
        *self.0.lock().unwrap().entry(call).or_default() += 1;
    }
    fn take(&self) -> BTreeMap<&'static str, usize> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

struct Counted<T>(T, Calls);

impl Ecs for Counted<EcsClient> {
    async fn task_definition(&self, arn: &str) -> Result<TaskDefinition, AwsError> {
        self.1.add("TaskDefinition (cached)");
        self.0.task_definition(arn).await
    }
    async fn task(&self, cluster: &str, task_arn: &str) -> Result<Option<EcsTask>, AwsError> {
        self.1.add("DescribeTasks");
        self.0.task(cluster, task_arn).await
    }
    async fn running_tasks(&self, cluster: &str, family: &str) -> Result<Vec<EcsTask>, AwsError> {
        self.1.add("ListTasks");
        self.0.running_tasks(cluster, family).await
    }
    async fn run_task(&self, launch: &Launch) -> Result<String, AwsError> {
        self.1.add("RunTask");
        self.0.run_task(launch).await
    }
}

impl Logs for Counted<CloudWatchLogs> {
    async fn page(&self, at: &LogLocation, token: Option<&str>) -> Result<LogPage, AwsError> {
        self.1.add("GetLogEvents");
        self.0.page(at, token).await
    }
}

struct NoSchedules;

impl Schedules for NoSchedules {
    async fn create(&self, _: &ScheduleRequest) -> Result<bool, AwsError> {
        panic!("no delay is configured");
    }
}

struct NoAlerts;

impl Alerts for NoAlerts {
    async fn publish(&self, _: &str, _: &Alert) -> Result<(), AwsError> {
        panic!("no alert expected");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_handled_event_costs_one_describe_per_warm_process_the_log_pages_one_list_one_run() {
    let moto = Moto::start();
    let aws = moto.sdk_config().await;
    let ecs = aws_sdk_ecs::Client::new(&aws);
    let logs = aws_sdk_cloudwatchlogs::Client::new(&aws);
    let calls = Calls::default();
    let real_ecs = EcsClient::new(&aws);
    let service = OnTaskStopped {
        ecs: Counted(real_ecs.clone(), calls.clone()),
        logs: Counted(CloudWatchLogs::new(&aws), calls.clone()),
        alerts: NoAlerts,
        schedules: NoSchedules,
        clock: SystemClock,
        config: moto.service_config(Duration::from_secs(2)),
    };
    let fixture = "1.10/transient_model_error";
    let argv = fixture_argv(fixture);
    let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
    for round in 0..2 {
        let task = moto.run_original(&ecs, &argv, &[]).await;
        moto.write_log(&logs, &task, &fixture_lines(fixture), true)
            .await;
        calls.take();
        let describes_before = real_ecs_describes(&real_ecs);
        let record = service
            .handle(&stopped_event(&task, &Stop::exit(1)))
            .await
            .unwrap();
        assert_eq!(record.decision, DecisionKind::Rerun);
        let counted = calls.take();
        // The whole log fits one page, which ends with dbt's stats line: nothing more is read.
        assert_eq!(counted["GetLogEvents"], 1, "round {round}: {counted:?}");
        assert_eq!(counted["ListTasks"], 1, "round {round}: {counted:?}");
        assert_eq!(counted["RunTask"], 1, "round {round}: {counted:?}");
        assert_eq!(
            counted.get("DescribeTasks"),
            None,
            "round {round}: {counted:?}"
        );
        let describes = real_ecs_describes(&real_ecs) - describes_before;
        assert_eq!(
            describes,
            usize::from(round == 0),
            "DescribeTaskDefinition calls in round {round}"
        );
    }
}

/// DescribeTaskDefinition calls the adapter really made (its cache answers the rest).
fn real_ecs_describes(ecs: &EcsClient) -> usize {
    ecs.definitions_fetched()
}
