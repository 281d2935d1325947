//! Microbatch models in a re-run: the window of time that builds again every batch the run
//! did not build.
//!
//! A microbatch model re-run with a bare selection builds only the batches near *now* (its
//! `lookback`): a batch that failed earlier, or that a kill cut off, stays empty, and dbt exits
//! 0. So a re-run that runs a microbatch model whose batches were not all built always carries
//! `--event-time-start`/`--event-time-end` (UTC, start inclusive, end exclusive) covering them;
//! when the log cannot place them in time, the plan is the whole original command and says
//! why. The window applies to every microbatch model the re-run selects, and dbt builds each
//! batch by replacing its slice of time, so a window wider than needed only costs time.
//!
//! How wide (`coverage`):
//! - the batches each model did not build (failed, skipped, cut off, never started), from the
//!   first to the last;
//! - every batch of the run instead, when the re-run also builds models that did not run at
//!   all (a skipped model, or anything after a kill): such a model may be a microbatch model
//!   downstream, which needs the whole range (it is built from the batches that succeeded too);
//!   and when the run had `--full-refresh`, whose first batch replaces the table;
//! - inside the original's own `--event-time-*` window.

use crate::command::DbtCommand;
use crate::log::{BatchSize, BatchStart, MicrobatchRun, RunReport};
use crate::node::ResourceType;
use chrono::{NaiveDate, NaiveDateTime};
use serde::{Serialize, Serializer};

/// `--event-time-start`/`--event-time-end`: UTC, start inclusive, end exclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct BatchWindow {
    /// The first batch's start (inclusive), UTC.
    #[serde(serialize_with = "as_flag_value")]
    pub start: NaiveDateTime,
    /// Where the last batch ends (exclusive), UTC.
    #[serde(serialize_with = "as_flag_value")]
    pub end: NaiveDateTime,
}

/// dbt's flag for a microbatch run's start (inclusive).
pub const EVENT_TIME_START: &str = "--event-time-start";
/// dbt's flag for a microbatch run's end (exclusive).
pub const EVENT_TIME_END: &str = "--event-time-end";

impl BatchWindow {
    /// The window's two flags and their values.
    pub fn flags(&self) -> Vec<String> {
        vec![
            EVENT_TIME_START.to_owned(),
            flag_value(self.start),
            EVENT_TIME_END.to_owned(),
            flag_value(self.end),
        ]
    }

    /// The smallest window holding both.
    fn hull(self, other: Self) -> Self {
        Self {
            start: self.start.min(other.start),
            end: self.end.max(other.end),
        }
    }

    /// The part of `self` inside `other`; None when they do not meet.
    fn within(self, other: Self) -> Option<Self> {
        let start = self.start.max(other.start);
        let end = self.end.min(other.end);
        (start < end).then_some(Self { start, end })
    }

    /// The window of batches `from..=to` of `run` (1-based); None when the log does not place
    /// them in time.
    fn of_batches(run: &MicrobatchRun, from: u64, to: u64) -> Option<Self> {
        Some(Self {
            start: run.start_of(from)?.at,
            end: run.start_of(to)?.end()?,
        })
    }
}

/// A time as dbt's `--event-time-*` flags take it (click's `%Y-%m-%d` or
/// `%Y-%m-%dT%H:%M:%S`): the date alone at midnight.
fn flag_value(at: NaiveDateTime) -> String {
    if at.time() == chrono::NaiveTime::MIN {
        at.format("%Y-%m-%d").to_string()
    } else {
        at.format("%Y-%m-%dT%H:%M:%S").to_string()
    }
}

fn as_flag_value<S: Serializer>(at: &NaiveDateTime, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&flag_value(*at))
}

/// Reads a value of `--event-time-start`/`--event-time-end` as dbt does (click's formats).
pub fn parse_flag_value(value: &str) -> Option<NaiveDateTime> {
    let value = value.trim();
    if let Ok(date) = NaiveDate::parse_from_str(value, "%Y-%m-%d") {
        return date.and_hms_opt(0, 0, 0);
    }
    ["%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(value, f).ok())
}

/// Which batches of one model the re-run builds again, for the record and the alert.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ModelBatches {
    /// The model as the log names it (a text log: its relation's name).
    pub model: String,
    /// None when the log gives no batch label that can be read.
    pub batch_size: Option<BatchSize>,
    /// Batches dbt planned for it, and how many it built.
    pub batches: u64,
    /// How many of them dbt reported built.
    pub built: u64,
    /// The batches it did not build (failed, skipped, cut off, never started), by label; at
    /// most `MAX_LABELS`, `not_built_count` says how many in all.
    pub not_built: Vec<BatchStart>,
    /// How many batches it did not build, all of them counted.
    pub not_built_count: u64,
    /// The model's first and last batch inside the re-run's window, and how many that is:
    /// what runs again (when the model is selected).
    pub rerun_from: Option<BatchStart>,
    /// The last batch inside the window (the first is `rerun_from`).
    pub rerun_to: Option<BatchStart>,
    /// How many of the model's batches the window holds.
    pub rerun_batches: u64,
}

/// The most batch labels a [`ModelBatches`] lists.
pub(crate) const MAX_LABELS: usize = 50;

/// The microbatch part of a re-run: the window and what it builds again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BatchRerun {
    /// The window the re-run carries; None when none could be known (the plan is then the
    /// whole original command).
    pub window: Option<BatchWindow>,
    /// Why the window is as wide as it is, or why there is none.
    pub note: String,
    /// The models whose batches were not all built.
    pub models: Vec<ModelBatches>,
}

/// What the re-run must do about microbatch models.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Coverage {
    /// No microbatch model has batches to build again.
    Nothing,
    /// The re-run carries this window.
    Window(BatchRerun),
    /// The batches cannot be placed in time: the whole original command runs again.
    Unknown(BatchRerun),
}

/// What the re-run covers, beyond the batches that were not built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rerun {
    /// The failed and skipped nodes of a run that ended.
    Nodes,
    /// A run cut off part-way: the nodes it never started are not known.
    Resume,
}

/// The window that builds again every batch `report` shows was not built, for the re-run of
/// `command` (see the module documentation).
pub(crate) fn coverage(report: &RunReport, command: &DbtCommand, rerun: Rerun) -> Coverage {
    let needing: Vec<&MicrobatchRun> = report
        .microbatch
        .iter()
        .filter(|r| !r.all_built())
        .collect();
    if needing.is_empty() {
        return Coverage::Nothing;
    }
    let whole = whole_range(report, command, rerun);
    let unknown = |note: String| {
        Coverage::Unknown(BatchRerun {
            window: None,
            note,
            models: needing.iter().map(|r| model_batches(r, None)).collect(),
        })
    };
    if let Some(why) = unplaceable(&needing, report) {
        return unknown(why);
    }
    let own = match own_window(command) {
        Ok(own) => own,
        Err(why) => return unknown(why),
    };
    let mut window: Option<BatchWindow> = None;
    for run in &needing {
        let not_built = run.not_built();
        let (from, to) = match (&whole, not_built.first(), not_built.last()) {
            (Some(_), ..) => (1, run.total),
            (None, Some(&from), Some(&to)) => (from, to),
            _ => continue,
        };
        let Some(batches) = BatchWindow::of_batches(run, from, to) else {
            return unknown(format!(
                "the batches of `{}` cannot be placed in time",
                run.model
            ));
        };
        window = Some(window.map_or(batches, |w| w.hull(batches)));
    }
    let Some(mut window) = window else {
        return Coverage::Nothing;
    };
    if let Some(own) = own {
        // dbt truncates a window's start to its batch and rounds its end up: a batch that
        // straddles the original's edge is built whole again, as the original built it.
        window = window.within(own).unwrap_or(own);
    }
    let models = needing
        .iter()
        .map(|r| model_batches(r, Some(window)))
        .collect();
    Coverage::Window(BatchRerun {
        window: Some(window),
        note: window_note(&needing, window, whole, own.is_some()),
        models,
    })
}

/// Why the window must cover every batch of the run rather than only those not built.
fn whole_range(report: &RunReport, command: &DbtCommand, rerun: Rerun) -> Option<&'static str> {
    if command.has_flag(&["--full-refresh"]) {
        return Some("--full-refresh (kept) replaces the table at its first batch");
    }
    if rerun == Rerun::Resume {
        return Some(
            "models the run never started may be microbatch models, built from every batch",
        );
    }
    report
        .skipped
        .iter()
        .any(|n| n.resource_type == ResourceType::Model)
        .then_some(
            "skipped models downstream may be microbatch models, built from every batch (one \
             never built before holds only this window)",
        )
}

/// Why the batches of `needing` cannot be placed in time, if they cannot.
fn unplaceable(needing: &[&MicrobatchRun], report: &RunReport) -> Option<String> {
    if report.truncated {
        return Some("the log was longer than dbt-rerun keeps, so it may not show every batch of the microbatch models".to_owned());
    }
    let run = needing.iter().find(|r| r.incomplete || r.first.is_none())?;
    Some(format!(
        "the log does not place every batch of the microbatch model `{}` in time (a batch \
         label it cannot read, or batches that do not follow each other)",
        run.model
    ))
}

/// The original's own `--event-time-start`/`--event-time-end`, when it has them.
fn own_window(command: &DbtCommand) -> Result<Option<BatchWindow>, String> {
    if command.has_flag(&["--sample"]) {
        return Err(
            "the run had --sample, which sets the batches itself and overrides any window"
                .to_owned(),
        );
    }
    let (start, end) = (
        command.flag_value(EVENT_TIME_START),
        command.flag_value(EVENT_TIME_END),
    );
    if start.is_none() && end.is_none() {
        return Ok(None);
    }
    let parsed = start
        .as_deref()
        .and_then(parse_flag_value)
        .zip(end.as_deref().and_then(parse_flag_value));
    match parsed {
        Some((start, end)) if start < end => Ok(Some(BatchWindow { start, end })),
        _ => Err(format!(
            "the run's own window ({EVENT_TIME_START} {}, {EVENT_TIME_END} {}) cannot be read",
            start.as_deref().unwrap_or("missing"),
            end.as_deref().unwrap_or("missing")
        )),
    }
}

/// The plan's note on the window.
fn window_note(
    needing: &[&MicrobatchRun],
    window: BatchWindow,
    whole: Option<&str>,
    own: bool,
) -> String {
    let models: Vec<String> = needing
        .iter()
        .map(|r| {
            let not_built = r.not_built();
            let labels: Vec<String> = not_built
                .iter()
                .take(5)
                .filter_map(|&i| r.start_of(i).map(|s| s.label()))
                .collect();
            let more = not_built.len().saturating_sub(labels.len());
            format!(
                "`{}` did not build {} of its {} batch{} ({}{})",
                r.model,
                not_built.len(),
                r.total,
                if r.total == 1 { "" } else { "es" },
                labels.join(", "),
                if more > 0 {
                    format!(" and {more} more")
                } else {
                    String::new()
                }
            )
        })
        .collect();
    let covered = match whole {
        Some(why) => format!("every batch of the run, since {why}"),
        None => "the batches not built".to_owned(),
    };
    format!(
        "microbatch: {}; every microbatch model selected runs with {}: {covered}{}",
        models.join("; "),
        window.flags().join(" "),
        if own {
            ", inside the run's own window"
        } else {
            ""
        }
    )
}

/// What the re-run builds again of `run`, inside `window`.
fn model_batches(run: &MicrobatchRun, window: Option<BatchWindow>) -> ModelBatches {
    let not_built = run.not_built();
    let inside: Vec<u64> = window
        .map(|w| {
            (1..=run.total.min(crate::log::batches::MAX_BATCHES))
                .filter(|&i| {
                    run.start_of(i)
                        .and_then(|s| Some((s.at, s.end()?)))
                        .is_some_and(|(start, end)| start < w.end && end > w.start)
                })
                .collect()
        })
        .unwrap_or_default();
    ModelBatches {
        model: run.model.clone(),
        batch_size: run.first.map(|f| f.size),
        batches: run.total,
        built: run.built(),
        not_built: not_built
            .iter()
            .take(MAX_LABELS)
            .filter_map(|&i| run.start_of(i))
            .collect(),
        not_built_count: not_built.len() as u64,
        rerun_from: inside.first().and_then(|&i| run.start_of(i)),
        rerun_to: inside.last().and_then(|&i| run.start_of(i)),
        rerun_batches: inside.len() as u64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{plan_rerun, plan_resume, PlanShape, RerunCommand};

    /// A text log of `m` (a microbatch model of daily batches from 2026-11-28) whose batches
    /// have `statuses` (`ok`, `error`, `skip`, `start`: cut off there), then, for a run that
    /// ended, its result and the SKIP lines of `skipped`.
    fn log(statuses: &[&str], skipped: &[&str]) -> RunReport {
        let total = statuses.len();
        let mut lines = vec!["12:00:00  Running with dbt=1.11.16".to_owned()];
        lines.push("12:00:01  1 of 9 START sql microbatch model main.m ..... [RUN]".to_owned());
        let day = |i: usize| {
            format!(
                "2026-{}",
                ["11-28", "11-29", "11-30", "12-01", "12-02", "12-03"][i]
            )
        };
        for (i, status) in statuses.iter().enumerate() {
            let n = i + 1;
            let d = day(i);
            lines.push(format!(
                "12:00:01  Batch {n} of {total} START batch {d} of main.m ..... [RUN]"
            ));
            match *status {
                "ok" => lines.push(format!("12:00:01  Batch {n} of {total} OK created batch {d} of main.m ..... [OK in 0.1s]")),
                "error" => {
                    lines.push("12:00:01  Unhandled error while executing ".to_owned());
                    lines.push("Exception on worker thread. Runtime Error".to_owned());
                    lines.push("  Invalid Input Error: SSL SYSCALL error: EOF detected".to_owned());
                    lines.push(format!("12:00:01  Batch {n} of {total} ERROR creating batch {d} of main.m ..... [ERROR in 0.1s]"));
                }
                "skip" => lines.push(format!("12:00:01  Batch {n} of {total} SKIP batch {d} of main.m ..... [SKIPPED in 0.0s]")),
                _ => return parse(&lines),
            }
        }
        let ok = statuses.iter().filter(|s| **s == "ok").count();
        lines.push(format!("12:00:02  1 of 9 PARTIALLY created sql microbatch model main.m ..... [PARTIAL SUCCESS ({ok}/{total}) in 1s]"));
        for (i, name) in skipped.iter().enumerate() {
            lines.push(format!(
                "12:00:02  {} of 9 SKIP relation main.{name} ..... [SKIP]",
                i + 2
            ));
        }
        lines.push("12:00:02  Completed with 1 partial success and 0 warnings".to_owned());
        lines.push(format!(
            "12:00:02  Done. PASS=0 WARN=0 ERROR=1 SKIP={} NO-OP=0 TOTAL=9",
            skipped.len()
        ));
        parse(&lines)
    }

    fn parse(lines: &[String]) -> RunReport {
        let mut parser = crate::LogParser::default();
        for line in lines {
            parser.push_line(line.as_bytes());
        }
        parser.finish()
    }

    fn cmd(line: &str) -> DbtCommand {
        DbtCommand::parse(&line.split(' ').map(str::to_owned).collect::<Vec<_>>()).unwrap()
    }

    fn rerun(command: &str, report: &RunReport) -> RerunCommand {
        plan_rerun(&cmd(command), report, 8192).unwrap()
    }

    fn window(plan: &RerunCommand) -> String {
        let at = plan
            .argv
            .iter()
            .position(|a| a == EVENT_TIME_START)
            .unwrap();
        assert_eq!(
            plan.argv
                .iter()
                .filter(|a| a.starts_with("--event-time"))
                .count(),
            2
        );
        plan.argv[at..].join(" ")
    }

    #[test]
    fn a_partial_model_reruns_the_batches_it_did_not_build() {
        let report = log(&["ok", "error", "ok", "error", "ok"], &[]);
        assert_eq!(report.failed[0].name, "m");
        assert!(report.failed[0].message.contains("SSL SYSCALL"));
        let plan = rerun("dbt build --select m+", &report);
        assert_eq!(plan.shape, PlanShape::Exact);
        assert_eq!(
            window(&plan),
            "--event-time-start 2026-11-29 --event-time-end 2026-12-02"
        );
        let batches = plan.microbatch.unwrap();
        let model = &batches.models[0];
        assert_eq!(
            (model.batches, model.built, model.not_built_count),
            (5, 3, 2)
        );
        let labels: Vec<String> = model.not_built.iter().map(|b| b.label()).collect();
        assert_eq!(labels, ["2026-11-29", "2026-12-01"]);
        assert_eq!(model.rerun_batches, 3);
        assert!(plan.note.unwrap().contains("the batches not built"));
    }

    #[test]
    fn a_skipped_model_downstream_widens_the_window_to_every_batch_of_the_run() {
        let report = log(&["ok", "ok", "error", "ok"], &["daily"]);
        let plan = rerun("dbt build", &report);
        assert_eq!(
            window(&plan),
            "--event-time-start 2026-11-28 --event-time-end 2026-12-02"
        );
        assert!(plan.note.unwrap().contains("skipped models downstream"));
    }

    #[test]
    fn a_full_refresh_keeps_the_flag_and_covers_every_batch() {
        let report = log(&["ok", "ok", "error", "ok"], &[]);
        let plan = rerun("dbt run --full-refresh --select m", &report);
        assert!(plan.argv.contains(&"--full-refresh".to_owned()));
        assert_eq!(
            window(&plan),
            "--event-time-start 2026-11-28 --event-time-end 2026-12-02"
        );
    }

    #[test]
    fn a_kill_covers_every_batch_of_the_run_from_its_first() {
        let report = log(&["ok", "ok", "start", "ok"], &[]);
        assert!(!report.end_of_run && report.failed.is_empty());
        let mut killed = report.clone();
        killed.finished.count = 1;
        killed.finished.nodes = vec![crate::SkippedNode {
            name: "events".into(),
            resource_type: ResourceType::Model,
            unique_id: None,
        }];
        killed.dbt_version = Some("1.11.16".into());
        let plan = plan_resume(&cmd("dbt build"), &killed, 8192);
        assert_eq!(plan.shape, PlanShape::Resume);
        // The log shows two batches of four started; the window places all four.
        assert_eq!(
            plan.argv.join(" "),
            "dbt build --exclude events --indirect-selection empty \
             --event-time-start 2026-11-28 --event-time-end 2026-12-02"
        );
        let model = &plan.microbatch.unwrap().models[0];
        assert_eq!((model.not_built_count, model.rerun_batches), (2, 4));
    }

    #[test]
    fn the_runs_own_window_bounds_the_window_and_is_replaced() {
        let report = log(&["ok", "error", "ok"], &["daily"]);
        let plan = rerun(
            "dbt build --event-time-start=2026-11-28T12:00:00 --event-time-end 2026-11-30T06:00:00",
            &report,
        );
        assert_eq!(
            window(&plan),
            "--event-time-start 2026-11-28T12:00:00 --event-time-end 2026-11-30T06:00:00"
        );
        assert!(plan.note.unwrap().contains("inside the run's own window"));
        let plan = rerun(
            "dbt build --event-time-start 2026-11-01 --event-time-end 2026-12-31",
            &report,
        );
        assert_eq!(
            window(&plan),
            "--event-time-start 2026-11-28 --event-time-end 2026-12-01"
        );
    }

    #[test]
    fn batches_that_cannot_be_placed_rerun_the_whole_original_command_and_say_why() {
        let mut report = log(&["ok", "error", "ok"], &[]);
        let lines = [
            "12:00:01  Batch 1 of 3 OK created batch 2026-11-28 of main.x ..... [OK in 0.1s]",
            "12:00:01  Batch 2 of 3 ERROR creating batch 2026-12-28 of main.x ..... [ERROR in 0.1s]",
        ];
        for line in lines {
            let mut parser = crate::LogParser::default();
            parser.push_line(lines[0].as_bytes());
            parser.push_line(line.as_bytes());
            report.microbatch.0.extend(parser.finish().microbatch.0);
        }
        let plan = rerun("dbt build --select m+", &report);
        assert_eq!(plan.shape, PlanShape::Original);
        assert_eq!(plan.argv.join(" "), "dbt build --select m+");
        let note = plan.note.unwrap();
        assert!(
            note.contains("does not place every batch of the microbatch model `x`"),
            "{note}"
        );
        assert!(note.contains("stays empty until backfilled"), "{note}");
        let batches = plan.microbatch.unwrap();
        assert_eq!(batches.window, None);

        let report = log(&["ok", "error", "ok"], &[]);
        let plan = rerun("dbt build --sample 3 days", &report);
        assert_eq!(plan.shape, PlanShape::Original);
        assert!(plan.note.unwrap().contains("--sample"));
        let plan = rerun(
            "dbt build --event-time-start soon --event-time-end later",
            &report,
        );
        assert_eq!(plan.shape, PlanShape::Original);
        let note = plan.note.unwrap();
        assert!(
            note.contains("cannot be read") && note.contains("with its own window"),
            "{note}"
        );
    }

    #[test]
    fn a_window_that_does_not_fit_the_override_limit_reruns_the_whole_command() {
        let report = log(&["ok", "error", "ok"], &[]);
        let exact = rerun("dbt build --select m+", &report);
        let budget = crate::plan::json_len(&exact.argv) - 1;
        let plan = plan_rerun(&cmd("dbt build --select m+"), &report, budget).unwrap();
        assert_eq!(plan.shape, PlanShape::Original);
        assert!(!plan.argv.iter().any(|a| a.starts_with("--event-time")));
        assert!(plan.note.unwrap().contains("microbatch"));
    }

    #[test]
    fn a_run_whose_batches_were_all_built_needs_no_window() {
        let mut report = log(&["ok", "ok"], &[]);
        report.failed[0].name = "other".into();
        report.microbatch.0[0].outcome = Some(crate::log::ModelOutcome::Success);
        let plan = rerun("dbt build", &report);
        assert!(plan.microbatch.is_none());
        assert!(!plan.argv.iter().any(|a| a.starts_with("--event-time")));
    }

    #[test]
    fn flag_values_read_as_dbt_reads_them() {
        for (value, shown) in [
            ("2026-11-28", "2026-11-28"),
            ("2026-11-28T06:00:00", "2026-11-28T06:00:00"),
            ("2026-11-28 06:30:00", "2026-11-28T06:30:00"),
        ] {
            assert_eq!(flag_value(parse_flag_value(value).unwrap()), shown);
        }
        assert_eq!(parse_flag_value("yesterday"), None);
        assert_eq!(parse_flag_value("2026-11-28T06"), None);
    }
}
