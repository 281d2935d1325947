use super::*;
use crate::classify::FailureKind;
use crate::event::KeyValue;
use crate::node::{FailStatus, FailedNode, ResourceType, SkippedNode};
use crate::record::RerunRecord;
use crate::task_definition::LogLocation;

fn record(decision: DecisionKind) -> DecisionRecord {
    DecisionRecord {
        decision,
        reason: "2 failed nodes (2 errors); DBT_RERUN_RETRY_ON=infra does not re-run model_error"
            .into(),
        failure_kind: FailureKind::DbtNodes,
        transient: false,
        task_arn: "arn:aws:ecs:eu-west-1:111122223333:task/dbt-project-cluster/8f3c".into(),
        cluster: "dbt-project-cluster".into(),
        task_family: "dbt-models-building".into(),
        command: Some(vec![
            "dbt".into(),
            "build".into(),
            "--vars".into(),
            "{a: 1}".into(),
        ]),
        entry_point: None,
        script_steps: None,
        log_stream: Some(LogLocation::text(
            "/ecs/dbt",
            "dbt/dbt-aws-project/8f3c",
            None,
        )),
        attempt: 1,
        origin_task_arn: Some(
            "arn:aws:ecs:eu-west-1:111122223333:task/dbt-project-cluster/8f3c".into(),
        ),
        max_attempts: 3,
        container: Some("dbt-aws-project".into()),
        exit_code: Some(1),
        stop_code: Some("EssentialContainerExited".into()),
        failed_nodes: vec![
            FailedNode {
                name: "fct_orders".into(),
                resource_type: ResourceType::Model,
                unique_id: None,
                status: FailStatus::Error,
                message: "Binder Error: no column x".into(),
                detail: String::new(),
            },
            FailedNode {
                name: "dim_customers".into(),
                resource_type: ResourceType::Model,
                unique_id: None,
                status: FailStatus::Error,
                message: "Binder Error: no column y".into(),
                detail: String::new(),
            },
        ],
        skipped_nodes: vec![SkippedNode {
            name: "agg".into(),
            resource_type: ResourceType::Model,
            unique_id: None,
        }],
        rerun_command: Some(vec![
            "dbt".into(),
            "build".into(),
            "--select".into(),
            "fct_orders".into(),
            "dim_customers".into(),
        ]),
        plan_shape: None,
        plan_note: None,
        resume: false,
        finished_nodes: 12,
        finished_node_names: vec![],
        log_complete: true,
        log_wait_seconds: Some(0.1),
        rerun: None,
        duplicate: false,
        rerun_nodes: Some(0),
        nodes_saved: 0,
        recovered: None,
        microbatch: None,
    }
}

fn settings(on: &str) -> AlertSettings {
    AlertSettings {
        topic_arn: Some("arn:aws:sns:eu-west-1:111122223333:dbt".into()),
        on: AlertSettings::parse_on(on).unwrap(),
    }
}

#[test]
fn a_give_up_alert_says_what_failed_and_how_to_rerun() {
    let alert = alert_for(&record(DecisionKind::GiveUp), &settings("give_up")).unwrap();
    assert_eq!(
        alert.subject,
        "dbt-rerun: gave up on dbt build (2 failed) in dbt-project-cluster"
    );
    for needed in [
        "model fct_orders: Binder Error: no column x",
        "model dim_customers: Binder Error: no column y",
        "Attempt:      1 of 3",
        "dbt build --select fct_orders dim_customers",
        r#"{"from_task_arn": "arn:aws:ecs:eu-west-1:111122223333:task/dbt-project-cluster/8f3c"}"#,
        "https://eu-west-1.console.aws.amazon.com/cloudwatch/home?region=eu-west-1#logsV2:log-groups/log-group/$252Fecs$252Fdbt/log-events/dbt$252Fdbt-aws-project$252F8f3c",
    ] {
        assert!(alert.text.contains(needed), "missing {needed:?} in:\n{}", alert.text);
    }
    assert_eq!(
        alert.attributes,
        [
            ("decision".to_string(), "give_up".to_string()),
            ("failure_kind".to_string(), "dbt_nodes".to_string()),
            ("cluster".to_string(), "dbt-project-cluster".to_string())
        ]
    );
    let message: serde_json::Value = serde_json::from_str(&alert.message).unwrap();
    assert_eq!(message["default"], alert.text);
    let machine: serde_json::Value =
        serde_json::from_str(message["sqs"].as_str().unwrap()).unwrap();
    assert_eq!(machine["decision"], "give_up");
    assert_eq!(machine["failed_nodes"][1]["name"], "dim_customers");
}

#[test]
fn alerts_follow_the_settings() {
    assert!(
        alert_for(&record(DecisionKind::GiveUp), &AlertSettings::default()).is_none(),
        "no topic, no alert"
    );
    assert!(alert_for(&record(DecisionKind::Rerun), &settings("give_up")).is_none());
    assert!(alert_for(&record(DecisionKind::Rerun), &settings("give_up,rerun")).is_some());
    let mut success = record(DecisionKind::Ignore);
    success.failure_kind = FailureKind::None;
    success.exit_code = Some(0);
    assert!(
        alert_for(&success, &settings("ignore")).is_none(),
        "a success is not news"
    );
    let mut duplicate = record(DecisionKind::Ignore);
    duplicate.duplicate = true;
    assert!(alert_for(&duplicate, &settings("ignore")).is_none());
    assert!(AlertSettings::parse_on("give_up,sometimes").is_err());
}

#[test]
fn subjects_stay_under_sns_limit_and_environment_values_stay_out() {
    let mut r = record(DecisionKind::Rerun);
    r.cluster = "c".repeat(200);
    r.rerun = Some(RerunRecord {
        command: vec![],
        environment: vec![KeyValue {
            name: "DB_PASSWORD".into(),
            value: "hunter2".into(),
        }],
        cpu: None,
        memory: None,
        attempt: 2,
        origin_task_arn: r.task_arn.clone(),
        started_by: "dbt-rerun/8f3c/2".into(),
        client_token: "dbt-rerun-8f3c-2".into(),
        task_arn: Some("arn:aws:ecs:eu-west-1:111122223333:task/dbt-project-cluster/9999".into()),
        original_command: None,
        scheduled_at: None,
        schedule_name: None,
    });
    let alert = compose(&r);
    assert!(
        alert.subject.chars().count() <= MAX_SUBJECT,
        "{}",
        alert.subject
    );
    assert!(alert
        .subject
        .starts_with("dbt-rerun: re-running dbt build (2 failed), attempt 2/3 in ccc"));
    assert!(!alert.message.contains("hunter2") && !alert.text.contains("hunter2"));
    assert!(alert
        .text
        .contains("Re-run task: arn:aws:ecs:eu-west-1:111122223333:task/dbt-project-cluster/9999"));
}

#[test]
fn many_failures_keep_the_message_bounded() {
    let mut r = record(DecisionKind::GiveUp);
    let node = r.failed_nodes[0].clone();
    r.failed_nodes = (0..5000)
        .map(|i| FailedNode {
            name: format!("model_{i}"),
            message: "x".repeat(5000),
            ..node.clone()
        })
        .collect();
    let alert = compose(&r);
    assert!(
        alert.message.len() < 64 * 1024,
        "{} bytes",
        alert.message.len()
    );
    assert!(alert.text.contains("... and 4975 more"));
}

#[test]
fn commands_are_quoted_for_a_shell() {
    let argv: Vec<String> = ["dbt", "build", "--vars", "{a: 1}", "--select", "it's"]
        .map(String::from)
        .to_vec();
    assert_eq!(
        shell_words(&argv),
        r#"dbt build --vars '{a: 1}' --select 'it'\''s'"#
    );
}

#[test]
fn a_scripts_steps_are_listed_with_what_the_rerun_does() {
    use crate::decision::ScriptStep;
    let step = |n, command: &str, outcome, rerun| ScriptStep {
        step: n,
        command: command.into(),
        dbt_verb: command.strip_prefix("dbt ").map(|v| v.to_owned()),
        outcome,
        rerun,
    };
    let mut r = record(DecisionKind::Rerun);
    r.script_steps = Some(vec![
        step(1, "dbt seed", "succeeded", "removed"),
        step(2, "dbt run", "failed", "narrowed"),
        step(
            3,
            "aws s3 cp target/ s3://b/ --recursive",
            "never_ran",
            "as_written",
        ),
    ]);
    let alert = compose(&r);
    assert!(
        alert.text.contains("  1. dbt seed: succeeded; removed"),
        "{}",
        alert.text
    );
    assert!(
        alert
            .text
            .contains("  3. aws s3 cp target/ s3://b/ --recursive: never ran; as written"),
        "{}",
        alert.text
    );
    let message: serde_json::Value = serde_json::from_str(&alert.message).unwrap();
    let machine: serde_json::Value =
        serde_json::from_str(message["sqs"].as_str().unwrap()).unwrap();
    assert_eq!(machine["script_steps"][1]["rerun"], "narrowed");
}
