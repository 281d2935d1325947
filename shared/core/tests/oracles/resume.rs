//! Runs killed part-way (`tests/fixtures/killed`, `generate_killed.py`): what the log says
//! finished is what dbt's own file log says finished. The resume commands are judged by real
//! `dbt ls` and executed for real in the integration tests (`tests/integration/resume.rs`).

use dbt_rerun_core::log::{parse_reader, Limits};
use dbt_rerun_core::RunReport;
use dbt_rerun_fixtures::{killed_fixtures, name_of, Fixture, Mismatches};
use std::collections::BTreeSet;

fn report(f: &Fixture) -> RunReport {
    parse_reader(
        std::fs::File::open(f.log_path()).unwrap(),
        Limits::default(),
    )
    .unwrap()
}

#[test]
fn the_log_counts_as_finished_exactly_what_dbts_file_log_finished() {
    let mut bad = Mismatches::default();
    for f in killed_fixtures() {
        let report = report(&f);
        bad.check(!report.end_of_run, || {
            format!("{}: a killed run has no end-of-run marker", f.id)
        });
        let truth: BTreeSet<String> = f
            .finished_per_file_log()
            .iter()
            .map(|id| name_of(id))
            .collect();
        let parsed: BTreeSet<String> = report
            .finished
            .nodes
            .iter()
            .map(|n| n.name.clone())
            .collect();
        // The invariant: nothing counted as finished that did not finish.
        bad.check(parsed.is_subset(&truth), || {
            format!(
                "{}: counted as finished but not per dbt: {:?}",
                f.id,
                parsed.difference(&truth).collect::<Vec<_>>()
            )
        });
        bad.check(parsed == truth, || {
            format!(
                "{}: missed finished nodes {:?}",
                f.id,
                truth.difference(&parsed).collect::<Vec<_>>()
            )
        });
        bad.check(report.finished.count as usize == parsed.len(), || {
            format!("{}: count {}", f.id, report.finished.count)
        });
    }
    bad.assert_none();
}
