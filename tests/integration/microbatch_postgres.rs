//! The planned re-run of microbatch models executed for real on PostgreSQL (dbt-core 1.12 with
//! dbt-postgres 1.11, a server of its own): `generate_microbatch.py --adapter postgres --rerun`
//! records a run that failed in one batch (or was killed part-way through a model's batches)
//! and keeps its server; the re-run dbt-rerun plans from the run's log alone runs, the fault
//! healed, on a copy of the failed run's database. Per day, the microbatch model, the
//! microbatch model downstream and the plain table built from them must then hold exactly what
//! a clean run (on an empty database, the same server) gives: no day empty, none doubled. The
//! same re-run without its window (a bare selection), on another copy, exits 0 and leaves a
//! day empty.

use super::microbatch_rerun::{day, without_window};
use dbt_rerun_core::microbatch::EVENT_TIME_START;
use dbt_rerun_core::record::{DecisionKind, DecisionRecord};
use dbt_rerun_tests::{decision_on, GeneratorSession, MicrobatchMeta};
use std::collections::BTreeMap;
use std::path::Path;

const VERSION: &str = "1.12";

/// What the database holds: table -> day -> its rows (count and values, as text).
type Rows = BTreeMap<String, BTreeMap<String, String>>;

/// A re-run the generator made: its exit code and the rows it left.
struct Rerun {
    code: i64,
    rows: Rows,
    log: String,
}

fn read_rerun(dir: &Path) -> Rerun {
    let read = |file: &str| {
        std::fs::read_to_string(dir.join(file))
            .unwrap_or_else(|e| panic!("{}: {e}", dir.join(file).display()))
    };
    let meta: serde_json::Value = serde_json::from_str(&read("meta.json")).unwrap();
    Rerun {
        code: meta["exit_code"].as_i64().unwrap(),
        rows: serde_json::from_str(&read("rows.json")).unwrap(),
        log: read("output.log"),
    }
}

/// Runs `argv` (healed) on a fresh copy of the database `from` (`failed`: the recorded run's;
/// `empty`: before any run).
fn run_on(pg: &mut GeneratorSession, argv: &[String], from: &str) -> Rerun {
    let dir = pg.rerun(&serde_json::json!({ "argv": argv, "from": from }));
    read_rerun(&dir)
}

/// The recorded run of `scenario` with its server kept, and its meta.json.
fn recorded(scenario: &str) -> (GeneratorSession, MicrobatchMeta) {
    let out =
        std::env::temp_dir().join(format!("dbt-rerun-mb-pg-{scenario}-{}", std::process::id()));
    let args = [
        "--adapter",
        "postgres",
        "--version",
        VERSION,
        "--scenario",
        scenario,
        "--rerun",
    ];
    let pg = GeneratorSession::start("generate_microbatch.py", &args, &out);
    let meta = std::fs::read_to_string(pg.run.join("meta.json")).unwrap();
    (pg, serde_json::from_str(&meta).unwrap())
}

/// The planned re-run of the recorded run: a re-run, with a window.
fn planned(pg: &GeneratorSession, meta: &MicrobatchMeta) -> (DecisionRecord, Vec<String>) {
    let record = decision_on(&meta.argv, meta.exit_code, &pg.run.join("output.log"));
    assert_eq!(record.decision, DecisionKind::Rerun, "{}", record.reason);
    let command = record.rerun_command.clone().unwrap();
    assert!(
        command.iter().any(|a| a == EVENT_TIME_START),
        "no window: {command:?}"
    );
    (record, command)
}

/// The days of `table` whose rows differ from `clean`'s: (day, rows, clean rows).
fn differ(rows: &Rows, clean: &Rows, table: &str) -> Vec<(String, Option<String>, Option<String>)> {
    let (got, want) = (rows.get(table), clean.get(table));
    let days: std::collections::BTreeSet<&String> =
        got.into_iter().chain(want).flat_map(|t| t.keys()).collect();
    let at = |t: Option<&BTreeMap<String, String>>, d: &str| t.and_then(|t| t.get(d)).cloned();
    days.into_iter()
        .filter(|d| at(got, d) != at(want, d))
        .map(|d| (d.clone(), at(got, d), at(want, d)))
        .collect()
}

/// A clean run of the original command, the planned re-run and the bare selection, each on a
/// copy of its database: the planned re-run matches the clean run in every table; the bare
/// selection exits 0 and leaves `emptied`'s day missing.
fn rerun_and_compare(
    mut pg: GeneratorSession,
    meta: &MicrobatchMeta,
    command: &[String],
    emptied: (&str, &str),
) {
    let clean = run_on(&mut pg, &meta.argv, "empty");
    assert_eq!(clean.code, 0, "the clean run:\n{}", clean.log);
    assert_eq!(clean.rows["mb_sessions"].len(), 10, "{:?}", clean.rows);
    let rerun = run_on(&mut pg, command, "failed");
    assert_eq!(rerun.code, 0, "{command:?}\n{}", rerun.log);
    for table in ["mb_sessions", "mb_daily", "mb_summary"] {
        let wrong = differ(&rerun.rows, &clean.rows, table);
        assert!(
            wrong.is_empty(),
            "{table} after the planned re-run {command:?}: (day, rows, clean run's) {wrong:?}"
        );
    }
    let bare = without_window(command);
    let naive = run_on(&mut pg, &bare, "failed");
    assert_eq!(naive.code, 0, "{bare:?}\n{}", naive.log);
    let (table, day) = emptied;
    assert!(
        naive.rows.get(table).and_then(|t| t.get(day)).is_none(),
        "the bare selection {bare:?} built {table} on {day}: {:?}",
        naive.rows
    );
    pg.finish();
}

#[test]
fn a_partial_models_planned_rerun_on_postgres_builds_every_day_and_a_bare_selection_leaves_one_empty(
) {
    let (pg, meta) = recorded("batch_error");
    assert_eq!(meta.exit_code, 1);
    let (record, command) = planned(&pg, &meta);
    let batches = record.microbatch.as_ref().unwrap();
    assert_eq!(batches.models[0].model, "mb_sessions");
    assert_eq!(batches.models[0].not_built_count, 1);
    rerun_and_compare(pg, &meta, &command, ("mb_sessions", &day(4)));
}

#[test]
fn a_killed_runs_planned_resume_on_postgres_builds_every_day_and_a_bare_resume_leaves_days_empty() {
    let (pg, meta) = recorded("killed");
    assert_eq!(meta.exit_code, 137);
    let (record, command) = planned(&pg, &meta);
    assert!(record.resume, "{}", record.reason);
    let model = &record.microbatch.as_ref().unwrap().models[0];
    assert!(model.built >= 4 && model.built < 10, "{model:?}");
    rerun_and_compare(pg, &meta, &command, ("mb_sessions", &day(6)));
}
