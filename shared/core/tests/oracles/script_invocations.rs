//! A script's log split into its dbt invocations (`InvocationSplitter`), against dbt's own
//! JSON file log of every script fixture of every version: one invocation per dbt
//! invocation, each with its version, end of run, failed and finished nodes, and a verb
//! `could_be` accepts while the verbs its nodes rule out are refused.

use dbt_rerun_core::log::{
    parse_reader, split_reader, Invocation, Limits, LogFormat, SplitLog, DEFAULT_MAX_INVOCATIONS,
};
use dbt_rerun_core::script::{prints_no_marker, runs_again};
use dbt_rerun_core::RunReport;
use dbt_rerun_fixtures::{name_of, script_fixtures, Mismatches, ScriptFixture, TruthInvocation};
use std::collections::BTreeSet;

fn split(f: &ScriptFixture) -> SplitLog {
    let file = std::fs::File::open(f.log_path()).unwrap();
    split_reader(file, Limits::default(), DEFAULT_MAX_INVOCATIONS).unwrap()
}

fn whole(f: &ScriptFixture) -> RunReport {
    let file = std::fs::File::open(f.log_path()).unwrap();
    parse_reader(file, Limits::default()).unwrap()
}

/// How a report names a node of the truth: by unique_id in a JSON log, by name in text.
fn key(report: &RunReport, unique_id: &str) -> String {
    if report.format == LogFormat::Json {
        unique_id.to_owned()
    } else {
        name_of(unique_id)
    }
}

fn keys(report: &RunReport, ids: BTreeSet<String>) -> BTreeSet<String> {
    ids.iter().map(|id| key(report, id)).collect()
}

/// A report's failed nodes, keyed like [`key`].
fn failed(report: &RunReport) -> BTreeSet<String> {
    report
        .failed
        .iter()
        .map(|n| match (&n.unique_id, report.format) {
            (Some(id), LogFormat::Json) => id.clone(),
            _ => n.name.clone(),
        })
        .collect()
}

fn finished(report: &RunReport) -> BTreeSet<String> {
    report
        .finished
        .nodes
        .iter()
        .map(|n| match (&n.unique_id, report.format) {
            (Some(id), LogFormat::Json) => id.clone(),
            _ => n.name.clone(),
        })
        .collect()
}

/// The truth's failed set as the parser names it. (dbt 1.8+ names a unit test's compilation
/// error after the model its fixture reads, `Compilation Error in model fct_orders
/// (models/marts/unit_tests.yml)`: the parser takes the unit test from its result line.)
fn expected_failed(report: &RunReport, truth: &TruthInvocation) -> BTreeSet<String> {
    keys(report, truth.ids_with_status(&["error", "fail"]))
}

#[test]
fn every_script_log_splits_into_dbts_invocations() {
    let mut bad = Mismatches::default();
    for f in script_fixtures() {
        let split = split(&f);
        let truth = f.invocations();
        bad.check(
            split.invocations.len() == truth.len() && !split.truncated,
            || {
                format!(
                    "{}: {} invocations, dbt ran {}",
                    f.id,
                    split.invocations.len(),
                    truth.len()
                )
            },
        );
        let lines: Vec<String> = String::from_utf8_lossy(&std::fs::read(f.log_path()).unwrap())
            .lines()
            .map(str::to_owned)
            .collect();
        let first = split.invocations.first().map_or(0, |i| i.first_line);
        bad.check(first == split.preamble_lines + 1, || {
            format!(
                "{}: preamble {} but first line {first}",
                f.id, split.preamble_lines
            )
        });
        for (k, (inv, truth)) in split.invocations.iter().zip(&truth).enumerate() {
            let at = format!("{} invocation {k} ({})", f.id, truth.verb);
            check_invocation(&mut bad, &at, inv, truth, &lines);
            let format = if f.is_json() {
                LogFormat::Json
            } else {
                LogFormat::Text
            };
            bad.check(inv.report.format == format, || {
                format!("{at}: format {:?}", inv.report.format)
            });
            let id = inv.invocation_id.as_deref();
            let expected_id = f.is_json().then_some(truth.invocation_id.as_str());
            bad.check(id == expected_id, || format!("{at}: invocation_id {id:?}"));
        }
    }
    bad.assert_none();
}

/// Version, end of run, setup markers and first line of one invocation.
fn check_invocation(
    bad: &mut Mismatches,
    at: &str,
    inv: &Invocation,
    truth: &TruthInvocation,
    lines: &[String],
) {
    let version = inv.report.dbt_version.as_deref();
    bad.check(version == Some(truth.dbt_version.as_str()), || {
        format!("{at}: version {version:?}, dbt says {}", truth.dbt_version)
    });
    // run-operation, debug, compile ... print no end-of-run marker (deps's are its own), but
    // their error ends them.
    let verb = truth.verb.split(' ').next().unwrap_or_default();
    let failed = truth.success == Some(false);
    let marked = truth.completed && (!prints_no_marker(verb) || verb == "deps" || failed);
    bad.check(inv.report.end_of_run == marked, || {
        format!(
            "{at}: end_of_run {}, completed {}",
            inv.report.end_of_run, truth.completed
        )
    });
    bad.check(inv.setup_markers == (truth.verb == "deps"), || {
        format!("{at}: setup_markers {}", inv.setup_markers)
    });
    let first = usize::try_from(inv.first_line).unwrap_or(usize::MAX);
    let line = first
        .checked_sub(1)
        .and_then(|i| lines.get(i))
        .cloned()
        .unwrap_or_default();
    let header = line.contains("Running with dbt=")
        && (inv.invocation_id.is_none() || line.contains(&truth.invocation_id));
    bad.check(header, || format!("{at}: first line {first} is {line:?}"));
}

#[test]
fn each_invocations_failed_and_finished_nodes_are_dbts() {
    let mut bad = Mismatches::default();
    let mut compared = 0;
    for f in script_fixtures() {
        let split = split(&f);
        for (k, (inv, truth)) in split.invocations.iter().zip(f.invocations()).enumerate() {
            let at = format!("{} invocation {k} ({})", f.id, truth.verb);
            let report = &inv.report;
            let (parsed, expected) = (failed(report), expected_failed(report, &truth));
            bad.check(parsed == expected, || {
                format!("{at}: failed {parsed:?}, dbt says {expected:?}")
            });
            let good = keys(report, built(&truth));
            let done = finished(report);
            bad.check(done.is_subset(&good), || {
                format!(
                    "{at}: finished {:?} not within {good:?}",
                    done.difference(&good)
                )
            });
            // Beyond the subset: nothing dbt finished is missing either, killed or not.
            bad.check(done.len() == good.len(), || {
                format!("{at}: finished {} of {} nodes", done.len(), good.len())
            });
            compared += done.len();
        }
    }
    bad.assert_none();
    assert!(compared > 300, "finished nodes compared: {compared}");
}

/// The nodes an invocation built, tested, loaded or snapshotted, by dbt's file log: a verb that
/// runs again (`compile`, `docs generate`) finishes nodes too, but builds none and shows no
/// result for them.
fn built(truth: &TruthInvocation) -> BTreeSet<String> {
    if runs_again(truth.verb.split(' ').next().unwrap_or_default()) {
        return BTreeSet::new();
    }
    truth.ids_with_status(&["success", "pass", "warn"])
}

/// The resource types of the nodes the truth says an invocation showed results for (`seed`
/// of `seed.shop.raw_orders`).
fn truth_types(truth: &TruthInvocation) -> BTreeSet<&str> {
    if runs_again(truth.verb.split(' ').next().unwrap_or_default()) {
        return BTreeSet::new();
    }
    truth
        .finished
        .iter()
        .filter_map(|n| n.unique_id.split('.').next())
        .collect()
}

/// Verbs the truth's node types rule out: a node type the verb never runs.
fn ruled_out(truth: &TruthInvocation) -> Vec<&'static str> {
    let types = truth_types(truth);
    let allowed: &[(&str, &[&str])] = &[
        ("run", &["model"]),
        ("seed", &["seed"]),
        ("snapshot", &["snapshot"]),
        ("test", &["test", "unit_test"]),
        ("deps", &[]),
        ("compile", &[]),
    ];
    if types.is_empty() {
        // No nodes: only the setup markers tell (a deps invocation is nothing else).
        return match truth.verb.as_str() {
            "deps" => vec!["build", "run", "test", "seed", "snapshot", "compile"],
            _ => Vec::new(),
        };
    }
    allowed
        .iter()
        .filter(|(_, ok)| types.iter().any(|t| !ok.contains(t)))
        .map(|(verb, _)| *verb)
        .collect()
}

#[test]
fn each_invocation_could_be_its_verb_and_not_a_verb_its_nodes_rule_out() {
    let mut bad = Mismatches::default();
    let mut refused = 0;
    for f in script_fixtures() {
        let split = split(&f);
        for (k, (inv, truth)) in split.invocations.iter().zip(f.invocations()).enumerate() {
            let at = format!("{} invocation {k} ({})", f.id, truth.verb);
            bad.check(inv.could_be(&truth.verb), || {
                format!("{at}: could_be({}) is false", truth.verb)
            });
            for verb in ruled_out(&truth) {
                bad.check(!inv.could_be(verb), || {
                    format!("{at}: could_be({verb}) is true")
                });
                refused += 1;
            }
        }
    }
    bad.assert_none();
    assert!(refused > 200, "verbs refused: {refused}");
}

#[test]
fn the_whole_log_report_is_as_before_the_sum_of_its_invocations() {
    // LogParser over the whole log is unchanged by the splitter: it reads every invocation
    // into one report (so a killed script whose first step completed shows an end of run),
    // which the split refines and never contradicts.
    let mut bad = Mismatches::default();
    for f in script_fixtures() {
        let (split, whole) = (split(&f), whole(&f));
        let invs = &split.invocations;
        let Some(last) = invs.last() else {
            bad.check(false, || format!("{}: no invocation", f.id));
            continue;
        };
        let lines: u64 = invs.iter().map(|i| i.report.lines).sum();
        bad.check(whole.lines == split.preamble_lines + lines, || {
            format!("{}: {} lines, split {lines}", f.id, whole.lines)
        });
        // Its stats are the last stats line of any invocation: a killed step's predecessor's.
        let stats = invs.iter().rev().find_map(|i| i.report.stats);
        bad.check(
            whole.dbt_version == last.report.dbt_version && whole.stats == stats,
            || format!("{}: whole version/stats differ from the invocations'", f.id),
        );
        let union: BTreeSet<String> = invs.iter().flat_map(|i| failed(&i.report)).collect();
        bad.check(failed(&whole) == union, || {
            format!(
                "{}: whole failed {:?}, invocations {union:?}",
                f.id,
                failed(&whole)
            )
        });
        let finished: u64 = invs.iter().map(|i| i.report.finished.count).sum();
        let skipped: usize = invs.iter().map(|i| i.report.skipped.len()).sum();
        bad.check(
            whole.finished.count == finished && whole.skipped.len() == skipped,
            || {
                format!(
                    "{}: whole finished/skipped differ from the invocations' sum",
                    f.id
                )
            },
        );
        let killed = f.meta.signal.is_some();
        bad.check(whole.end_of_run && last.report.end_of_run != killed, || {
            format!(
                "{}: whole end_of_run {}, last {}",
                f.id, whole.end_of_run, last.report.end_of_run
            )
        });
    }
    bad.assert_none();
}
