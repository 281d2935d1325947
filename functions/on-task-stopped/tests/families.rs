//! Several task families, one stack: the template deployed in moto's CloudFormation (after
//! SAM's transform) for three families of one cluster, and the function binary run as Lambda
//! runs it with the deployed function's environment, against moto. A failed task of each
//! family is re-run; one of a fourth family, in the same cluster, is not.

use dbt_rerun_core::event::EcsTask;
use dbt_rerun_tests::moto::{stopped_event, Moto, Options, Stop};
use dbt_rerun_tests::runtime_api::{Outcome, RuntimeApi};
use dbt_rerun_tests::stack::Code;
use dbt_rerun_tests::{fixture_argv, fixture_lines, repo_root};
use std::collections::BTreeSet;
use std::time::Duration;

const LISTED: [&str; 3] = ["dbt-hourly", "dbt-nightly", "dbt-weekly"];
const UNLISTED: &str = "dbt-docs";
const FIXTURE: &str = "1.10/transient_model_error";

#[tokio::test(flavor = "multi_thread")]
async fn one_stack_reruns_a_failed_task_of_each_family_it_lists_and_none_of_another() {
    let mut families = LISTED.to_vec();
    families.push(UNLISTED);
    let moto = Moto::start_with(Options {
        families: &families,
        ..Options::default()
    });
    let s = &moto.setup;
    let deployed = moto.deploy(
        "dbt-rerun",
        &repo_root().join("template.yaml"),
        &[
            ("ClusterName", "dbt-project-cluster"),
            ("TaskDefinitionFamilies", &LISTED.join(",")),
            ("DbtLogGroupName", &s.log_group),
            ("TaskRoleArn", "arn:aws:iam::123456789012:role/dbt-task"),
            (
                "ExecutionRoleArn",
                "arn:aws:iam::123456789012:role/dbt-execution",
            ),
            ("Subnets", &s.subnet),
            ("SecurityGroups", &s.security_group),
        ],
        Code::Placeholder,
    );
    let pattern = &deployed.rules["OnTaskStoppedFunctionDbtTaskFailed"]["detail"];
    assert_eq!(
        pattern["group"],
        serde_json::json!([
            "family:dbt-hourly",
            "family:dbt-nightly",
            "family:dbt-weekly"
        ])
    );
    assert_eq!(pattern["clusterArn"], serde_json::json!([s.cluster]));

    // A failed run (a dropped warehouse connection) of each family, the log written.
    let aws = moto.sdk_config().await;
    let ecs = aws_sdk_ecs::Client::new(&aws);
    let logs = aws_sdk_cloudwatchlogs::Client::new(&aws);
    let argv = fixture_argv(FIXTURE);
    let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
    let api = RuntimeApi::start();
    let mut originals: Vec<EcsTask> = Vec::new();
    for family in &families {
        let task = moto
            .run_original_of(&ecs, &s.families[*family], Some(&argv), &[])
            .await;
        assert_eq!(task.family(), *family);
        moto.write_log(&logs, &task, &fixture_lines(FIXTURE), true)
            .await;
        api.invoke(family, &stopped_event(&task, &Stop::exit(1)));
        originals.push(task);
    }

    let mut env: Vec<(String, String)> = deployed.functions["OnTaskStoppedFunction"]
        .environment
        .clone()
        .into_iter()
        .collect();
    env.extend(moto.env());
    let mut function = api.spawn_function(
        env!("CARGO_BIN_EXE_on-task-stopped"),
        &deployed.functions["OnTaskStoppedFunction"].name,
        &env,
    );
    let outcomes = api.outcomes(families.len(), Duration::from_secs(120));
    function.kill().unwrap();
    let output = function.wait_with_output().unwrap();
    for (family, outcome) in &outcomes {
        let Outcome::Response(body) = outcome else {
            panic!(
                "{family}: {outcome:?}\n{}",
                String::from_utf8_lossy(&output.stderr)
            );
        };
        let record: serde_json::Value = serde_json::from_str(body).unwrap();
        if family == UNLISTED {
            assert_eq!(record["decision"], "ignore", "{body}");
            assert_eq!(
                record["reason"],
                "task family dbt-docs is not one of this deployment's \
                 (DBT_RERUN_TASK_FAMILIES: dbt-hourly, dbt-nightly, dbt-weekly): not handled"
            );
            assert!(record["rerun"].is_null(), "{body}");
        } else {
            assert_eq!(record["decision"], "rerun", "{family}: {body}");
            assert!(record["rerun"]["task_arn"].is_string(), "{body}");
        }
    }

    // In ECS: one re-run of each listed family, as attempt 2 of its own task's chain.
    let reruns = moto.reruns(&ecs).await;
    let rerun_families: BTreeSet<&str> = reruns.iter().map(EcsTask::family).collect();
    assert_eq!(rerun_families, LISTED.into_iter().collect());
    assert_eq!(reruns.len(), LISTED.len());
    for rerun in &reruns {
        let origin = originals
            .iter()
            .find(|o| o.family() == rerun.family())
            .unwrap();
        assert_eq!(
            rerun.started_by.as_deref(),
            Some(format!("dbt-rerun/{}/2", origin.task_id()).as_str())
        );
    }
}
