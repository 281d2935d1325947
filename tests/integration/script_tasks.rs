//! on-task-stopped against moto when the dbt task runs a shell script: the real log of a
//! script fixture in the task's stream, the command as an override or as the task
//! definition's `entryPoint` + `command`, and what RunTask was asked to start.

use dbt_rerun_core::event::EcsTask;
use dbt_rerun_core::{DecisionKind, DecisionRecord};
use dbt_rerun_tests::moto::{stopped_event, Moto, Options, Stop};
use dbt_rerun_tests::{fixture_lines, script_fixtures, ScriptFixture};
use std::time::Duration;

struct World {
    moto: Moto,
    ecs: aws_sdk_ecs::Client,
    logs: aws_sdk_cloudwatchlogs::Client,
    service: dbt_rerun_aws::OnTaskStoppedService,
}

/// moto set up as `options` say, and on-task-stopped configured with `vars`.
async fn world(options: Options<'_>, vars: &[(&str, &str)]) -> World {
    let moto = Moto::start_with(options);
    let aws = moto.sdk_config().await;
    let config = moto.service_config_with(Duration::from_secs(1), vars);
    World {
        ecs: aws_sdk_ecs::Client::new(&aws),
        logs: aws_sdk_cloudwatchlogs::Client::new(&aws),
        service: dbt_rerun_aws::on_task_stopped(&aws, config),
        moto,
    }
}

fn fixture(id: &str) -> ScriptFixture {
    script_fixtures()
        .into_iter()
        .find(|f| f.id == id)
        .unwrap_or_else(|| panic!("no script fixture {id}"))
}

impl World {
    /// An original task that ran `f`'s script with its environment, the script given as the
    /// container override `command` (None: the task definition's), its real log written.
    async fn original(&self, f: &ScriptFixture, command: Option<&[String]>) -> EcsTask {
        let command: Option<Vec<&str>> = command.map(|c| c.iter().map(String::as_str).collect());
        let env: Vec<(&str, &str)> = f
            .meta
            .env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let task = self
            .moto
            .run_original_with(&self.ecs, command.as_deref(), &env)
            .await;
        self.moto
            .write_log(
                &self.logs,
                &task,
                &fixture_lines(&format!("scripts/{}", f.id)),
                true,
            )
            .await;
        task
    }

    async fn handle(&self, task: &EcsTask, exit_code: i32) -> DecisionRecord {
        self.service
            .handle(&stopped_event(task, &Stop::exit(exit_code)))
            .await
            .expect("a decision")
    }

    /// The one task dbt-rerun started, as moto stored it: checks its `startedBy` (attempt 2
    /// of `original`'s chain) and returns its dbt container's override command.
    async fn the_rerun_command(&self, original: &EcsTask) -> Vec<String> {
        let reruns = self.moto.reruns(&self.ecs).await;
        assert_eq!(reruns.len(), 1, "exactly one RunTask");
        assert_eq!(
            reruns[0].started_by.as_deref(),
            Some(format!("dbt-rerun/{}/2", original.task_id()).as_str())
        );
        reruns[0]
            .container_override(&self.moto.setup.container)
            .expect("dbt container override")
            .command
            .clone()
            .expect("a command override")
    }
}

fn rerun_of(record: &DecisionRecord) -> Vec<(Option<&str>, &str, &str)> {
    record
        .script_steps
        .as_deref()
        .unwrap_or_default()
        .iter()
        .map(|s| (s.dbt_verb.as_deref(), s.outcome, s.rerun))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_set_e_script_override_is_rerun_from_its_failed_step_once() {
    let f = fixture("1.11/set_e_seed_run_test_upload");
    let w = world(Options::default(), &[]).await;
    let original = w.original(&f, Some(&f.meta.argv)).await;

    let record = w.handle(&original, f.meta.exit_code).await;
    assert_eq!(record.decision, DecisionKind::Rerun, "{}", record.reason);
    let command = w.the_rerun_command(&original).await;
    assert_eq!(Some(&command), record.rerun_command.as_ref());
    assert_eq!(command[..2], ["sh", "-c"], "{command:?}");
    assert_eq!(command.len(), 3, "{command:?}");
    assert_eq!(
        command[2],
        f.script().replace("dbt seed\n", "").replace(
            "dbt run\n",
            "dbt run '--select' 'fct_orders' 'agg_daily_revenue' 'customer_ltv'\n"
        ),
        "seed removed, run narrowed, every other byte kept"
    );
    assert_eq!(
        rerun_of(&record),
        [
            (None, "ran", "as_written"),
            (None, "ran", "as_written"),
            (None, "ran", "as_written"),
            (None, "ran", "as_written"),
            (Some("seed"), "succeeded", "removed"),
            (Some("run"), "failed", "narrowed"),
            (Some("test"), "never_ran", "as_written"),
            (None, "never_ran", "as_written"),
        ]
    );

    // The same event again: nothing new.
    let again = w.handle(&original, f.meta.exit_code).await;
    assert_eq!(again.decision, DecisionKind::Ignore, "{}", again.reason);
    assert!(
        again.reason.contains("already launched"),
        "{}",
        again.reason
    );
    assert_eq!(w.moto.reruns(&w.ecs).await.len(), 1);
}

/// `deps_and_build_transient`'s entry point (`["sh", "-c"]`) in the task definition, its
/// script as the task definition's command (`in_definition`) or as the override: RunTask
/// cannot override `entryPoint`, so the re-run's override is the new script alone.
async fn entry_point_script_is_rerun_as_the_new_script_alone(in_definition: bool) {
    let f = fixture("1.11/deps_and_build_transient");
    let entry: Vec<&str> = f
        .meta
        .entry_point
        .iter()
        .flatten()
        .map(String::as_str)
        .collect();
    let script: Vec<&str> = f
        .meta
        .command
        .iter()
        .flatten()
        .map(String::as_str)
        .collect();
    assert_eq!(entry, ["sh", "-c"]);
    assert_eq!(script, ["dbt deps && dbt build"]);
    let w = world(
        Options {
            entry_point: Some(&entry),
            command: Some(if in_definition {
                &script
            } else {
                &["dbt build --target prod"]
            }),
            ..Options::default()
        },
        &[],
    )
    .await;
    let overridden = f.meta.command.as_deref().filter(|_| !in_definition);
    let original = w.original(&f, overridden).await;
    assert_eq!(
        original
            .container_override(&w.moto.setup.container)
            .and_then(|o| o.command.clone())
            .is_some(),
        !in_definition,
        "the original task's override as ECS stored it"
    );

    let record = w.handle(&original, f.meta.exit_code).await;
    assert_eq!(record.decision, DecisionKind::Rerun, "{}", record.reason);
    let command = w.the_rerun_command(&original).await;
    assert_eq!(Some(&command), record.rerun_command.as_ref());
    assert_eq!(
        command.len(),
        1,
        "only the script, no entry point: {command:?}"
    );
    assert_eq!(
        command[0],
        "dbt deps && dbt build '--select' 'fct_orders' 'not_null_fct_orders_order_id' \
         'relationships_fct_orders_customer_id__customer_id__ref_dim_customers_' \
         'unique_fct_orders_order_id' 'warn_large_orders' 'test_agg_daily_revenue_sums_orders' \
         'agg_daily_revenue' 'customer_ltv' 'assert_no_negative_revenue' \
         'unique_agg_daily_revenue_order_date' 'not_null_customer_ltv_customer_id' \
         '--indirect-selection' 'empty'",
        "deps kept, build narrowed to what did not succeed"
    );
    assert_eq!(
        rerun_of(&record),
        [
            (Some("deps"), "succeeded", "as_written"),
            (Some("build"), "failed", "narrowed"),
        ]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_entry_point_script_of_the_task_definition_is_rerun_as_the_new_script_alone() {
    entry_point_script_is_rerun_as_the_new_script_alone(true).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_entry_point_script_override_is_rerun_as_the_new_script_alone() {
    entry_point_script_is_rerun_as_the_new_script_alone(false).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn with_inspect_success_a_masked_failure_is_rerun_from_its_step_and_a_real_success_is_not() {
    let masked = fixture("1.11/exit0_masked");
    let success = fixture("1.11/exit0_success");
    assert_eq!((masked.meta.exit_code, success.meta.exit_code), (0, 0));
    let w = world(Options::default(), &[("DBT_RERUN_INSPECT_SUCCESS", "true")]).await;
    let aws = w.moto.sdk_config().await;
    let without = dbt_rerun_aws::on_task_stopped(
        &aws,
        w.moto.service_config_with(Duration::from_secs(1), &[]),
    );
    let task = w.original(&masked, Some(&masked.meta.argv)).await;
    let event = stopped_event(&task, &Stop::exit(0));

    // Without the option, exit 0 is a success, as ever.
    let record = without.handle(&event).await.expect("a decision");
    assert_eq!(record.decision, DecisionKind::Ignore, "{}", record.reason);
    assert!(record.reason.contains("exited 0"), "{}", record.reason);
    assert!(w.moto.reruns(&w.ecs).await.is_empty());

    // With it, the log shows the failure `|| true` hid: the failed step is narrowed, `|| true`
    // and the upload stay as written.
    let record = w.handle(&task, 0).await;
    assert_eq!(record.decision, DecisionKind::Rerun, "{}", record.reason);
    assert!(record.reason.contains("wrapper hid"), "{}", record.reason);
    assert_eq!(
        rerun_of(&record),
        [
            (Some("run"), "failed", "narrowed"),
            (None, "ran", "as_written"),
            (None, "ran", "as_written"),
        ]
    );
    let command = w.the_rerun_command(&task).await;
    assert_eq!(command[..2], masked.meta.argv[..2]);
    assert!(
        command[2].starts_with("dbt run '--select' ")
            && command[2].ends_with(" || true; echo upload >> \"$STEPS_LOG\""),
        "{}",
        command[2]
    );

    // A real success of the same script: its log shows nothing failed.
    let task = w.original(&success, Some(&success.meta.argv)).await;
    let record = w.handle(&task, 0).await;
    assert_eq!(record.decision, DecisionKind::Ignore, "{}", record.reason);
    assert!(record.rerun.is_none());
    assert_eq!(w.moto.reruns(&w.ecs).await.len(), 1, "nothing more started");
}
