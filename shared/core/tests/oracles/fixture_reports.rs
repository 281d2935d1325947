//! The parser against real dbt: for every recorded run (every version, text and JSON), the
//! failed and skipped nodes it reads from the log are the ones dbt's own run_results.json
//! names. Each test checks every fixture and reports all mismatches at once.
//!
//! Two things dbt's run_results.json cannot show: a text log names a version of a versioned
//! model by its bare model name where it does not say the version (a SKIP line, the summary of
//! a version whose file has the model's own name), and dbt records no result for an ephemeral
//! model whose compilation failed (the `break_ephemeral` switch says which one did).

use dbt_rerun_core::log::{parse_reader, Limits, LogFormat};
use dbt_rerun_core::node::{version_parts, FailStatus, FailedNode, ResourceType};
use dbt_rerun_core::RunReport;
use dbt_rerun_fixtures::{fixtures, name_of, Fixture, Mismatches};
use std::collections::BTreeSet;

fn report(f: &Fixture) -> RunReport {
    let file = std::fs::File::open(f.log_path()).unwrap();
    parse_reader(file, Limits::default()).unwrap()
}

fn names(ids: BTreeSet<String>) -> BTreeSet<String> {
    ids.iter().map(|id| name_of(id)).collect()
}

/// The ephemeral models that failed to compile in the run: dbt's run_results lists only the
/// nodes built on them (skipped).
fn ephemeral_failures(f: &Fixture) -> BTreeSet<String> {
    let broken = f.meta.argv.iter().any(|a| a.contains("break_ephemeral"));
    broken
        .then(|| "int_order_payments".to_owned())
        .into_iter()
        .collect()
}

/// dbt's names as the log can give them: in a text log, a version `m.vN` the parser did not
/// name is expected as `m` when that is what it read.
fn as_the_log_can_say(
    f: &Fixture,
    truth: BTreeSet<String>,
    parsed: &BTreeSet<String>,
) -> BTreeSet<String> {
    truth
        .into_iter()
        .map(|name| match version_parts(&name) {
            Some((model, _))
                if !f.is_json()
                    && name.contains('.')
                    && !parsed.contains(&name)
                    && parsed.contains(model) =>
            {
                model.to_owned()
            }
            _ => name,
        })
        .collect()
}

/// The failed node the report gives dbt's `name`, as the log can say it.
fn failed_named<'a>(f: &Fixture, report: &'a RunReport, name: &str) -> Option<&'a FailedNode> {
    let bare = version_parts(name)
        .filter(|_| !f.is_json() && name.contains('.'))
        .map(|(model, _)| model);
    let found = |n: &str| report.failed.iter().find(|f| f.name == n);
    found(name).or_else(|| bare.and_then(found))
}

#[test]
fn failed_nodes_equal_dbts_run_results_in_every_fixture() {
    let mut bad = Mismatches::default();
    for f in fixtures() {
        let report = report(&f);
        let parsed: BTreeSet<String> = report.failed.iter().map(|n| n.name.clone()).collect();
        let mut truth = names(f.ids_with_status(&["error", "fail", "runtime error"]));
        let ephemeral = ephemeral_failures(&f);
        truth.extend(ephemeral.iter().cloned());
        let truth = as_the_log_can_say(&f, truth, &parsed);
        bad.check(parsed == truth, || {
            format!("{}: failed {parsed:?}, dbt says {truth:?}", f.id)
        });
        for node in &report.failed {
            bad.check(!node.message.is_empty(), || {
                format!("{}: {} has no message", f.id, node.name)
            });
            if f.is_json() && !ephemeral.contains(&node.name) {
                let id = node.unique_id.clone().unwrap_or_default();
                bad.check(f.ids_with_status(&["error", "fail"]).contains(&id), || {
                    format!("{}: {} has unique_id {id:?}", f.id, node.name)
                });
            }
        }
        // dbt's status: `fail` for tests that found rows, `error` for everything that broke.
        for result in f.run_results().unwrap_or_default() {
            let expected = match result.status.as_str() {
                "fail" => FailStatus::Fail,
                "error" | "runtime error" => FailStatus::Error,
                _ => continue,
            };
            let name = name_of(&result.unique_id);
            let status = failed_named(&f, &report, &name).map(|n| n.status);
            bad.check(status == Some(expected), || {
                format!("{}: {name} is {status:?}, dbt says {expected:?}", f.id)
            });
        }
    }
    bad.assert_none();
}

#[test]
fn skipped_nodes_equal_dbts_run_results_whenever_dbt_lists_them() {
    let mut bad = Mismatches::default();
    let mut incomplete = 0;
    for f in fixtures() {
        if f.run_results().is_none() {
            continue;
        }
        let report = report(&f);
        let parsed: BTreeSet<String> = report.skipped.iter().map(|n| n.name.clone()).collect();
        let truth = as_the_log_can_say(&f, names(f.ids_with_status(&["skipped"])), &parsed);
        if report.skipped_complete() {
            bad.check(parsed == truth, || {
                format!("{}: skipped {parsed:?}, dbt says {truth:?}", f.id)
            });
        } else {
            // Only --fail-fast hides skipped nodes; the report must say it cannot list them.
            bad.check(f.meta.argv.iter().any(|a| a == "--fail-fast"), || {
                format!(
                    "{}: skipped list called incomplete (stats {:?}, listed {})",
                    f.id,
                    report.stats,
                    report.skipped.len()
                )
            });
            bad.check(parsed.is_subset(&truth), || {
                format!("{}: {parsed:?} not within {truth:?}", f.id)
            });
            incomplete += 1;
        }
    }
    bad.assert_none();
    assert!(
        incomplete > 0,
        "the --fail-fast fixtures must exercise the incomplete case"
    );
}

#[test]
fn a_planned_rerun_counts_the_nodes_dbt_says_did_not_and_did_succeed() {
    use dbt_rerun_core::command::DbtCommand;
    use dbt_rerun_core::plan::{plan_rerun, PlanShape, Work, ECS_OVERRIDE_LIMIT};
    let mut bad = Mismatches::default();
    let mut shapes = BTreeSet::new();
    for f in fixtures() {
        let Some(results) = f.run_results() else {
            continue;
        };
        let report = report(&f);
        let Ok(command) = DbtCommand::parse(&f.meta.argv) else {
            continue;
        };
        let Ok(plan) = plan_rerun(&command, &report, ECS_OVERRIDE_LIMIT) else {
            continue; // nothing failed
        };
        let succeeded = f.ids_with_status(&["success", "pass", "warn"]).len() as u64;
        // A failed ephemeral model (the project's `int_order_payments`) is selected, since it
        // is what failed, but dbt runs it inside its children and lists no result of its own.
        let unlisted = report
            .failed
            .iter()
            .filter(|n| n.name == "int_order_payments")
            .count() as u64;
        let total = results.len() as u64 + unlisted;
        let expected = match plan.shape {
            PlanShape::Exact | PlanShape::ExactModels | PlanShape::Descendants => Work {
                rerun_nodes: Some(total - succeeded),
                nodes_saved: succeeded,
            },
            PlanShape::Original => Work {
                rerun_nodes: Some(total),
                nodes_saved: 0,
            },
            // --fail-fast: some of what succeeded (what finished before the first failure),
            // and the rest unknown.
            PlanShape::Resume => Work {
                rerun_nodes: None,
                nodes_saved: plan.work.nodes_saved.clamp(1, succeeded.max(1)),
            },
        };
        shapes.insert(plan.shape);
        bad.check(plan.work == expected, || {
            format!(
                "{} ({:?}): {:?}, dbt's run_results say {expected:?}",
                f.id, plan.shape, plan.work
            )
        });
    }
    bad.assert_none();
    assert!(
        shapes.contains(&PlanShape::Exact) && shapes.contains(&PlanShape::Resume),
        "{shapes:?}"
    );
}

#[test]
fn every_fixture_shows_dbts_end_of_run_and_exit_2_runs_carry_the_error() {
    let mut bad = Mismatches::default();
    for f in fixtures() {
        let report = report(&f);
        let version = report.dbt_version.clone().unwrap_or_default();
        if f.meta.exit_code == 2 {
            // dbt stopped itself: the error is the report's, and nothing ran.
            let error = report.error.clone().unwrap_or_default();
            let expected = if f.id.ends_with("usage_error") {
                "--no-such-flag"
            } else {
                "does_not_exist"
            };
            bad.check(error.contains(expected), || {
                format!("{}: error {error:?}", f.id)
            });
            bad.check(report.failed.is_empty(), || {
                format!("{}: failed nodes in an exit-2 run", f.id)
            });
            continue;
        }
        bad.check(report.end_of_run, || {
            format!("{}: end of run not seen", f.id)
        });
        bad.check(f.meta.dbt_version == version, || {
            format!("{}: version {version:?}", f.id)
        });
        bad.check(report.error.is_none(), || {
            format!("{}: error {:?}", f.id, report.error)
        });
        let Some(stats) = report.stats else {
            bad.check(false, || format!("{}: no stats line", f.id));
            continue;
        };
        let errors = f.ids_with_status(&["error", "fail"]).len() as u64;
        bad.check(stats.error == errors, || {
            format!("{}: stats {stats:?}, {errors} errors", f.id)
        });
        let format = if f.is_json() {
            LogFormat::Json
        } else {
            LogFormat::Text
        };
        bad.check(report.format == format, || {
            format!("{}: format {:?}", f.id, report.format)
        });
    }
    bad.assert_none();
}

#[test]
fn aliased_relations_in_text_logs_are_detected_and_nowhere_else() {
    // The alias_marts switch names every mart's relation mart_<model>; the failing model of
    // those scenarios is a mart. dbt's OK/ERROR lines name the relation, its SKIP lines and
    // summary the node, so only a text log can (and must) be told apart.
    let mut bad = Mismatches::default();
    let mut aliased = 0;
    for f in fixtures() {
        let report = report(&f);
        let expected = !f.is_json() && f.meta.argv.iter().any(|a| a.contains("alias_marts"));
        aliased += usize::from(expected);
        bad.check(report.aliased == expected, || {
            format!("{}: aliased {}, expected {expected}", f.id, report.aliased)
        });
    }
    bad.assert_none();
    assert!(
        aliased >= 8,
        "the aliased fixtures of every version: {aliased}"
    );
}

#[test]
fn versions_are_named_as_far_as_the_log_says() {
    // dim_accounts has two versions: v1 builds dim_accounts_v1 (its file dim_accounts_v1.sql),
    // the latest, v2, builds dim_accounts (its file dim_accounts.sql). JSON events always say
    // the version; a text summary says it through the file, a SKIP line never.
    let mut bad = Mismatches::default();
    let mut seen = 0;
    for f in fixtures() {
        if !f.meta.argv.iter().any(|a| a.contains("versioned_models")) {
            continue;
        }
        seen += 1;
        let report = report(&f);
        let failed: Vec<&str> = report.failed.iter().map(|n| n.name.as_str()).collect();
        let skipped_model = |name: &str| {
            report
                .skipped
                .iter()
                .any(|n| n.name == name && n.resource_type == ResourceType::Model)
        };
        let scenario = f.id.rsplit('/').next().unwrap_or_default();
        let (expected_failed, expected_skipped) = match scenario {
            "json_versioned_v1_error" | "versioned_v1_error" => (vec!["dim_accounts.v1"], None),
            "json_versioned_latest_error" => (vec!["dim_accounts.v2"], None),
            "versioned_latest_error" => (vec!["dim_accounts"], None),
            "json_versioned_latest_skipped" => (vec!["fct_orders"], Some("dim_accounts.v2")),
            "versioned_latest_skipped" => (vec!["fct_orders"], Some("dim_accounts")),
            other => {
                bad.check(false, || format!("{}: unexpected scenario {other}", f.id));
                continue;
            }
        };
        bad.check(failed == expected_failed, || {
            format!("{}: failed {failed:?}, expected {expected_failed:?}", f.id)
        });
        if let Some(name) = expected_skipped {
            bad.check(skipped_model(name), || {
                format!("{}: {name} not among the skipped", f.id)
            });
        }
        if f.is_json() {
            bad.check(!skipped_model("dim_accounts"), || {
                format!("{}: a version skipped without its version", f.id)
            });
        }
        // The latest version's file is named after the model, as an unversioned model's is.
        bad.check(report.versions_unknown.is_empty(), || {
            format!("{}: versions_unknown {:?}", f.id, report.versions_unknown)
        });
    }
    bad.assert_none();
    assert!(
        seen >= 24,
        "the versioned fixtures of every version: {seen}"
    );
}

#[test]
fn nodes_built_on_an_ephemeral_model_are_read_as_skipped_models() {
    // `SKIP relation main.payments_by_method due to ephemeral model status 'skipped'` names
    // the model payments_by_method (never a test named `'skipped'`); when the ephemeral model
    // itself failed to compile, its error follows and it is the failed node.
    let mut bad = Mismatches::default();
    let mut seen = 0;
    for f in fixtures() {
        if !f.meta.argv.iter().any(|a| a.contains("ephemeral_models")) {
            continue;
        }
        seen += 1;
        let report = report(&f);
        for model in ["payments_by_method", "payments_by_status"] {
            bad.check(
                report
                    .skipped
                    .iter()
                    .any(|n| n.name == model && n.resource_type == ResourceType::Model),
                || format!("{}: {model} is not a skipped model", f.id),
            );
        }
        for node in &report.skipped {
            bad.check(dbt_rerun_core::NodeName::parse(&node.name).is_ok(), || {
                format!("{}: skipped {:?}", f.id, node.name)
            });
        }
        let ephemeral = report
            .failed
            .iter()
            .find(|n| n.name == "int_order_payments");
        let expected = !ephemeral_failures(&f).is_empty();
        bad.check(ephemeral.is_some() == expected, || {
            format!(
                "{}: int_order_payments failed: {}",
                f.id,
                ephemeral.is_some()
            )
        });
        if let Some(node) = ephemeral {
            bad.check(
                node.message.contains("break_ephemeral") && node.status == FailStatus::Error,
                || format!("{}: int_order_payments {node:?}", f.id),
            );
        }
        bad.check(!report.aliased, || format!("{}: aliased", f.id));
    }
    bad.assert_none();
    assert!(
        seen >= 16,
        "the ephemeral fixtures of every version: {seen}"
    );
}
