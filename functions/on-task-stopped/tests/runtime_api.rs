//! The compiled on-task-stopped binary, run as Lambda runs it: against a Lambda Runtime API
//! (a small server in the test) and moto. A malformed event between two good ones is that
//! invocation's error, and the runtime keeps serving.

use dbt_rerun_tests::fault_proxy::{Fault, FaultKind, FaultProxy};
use dbt_rerun_tests::moto::{stopped_event, Moto, Stop};
use dbt_rerun_tests::runtime_api::{Outcome, RuntimeApi};
use std::process::Output;
use std::time::{Duration, Instant};

/// Runs the function binary under `api` until it has answered `count` invocations, checks it
/// is still serving, then stops it: the outcomes and what it wrote.
fn serve(
    api: &RuntimeApi,
    env: &[(String, String)],
    count: usize,
) -> (Vec<(String, Outcome)>, Output) {
    api.serve_function(
        env!("CARGO_BIN_EXE_on-task-stopped"),
        "on-task-stopped",
        env,
        count,
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn the_runtime_keeps_serving_after_a_malformed_event() {
    let moto = Moto::start();
    let mut events = Vec::new();
    for _ in 0..2 {
        let secret = [("DB_PASSWORD", "hunter2")];
        events.push(
            moto.fixture_run("1.8/transient_model_error", 1, &secret)
                .await
                .1,
        );
    }

    let api = RuntimeApi::start();
    api.invoke("good-1", &events[0]);
    api.invoke("malformed", br#"{"detail-type": "ECS Task State Change", "source": "aws.ecs", "detail": {"containers": "nope"}}"#);
    api.invoke("good-2", &events[1]);
    let mut env = moto.env();
    env.push(("AWS_LAMBDA_LOG_FORMAT".into(), "JSON".into()));
    env.push(("DBT_RERUN_LOG_WAIT_SECONDS".into(), "2".into()));
    let (outcomes, output) = serve(&api, &env, 3);
    let stdout = String::from_utf8_lossy(&output.stdout);

    let ids: Vec<&str> = outcomes.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(ids, ["good-1", "malformed", "good-2"]);
    for (id, outcome) in &outcomes {
        match (id.as_str(), outcome) {
            ("malformed", Outcome::Error(body)) => assert!(body.contains("bad event"), "{body}"),
            (_, Outcome::Response(body)) => {
                let record: serde_json::Value = serde_json::from_str(body).unwrap();
                assert_eq!(record["decision"], "rerun", "{body}");
                assert!(record["rerun"]["task_arn"].is_string(), "{body}");
            }
            (id, other) => panic!("{id}: {other:?}"),
        }
    }
    let decisions: Vec<serde_json::Value> = stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["message"] == "dbt-rerun decision")
        .collect();
    assert_eq!(
        decisions.len(),
        2,
        "one structured line per decision:\n{stdout}"
    );
    assert!(
        !stdout.contains("hunter2"),
        "an environment value was logged:\n{stdout}"
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !stderr.contains("hunter2"),
        "an environment value was logged:\n{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_alert_is_the_invocations_error_after_the_decision_is_logged() {
    let moto = Moto::start();
    let mut events = Vec::new();
    for (fixture, exit) in [("1.10/model_error", 1), ("1.10/success", 0)] {
        events.push(moto.fixture_run(fixture, exit, &[]).await.1);
    }
    let api = RuntimeApi::start();
    api.invoke("give-up", &events[0]);
    api.invoke("success", &events[1]);
    let mut env = moto.env();
    env.push(("DBT_RERUN_LOG_WAIT_SECONDS".into(), "1".into()));
    env.push((
        "DBT_RERUN_ALERT_TOPIC_ARN".into(),
        "arn:aws:sns:eu-west-1:123456789012:no-such-topic".into(),
    ));
    let (outcomes, output) = serve(&api, &env, 2);
    let stdout = String::from_utf8_lossy(&output.stdout);
    match &outcomes[0] {
        (id, Outcome::Error(body)) if id == "give-up" => {
            assert!(body.contains("sns:Publish"), "{body}")
        }
        other => panic!("{other:?}"),
    }
    match &outcomes[1] {
        (id, Outcome::Response(body)) if id == "success" => {
            assert!(body.contains("\"decision\":\"ignore\""), "{body}")
        }
        other => panic!("{other:?}"),
    }
    let logged: Vec<serde_json::Value> = stdout
        .lines()
        .filter(|l| l.contains("\"_aws\""))
        .map(|l| {
            dbt_rerun_core::metrics::check_emf(l).unwrap_or_else(|e| panic!("not EMF ({e}): {l}"));
            serde_json::from_str(l).unwrap()
        })
        .collect();
    let decisions: Vec<&str> = logged
        .iter()
        .map(|v| v["decision"].as_str().unwrap())
        .collect();
    assert_eq!(
        decisions,
        ["give_up", "ignore"],
        "the give-up was logged before the alert failed"
    );
    assert_eq!(logged[0]["GiveUps"], 1);
    assert_eq!(logged[0]["Cluster"], "dbt-project-cluster");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rerun_that_succeeds_is_logged_as_a_recovered_decision_line() {
    let moto = Moto::start();
    let (_, failed) = moto.fixture_run("1.10/transient_model_error", 1, &[]).await;
    let api = RuntimeApi::start();
    let mut env = moto.env();
    env.push(("DBT_RERUN_LOG_WAIT_SECONDS".into(), "2".into()));
    let mut function = api.spawn_function(
        env!("CARGO_BIN_EXE_on-task-stopped"),
        "on-task-stopped",
        &env,
    );
    api.invoke("failed", &failed);
    let launched = match &api.outcomes(1, Duration::from_secs(60))[0].1 {
        Outcome::Response(body) => {
            let record: serde_json::Value = serde_json::from_str(body).unwrap();
            record["rerun"]["task_arn"].as_str().unwrap().to_owned()
        }
        other => panic!("{other:?}"),
    };
    // The re-run the function launched stops with dbt's exit 0.
    let ecs = aws_sdk_ecs::Client::new(&moto.sdk_config().await);
    let rerun = moto.describe(&launched).await;
    let rerun = moto.stop(&ecs, &rerun, 0).await;
    api.invoke("recovered", &stopped_event(&rerun, &Stop::exit(0)));
    let outcomes = api.outcomes(2, Duration::from_secs(60));
    function.kill().unwrap();
    let output = function.wait_with_output().unwrap();
    assert!(
        matches!(&outcomes[1], (id, Outcome::Response(_)) if id == "recovered"),
        "{outcomes:?}"
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .filter(|l| l.contains("\"_aws\""))
        .map(|l| {
            dbt_rerun_core::metrics::check_emf(l).unwrap_or_else(|e| panic!("not EMF ({e}): {l}"));
            serde_json::from_str(l).unwrap()
        })
        .collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    assert_eq!(
        (&lines[0]["Reruns"], &lines[0]["Recovered"]),
        (&1.into(), &0.into())
    );
    assert_eq!(
        (&lines[0]["RerunNodes"], &lines[0]["NodesSaved"]),
        (&11.into(), &17.into())
    );
    let recovered = &lines[1];
    assert_eq!(recovered["decision"], "ignore");
    assert_eq!(recovered["Recovered"], 1);
    assert!(
        recovered["reason"]
            .as_str()
            .unwrap()
            .starts_with("recovered: attempt 2 of chain "),
        "{recovered}"
    );
    assert_eq!(recovered["record"]["recovered"]["attempt"], 2);
    assert_eq!(
        moto.reruns(&ecs).await.len(),
        1,
        "nothing launched for the recovery"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_call_throttled_until_near_lambdas_deadline_is_an_error_lambda_retries_not_a_timeout() {
    let moto = Moto::start();
    let (_, event) = moto.fixture_run("1.10/transient_model_error", 1, &[]).await;
    let proxy = FaultProxy::start(&moto.endpoint);
    proxy.inject(Fault {
        operation: "GetLogEvents",
        times: usize::MAX,
        kind: FaultKind::Error {
            status: 400,
            error_type: "ThrottlingException",
        },
    });
    let api = RuntimeApi::start();
    // 50 s to the deadline: waiting must stop DEADLINE_MARGIN (40 s) before it, well inside
    // the 45 s a call may otherwise wait out throttling.
    let timeout = Duration::from_secs(50);
    api.set_timeout(timeout);
    api.invoke("throttled", &event);
    let env = moto.env_through(&proxy.endpoint);
    let started = Instant::now();
    let (outcomes, _) = serve(&api, &env, 1);
    let answered = started.elapsed();
    match &outcomes[..] {
        [(_, Outcome::Error(body))] => {
            assert!(body.contains("GetLogEvents"), "{body}");
            assert!(body.contains("the invocation's time runs out"), "{body}");
        }
        other => panic!("{other:?}"),
    }
    // Answered before Lambda would have timed the invocation out.
    assert!(
        answered < timeout,
        "answered {answered:?} after the start, the deadline was {timeout:?} away"
    );
    assert!(proxy.seen("RunTask").is_empty(), "nothing launched");
    assert!(proxy.seen("GetLogEvents").len() > dbt_rerun_aws::MAX_ATTEMPTS as usize);
}
