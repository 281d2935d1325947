//! The 1.10–1.12 additions a re-run must keep, on real runs of dbt 1.11 and 1.12
//! (`tests/fixtures/runs`, `generate.py`):
//! - functions (1.11+, `function_models`): the function and the model calling it are read as
//!   dbt's run_results say they ended, the function as a `function`, text and JSON;
//! - `--empty`, `--sample`, `--event-time-start`/`--event-time-end`: every planned re-run, of
//!   every shape, keeps them with their values as given (they change what dbt builds for each
//!   node, not which nodes: `dbt ls` judges the selection in
//!   `tests/integration/dbt_ls_selection.rs`);
//! - `DBT_SAMPLE` in the task's environment: the re-run's environment keeps it;
//! - the `selector:` method of `--select` (1.12+): planned like any other term; what dbt makes
//!   of the plans (a `selector:` term brings its own indirect selection, whatever
//!   `--indirect-selection` says) is checked by `dbt ls` in
//!   `tests/integration/dbt_ls_selection.rs` and, for killed runs, `tests/integration/resume.rs`.
//!
//! 1.12.6's `dbt --version` notice of dbt v2 is read from the real program, so the integration
//! tests check it (`tests/integration/dbt_features.rs`).

use dbt_rerun_core::command::DbtCommand;
use dbt_rerun_core::config::decision_config;
use dbt_rerun_core::decision::DecisionInput;
use dbt_rerun_core::log::{parse_reader, Limits};
use dbt_rerun_core::node::ResourceType;
use dbt_rerun_core::plan::PlanShape;
use dbt_rerun_core::record::DecisionKind;
use dbt_rerun_core::testing::{decide_record, TaskBuilder};
use dbt_rerun_core::RunReport;
use dbt_rerun_fixtures::{every_plan, fixtures, Fixture, Mismatches};
use std::collections::BTreeSet;

fn report(f: &Fixture) -> RunReport {
    parse_reader(
        std::fs::File::open(f.log_path()).unwrap(),
        Limits::default(),
    )
    .unwrap()
}

fn with_var(f: &Fixture, var: &str) -> bool {
    f.meta.argv.iter().any(|a| a.contains(var))
}

#[test]
fn a_function_and_the_model_calling_it_are_read_as_dbt_says_they_ended() {
    let mut bad = Mismatches::default();
    let mut seen = BTreeSet::new();
    for f in fixtures() {
        if !with_var(&f, "function_models") {
            continue;
        }
        seen.insert(f.version.clone());
        let report = report(&f);
        let status = |id: &str| {
            f.run_results()
                .unwrap_or_default()
                .into_iter()
                .find(|r| r.unique_id == id)
                .map(|r| r.status)
                .unwrap_or_default()
        };
        let function = status("function.shop.order_size");
        let model = status("model.shop.order_sizes");
        let failed = |name: &str, kind| {
            report
                .failed
                .iter()
                .any(|n| n.name == name && n.resource_type == kind)
        };
        let skipped = |name: &str| report.skipped.iter().any(|n| n.name == name);
        let finished = |name: &str, kind| {
            report
                .finished
                .nodes
                .iter()
                .any(|n| n.name == name && n.resource_type == kind)
        };
        let expected = if with_var(&f, "break_function_use") {
            ("success", "error")
        } else {
            ("error", "skipped")
        };
        bad.check((function.as_str(), model.as_str()) == expected, || {
            format!("{}: dbt says function {function}, model {model}", f.id)
        });
        let read_right = match expected {
            ("success", _) => {
                finished("order_size", ResourceType::Function)
                    && failed("order_sizes", ResourceType::Model)
            }
            _ => failed("order_size", ResourceType::Function) && skipped("order_sizes"),
        };
        bad.check(read_right, || {
            format!(
                "{}: failed {:?}, skipped {:?}, finished {:?}",
                f.id, report.failed, report.skipped, report.finished.nodes
            )
        });
    }
    bad.assert_none();
    assert_eq!(
        seen,
        BTreeSet::from(["1.11".to_owned(), "1.12".to_owned()]),
        "the function fixtures of 1.11 and 1.12"
    );
}

/// The words of `argv` that give `--empty`, `--sample`, `--event-time-start` and
/// `--event-time-end`, each flag with its value.
fn kept_flags(argv: &[String]) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for (i, word) in argv.iter().enumerate() {
        match word.as_str() {
            "--empty" | "--no-empty" => out.push(vec![word.clone()]),
            "--sample" | "--event-time-start" | "--event-time-end" => {
                out.push(argv[i..(i + 2).min(argv.len())].to_vec())
            }
            _ => {}
        }
    }
    out
}

#[test]
fn every_planned_rerun_keeps_empty_sample_and_the_event_time_window_as_given() {
    let mut bad = Mismatches::default();
    let mut flags_seen = BTreeSet::new();
    let mut shapes = BTreeSet::new();
    for f in fixtures() {
        let given = kept_flags(&f.meta.argv);
        if given.is_empty() || f.meta.exit_code != 1 {
            continue;
        }
        let report = report(&f);
        let command = DbtCommand::parse(&f.meta.argv).unwrap();
        for plan in every_plan(&command, &report) {
            shapes.insert(plan.shape);
            let kept = kept_flags(&plan.argv);
            bad.check(kept == given, || {
                format!(
                    "{} ({:?}): {:?} keeps {kept:?}, the run gave {given:?}",
                    f.id, plan.shape, plan.argv
                )
            });
        }
        flags_seen.extend(given.into_iter().map(|words| words[0].clone()));
    }
    bad.assert_none();
    assert_eq!(
        flags_seen,
        BTreeSet::from(
            [
                "--empty",
                "--sample",
                "--event-time-start",
                "--event-time-end"
            ]
            .map(String::from)
        )
    );
    assert!(
        shapes.contains(&PlanShape::Exact) && shapes.contains(&PlanShape::Original),
        "{shapes:?}"
    );
}

#[test]
fn dbt_sample_in_the_environment_stays_in_the_reruns_environment() {
    let config = decision_config(|name| {
        (name == "DBT_RERUN_RETRY_ON").then(|| "infra,oom,transient,model_error".to_owned())
    })
    .unwrap();
    let mut seen = 0;
    for f in fixtures() {
        if f.meta.env.is_empty() {
            continue;
        }
        seen += 1;
        let report = report(&f);
        let argv: Vec<&str> = f.meta.argv.iter().map(String::as_str).collect();
        let env: Vec<(&str, &str)> = f
            .meta
            .env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let task = TaskBuilder::exited(Some(f.meta.exit_code))
            .overrides(Some(&argv), &env)
            .build();
        let record = decide_record(DecisionInput {
            task: &task,
            report: Some(&report),
            log_note: None,
            command: Some(&f.meta.argv),
            entry_point: None,
            invocations: None,
            config: &config,
        });
        assert_eq!(
            record.decision,
            DecisionKind::Rerun,
            "{}: {}",
            f.id,
            record.reason
        );
        let rerun = record.rerun.as_ref().unwrap();
        for (name, value) in &f.meta.env {
            assert!(
                rerun
                    .environment
                    .iter()
                    .any(|kv| &kv.name == name && &kv.value == value),
                "{}: {name}={value} not in the re-run's environment {:?}",
                f.id,
                rerun
                    .environment
                    .iter()
                    .map(|kv| &kv.name)
                    .collect::<Vec<_>>()
            );
        }
        // The re-run is narrowed (the variable is not what kept the command whole).
        assert_ne!(rerun.command, f.meta.argv, "{}", f.id);
    }
    assert!(
        seen >= 2,
        "the DBT_SAMPLE fixtures of 1.11 and 1.12: {seen}"
    );
}
