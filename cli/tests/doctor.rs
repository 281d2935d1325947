//! `dbt-rerun doctor` against moto, with the template deployed in moto's CloudFormation (after
//! SAM's translator): a correct setup passes, and each broken one is reported by name, with
//! the fix, and exit status 1.

use dbt_rerun_tests::moto::{Moto, Options};
use dbt_rerun_tests::stack::Code;
use dbt_rerun_tests::{fixture_argv, fixture_lines, repo_root};
use serde_json::Value;
use std::process::{Command, Output};

const FIREHOSE: &str = r#"dbt-firehose={"log_configuration": {"logDriver": "awsfirelens", "options": {"Name": "kinesis_firehose", "region": "eu-west-1", "delivery_stream": "dbt-logs"}}}"#;
const OPAQUE: &str = r#"dbt-opaque={"command": ["/app/run_dbt.sh", "--target", "prod"]}"#;
const TASK_ROLE: &str = "arn:aws:iam::123456789012:role/dbt-task";

fn doctor(moto: &Moto, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dbt-rerun"))
        .arg("doctor")
        .args(args)
        .env_remove("DBT_RERUN_STACK")
        .envs(moto.env())
        .output()
        .unwrap()
}

/// The JSON report of stack `stack`, and the exit status.
fn doctor_report(moto: &Moto, stack: &str) -> (Value, Option<i32>) {
    let out = doctor(moto, &["--stack", stack, "--json"]);
    let report = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (report, out.status.code())
}

fn failed(report: &Value) -> Vec<&Value> {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["status"] == "fail")
        .collect()
}

#[test]
fn a_correct_setup_passes_and_each_broken_one_is_named_with_its_fix() {
    let moto = Moto::start_with(Options {
        families: &[FIREHOSE, OPAQUE],
        ..Options::default()
    });
    let s = moto.setup.clone();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    // A failed run of the family still listed: the doctor plans it as on-task-stopped would.
    let stopped = runtime.block_on(async {
        let aws = moto.sdk_config().await;
        let ecs = aws_sdk_ecs::Client::new(&aws);
        let logs = aws_sdk_cloudwatchlogs::Client::new(&aws);
        let fixture = "1.10/transient_model_error";
        let argv = fixture_argv(fixture);
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        let task = moto.start_task(&ecs, &argv, &[]).await;
        moto.write_log(&logs, &task, &fixture_lines(fixture), true)
            .await;
        moto.stop(&ecs, &task, 1).await
    });
    let good: Vec<(&str, &str)> = vec![
        ("ClusterName", "dbt-project-cluster"),
        ("TaskDefinitionFamily", "dbt-models-building"),
        ("DbtLogGroupName", &s.log_group),
        ("TaskRoleArn", TASK_ROLE),
        (
            "ExecutionRoleArn",
            "arn:aws:iam::123456789012:role/dbt-execution",
        ),
        ("Subnets", &s.subnet),
        ("SecurityGroups", &s.security_group),
    ];
    let with = |changes: &[(&'static str, &'static str)]| -> Vec<(&str, &str)> {
        let mut params = good.clone();
        for (name, value) in changes {
            params.retain(|(n, _)| n != name);
            params.push((name, value));
        }
        params
    };
    let template = repo_root().join("template.yaml");
    moto.deploy("good", &template, &good, Code::Placeholder);

    let (report, code) = doctor_report(&moto, "good");
    assert_eq!(code, Some(0), "{report:#}");
    assert_eq!(report["ok"], true);
    assert!(failed(&report).is_empty(), "{report:#}");
    let plan = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["kind"] == "plan")
        .unwrap_or_else(|| panic!("no plan: {report:#}"));
    assert!(
        plan["summary"].as_str().unwrap().starts_with(&format!(
            "stopped task {} would get rerun",
            stopped.task_id()
        )),
        "{plan}"
    );
    let text = doctor(&moto, &["--stack", "good"]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("[ok  ] dbt-models-building: log: container dbt-aws-project logs with awslogs to /ecs/dbt-models-building, stream dbt/dbt-aws-project/<task id>; readable by statement ReadTheDbtLog"),
        "{text}"
    );

    // Each broken setup: its stack, the check that must fail, and words of the fix.
    let broken = [
        (
            "wrong-log-group",
            with(&[("DbtLogGroupName", "/ecs/dbt-other")]),
            "log",
            "set DbtLogGroupName to /ecs/dbt-models-building",
        ),
        (
            "firehose",
            with(&[("TaskDefinitionFamily", "dbt-firehose")]),
            "log",
            "cloudwatch_logs output",
        ),
        (
            "no-task-role",
            with(&[("TaskRoleArn", "")]),
            "roles",
            "add arn:aws:iam::123456789012:role/dbt-task to TaskRoleArn",
        ),
        (
            "family-typo",
            with(&[("TaskDefinitionFamily", "dbt-models-buildng")]),
            "task_definition",
            "TaskDefinitionFamily) to the family the dbt tasks run: dbt-models-building",
        ),
        (
            "opaque",
            with(&[("TaskDefinitionFamily", "dbt-opaque")]),
            "command",
            "run dbt in the task definition's command",
        ),
        (
            "no-subnet",
            with(&[("Subnets", "subnet-0123456789abcdef0")]),
            "subnets",
            "set Subnets",
        ),
    ];
    for (stack, params, kind, fix) in &broken {
        moto.deploy(stack, &template, params, Code::Placeholder);
        let (report, code) = doctor_report(&moto, stack);
        assert_eq!(code, Some(1), "{stack}: {report:#}");
        assert_eq!(report["ok"], false);
        let failed = failed(&report);
        assert_eq!(failed.len(), 1, "{stack}: {report:#}");
        assert_eq!(failed[0]["kind"], *kind, "{stack}: {report:#}");
        let said = failed[0]["fix"].as_str().unwrap_or_default();
        assert!(said.contains(fix), "{stack}: {said}");
    }
}

#[test]
fn without_a_stack_the_parameters_are_checked_and_a_missing_stack_is_an_error() {
    let moto = Moto::start();
    let out = doctor(&moto, &["--stack", "nope"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim_end(),
        "dbt-rerun: error: stack nope does not exist in eu-west-1 (check the name and AWS_REGION)"
    );
    let s = &moto.setup;
    let out = doctor(
        &moto,
        &[
            "--param",
            "ClusterName=dbt-project-cluster",
            "--param",
            "TaskDefinitionFamilies=dbt-*",
            "--param",
            &format!("DbtLogGroupName={}", s.log_group),
            "--param",
            &format!("TaskRoleArn={TASK_ROLE}"),
            "--param",
            "ExecutionRoleArn=arn:aws:iam::123456789012:role/dbt-execution",
            "--param",
            &format!("Subnets={}", s.subnet),
            "--param",
            "SecurityGroups=sg-00000000000000000",
        ],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("[ok  ] families: 1 task family (dbt-* (every name starting with dbt-)) in cluster dbt-project-cluster"), "{text}");
    assert!(
        text.contains("[FAIL] security_groups: sg-00000000000000000 does not exist in eu-west-1"),
        "{text}"
    );
    assert!(text.contains("       fix: set SecurityGroups"), "{text}");
}
