//! Microbatch models against real dbt (1.10, 1.11, 1.12 on DuckDB; 1.10 and 1.12 on PostgreSQL;
//! text and JSON logs): the parser reads every batch as dbt's own JSON file log reports it and
//! every failed model as its run_results.json does; every planned re-run of a microbatch model
//! carries a window that covers every batch the run did not build, inside the run's own window.

use dbt_rerun_core::alert::compose;
use dbt_rerun_core::command::DbtCommand;
use dbt_rerun_core::log::{parse_reader, BatchStatus, Limits};
use dbt_rerun_core::microbatch::parse_flag_value;
use dbt_rerun_core::plan::{plan_rerun, plan_resume, PlanShape, RerunCommand, ECS_OVERRIDE_LIMIT};
use dbt_rerun_core::record::{DecisionKind, DecisionRecord};
use dbt_rerun_core::RunReport;
use dbt_rerun_fixtures::{decision_on, microbatch_fixtures, MicrobatchFixture, Mismatches};
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

/// The plan dbt-rerun makes for a fixture, as the decision would.
fn plan(f: &MicrobatchFixture, report: &RunReport) -> RerunCommand {
    let command = DbtCommand::parse(&f.meta.argv).unwrap();
    if report.end_of_run {
        plan_rerun(&command, report, ECS_OVERRIDE_LIMIT).unwrap_or_else(|e| panic!("{}: {e}", f.id))
    } else {
        plan_resume(&command, report, ECS_OVERRIDE_LIMIT)
    }
}

/// The fixtures of a run that failed: not those whose fault hit a batch without events.
fn failed_runs() -> Vec<MicrobatchFixture> {
    microbatch_fixtures()
        .into_iter()
        .filter(|f| f.meta.exit_code != 0)
        .collect()
}

/// The value of `flag` in `argv`, as a time.
fn flag_time(argv: &[String], flag: &str) -> Option<chrono::NaiveDateTime> {
    let at = argv.iter().position(|a| a == flag)?;
    parse_flag_value(argv.get(at + 1)?)
}

#[test]
fn every_batch_not_built_is_inside_the_planned_window_and_the_window_inside_the_runs() {
    let mut bad = Mismatches::default();
    for f in failed_runs() {
        let report = report(&f);
        let plan = plan(&f, &report);
        let (start, end) = (
            flag_time(&plan.argv, "--event-time-start"),
            flag_time(&plan.argv, "--event-time-end"),
        );
        let (Some(start), Some(end)) = (start, end) else {
            bad.check(false, || format!("{}: no window in {:?}", f.id, plan.argv));
            continue;
        };
        bad.check(plan.shape != PlanShape::Original, || {
            format!("{}: the whole command {:?}", f.id, plan.note)
        });
        for (model, batches) in f.truth_batches() {
            let total = report.microbatch.get(&model).map_or(0, |r| r.total);
            let run = report.microbatch.get(&model).unwrap();
            for index in 1..=total {
                let built = batches
                    .get(&index)
                    .is_some_and(|b| status_of(&b.status) == BatchStatus::Ok);
                if built {
                    continue;
                }
                let batch = run.start_of(index).unwrap();
                let inside = batch.at >= start && batch.end().unwrap() <= end;
                bad.check(inside, || {
                    format!(
                        "{}: {model} batch {} not built, window {start}..{end}",
                        f.id,
                        batch.label()
                    )
                });
            }
        }
        let own = (
            flag_time(&f.meta.argv, "--event-time-start"),
            flag_time(&f.meta.argv, "--event-time-end"),
        );
        if let (Some(own_start), Some(own_end)) = own {
            bad.check(start >= own_start && end <= own_end, || {
                format!(
                    "{}: window {start}..{end} outside the run's {own_start}..{own_end}",
                    f.id
                )
            });
        }
        let record = plan.microbatch.as_ref();
        bad.check(record.is_some_and(|m| !m.models.is_empty()), || {
            format!("{}: the plan does not say which batches run again", f.id)
        });
    }
    bad.assert_none();
}

/// The decision on a fixture's stopped task, from its log alone.
fn decided(f: &MicrobatchFixture) -> DecisionRecord {
    decision_on(&f.meta.argv, f.meta.exit_code, &f.log_path())
}

#[test]
fn the_record_and_the_alert_say_which_batches_of_which_model_run_again() {
    let mut bad = Mismatches::default();
    for f in failed_runs() {
        let record = decided(&f);
        // Every fault is a warehouse error a re-run may heal, or a kill.
        bad.check(record.decision == DecisionKind::Rerun, || {
            format!("{}: {:?}: {}", f.id, record.decision, record.reason)
        });
        let json = serde_json::to_value(&record).unwrap();
        let window = &json["microbatch"]["window"];
        bad.check(
            window["start"].is_string() && window["end"].is_string(),
            || format!("{}: record's microbatch {}", f.id, json["microbatch"]),
        );
        let models = json["microbatch"]["models"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        for model in &models {
            let named = f
                .truth_batches()
                .contains_key(model["model"].as_str().unwrap_or(""));
            bad.check(named && model["rerun_batches"].as_u64() > Some(0), || {
                format!("{}: record's model {model}", f.id)
            });
        }
        let alert = compose(&record);
        bad.check(
            alert
                .text
                .contains("Microbatch batches run again with --event-time-start"),
            || format!("{}: alert text:\n{}", f.id, alert.text),
        );
        let machine: serde_json::Value = serde_json::from_str(
            serde_json::from_str::<serde_json::Value>(&alert.message).unwrap()["sqs"]
                .as_str()
                .unwrap(),
        )
        .unwrap();
        bad.check(machine["microbatch"] == json["microbatch"], || {
            format!("{}: the alert's JSON lacks the batches", f.id)
        });
    }
    bad.assert_none();
}
