//! Many failures at once: a family with more running tasks than one ListTasks page, and a
//! burst of events through the rate-limiting proxy (AWS's documented token buckets, answered
//! with ThrottlingException as AWS does), each decided once and each re-run started once.

use dbt_rerun_core::event::EcsTask;
use dbt_rerun_core::{DecisionKind, DecisionRecord};
use dbt_rerun_tests::fault_proxy::{FaultProxy, RateLimits};
use dbt_rerun_tests::moto::{stopped_event, Moto, Stop, REGION};
use dbt_rerun_tests::{fixture_argv, fixture_lines};
use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
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

/// Events in the burst, warm function processes handling them at once, and Lambda's tries.
const EVENTS: usize = 40;
const PROCESSES: usize = 8;
const TRIES: usize = 3;

#[tokio::test(flavor = "multi_thread")]
async fn a_burst_under_aws_rate_limits_is_decided_once_each_and_each_rerun_started_once() {
    let moto = Moto::start();
    let ecs = aws_sdk_ecs::Client::new(&moto.sdk_config().await);
    let fixtures = [
        "1.6/transient_model_error",
        "1.8/json_transient_model_error",
        "1.10/transient_model_error",
        "1.11/json_transient_model_error",
        "1.10/model_error",
    ];
    let mut events = Vec::new();
    for i in 0..EVENTS {
        let fixture = fixtures[i % fixtures.len()];
        // One task per model: each task's command is its own.
        let mut argv = fixture_argv(fixture);
        argv.extend(["--target".to_owned(), format!("model_{i}")]);
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        let logs = aws_sdk_cloudwatchlogs::Client::new(&moto.sdk_config().await);
        let task = moto.run_original(&ecs, &argv, &[]).await;
        moto.write_log(&logs, &task, &fixture_lines(fixture), true)
            .await;
        events.push(stopped_event(&task, &Stop::exit(1)));
    }

    // AWS's documented rates, the functions' own SDK settings.
    let proxy = FaultProxy::start(&moto.endpoint);
    proxy.limit(RateLimits::aws());
    let aws = dbt_rerun_aws::config_loader()
        .endpoint_url(&proxy.endpoint)
        .region(aws_config::Region::new(REGION))
        .credentials_provider(aws_sdk_ecs::config::Credentials::new(
            "test", "test", None, None, "test",
        ))
        .load()
        .await;
    let queue: Arc<Mutex<VecDeque<(usize, usize)>>> =
        Arc::new(Mutex::new((0..EVENTS).map(|i| (i, 1)).collect()));
    let outcomes: Arc<Mutex<BTreeMap<usize, (usize, DecisionRecord)>>> = Arc::default();
    let lost: Arc<Mutex<Vec<String>>> = Arc::default();
    let retried: Arc<Mutex<Vec<String>>> = Arc::default();
    let events = Arc::new(events);
    let mut processes = Vec::new();
    for _ in 0..PROCESSES {
        // A warm process: its own clients (and caches), one event at a time.
        let service =
            dbt_rerun_aws::on_task_stopped(&aws, moto.service_config(Duration::from_secs(60)));
        let (queue, outcomes, lost, retried, events) = (
            queue.clone(),
            outcomes.clone(),
            lost.clone(),
            retried.clone(),
            events.clone(),
        );
        processes.push(tokio::spawn(async move {
            loop {
                let next = queue.lock().unwrap().pop_front();
                let Some((i, attempt)) = next else {
                    let done = outcomes.lock().unwrap().len() + lost.lock().unwrap().len();
                    if done >= EVENTS {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                };
                match service.handle(&events[i]).await {
                    Ok(record) => {
                        let earlier = outcomes.lock().unwrap().insert(i, (attempt, record));
                        assert!(earlier.is_none(), "event {i} decided twice");
                    }
                    // Lambda's retry of a failed invocation (its waits shortened).
                    Err(e) if attempt < TRIES => {
                        retried
                            .lock()
                            .unwrap()
                            .push(format!("event {i} try {attempt}: {e}"));
                        tokio::time::sleep(Duration::from_millis(500)).await;
                        queue.lock().unwrap().push_back((i, attempt + 1));
                    }
                    Err(e) => lost.lock().unwrap().push(format!("event {i} lost: {e}")),
                }
            }
        }));
    }
    for p in processes {
        p.await.expect("a process");
    }

    let counts = proxy.counts();
    let throttled: usize = counts.values().map(|c| c.throttled).sum();
    assert!(throttled > 0, "AWS's rates were reached: {counts:?}");
    let lost = lost.lock().unwrap().clone();
    assert!(lost.is_empty(), "{lost:?}");
    // Throttling is waited out within the invocation: nothing is left to Lambda's retries.
    let retried = retried.lock().unwrap().clone();
    assert!(retried.is_empty(), "{retried:?}");
    let outcomes = outcomes.lock().unwrap().clone();
    assert_eq!(outcomes.len(), EVENTS, "every event decided once");
    let planned: Vec<String> = outcomes
        .values()
        .filter_map(|(_, r)| r.rerun.as_ref())
        .map(|r| r.started_by.clone())
        .collect();
    assert_eq!(
        planned.len(),
        EVENTS / fixtures.len() * 4,
        "the transient ones re-run"
    );
    let mut started: BTreeMap<String, usize> = BTreeMap::new();
    for (_, started_by) in moto.started_by(&ecs).await {
        if let Some(s) = started_by.filter(|s| s.starts_with("dbt-rerun/")) {
            *started.entry(s).or_default() += 1;
        }
    }
    for s in &planned {
        assert_eq!(started.get(s), Some(&1), "{s} started once");
    }
    assert_eq!(started.len(), planned.len(), "nothing else started");
    // One log page per event (no confirming page) and one cold definition read per process.
    let reads = &counts["GetLogEvents"];
    assert_eq!(reads.requests - reads.throttled, EVENTS, "{counts:?}");
    let definitions = &counts["DescribeTaskDefinition"];
    assert!(
        definitions.requests - definitions.throttled <= PROCESSES,
        "{counts:?}"
    );
}
