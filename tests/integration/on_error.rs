//! dbt 1.12's `on_error: continue` (a beta model config): when a model with it fails, dbt runs
//! its children instead of skipping them, on the model's previous relation, and its log says
//! nothing of it (the children's result lines are plain OK/PASS, and SKIP=0). Against real
//! 1.12 runs: every planned re-run, expanded by `dbt ls`, selects the failed and skipped
//! nodes and everything downstream of a failed model inside the original selection, and
//! nothing else; and the planned re-run, executed on the failed run's warehouse with the fault
//! healed, leaves the children as a clean run does, where the failed and skipped nodes alone
//! would leave them stale; so does the resume of a run killed after a stale child finished.

use dbt_rerun_core::command::DbtCommand;
use dbt_rerun_core::log::{parse_reader, Limits};
use dbt_rerun_core::plan::{plan_rerun, PlanShape, ECS_OVERRIDE_LIMIT};
use dbt_rerun_tests::{
    dbt_ls, executed_types, on_error_fixtures, selection_flags, vars_flag, Mismatches,
    ShopContainer,
};
use std::collections::BTreeSet;

fn ls_args(argv: &[String]) -> Vec<String> {
    [vars_flag(argv), selection_flags(argv)].concat()
}

#[test]
fn a_rerun_selects_what_ran_downstream_of_a_failed_model_and_nothing_else() {
    let mut bad = Mismatches::default();
    let mut requests = Vec::new();
    let mut cases = Vec::new();
    for f in on_error_fixtures() {
        let report = parse_reader(
            std::fs::File::open(f.log_path()).unwrap(),
            Limits::default(),
        )
        .unwrap();
        let failed: BTreeSet<String> = report.failed.iter().map(|n| n.name.clone()).collect();
        let truth: BTreeSet<String> = f
            .ids_with_status(&["error", "fail"])
            .iter()
            .map(|id| dbt_rerun_tests::name_of(id))
            .collect();
        bad.check(failed == truth, || {
            format!("{}: failed {failed:?}, dbt says {truth:?}", f.id)
        });
        let command = DbtCommand::parse(&f.meta.argv).unwrap();
        let plan = plan_rerun(&command, &report, ECS_OVERRIDE_LIMIT).unwrap();
        bad.check(plan.shape == PlanShape::Descendants, || {
            format!("{}: {:?} {:?}", f.id, plan.shape, plan.note)
        });
        requests.push((f.id.clone(), ls_args(&plan.argv)));
        cases.push((f, plan));
    }
    let answers = dbt_ls("1.12", &requests);
    for (f, plan) in &cases {
        let mut expected = f.ids_with_status(&["error", "fail", "skipped"]);
        let downstream = f.downstream();
        bad.check(!downstream.is_empty(), || {
            format!("{}: no failed model", f.id)
        });
        expected.extend(downstream.into_values().flatten());
        let selected: BTreeSet<String> = match answers.get(&f.id).cloned() {
            Some(Ok(nodes)) => nodes
                .into_iter()
                .filter(|(_, t)| executed_types("build").contains(&t.as_str()))
                .map(|(id, _)| id)
                .collect(),
            other => {
                bad.check(false, || format!("{}: dbt ls: {other:?}", f.id));
                continue;
            }
        };
        bad.check(selected == expected, || {
            format!(
                "{}: {:?}\n  selects extra {:?}\n  misses {:?}",
                f.id,
                plan.argv,
                selected.difference(&expected).collect::<Vec<_>>(),
                expected.difference(&selected).collect::<Vec<_>>()
            )
        });
    }
    bad.assert_none();
}

/// `dbt build` of the whole shop project with fct_orders set to `on_error: continue`.
fn build_continuing() -> Vec<String> {
    ["dbt", "build", "--vars", "{continue_on_error: true}"]
        .map(str::to_owned)
        .to_vec()
}

/// A container whose warehouse was built, then given a new order (the next run's new data).
fn built_then_new_order(name: &str) -> ShopContainer {
    let container = ShopContainer::new(name, "1.12");
    let setup = container.dbt(&build_continuing(), &[], "setup.log");
    assert_eq!(setup.code, 0, "{}", setup.output());
    container.append_to_seed("raw_orders", &["6,2,2024-01-05,completed"]);
    container.append_to_seed("raw_payments", &["6,6,card,2500"]);
    container
}

const CHILDREN: [&str; 3] = ["fct_orders", "agg_daily_revenue", "customer_ltv"];

#[test]
fn the_planned_rerun_rebuilds_the_children_that_ran_on_stale_data_for_real() {
    let clean = built_then_new_order("on-error-clean");
    let run = clean.dbt(&build_continuing(), &[], "clean.log");
    assert_eq!(run.code, 0, "{}", run.output());

    let failed = built_then_new_order("on-error-failed");
    let run = failed.dbt(
        &build_continuing(),
        &[("SHOP_TRANSIENT_ERROR", "1")],
        "failed.log",
    );
    assert_eq!(run.code, 1, "{}", run.output());
    // dbt ran the children on fct_orders' previous table: the new order is not in them.
    assert_ne!(
        failed.table("agg_daily_revenue"),
        clean.table("agg_daily_revenue")
    );
    let record = dbt_rerun_tests::decision_on(&build_continuing(), 1, &run.log);
    assert_eq!(
        record.decision,
        dbt_rerun_core::record::DecisionKind::Rerun,
        "{}",
        record.reason
    );
    let command = record.rerun_command.clone().unwrap();
    // The failed and skipped nodes alone, as the record lists them (what the exact list of
    // dbt < 1.12 runs): the children that ran on stale data are in neither.
    let alone = failed.copy("on-error-alone");
    let names = record
        .failed_nodes
        .iter()
        .map(|n| n.name.clone())
        .chain(record.skipped_nodes.iter().map(|n| n.name.clone()));
    let exact: Vec<String> = build_continuing()
        .into_iter()
        .chain(["--select".to_owned()])
        .chain(names)
        .chain(["--indirect-selection", "empty"].map(str::to_owned))
        .collect();
    assert!(
        !exact.contains(&"agg_daily_revenue".to_owned()),
        "{exact:?}"
    );

    let rerun = failed.dbt(&command, &[], "rerun.log");
    assert_eq!(rerun.code, 0, "{command:?}\n{}", rerun.output());
    for table in CHILDREN {
        assert_eq!(
            failed.table(table),
            clean.table(table),
            "{table} after {command:?}"
        );
    }
    let run = alone.dbt(&exact, &[], "alone.log");
    assert_eq!(run.code, 0, "{}", run.output());
    assert_eq!(alone.table("fct_orders"), clean.table("fct_orders"));
    assert_ne!(
        alone.table("agg_daily_revenue"),
        clean.table("agg_daily_revenue"),
        "the failed node alone left agg_daily_revenue as a clean run does"
    );
}

#[test]
fn a_run_killed_after_its_children_ran_on_stale_data_resumes_them_for_real() {
    let clean = built_then_new_order("on-error-kill-clean");
    let run = clean.dbt(&build_continuing(), &[], "clean.log");
    assert_eq!(run.code, 0, "{}", run.output());

    // fct_orders fails, agg_daily_revenue runs on its previous table, then the task is killed
    // inside customer_ltv's slow pre-hook (an OOM kill, a Spot interruption).
    let killed = built_then_new_order("on-error-kill");
    let slow: Vec<String> = [
        "dbt",
        "build",
        "--vars",
        "{continue_on_error: true, slow_rows: 200000000}",
    ]
    .map(str::to_owned)
    .to_vec();
    let run = killed.dbt_killed(
        &slow,
        &[("SHOP_TRANSIENT_ERROR", "1")],
        "killed.log",
        |line| line.contains("OK created sql table model main.agg_daily_revenue"),
        1,
        std::time::Duration::from_millis(300),
    );
    assert_ne!(
        killed.table("agg_daily_revenue"),
        clean.table("agg_daily_revenue")
    );
    let report = parse_reader(std::fs::File::open(&run.log).unwrap(), Limits::default()).unwrap();
    // What finished includes the stale child: a resume leaving out all of it would keep it.
    assert!(
        report
            .finished
            .nodes
            .iter()
            .any(|n| n.name == "agg_daily_revenue"),
        "{:?}",
        report.finished.nodes
    );
    let record = dbt_rerun_tests::decision_on(&slow, 137, &run.log);
    assert_eq!(
        record.decision,
        dbt_rerun_core::record::DecisionKind::Rerun,
        "{}",
        record.reason
    );
    let command = record.rerun_command.clone().unwrap();
    assert!(
        !command.contains(&"agg_daily_revenue".to_owned()),
        "{command:?}"
    );

    let rerun = killed.dbt(&command, &[], "resume.log");
    assert_eq!(rerun.code, 0, "{command:?}\n{}", rerun.output());
    for table in CHILDREN {
        assert_eq!(
            killed.table(table),
            clean.table(table),
            "{table} after {command:?}"
        );
    }
}
