//! Many failures at once: a family with more running tasks than one ListTasks page, and a
//! burst of events through the rate-limiting proxy (AWS's documented token buckets, answered
//! with ThrottlingException as AWS does), each decided once and each re-run started once.

use dbt_rerun::event::EcsTask;
use dbt_rerun::DecisionKind;
use dbt_rerun_tests::moto::{stopped_event, Moto, Stop};
use dbt_rerun_tests::{fixture_argv, fixture_lines};
use std::time::Duration;

const TRANSIENT: &str = "1.10/transient_model_error";

/// A task that ran `fixture`'s command and failed, its log written.
async fn failed(moto: &Moto, ecs: &aws_sdk_ecs::Client, fixture: &str) -> EcsTask {
    let logs = aws_sdk_cloudwatchlogs::Client::new(&moto.sdk_config().await);
    let argv = fixture_argv(fixture);
    let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
    let task = moto.run_original(ecs, &argv, &[]).await;
    moto.write_log(&logs, &task, &fixture_lines(fixture), true)
        .await;
    task
}

#[tokio::test(flavor = "multi_thread")]
async fn running_tasks_past_the_first_list_tasks_page_are_seen_before_a_launch() {
    let moto = Moto::start();
    let aws = moto.sdk_config().await;
    let ecs = aws_sdk_ecs::Client::new(&aws);
    let service = dbt_rerun_aws::on_task_stopped(&aws, moto.service_config(Duration::from_secs(2)));
    // More running tasks of the family than one ListTasks page holds (100).
    for i in 0..120 {
        let model = format!("model_{i}");
        moto.start_task(&ecs, &["dbt", "run", "--select", &model], &[])
            .await;
    }

    // The re-run is started after them, so it is on the second page: a repeated event finds
    // it there and starts nothing (moto ignores clientToken: only the check stops a second
    // task here).
    let original = failed(&moto, &ecs, TRANSIENT).await;
    let event = stopped_event(&original, &Stop::exit(1));
    let first = service.handle(&event).await.expect("a decision");
    assert_eq!(first.decision, DecisionKind::Rerun, "{}", first.reason);
    let again = service.handle(&event).await.expect("a decision");
    assert_eq!(again.decision, DecisionKind::Ignore, "{}", again.reason);
    assert!(again.duplicate, "{}", again.reason);
    assert_eq!(moto.reruns(&ecs).await.len(), 1, "one re-run");

    // A newer run of the same command, on the second page, supersedes the next re-run.
    let other = failed(&moto, &ecs, TRANSIENT).await;
    let argv = fixture_argv(TRANSIENT);
    let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
    let newer = moto.start_task(&ecs, &argv, &[]).await.task_arn;
    let record = service
        .handle(&stopped_event(&other, &Stop::exit(1)))
        .await
        .expect("a decision");
    assert_eq!(record.decision, DecisionKind::Ignore, "{}", record.reason);
    assert!(
        record
            .reason
            .contains(&format!("superseded by task {newer}")),
        "{}",
        record.reason
    );
    assert_eq!(moto.reruns(&ecs).await.len(), 1, "nothing more started");
}
