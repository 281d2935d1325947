//! AWS faults between the function and moto (a fault-injecting proxy): throttling, server
//! errors, dropped connections and timeouts are retried a bounded number of times, then fail
//! the invocation so Lambda's retries and the failure queue take over. The hard case: RunTask
//! acts but its answer is lost; the retry carries the same clientToken (ECS starts nothing
//! new for it), and a later invocation finds the task by startedBy and starts nothing.

use dbt_rerun_core::event::EcsTask;
use dbt_rerun_core::DecisionKind;
use dbt_rerun_service::ServiceError;
use dbt_rerun_tests::fault_proxy::{Fault, FaultKind, FaultProxy};
use dbt_rerun_tests::moto::{stopped_event, Moto, Stop, REGION};
use dbt_rerun_tests::{fixture_argv, fixture_lines};
use std::time::Duration;

const FIXTURE: &str = "1.10/transient_model_error";

struct World {
    moto: Moto,
    proxy: FaultProxy,
    ecs: aws_sdk_ecs::Client,
    service: dbt_rerun_aws::OnTaskStoppedService,
}

/// The function's SDK settings (3 attempts, standard retry), through the proxy, with
/// timeouts and backoff short enough for a test.
async fn world() -> World {
    let moto = Moto::start();
    let proxy = FaultProxy::start(&moto.endpoint);
    let aws = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(&proxy.endpoint)
        .region(aws_config::Region::new(REGION))
        .credentials_provider(aws_sdk_ecs::config::Credentials::new(
            "test", "test", None, None, "test",
        ))
        .retry_config(
            aws_config::retry::RetryConfig::standard()
                .with_max_attempts(dbt_rerun_aws::MAX_ATTEMPTS)
                .with_initial_backoff(Duration::from_millis(20)),
        )
        .timeout_config(
            aws_config::timeout::TimeoutConfig::builder()
                .operation_attempt_timeout(Duration::from_millis(1500))
                .build(),
        )
        .load()
        .await;
    let service = dbt_rerun_aws::on_task_stopped(&aws, moto.service_config(Duration::from_secs(2)));
    let ecs = aws_sdk_ecs::Client::new(&moto.sdk_config().await);
    World {
        moto,
        proxy,
        ecs,
        service,
    }
}

impl World {
    async fn failed_task(&self) -> (EcsTask, Vec<u8>) {
        let aws = self.moto.sdk_config().await;
        let logs = aws_sdk_cloudwatchlogs::Client::new(&aws);
        let argv = fixture_argv(FIXTURE);
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        let task = self.moto.run_original(&self.ecs, &argv, &[]).await;
        self.moto
            .write_log(&logs, &task, &fixture_lines(FIXTURE), true)
            .await;
        let event = stopped_event(&task, &Stop::exit(1));
        (task, event)
    }
}

fn fault(operation: &'static str, times: usize, kind: FaultKind) -> Fault {
    Fault {
        operation,
        times,
        kind,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn throttling_resets_and_slow_answers_are_retried_and_the_decision_is_made() {
    let w = world().await;
    let (_, event) = w.failed_task().await;
    w.proxy.inject(fault(
        "GetLogEvents",
        2,
        FaultKind::Error {
            status: 400,
            error_type: "ThrottlingException",
        },
    ));
    w.proxy.inject(fault("ListTasks", 1, FaultKind::Reset));
    w.proxy.inject(fault(
        "DescribeTaskDefinition",
        1,
        FaultKind::Hang(Duration::from_secs(3)),
    ));
    w.proxy.inject(fault(
        "RunTask",
        1,
        FaultKind::Error {
            status: 503,
            error_type: "ServiceUnavailableException",
        },
    ));
    let record = w.service.handle(&event).await.expect("retried to success");
    assert_eq!(record.decision, DecisionKind::Rerun, "{}", record.reason);
    assert!(w.proxy.seen("GetLogEvents").len() >= 3);
    assert_eq!(w.proxy.seen("ListTasks").len(), 2);
    assert_eq!(w.proxy.seen("DescribeTaskDefinition").len(), 2);
    assert_eq!(w.proxy.seen("RunTask").len(), 2);
    assert_eq!(w.moto.reruns(&w.ecs).await.len(), 1, "one task");
}

#[tokio::test(flavor = "multi_thread")]
async fn throttling_that_outlasts_the_sdk_attempts_is_waited_out_within_the_invocation() {
    let w = world().await;
    let (_, event) = w.failed_task().await;
    let attempts = dbt_rerun_aws::MAX_ATTEMPTS as usize;
    // Two calls' worth of throttling, on the log read and on RunTask: each is made again
    // after a pause (a throttled call did nothing), within the invocation.
    for operation in ["GetLogEvents", "RunTask"] {
        w.proxy.inject(fault(
            operation,
            2 * attempts,
            FaultKind::Error {
                status: 400,
                error_type: "ThrottlingException",
            },
        ));
    }
    let record = w.service.handle(&event).await.expect("waited out");
    assert_eq!(record.decision, DecisionKind::Rerun, "{}", record.reason);
    assert_eq!(w.proxy.seen("GetLogEvents").len(), 2 * attempts + 1);
    let runs = w.proxy.seen("RunTask");
    assert_eq!(runs.len(), 2 * attempts + 1);
    let token =
        |s: &str| serde_json::from_str::<serde_json::Value>(s).unwrap()["clientToken"].clone();
    assert!(runs.iter().all(|r| token(&r.body) == token(&runs[0].body)));
    assert_eq!(w.moto.reruns(&w.ecs).await.len(), 1, "one task");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_fault_that_outlasts_the_retries_fails_the_invocation_and_starts_nothing() {
    let w = world().await;
    let (_, event) = w.failed_task().await;
    w.proxy.inject(fault(
        "DescribeTaskDefinition",
        10,
        FaultKind::Error {
            status: 500,
            error_type: "ServerException",
        },
    ));
    match w.service.handle(&event).await {
        Err(ServiceError::Aws(e)) => {
            assert_eq!(e.operation, "ecs:DescribeTaskDefinition");
            assert!(e.to_string().contains("ServerException"), "{e}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        w.proxy.seen("DescribeTaskDefinition").len(),
        dbt_rerun_aws::MAX_ATTEMPTS as usize,
        "bounded"
    );
    assert!(w.moto.reruns(&w.ecs).await.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lost_runtask_answer_never_leads_to_a_second_task() {
    let w = world().await;
    let (_, event) = w.failed_task().await;
    // The SDK's own retry: the same clientToken, which ECS answers with the task it already
    // started (moto ignores clientToken, so it is the token that is checked here).
    w.proxy.inject(fault("RunTask", 1, FaultKind::LoseAnswer));
    let record = w.service.handle(&event).await.expect("the retry succeeds");
    assert_eq!(record.decision, DecisionKind::Rerun);
    let runs = w.proxy.seen("RunTask");
    assert_eq!(runs.len(), 2);
    let token =
        |s: &str| serde_json::from_str::<serde_json::Value>(s).unwrap()["clientToken"].clone();
    assert_eq!(
        token(&runs[0].body),
        token(&runs[1].body),
        "the retry repeats the clientToken"
    );
    assert_eq!(
        token(&runs[0].body),
        serde_json::json!(record.rerun.unwrap().client_token)
    );

    // Every answer lost: the invocation fails; Lambda invokes again; the task that was
    // started is found by startedBy and nothing else starts.
    let (_, event) = w.failed_task().await;
    w.proxy.inject(fault("RunTask", 3, FaultKind::LoseAnswer));
    assert!(
        w.service.handle(&event).await.is_err(),
        "the invocation fails"
    );
    let tasks_before = w.moto.reruns(&w.ecs).await.len();
    let runs_before = w.proxy.seen("RunTask").len();
    let again = w
        .service
        .handle(&event)
        .await
        .expect("the retried invocation");
    assert_eq!(again.decision, DecisionKind::Ignore, "{}", again.reason);
    assert!(again.duplicate);
    assert_eq!(
        w.proxy.seen("RunTask").len(),
        runs_before,
        "no RunTask on the retry"
    );
    assert_eq!(w.moto.reruns(&w.ecs).await.len(), tasks_before);
}
