//! Microbatch models against real dbt (1.10, 1.11, 1.12 on DuckDB, text and JSON logs): the
//! parser reads every batch as dbt's own JSON file log reports it and every failed model as
//! its run_results.json does.

use dbt_rerun::log::{parse_reader, BatchStatus, Limits};
use dbt_rerun::RunReport;
use dbt_rerun_tests::{microbatch_fixtures, MicrobatchFixture, Mismatches};
use std::collections::BTreeSet;

fn report(f: &MicrobatchFixture) -> RunReport {
    parse_reader(
        std::fs::File::open(f.log_path()).unwrap(),
        Limits::default(),
    )
    .unwrap()
}

fn status_of(truth: &str) -> BatchStatus {
    match truth {
        "started" => BatchStatus::Started,
        "error" => BatchStatus::Error,
        "skipped" => BatchStatus::Skipped,
        _ => BatchStatus::Ok,
    }
}

#[test]
fn every_batch_is_read_as_dbts_file_log_reports_it() {
    let mut bad = Mismatches::default();
    for f in microbatch_fixtures() {
        let report = report(&f);
        let truth = f.truth_batches();
        bad.check(!truth.is_empty(), || {
            format!("{}: no batches in the truth", f.id)
        });
        let parsed: BTreeSet<&str> = report.microbatch.iter().map(|r| r.model.as_str()).collect();
        let expected: BTreeSet<&str> = truth.keys().map(String::as_str).collect();
        bad.check(parsed == expected, || {
            format!("{}: models with batches {parsed:?}, dbt {expected:?}", f.id)
        });
        for (model, batches) in &truth {
            let Some(run) = report.microbatch.get(model) else {
                continue;
            };
            bad.check(!run.incomplete, || format!("{}: {model} incomplete", f.id));
            for (&index, batch) in batches {
                let label = run.start_of(index).map(|s| s.label());
                bad.check(label.as_deref() == Some(batch.label.as_str()), || {
                    format!(
                        "{}: {model} batch {index} is {label:?}, dbt says {}",
                        f.id, batch.label
                    )
                });
                let status = run.status(index);
                bad.check(status == Some(status_of(&batch.status)), || {
                    format!(
                        "{}: {model} batch {index} {status:?}, dbt says {}",
                        f.id, batch.status
                    )
                });
            }
        }
    }
    bad.assert_none();
}

#[test]
fn a_partial_success_is_a_failed_model_with_its_batchs_error() {
    let mut bad = Mismatches::default();
    for f in microbatch_fixtures() {
        let report = report(&f);
        let failed: BTreeSet<String> = report.failed.iter().map(|n| n.name.clone()).collect();
        if let Some(_results) = f.run_results() {
            let truth = f.names_with_status(&["error", "partial success", "fail"]);
            bad.check(failed == truth, || {
                format!("{}: failed {failed:?}, dbt says {truth:?}", f.id)
            });
            let skipped: BTreeSet<String> = report.skipped.iter().map(|n| n.name.clone()).collect();
            let truth = f.names_with_status(&["skipped"]);
            bad.check(skipped == truth, || {
                format!("{}: skipped {skipped:?}, dbt says {truth:?}", f.id)
            });
        } else {
            bad.check(failed.is_empty() && !report.end_of_run, || {
                format!("{}: a killed run: failed {failed:?}", f.id)
            });
        }
        // Every failure injected is a batch's, and says what the warehouse said.
        for node in &report.failed {
            bad.check(node.message.contains("SSL SYSCALL error"), || {
                format!("{}: {} has message {:?}", f.id, node.name, node.message)
            });
        }
    }
    bad.assert_none();
}
