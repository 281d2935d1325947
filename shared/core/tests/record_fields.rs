//! The decision record's field reference (`docs/decision-record.md`) and what the code
//! serialises are the same set of field paths, both ways: a field renamed or removed in the
//! code, or added without a line in the reference, fails here. The record below sets every
//! optional field, so every path that can appear does.

use dbt_rerun_core::classify::FailureKind;
use dbt_rerun_core::decision::{Recovery, ScriptStep};
use dbt_rerun_core::event::KeyValue;
use dbt_rerun_core::log::batches::BatchStart;
use dbt_rerun_core::microbatch::{BatchRerun, BatchWindow, ModelBatches};
use dbt_rerun_core::node::FailStatus;
use dbt_rerun_core::plan::PlanShape;
use dbt_rerun_core::record::RerunRecord;
use dbt_rerun_core::task_definition::{EventFormat, FireLensRecords, LogLocation};
use dbt_rerun_core::{DecisionKind, DecisionRecord, FailedNode, ResourceType, SkippedNode};
use serde_json::Value;
use std::collections::BTreeSet;

/// Objects whose keys are data, not fields: the path stops there.
const MAPS: &[&str] = &["rerun.environment"];

fn every_field_set() -> DecisionRecord {
    let some = |s: &str| Some(s.to_owned());
    let words = || Some(vec!["dbt".to_owned(), "build".to_owned()]);
    let day = BatchStart::parse("2026-11-25").unwrap();
    DecisionRecord {
        decision: DecisionKind::Rerun,
        reason: "r".into(),
        failure_kind: FailureKind::DbtNodes,
        transient: true,
        task_arn: "t".into(),
        cluster: "c".into(),
        task_family: "f".into(),
        command: words(),
        entry_point: words(),
        script_steps: Some(vec![ScriptStep {
            step: 1,
            command: "dbt build".into(),
            dbt_verb: some("build"),
            outcome: "failed",
            rerun: "narrowed",
        }]),
        log_stream: Some(LogLocation {
            group: "g".into(),
            stream: "s".into(),
            region: some("eu-west-1"),
            events: EventFormat::FireLens(FireLensRecords {
                key: "log".into(),
                container: "dbt".into(),
                task_arn: some("t"),
            }),
        }),
        attempt: 1,
        origin_task_arn: some("t"),
        max_attempts: 3,
        container: some("dbt"),
        exit_code: Some(1),
        stop_code: some("EssentialContainerExited"),
        failed_nodes: vec![FailedNode {
            name: "m".into(),
            resource_type: ResourceType::Model,
            unique_id: some("model.p.m"),
            status: FailStatus::Error,
            message: "x".into(),
            detail: String::new(),
        }],
        skipped_nodes: vec![SkippedNode {
            name: "n".into(),
            resource_type: ResourceType::Model,
            unique_id: some("model.p.n"),
        }],
        rerun_command: words(),
        plan_shape: Some(PlanShape::Exact),
        plan_note: some("note"),
        resume: false,
        finished_nodes: 1,
        finished_node_names: vec!["a".into()],
        log_complete: true,
        log_wait_seconds: Some(0.5),
        rerun: Some(RerunRecord {
            command: vec!["dbt".into()],
            environment: vec![KeyValue {
                name: "DBT_RERUN_ATTEMPT".into(),
                value: "2".into(),
            }],
            cpu: some("1024"),
            memory: some("4096"),
            attempt: 2,
            origin_task_arn: "t".into(),
            started_by: "dbt-rerun/t/2".into(),
            client_token: "k".into(),
            task_arn: some("t2"),
            original_command: words(),
            scheduled_at: some("2026-12-07T00:00:00Z"),
            schedule_name: some("s"),
        }),
        duplicate: false,
        rerun_nodes: Some(2),
        nodes_saved: 1,
        recovered: Some(Recovery {
            origin_task_arn: "t".into(),
            attempt: 2,
        }),
        microbatch: Some(BatchRerun {
            window: Some(BatchWindow {
                start: day.at,
                end: day.at,
            }),
            note: "n".into(),
            models: vec![ModelBatches {
                model: "mb_events".into(),
                batch_size: Some(day.size),
                batches: 3,
                built: 2,
                not_built: vec![day],
                not_built_count: 1,
                rerun_from: Some(day),
                rerun_to: Some(day),
                rerun_batches: 1,
            }],
        }),
    }
}

fn paths(value: &Value, prefix: &str, out: &mut BTreeSet<String>) {
    match value {
        Value::Object(map) if !MAPS.contains(&prefix) => {
            for (key, value) in map {
                let path = if prefix.is_empty() {
                    key.clone()
                } else {
                    format!("{prefix}.{key}")
                };
                out.insert(path.clone());
                paths(value, &path, out);
            }
        }
        Value::Array(items) => {
            for item in items {
                paths(item, &format!("{prefix}[]"), out);
            }
        }
        _ => {}
    }
}

/// The field column of the reference's table: `| `path` | ...`.
fn documented() -> BTreeSet<String> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/decision-record.md");
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    text.lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split_once('`'))
        .map(|(field, _)| field.to_owned())
        .collect()
}

#[test]
fn the_reference_names_every_field_the_record_has_and_no_other() {
    let mut serialised = BTreeSet::new();
    paths(
        &serde_json::to_value(every_field_set()).unwrap(),
        "",
        &mut serialised,
    );
    let documented = documented();
    assert!(documented.len() > 40, "{documented:?}");
    let undocumented: Vec<_> = serialised.difference(&documented).collect();
    let gone: Vec<_> = documented.difference(&serialised).collect();
    assert!(
        undocumented.is_empty() && gone.is_empty(),
        "fields the record has and docs/decision-record.md does not: {undocumented:?}; \
         fields it documents and the record no longer has (renamed or removed: the record \
         only ever gains fields): {gone:?}"
    );
}

#[test]
fn a_field_left_out_when_unset_is_marked_so_in_the_reference() {
    // The fields a record of a plain failure leaves out are exactly those the reference
    // marks "when set": a reader learns from the table which fields may be missing.
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/decision-record.md"
    ))
    .unwrap();
    let when_set: BTreeSet<String> = text
        .lines()
        .filter(|l| l.contains("*when set*"))
        .filter_map(|l| l.strip_prefix("| `")?.split_once('`'))
        .map(|(f, _)| f.to_owned())
        .collect();
    let mut record = every_field_set();
    record.entry_point = None;
    record.script_steps = None;
    record.plan_note = None;
    record.finished_node_names.clear();
    record.recovered = None;
    record.microbatch = None;
    record.failed_nodes[0].unique_id = None;
    record.skipped_nodes[0].unique_id = None;
    if let Some(log) = record.log_stream.as_mut() {
        log.events = EventFormat::Text;
    }
    let mut full = BTreeSet::new();
    paths(
        &serde_json::to_value(every_field_set()).unwrap(),
        "",
        &mut full,
    );
    let mut sparse = BTreeSet::new();
    paths(&serde_json::to_value(record).unwrap(), "", &mut sparse);
    // Top-most missing paths only: a missing object's own fields follow it.
    let missing: BTreeSet<String> = full
        .difference(&sparse)
        .filter(|p| {
            !full
                .difference(&sparse)
                .any(|q| p.starts_with(&format!("{q}.")) || p.starts_with(&format!("{q}[]")))
        })
        .cloned()
        .collect();
    assert_eq!(missing, when_set);
}
