//! Alerts through SNS (moto), read back by an SQS subscriber: what is told, when, and that
//! no environment value leaks.

use dbt_rerun_core::alert::AlertSettings;
use dbt_rerun_core::DecisionKind;
use dbt_rerun_tests::moto::{AlertInbox, Moto};
use std::time::Duration;

async fn service(moto: &Moto, inbox: &AlertInbox, on: &str) -> dbt_rerun_aws::OnTaskStoppedService {
    let mut config = moto.service_config(Duration::from_secs(1));
    config.alerts = AlertSettings {
        topic_arn: Some(inbox.topic_arn.clone()),
        on: AlertSettings::parse_on(on).unwrap(),
    };
    dbt_rerun_aws::on_task_stopped(&moto.sdk_config().await, config)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_deterministic_error_sends_one_give_up_alert_naming_every_failed_node() {
    let moto = Moto::start();
    let inbox = moto.alert_inbox("dbt-alerts").await;
    let service = service(&moto, &inbox, "give_up").await;
    let (_, event) = moto
        .fixture_run(
            "1.10/two_failures_threads4",
            1,
            &[("DB_PASSWORD", "hunter2")],
        )
        .await;
    let record = service.handle(&event).await.unwrap();
    assert_eq!(record.decision, DecisionKind::GiveUp);

    let alerts = inbox.received().await;
    assert_eq!(alerts.len(), 1, "exactly one message");
    let alert = &alerts[0];
    assert!(alert.subject.chars().count() < 100, "{}", alert.subject);
    assert_eq!(
        alert.subject,
        "dbt-rerun: gave up on dbt build (2 failed) in dbt-project-cluster"
    );
    assert_eq!(alert.attributes["decision"], "give_up");
    assert_eq!(alert.attributes["failure_kind"], "dbt_nodes");
    assert_eq!(alert.attributes["cluster"], "dbt-project-cluster");
    let body: serde_json::Value =
        serde_json::from_str(&alert.message).expect("SQS subscribers get JSON");
    let mut names: Vec<&str> = body["failed_nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["name"].as_str().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["dim_customers", "fct_orders"]);
    assert!(body["log_url"]
        .as_str()
        .unwrap()
        .contains("console.aws.amazon.com/cloudwatch"));
    assert!(
        !alert.raw.contains("hunter2"),
        "an environment value reached the alert"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn reruns_alert_only_when_asked_and_name_what_is_rerun() {
    let moto = Moto::start();
    let inbox = moto.alert_inbox("dbt-alerts").await;
    let quiet = service(&moto, &inbox, "give_up").await;
    let (_, event) = moto.fixture_run("1.10/transient_model_error", 1, &[]).await;
    assert_eq!(
        quiet.handle(&event).await.unwrap().decision,
        DecisionKind::Rerun
    );
    assert!(
        inbox.received().await.is_empty(),
        "a re-run under the default setting is not news"
    );

    let loud = service(&moto, &inbox, "give_up,rerun").await;
    let (_, event) = moto.fixture_run("1.10/transient_model_error", 1, &[]).await;
    let record = loud.handle(&event).await.unwrap();
    assert_eq!(record.decision, DecisionKind::Rerun);
    let alerts = inbox.received().await;
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].attributes["decision"], "rerun");
    assert!(
        alerts[0]
            .subject
            .starts_with("dbt-rerun: re-running dbt build (1 failed), attempt 2/3"),
        "{}",
        alerts[0].subject
    );
    let body: serde_json::Value = serde_json::from_str(&alerts[0].message).unwrap();
    assert_eq!(
        body["rerun_command"].as_array().unwrap().len(),
        record.rerun_command.unwrap().len()
    );
    assert_eq!(
        body["rerun_task_arn"],
        serde_json::json!(record.rerun.unwrap().task_arn)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_spent_budget_gives_up_and_says_so() {
    let moto = Moto::start();
    let inbox = moto.alert_inbox("dbt-alerts").await;
    let service = service(&moto, &inbox, "give_up").await;
    let origin = "arn:aws:ecs:eu-west-1:123456789012:task/dbt-project-cluster/ffffffffffffffffffffffffffffffff";
    let (_, event) = moto
        .fixture_run(
            "1.10/transient_model_error",
            1,
            &[
                ("DBT_RERUN_ATTEMPT", "3"),
                ("DBT_RERUN_ORIGIN_TASK", origin),
            ],
        )
        .await;
    let record = service.handle(&event).await.unwrap();
    assert_eq!(record.decision, DecisionKind::GiveUp);
    let alerts = inbox.received().await;
    assert_eq!(alerts.len(), 1);
    let body: serde_json::Value = serde_json::from_str(&alerts[0].message).unwrap();
    assert!(
        body["reason"]
            .as_str()
            .unwrap()
            .contains("attempt 3 of 3 was the last"),
        "{body}"
    );
    assert_eq!(body["attempt"], 3);
}
