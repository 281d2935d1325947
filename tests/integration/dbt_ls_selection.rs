//! The planner against real dbt: every planned re-run selection, expanded by `dbt ls` with
//! the dbt-core version that produced the fixture, selects exactly the nodes that did not
//! succeed in that run: dbt's failed + skipped set from run_results.json (and, where
//! `--fail-fast` kept dbt from even listing some nodes, every selected node dbt did not
//! report as succeeded). Every shape the planner can produce for a fixture is checked, by
//! shrinking the length budget until it falls back to the original command. `dbt ls` parses
//! the project with each command's `--vars`, so the versioned and ephemeral models those
//! switch on are there; ephemeral models, which dbt never executes, are not counted. Among
//! them: functions (1.11+, which only `build` creates) and the `selector:` method of
//! `--select` (1.12+), which brings the named selector's own indirect selection.

use dbt_rerun_core::command::DbtCommand;
use dbt_rerun_core::log::{parse_reader, Limits};
use dbt_rerun_core::plan::{PlanShape, RerunCommand};
use dbt_rerun_tests::{
    dbt_ls, every_plan, executed_types, fixtures, selection_flags, vars_flag, Fixture, Mismatches,
};
use std::collections::{BTreeMap, BTreeSet};

/// What `dbt ls` is asked for an argv: its vars (so the project is what the run saw) and its
/// selection flags.
fn ls_args(argv: &[String]) -> Vec<String> {
    [vars_flag(argv), selection_flags(argv)].concat()
}

#[test]
fn every_planned_selection_selects_exactly_what_did_not_succeed() {
    let mut bad = Mismatches::default();
    let mut shapes_seen: BTreeMap<PlanShape, usize> = BTreeMap::new();
    // Fixtures of versioned and ephemeral models, and plans that exclude the versions a text
    // log shows finished (the model's bare name selects every version).
    let (mut versioned, mut ephemeral, mut version_excluded) = (0, 0, 0);
    let (mut functions, mut selector_method) = (0, 0);
    let mut by_version: BTreeMap<String, Vec<(Fixture, Vec<RerunCommand>)>> = BTreeMap::new();
    for f in fixtures() {
        if f.meta.exit_code != 1 {
            continue;
        }
        let report = parse_reader(
            std::fs::File::open(f.log_path()).unwrap(),
            Limits::default(),
        )
        .unwrap();
        let command = DbtCommand::parse(&f.meta.argv).unwrap();
        by_version
            .entry(f.version.clone())
            .or_default()
            .push((f.clone(), every_plan(&command, &report)));
    }
    assert!(by_version.len() >= 4, "fixtures of every dbt version");
    for (version, cases) in &by_version {
        let mut requests = Vec::new();
        for (f, plans) in cases {
            requests.push((format!("{}#original", f.id), ls_args(&f.meta.argv)));
            for (i, plan) in plans.iter().enumerate() {
                requests.push((format!("{}#{i}", f.id), ls_args(&plan.argv)));
            }
        }
        let answers = dbt_ls(version, &requests);
        for (f, plans) in cases {
            let verb = DbtCommand::parse(&f.meta.argv).unwrap().verb;
            let executed = |id: &str| -> Result<BTreeSet<String>, String> {
                let nodes = answers
                    .get(id)
                    .cloned()
                    .unwrap_or_else(|| Err("no answer".into()))?;
                Ok(nodes
                    .into_iter()
                    .filter(|(_, t)| executed_types(&verb).contains(&t.as_str()))
                    .map(|(id, _)| id)
                    .collect())
            };
            let original = match executed(&format!("{}#original", f.id)) {
                Ok(set) => set,
                Err(e) => {
                    bad.check(false, || {
                        format!("{}: dbt ls of the original failed: {e}", f.id)
                    });
                    continue;
                }
            };
            let succeeded = f.ids_with_status(&["success", "pass", "warn"]);
            let not_succeeded: BTreeSet<String> =
                original.difference(&succeeded).cloned().collect();
            let failed_or_skipped = f.ids_with_status(&["error", "fail", "skipped"]);
            // dbt lists every node it runs in run_results, except after --fail-fast.
            if !f.meta.argv.iter().any(|a| a == "--fail-fast") {
                bad.check(not_succeeded == failed_or_skipped, || {
                    format!(
                        "{}: dbt's own sets disagree: {not_succeeded:?} vs {failed_or_skipped:?}",
                        f.id
                    )
                });
            }
            let vars = vars_flag(&f.meta.argv).concat();
            versioned += usize::from(vars.contains("versioned_models"));
            ephemeral += usize::from(vars.contains("ephemeral_models"));
            functions += usize::from(vars.contains("function_models"));
            selector_method += usize::from(f.meta.argv.iter().any(|a| a.starts_with("selector:")));
            for (i, plan) in plans.iter().enumerate() {
                *shapes_seen.entry(plan.shape).or_default() += 1;
                version_excluded += usize::from(
                    plan.shape != PlanShape::Resume
                        && plan.argv.iter().any(|a| a.starts_with("dim_accounts_v")),
                );
                let selected = match executed(&format!("{}#{i}", f.id)) {
                    Ok(set) => set,
                    Err(e) => {
                        bad.check(false, || {
                            format!("{}: dbt rejected {:?}: {e}", f.id, plan.argv)
                        });
                        continue;
                    }
                };
                if plan.shape == PlanShape::Original {
                    bad.check(selected == original, || {
                        format!("{}: original shape changed the selection", f.id)
                    });
                    continue;
                }
                bad.check(selected == not_succeeded, || {
                    format!(
                        "{} ({:?}): {:?}\n  selects extra {:?}\n  misses {:?}",
                        f.id,
                        plan.shape,
                        plan.argv,
                        selected.difference(&not_succeeded).collect::<Vec<_>>(),
                        not_succeeded.difference(&selected).collect::<Vec<_>>()
                    )
                });
            }
        }
    }
    bad.assert_none();
    assert!(
        versioned >= 24 && ephemeral >= 16,
        "the versioned ({versioned}) and ephemeral ({ephemeral}) fixtures of every dbt version"
    );
    assert!(
        functions >= 8 && selector_method >= 3,
        "the function ({functions}) and selector: ({selector_method}) fixtures of 1.11 and 1.12"
    );
    assert!(
        version_excluded >= 8,
        "plans excluding a finished version: {version_excluded}"
    );
    for shape in [
        PlanShape::Exact,
        PlanShape::ExactModels,
        PlanShape::Descendants,
        PlanShape::Resume,
    ] {
        assert!(
            shapes_seen.contains_key(&shape),
            "no fixture exercised {shape:?}: {shapes_seen:?}"
        );
    }
    eprintln!("plans checked against dbt ls: {shapes_seen:?}");
}
