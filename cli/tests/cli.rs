//! The `dbt-rerun` binary as a user runs it: real files in, JSON out, one-line errors and a
//! non-zero exit on bad input.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn dbt_rerun(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_dbt-rerun"));
    cmd.args(args).current_dir(repo());
    for var in [
        "DBT_RERUN_RETRY_ON",
        "DBT_RERUN_MAX_ATTEMPTS",
        "DBT_RERUN_CONTAINER",
    ] {
        cmd.env_remove(var);
    }
    cmd.envs(env.iter().copied());
    cmd.output().unwrap()
}

fn json(out: &Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// A JSON array of strings.
fn strings(value: &serde_json::Value) -> Vec<&str> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect()
}

fn error_line(out: &Output) -> String {
    assert_eq!(
        out.status.code(),
        Some(2),
        "stdout: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(out.stdout.is_empty());
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    assert!(err.starts_with("dbt-rerun: error: "), "{err}");
    err
}

const EVENT: &str = "events/rerun-transient-model-error.json";
const LOG: &str = "events/logs/rerun-transient-model-error.log";

#[test]
fn the_readme_sample_plans_an_exact_rerun() {
    let record = json(&dbt_rerun(
        &["plan", "--event", EVENT, "--log-file", LOG],
        &[],
    ));
    assert_eq!(record["decision"], "rerun");
    assert_eq!(record["failure_kind"], "dbt_nodes");
    assert_eq!(record["transient"], true);
    assert_eq!(record["failed_nodes"][0]["name"], "fct_orders");
    let command = strings(&record["rerun_command"]);
    assert_eq!(
        &command[..5],
        [
            "dbt",
            "build",
            "--vars",
            "{transient_error: true}",
            "--select"
        ]
    );
    assert_eq!(
        command.len(),
        5 + 11 + 2,
        "fct_orders and its 10 skipped nodes: {command:?}"
    );
    assert_eq!(
        record["rerun"]["environment"]["DBT_REDSHIFT_PASSWORD"],
        "(redacted)"
    );
    let stdout = String::from_utf8_lossy(
        &dbt_rerun(&["plan", "--event", EVENT, "--log-file", LOG], &[]).stdout,
    )
    .into_owned();
    assert!(!stdout.contains("not-a-real-secret"));
}

#[test]
fn the_policy_comes_from_the_environment() {
    let out = dbt_rerun(
        &["plan", "--event", EVENT, "--log-file", LOG],
        &[("DBT_RERUN_RETRY_ON", "infra")],
    );
    let record = json(&out);
    assert_eq!(record["decision"], "give_up");
    assert!(record["reason"]
        .as_str()
        .unwrap()
        .contains("DBT_RERUN_RETRY_ON=infra"));
    assert!(
        record["rerun_command"].is_array(),
        "still given for a person to run"
    );
}

#[test]
fn parse_log_prints_the_run_report() {
    let report = json(&dbt_rerun(
        &[
            "parse-log",
            "tests/fixtures/runs/1.10/json_two_failures_threads4/output.log",
        ],
        &[],
    ));
    let mut failed: Vec<&str> = report["failed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["name"].as_str().unwrap())
        .collect();
    failed.sort();
    assert_eq!(failed, ["dim_customers", "fct_orders"]);
    assert_eq!(report["format"], "json");
    assert_eq!(report["end_of_run"], true);
    assert_eq!(report["stats"]["error"], 2);
}

#[test]
fn bad_input_gets_one_line_naming_the_problem() {
    let err = error_line(&dbt_rerun(&["parse-log", "no/such/file.log"], &[]));
    assert!(err.contains("no/such/file.log"), "{err}");

    let err = error_line(&dbt_rerun(
        &["plan", "--event", LOG, "--log-file", LOG],
        &[],
    ));
    assert!(
        err.contains("transient-model-error.log") && err.contains("not JSON"),
        "{err}"
    );

    let other = std::env::temp_dir().join(format!("dbt-rerun-cli-{}.json", std::process::id()));
    let text = std::fs::read_to_string(repo().join(EVENT))
        .unwrap()
        .replace("ECS Task State Change", "ECS Deployment State Change");
    std::fs::write(&other, text).unwrap();
    let err = error_line(&dbt_rerun(
        &[
            "plan",
            "--event",
            other.to_str().unwrap(),
            "--log-file",
            LOG,
        ],
        &[],
    ));
    assert!(err.contains("ECS Deployment State Change"), "{err}");
    std::fs::remove_file(&other).unwrap();

    let err = error_line(&dbt_rerun(
        &["plan", "--event", EVENT, "--log-file", LOG],
        &[("DBT_RERUN_MAX_ATTEMPTS", "0")],
    ));
    assert!(err.contains("DBT_RERUN_MAX_ATTEMPTS"), "{err}");

    let err = error_line(&dbt_rerun(
        &[
            "plan",
            "--event",
            EVENT,
            "--log-file",
            LOG,
            "--command",
            "dbt build",
        ],
        &[],
    ));
    assert!(err.contains("--command must be a JSON array"), "{err}");
}

#[test]
fn a_spot_notice_of_a_running_task_is_planned_as_ignore_with_a_command() {
    // The AWS docs' Fargate Spot notice: RUNNING, no containers for `--command` to go to.
    let notice = r#"{"detail-type": "ECS Task State Change", "source": "aws.ecs",
      "detail": {"clusterArn": "arn:aws:ecs:us-east-1:111122223333:cluster/default",
        "taskArn": "arn:aws:ecs:us-east-1:111122223333:task/b99d40b3", "lastStatus": "RUNNING",
        "desiredStatus": "STOPPED", "stopCode": "TerminationNotice",
        "stoppedReason": "Your Spot Task was interrupted."}}"#;
    let path =
        std::env::temp_dir().join(format!("dbt-rerun-cli-notice-{}.json", std::process::id()));
    std::fs::write(&path, notice).unwrap();
    let out = dbt_rerun(
        &[
            "plan",
            "--event",
            path.to_str().unwrap(),
            "--log-file",
            LOG,
            "--command",
            r#"["dbt","build"]"#,
        ],
        &[],
    );
    std::fs::remove_file(&path).unwrap();
    let record = json(&out);
    assert_eq!(record["decision"], "ignore", "{record}");
    assert!(
        record["reason"]
            .as_str()
            .unwrap()
            .contains("RUNNING, not STOPPED"),
        "{record}"
    );
}

#[test]
fn without_a_log_file_the_log_comes_from_cloudwatch() {
    let moto = dbt_rerun_tests::moto::Moto::start();
    let fixture = "1.11/transient_model_error";
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let event = runtime.block_on(async {
        let aws = moto.sdk_config().await;
        let ecs = aws_sdk_ecs::Client::new(&aws);
        let logs = aws_sdk_cloudwatchlogs::Client::new(&aws);
        let argv = dbt_rerun_tests::fixture_argv(fixture);
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        let task = moto.run_original(&ecs, &argv, &[]).await;
        moto.write_log(&logs, &task, &dbt_rerun_tests::fixture_lines(fixture), true)
            .await;
        dbt_rerun_tests::moto::stopped_event(&task, &dbt_rerun_tests::moto::Stop::exit(1))
    });
    let path =
        std::env::temp_dir().join(format!("dbt-rerun-cli-event-{}.json", std::process::id()));
    std::fs::write(&path, event).unwrap();
    let mut env: Vec<(String, String)> = moto.env();
    env.push(("DBT_RERUN_LOG_WAIT_SECONDS".into(), "1".into()));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let record = json(&dbt_rerun(
        &["plan", "--event", path.to_str().unwrap()],
        &env,
    ));
    std::fs::remove_file(&path).unwrap();
    assert_eq!(record["decision"], "rerun", "{record}");
    assert_eq!(record["failed_nodes"][0]["name"], "fct_orders");
    assert!(record["rerun"]["task_arn"].is_null(), "plan never launches");
    assert!(record["log_wait_seconds"].is_number());

    // invoke --dry-run shows the launch without making it.
    let out = json(&dbt_rerun(
        &[
            "invoke",
            "--select",
            "fct_orders+",
            "--cluster",
            &moto.setup.cluster,
            "--task-definition",
            "dbt-models-building",
            "--dry-run",
        ],
        &env,
    ));
    assert_eq!(out["dry_run"], true);
    assert!(out["task_arn"].is_null());
    let command = strings(&out["command"]);
    assert_eq!(
        command,
        [
            "dbt",
            "build",
            "--target",
            "prod",
            "--select",
            "fct_orders+"
        ]
    );
}

#[test]
fn alert_preview_shows_the_message_a_person_would_get() {
    let out = dbt_rerun(
        &[
            "plan",
            "--event",
            "events/give_up-model-error.json",
            "--log-file",
            "events/logs/give_up-model-error.log",
            "--alert-preview",
        ],
        &[],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.starts_with(
            "Subject: dbt-rerun: gave up on dbt build (1 failed) in dbt-project-cluster\n"
        ),
        "{text}"
    );
    assert!(text.contains("model fct_orders: Binder Error"), "{text}");
    assert!(text.contains("To re-run by hand"), "{text}");
    assert!(!text.contains("not-a-real-secret"), "{text}");
}

#[test]
fn a_reader_that_stops_early_is_not_an_error() {
    // `dbt-rerun plan ... | head -3`: the pipe closes before the record is written.
    let mut child = Command::new(env!("CARGO_BIN_EXE_dbt-rerun"))
        .args(["plan", "--event", EVENT, "--log-file", LOG])
        .current_dir(repo())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{:?}: {stderr}", out.status);
    assert!(stderr.is_empty(), "{stderr}");
}
