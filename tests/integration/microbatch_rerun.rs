//! The planned re-run of microbatch models, executed for real: a run fails in one batch (or
//! is killed part-way through a model's batches) on a DuckDB warehouse; the re-run dbt-rerun
//! plans from its log alone runs on that warehouse with the fault healed. Per day, the
//! microbatch model, the microbatch model downstream and the plain table built from them must
//! then hold exactly what a clean run gives (no day empty, none doubled), while the same
//! re-run without its window (a bare selection, what dbt-rerun planned before) exits 0 and
//! leaves days empty.

use dbt_rerun_core::microbatch::{EVENT_TIME_END, EVENT_TIME_START};
use dbt_rerun_core::record::{DecisionKind, DecisionRecord};
use dbt_rerun_tests::{decision_on, DbtRun, ShopContainer};
use std::collections::BTreeMap;
use std::sync::OnceLock;

const VERSION: &str = "1.12";

/// What the warehouse holds: table -> day -> its rows.
type Rows = BTreeMap<String, BTreeMap<String, String>>;

/// Day `i` of the models' ten (0: nine days before today, UTC), as dbt labels a daily batch.
pub(crate) fn day(i: i64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let today = chrono::DateTime::from_timestamp(now as i64, 0)
        .unwrap()
        .date_naive();
    (today - chrono::Days::new(9) + chrono::Days::new(i as u64)).to_string()
}

/// The scheduled run: every microbatch model and what is built from them, from mb_begin.
fn build() -> Vec<String> {
    [
        "dbt",
        "build",
        "--select",
        "mb_events+",
        "--vars",
        &format!("{{microbatch_models: true, mb_begin: '{}'}}", day(0)),
    ]
    .map(str::to_owned)
    .to_vec()
}

/// What a clean run of [`build`] leaves in the warehouse (one run, shared by the tests).
fn clean() -> &'static Rows {
    static CLEAN: OnceLock<Rows> = OnceLock::new();
    CLEAN.get_or_init(|| {
        let clean = ShopContainer::new("mb-clean", VERSION);
        let run = clean.dbt(&build(), &[], "clean.log");
        assert_eq!(run.code, 0, "{}", run.output());
        let rows = clean.rows_per_day();
        assert_eq!(rows["mb_sessions"].len(), 10, "{rows:?}");
        rows
    })
}

/// The planned re-run: a re-run, with a window.
fn planned(run: &DbtRun, exit_code: i32) -> (DecisionRecord, Vec<String>) {
    let record = decision_on(&build(), exit_code, &run.log);
    assert_eq!(record.decision, DecisionKind::Rerun, "{}", record.reason);
    let command = record.rerun_command.clone().unwrap();
    assert!(
        command.iter().any(|a| a == EVENT_TIME_START),
        "no window: {command:?}"
    );
    (record, command)
}

/// `command` without its window: the bare selection.
pub(crate) fn without_window(command: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    let mut words = command.iter();
    while let Some(word) = words.next() {
        if word == EVENT_TIME_START || word == EVENT_TIME_END {
            words.next();
        } else {
            out.push(word.clone());
        }
    }
    out
}

/// The days of `table` whose rows differ from a clean run's: (day, rows, clean rows).
fn differ(rows: &Rows, table: &str) -> Vec<(String, Option<String>, Option<String>)> {
    let (got, want) = (rows.get(table), clean().get(table));
    let days: std::collections::BTreeSet<&String> =
        got.into_iter().chain(want).flat_map(|t| t.keys()).collect();
    days.into_iter()
        .filter(|d| got.and_then(|t| t.get(*d)) != want.and_then(|t| t.get(*d)))
        .map(|d| {
            let at = |t: Option<&BTreeMap<String, String>>| t.and_then(|t| t.get(d)).cloned();
            (d.clone(), at(got), at(want))
        })
        .collect()
}

/// Runs the planned re-run on `failed` (healed) and the bare selection on a copy of its
/// warehouse: the first must match a clean run in every table, the second exits 0 and leaves
/// a day of `emptied` missing.
fn rerun_and_compare(failed: &ShopContainer, command: &[String], emptied: (&str, &str)) {
    let naive = failed.copy("mb-naive");
    let rerun = failed.dbt(command, &[], "rerun.log");
    assert_eq!(rerun.code, 0, "{command:?}\n{}", rerun.output());
    let rows = failed.rows_per_day();
    for table in ["mb_sessions", "mb_daily", "mb_summary"] {
        let wrong = differ(&rows, table);
        assert!(
            wrong.is_empty(),
            "{table} after the planned re-run {command:?}: (day, rows, clean run's) {wrong:?}"
        );
    }
    let bare = without_window(command);
    let run = naive.dbt(&bare, &[], "naive.log");
    assert_eq!(run.code, 0, "{bare:?}\n{}", run.output());
    let rows = naive.rows_per_day();
    let (table, day) = emptied;
    assert!(
        rows.get(table).and_then(|t| t.get(day)).is_none(),
        "the bare selection {bare:?} built {table} on {day}: {rows:?}"
    );
}

#[test]
fn a_partial_models_planned_rerun_builds_every_day_and_a_bare_selection_leaves_one_empty() {
    let failed = ShopContainer::new("mb-partial", VERSION);
    let fault = format!("mb_sessions:{}", day(4));
    let run = failed.dbt(&build(), &[("SHOP_MB_FAIL", &fault)], "failed.log");
    assert_eq!(run.code, 1, "{}", run.output());
    let (record, command) = planned(&run, 1);
    let batches = record.microbatch.as_ref().unwrap();
    assert_eq!(batches.models[0].model, "mb_sessions");
    assert_eq!(batches.models[0].not_built_count, 1);
    rerun_and_compare(&failed, &command, ("mb_sessions", &day(4)));
}

#[test]
fn a_killed_runs_planned_resume_builds_every_day_and_a_bare_resume_leaves_days_empty() {
    let failed = ShopContainer::new("mb-killed", VERSION);
    let run = failed.dbt_killed(
        &build(),
        &[("SHOP_MB_SLOW_ROWS", "150000000")],
        "killed.log",
        |line| line.contains(" OK created batch "),
        4,
        std::time::Duration::from_millis(300),
    );
    let (record, command) = planned(&run, 137);
    assert!(record.resume, "{}", record.reason);
    let model = &record.microbatch.as_ref().unwrap().models[0];
    assert!(model.built >= 4 && model.built < 10, "{model:?}");
    rerun_and_compare(&failed, &command, ("mb_sessions", &day(6)));
}

#[test]
fn a_failed_batch_downstream_of_a_built_model_reruns_in_a_window_of_its_day() {
    let failed = ShopContainer::new("mb-downstream", VERSION);
    let fault = format!("mb_daily:{}", day(6));
    let run = failed.dbt(&build(), &[("SHOP_MB_FAIL", &fault)], "failed.log");
    assert_eq!(run.code, 1, "{}", run.output());
    let (record, command) = planned(&run, 1);
    let window = record.microbatch.as_ref().unwrap().window.unwrap();
    assert_eq!(
        window.flags(),
        [EVENT_TIME_START, &day(6), EVENT_TIME_END, &day(7)]
    );
    let rerun = failed.dbt(&command, &[], "rerun.log");
    assert_eq!(rerun.code, 0, "{command:?}\n{}", rerun.output());
    let rows = failed.rows_per_day();
    for table in ["mb_sessions", "mb_daily", "mb_summary"] {
        let wrong = differ(&rows, table);
        assert!(wrong.is_empty(), "{table}: {wrong:?}");
    }
}
