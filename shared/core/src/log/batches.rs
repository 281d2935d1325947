//! Microbatch models (dbt >= 1.9): one model run as many batches, each a slice of time.
//!
//! dbt prints each batch's start and result (`Batch 4 of 18 ERROR creating batch 2026-11-25 of
//! main.m`; pre-release 1.9 without the `Batch` prefix; JSON `LogStartBatch`/`LogBatchResult`),
//! then the model's own result: `PARTIAL SUCCESS (17/18)` when some batches failed. A batch's
//! error is printed before its result line, in a block that names no model (`Unhandled error
//! while executing`, then the message): it belongs to the next failed batch of its thread.
//!
//! A batch is labelled by its start, as precise as the model's `batch_size`: `2026` (year),
//! `2026-11` (month), `2026-11-25` (day), `2026-11-25T16` (hour). dbt's batches of one model
//! are contiguous and aligned to the batch size, so batch i of n starts i - 1 batches after
//! batch 1, and any label places every batch of the model in time.

use chrono::{Datelike, Months, NaiveDate, NaiveDateTime, TimeDelta, Timelike};
use serde::{Serialize, Serializer};

/// A microbatch model's `batch_size`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BatchSize {
    /// `hour`: labels like `2026-11-25T16`.
    Hour,
    /// `day`: labels like `2026-11-25`.
    Day,
    /// `month`: labels like `2026-11`.
    Month,
    /// `year`: labels like `2026`.
    Year,
}

/// The start of a batch, as dbt labels it (UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BatchStart {
    /// When the batch starts (its `event_time` lower bound, inclusive).
    pub at: NaiveDateTime,
    /// How long it is.
    pub size: BatchSize,
}

impl BatchStart {
    /// Reads dbt's label of a batch: `2026`, `2026-11`, `2026-11-25`, `2026-11-25T16`.
    pub fn parse(label: &str) -> Option<Self> {
        let number = |s: &str, len: usize| {
            (s.len() == len && s.bytes().all(|b| b.is_ascii_digit()))
                .then(|| s.parse::<u32>().ok())
                .flatten()
        };
        let (date, hour) = match label.split_once('T') {
            Some((date, hour)) => (date, Some(number(hour, 2)?)),
            None => (label, None),
        };
        let mut parts = date.split('-');
        let year = number(parts.next()?, 4)?;
        let month = parts.next().map(|m| number(m, 2));
        let day = parts.next().map(|d| number(d, 2));
        if parts.next().is_some() {
            return None;
        }
        let (size, month, day) = match (month, day, hour) {
            (None, None, None) => (BatchSize::Year, 1, 1),
            (Some(m), None, None) => (BatchSize::Month, m?, 1),
            (Some(m), Some(d), None) => (BatchSize::Day, m?, d?),
            (Some(m), Some(d), Some(_)) => (BatchSize::Hour, m?, d?),
            _ => return None,
        };
        let at = NaiveDate::from_ymd_opt(i32::try_from(year).ok()?, month, day)?.and_hms_opt(
            hour.unwrap_or(0),
            0,
            0,
        )?;
        Some(Self { at, size })
    }

    /// dbt's label again.
    pub fn label(&self) -> String {
        let format = match self.size {
            BatchSize::Year => "%Y",
            BatchSize::Month => "%Y-%m",
            BatchSize::Day => "%Y-%m-%d",
            BatchSize::Hour => "%Y-%m-%dT%H",
        };
        self.at.format(format).to_string()
    }

    /// The batch `n` batches later (earlier when negative); None past chrono's range.
    pub fn offset(&self, n: i64) -> Option<Self> {
        let at = match self.size {
            BatchSize::Hour => self.at.checked_add_signed(TimeDelta::try_hours(n)?)?,
            BatchSize::Day => self.at.checked_add_signed(TimeDelta::try_days(n)?)?,
            BatchSize::Month | BatchSize::Year => {
                let months = if self.size == BatchSize::Year {
                    n.checked_mul(12)?
                } else {
                    n
                };
                let shift = Months::new(u32::try_from(months.unsigned_abs()).ok()?);
                if months >= 0 {
                    self.at.checked_add_months(shift)?
                } else {
                    self.at.checked_sub_months(shift)?
                }
            }
        };
        Some(Self {
            at,
            size: self.size,
        })
    }

    /// Where the batch ends (exclusive): the next batch's start.
    pub fn end(&self) -> Option<NaiveDateTime> {
        self.offset(1).map(|next| next.at)
    }

    /// Whether the time is where a batch of this size starts (dbt aligns every batch).
    fn aligned(&self) -> bool {
        let at = self.at;
        let midnight = at.hour() == 0 && at.minute() == 0 && at.second() == 0;
        match self.size {
            BatchSize::Hour => at.minute() == 0 && at.second() == 0,
            BatchSize::Day => midnight,
            BatchSize::Month => midnight && at.day() == 1,
            BatchSize::Year => midnight && at.day() == 1 && at.month() == 1,
        }
    }
}

impl Serialize for BatchStart {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.label())
    }
}

/// What became of one batch, as far as the log shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BatchStatus {
    /// Started and not finished (the run was cut off in it).
    Started,
    /// `OK`: built.
    Ok,
    /// `ERROR`: its query failed; the model is a partial success at best.
    Error,
    /// dbt skipped it (after the model's first batch failed).
    Skipped,
}

/// What a microbatch model's own result line said.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelOutcome {
    /// Every batch was built.
    Success,
    /// `PARTIAL SUCCESS (k/n)`: some batches failed.
    PartialSuccess,
    /// Every batch failed (or the model failed before its batches).
    Error,
}

/// The most batches of one model a report keeps track of; a model with more is marked
/// [`MicrobatchRun::incomplete`].
pub(crate) const MAX_BATCHES: u64 = 200_000;

/// The batches of one microbatch model in one run, as the log shows them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MicrobatchRun {
    /// The model: its node name in a JSON log, its relation's name in a text log (which names
    /// models by relation).
    pub model: String,
    /// dbt's unique id of the model, when the log names it (JSON logs).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unique_id: Option<String>,
    /// How many batches dbt planned for it (`of n`).
    pub total: u64,
    /// Batch 1's start, placed from any batch's label; None when no label could be read.
    pub first: Option<BatchStart>,
    /// The status of each batch the log shows, by index (1-based) - 1; None: never started.
    #[serde(skip)]
    statuses: Vec<Option<BatchStatus>>,
    /// The model's result line, when the log has it.
    pub outcome: Option<ModelOutcome>,
    /// Something the log said cannot be placed: a label that does not parse or does not
    /// follow from the others, a total that changed, more than `MAX_BATCHES`.
    pub incomplete: bool,
    /// The first failed batch's error message (first line, and all of it bounded).
    #[serde(skip)]
    pub message: Option<(String, String)>,
}

/// One batch line of the log (text or JSON).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BatchLine<'a> {
    pub index: u64,
    pub total: u64,
    pub status: BatchStatus,
    /// The batch's label (`2026-11-25`).
    pub label: &'a str,
    /// The model as the line names it (the relation's name without its schema, or the JSON
    /// node name).
    pub model: &'a str,
}

impl MicrobatchRun {
    fn new(model: &str, unique_id: Option<&str>, total: u64) -> Self {
        Self {
            model: model.to_owned(),
            unique_id: unique_id.map(str::to_owned),
            total,
            first: None,
            statuses: Vec::new(),
            outcome: None,
            incomplete: total > MAX_BATCHES,
            message: None,
        }
    }

    /// The status of batch `index` (1-based); None when it never started.
    pub fn status(&self, index: u64) -> Option<BatchStatus> {
        let at = usize::try_from(index.checked_sub(1)?).ok()?;
        self.statuses.get(at).copied().flatten()
    }

    /// The batches that did not finish well: failed, skipped, cut off, or never started, as
    /// 1-based indexes in order.
    pub fn not_built(&self) -> Vec<u64> {
        (1..=self.total.min(MAX_BATCHES))
            .filter(|&i| self.status(i) != Some(BatchStatus::Ok))
            .collect()
    }

    /// How many batches finished well.
    pub fn built(&self) -> u64 {
        self.statuses
            .iter()
            .filter(|s| **s == Some(BatchStatus::Ok))
            .count() as u64
    }

    /// Batch `index`'s start (1-based), when the log places the model's batches in time.
    pub fn start_of(&self, index: u64) -> Option<BatchStart> {
        self.first?
            .offset(i64::try_from(index.checked_sub(1)?).ok()?)
    }

    /// Every batch finished well and the model's result says so (or no result line came,
    /// and every batch dbt planned is OK).
    pub(crate) fn all_built(&self) -> bool {
        self.outcome != Some(ModelOutcome::PartialSuccess)
            && self.outcome != Some(ModelOutcome::Error)
            && self.not_built().is_empty()
            && !self.incomplete
    }

    /// Takes in one batch line of this model.
    fn note(&mut self, line: &BatchLine<'_>) {
        if line.total != self.total {
            self.incomplete = true;
            self.total = self.total.max(line.total);
        }
        let placed = BatchStart::parse(line.label)
            .filter(BatchStart::aligned)
            .and_then(|start| start.offset(1 - i64::try_from(line.index).ok()?));
        match (placed, self.first) {
            (None, _) => self.incomplete = true,
            (Some(first), None) => self.first = Some(first),
            (Some(first), Some(known)) if first != known => self.incomplete = true,
            _ => {}
        }
        let Some(at) = line
            .index
            .checked_sub(1)
            .filter(|&i| i < MAX_BATCHES.min(self.total))
            .and_then(|i| usize::try_from(i).ok())
        else {
            self.incomplete = true;
            return;
        };
        if self.statuses.len() <= at {
            self.statuses.resize(at + 1, None);
        }
        // A result never turns back into a start (a repeated line).
        let current = &mut self.statuses[at];
        if line.status != BatchStatus::Started || current.is_none() {
            *current = Some(line.status);
        }
    }
}

/// The microbatch models of a run, in the order the log first names them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct MicrobatchRuns(pub Vec<MicrobatchRun>);

/// The most microbatch models a report keeps; past it the report is truncated.
pub(crate) const MAX_MICROBATCH_MODELS: usize = 1000;

impl MicrobatchRuns {
    /// The run of `model`.
    pub fn get(&self, model: &str) -> Option<&MicrobatchRun> {
        self.0.iter().find(|r| r.model == model)
    }

    /// No microbatch model was seen.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The models' runs, in the order the log first showed them.
    pub fn iter(&self) -> impl Iterator<Item = &MicrobatchRun> {
        self.0.iter()
    }

    /// Takes in a batch line; false when the model could not be kept (too many models).
    pub(super) fn note(&mut self, line: &BatchLine<'_>, unique_id: Option<&str>) -> bool {
        match self.run_mut(line.model, unique_id, line.total) {
            Some(run) => {
                run.note(line);
                true
            }
            None => false,
        }
    }

    /// The model's result line, for a model whose batches were seen.
    pub(super) fn outcome(&mut self, model: &str, outcome: ModelOutcome) {
        if let Some(run) = self.0.iter_mut().find(|r| r.model == model) {
            run.outcome = Some(outcome);
        }
    }

    /// A failed batch's error message, for the model's run (the first one is kept).
    pub(super) fn message(&mut self, model: &str, message: (String, String)) {
        if let Some(run) = self.0.iter_mut().find(|r| r.model == model) {
            run.message.get_or_insert(message);
        }
    }

    fn run_mut(
        &mut self,
        model: &str,
        unique_id: Option<&str>,
        total: u64,
    ) -> Option<&mut MicrobatchRun> {
        let at = match self.0.iter().position(|r| r.model == model) {
            Some(at) => at,
            None if self.0.len() >= MAX_MICROBATCH_MODELS => return None,
            None => {
                self.0.push(MicrobatchRun::new(model, unique_id, total));
                self.0.len() - 1
            }
        };
        Some(&mut self.0[at])
    }
}

/// Reads a text batch line (timestamp already removed): `Batch 4 of 18 START batch 2026-11-25
/// of main.m ... [RUN]`, `Batch 4 of 18 OK created batch ...`, `... ERROR creating batch ...`,
/// `... SKIP batch ...`; pre-release 1.9 printed the same without `Batch `.
pub(crate) fn text_batch_line(line: &str) -> Option<BatchLine<'_>> {
    let line = line.strip_prefix("Batch ").unwrap_or(line);
    let (index, rest) = line.split_once(" of ")?;
    let index: u64 = index.parse().ok()?;
    let (total, rest) = rest.split_once(' ')?;
    let total: u64 = total.parse().ok()?;
    let (status, rest) = if let Some(rest) = rest.strip_prefix("START ") {
        (BatchStatus::Started, rest)
    } else if let Some(rest) = rest.strip_prefix("OK created ") {
        (BatchStatus::Ok, rest)
    } else if let Some(rest) = rest.strip_prefix("ERROR creating ") {
        (BatchStatus::Error, rest)
    } else if let Some(rest) = rest.strip_prefix("SKIP ") {
        (BatchStatus::Skipped, rest)
    } else {
        return None;
    };
    let description = rest.split(" ..").next().unwrap_or(rest);
    let description = description.split(" [").next().unwrap_or(description);
    let (label, model) = batch_description(description)?;
    Some(BatchLine {
        index,
        total,
        status,
        label,
        model,
    })
}

/// `batch 2026-11-25 of main.m` -> (`2026-11-25`, `m`).
pub(crate) fn batch_description(description: &str) -> Option<(&str, &str)> {
    let rest = description.trim().strip_prefix("batch ")?;
    let (label, relation) = rest.split_once(" of ")?;
    let relation = relation.trim();
    if label.is_empty() || label.contains(' ') || relation.is_empty() || relation.contains(' ') {
        return None;
    }
    let model = relation.rsplit('.').next().unwrap_or(relation);
    (!model.is_empty()).then_some((label, model))
}

/// Whether a result line's description (after its status word) is a batch's, which never
/// names a node of its own: `batch ...`, `created batch ...`, `creating batch ...`.
pub(crate) fn is_batch_description(desc: &[u8]) -> bool {
    [&b"batch "[..], b"created batch ", b"creating batch "]
        .iter()
        .any(|p| desc.starts_with(p))
}

/// `PARTIAL SUCCESS (17/18)` in a result line's status bracket.
pub fn partial_success(status: &str) -> bool {
    status.contains("PARTIAL SUCCESS")
}

/// The error block a failed batch prints before its result line (1.12 prefixes `[ERROR]: `).
pub(crate) fn is_batch_error_start(message: &str) -> bool {
    let message = message.strip_prefix("[ERROR]:").unwrap_or(message).trim();
    message == "Unhandled error while executing"
}

#[cfg(test)]
mod tests {
    use super::*;

    fn start(label: &str) -> BatchStart {
        BatchStart::parse(label).unwrap()
    }

    #[test]
    fn labels_of_every_batch_size_are_read_and_written_back() {
        for (label, size) in [
            ("2026", BatchSize::Year),
            ("2026-11", BatchSize::Month),
            ("2026-11-25", BatchSize::Day),
            ("2026-11-25T16", BatchSize::Hour),
        ] {
            let s = start(label);
            assert_eq!((s.size, s.label()), (size, label.to_owned()));
            assert!(s.aligned());
        }
        for bad in [
            "",
            "26",
            "2026-1",
            "2026-13",
            "2026-02-30",
            "2026-11-25T24",
            "2026-11-25 16",
            "2026-11-25T",
            "x026",
            "2026-11-25-01",
            "2026-11T10",
        ] {
            assert_eq!(BatchStart::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn batches_follow_each_other_by_their_size() {
        assert_eq!(start("2026-12-31").offset(1).unwrap().label(), "2027-01-01");
        assert_eq!(
            start("2026-11-25T23").offset(2).unwrap().label(),
            "2026-11-26T01"
        );
        assert_eq!(start("2026-01").offset(-2).unwrap().label(), "2025-11");
        assert_eq!(start("2026").offset(3).unwrap().label(), "2029");
        assert_eq!(
            start("2024-02").end().unwrap(),
            NaiveDate::from_ymd_opt(2024, 3, 1)
                .unwrap()
                .and_hms_opt(0, 0, 0)
                .unwrap()
        );
    }

    #[test]
    fn text_batch_lines_of_every_form_are_read() {
        let line = text_batch_line(
            "Batch 4 of 18 ERROR creating batch 2026-11-25 of main.m .......... [ERROR in 0.1s]",
        )
        .unwrap();
        assert_eq!(
            (line.index, line.total, line.status, line.label, line.model),
            (4, 18, BatchStatus::Error, "2026-11-25", "m")
        );
        let line = text_batch_line(
            "Batch 10 of 10 OK created batch 2026-12-07 of main.mb_sessions ..... [OK in 0.06s]",
        )
        .unwrap();
        assert_eq!((line.index, line.status), (10, BatchStatus::Ok));
        let line =
            text_batch_line("Batch 3 of 18 SKIP batch 2026-11-24T16 of analytics.m ... [SKIP]")
                .unwrap();
        assert_eq!(
            (line.status, line.label),
            (BatchStatus::Skipped, "2026-11-24T16")
        );
        // Pre-release 1.9: no `Batch` prefix.
        let line = text_batch_line("1 of 2 START batch 2026 of db.sch.m ..... [RUN]").unwrap();
        assert_eq!(
            (line.status, line.label, line.model),
            (BatchStatus::Started, "2026", "m")
        );
        assert_eq!(
            text_batch_line("1 of 6 START sql table model main.x ..... [RUN]"),
            None
        );
        assert_eq!(text_batch_line("Batch 1 of 2 START batch of main.m"), None);
    }

    fn line<'a>(index: u64, total: u64, status: BatchStatus, label: &'a str) -> BatchLine<'a> {
        BatchLine {
            index,
            total,
            status,
            label,
            model: "m",
        }
    }

    #[test]
    fn a_run_knows_which_batches_were_not_built() {
        let mut runs = MicrobatchRuns::default();
        let days = ["2026-11-28", "2026-11-29", "2026-11-30", "2026-12-01"];
        for (i, day) in days.iter().enumerate() {
            let i = i as u64 + 1;
            runs.note(&line(i, 6, BatchStatus::Started, day), None);
            let status = if i == 2 {
                BatchStatus::Error
            } else {
                BatchStatus::Ok
            };
            runs.note(&line(i, 6, status, day), None);
        }
        runs.note(&line(5, 6, BatchStatus::Started, "2026-12-02"), None);
        let run = runs.get("m").unwrap();
        assert_eq!(run.not_built(), [2, 5, 6]);
        assert_eq!(run.built(), 3);
        assert_eq!(run.start_of(6).unwrap().label(), "2026-12-03");
        assert!(!run.incomplete && !run.all_built());
    }

    #[test]
    fn a_label_that_does_not_follow_makes_the_run_incomplete() {
        let mut runs = MicrobatchRuns::default();
        runs.note(&line(1, 3, BatchStatus::Ok, "2026-11-28"), None);
        runs.note(&line(2, 3, BatchStatus::Ok, "2026-11-30"), None);
        assert!(runs.get("m").unwrap().incomplete);
        let mut runs = MicrobatchRuns::default();
        runs.note(&line(1, 3, BatchStatus::Ok, "2026-11-28T05"), None);
        runs.note(&line(2, 3, BatchStatus::Ok, "soon"), None);
        assert!(runs.get("m").unwrap().incomplete);
    }

    fn parse(lines: &[&str]) -> crate::RunReport {
        let mut parser = crate::LogParser::default();
        for line in lines {
            parser.push_line(line.as_bytes());
        }
        parser.finish()
    }

    #[test]
    fn a_batch_error_goes_to_the_next_failed_batch_in_text_whatever_prints_between() {
        // Four threads (dbt 1.11, a real run's order): the second block is printed before
        // batch 4's OK line, and belongs to batch 5.
        let report = parse(&[
            "05:33:23  1 of 5 START sql microbatch model main.m ..... [RUN]",
            "05:33:23  Batch 3 of 7 START batch 2026-12-01 of main.m ..... [RUN]",
            "05:33:23  Batch 4 of 7 START batch 2026-12-02 of main.m ..... [RUN]",
            "05:33:23  \x1b[31mUnhandled error while executing \x1b[0m",
            "Exception on worker thread. Runtime Error",
            "  Invalid Input Error: first",
            "05:33:23  Batch 3 of 7 ERROR creating batch 2026-12-01 of main.m ..... [ERROR in 0.03s]",
            "05:33:23  Batch 5 of 7 START batch 2026-12-03 of main.m ..... [RUN]",
            "05:33:23  [ERROR]: Unhandled error while executing ",
            "Exception on worker thread. Runtime Error",
            "  Invalid Input Error: second",
            "05:33:23  Batch 4 of 7 OK created batch 2026-12-02 of main.m ..... [OK in 0.17s]",
            "05:33:23  Batch 5 of 7 ERROR creating batch 2026-12-03 of main.m ..... [ERROR in 0.12s]",
            "05:33:23  1 of 5 PARTIALLY created sql microbatch model main.m ..... [\x1b[33mPARTIAL SUCCESS (5/7)\x1b[0m in 0.82s]",
        ]);
        let run = report.microbatch.get("m").unwrap();
        assert_eq!(
            run.message.as_ref().unwrap().0,
            "Invalid Input Error: first"
        );
        assert_eq!(run.status(5), Some(BatchStatus::Error));
        assert_eq!(run.outcome, Some(ModelOutcome::PartialSuccess));
        assert_eq!(report.failed.len(), 1);
        assert_eq!(report.failed[0].message, "Invalid Input Error: first");
        assert!(report.finished.nodes.is_empty());
    }

    #[test]
    fn a_batch_error_goes_to_the_next_failed_batch_of_its_thread_in_json() {
        let event = |name: &str, thread: &str, data: &str| {
            format!(
                r#"{{"data": {{{data}, "node_info": {{"node_name": "m", "unique_id": "model.p.m", "resource_type": "model", "node_status": "x"}}}}, "info": {{"name": "{name}", "thread": "{thread}", "msg": ""}}}}"#
            )
        };
        let batch = |index: u64, status: &str| {
            format!(
                r#""batch_index": {index}, "total_batches": 3, "description": "batch 2026-12-0{index} of main.m", "status": "{status}""#
            )
        };
        let lines = [
            event(
                "GenericExceptionOnRun",
                "Thread-2",
                r#""exc": "Exception on worker thread. Runtime Error\n  error of two""#,
            ),
            event(
                "GenericExceptionOnRun",
                "Thread-3",
                r#""exc": "Exception on worker thread. Runtime Error\n  error of three""#,
            ),
            event("LogBatchResult", "Thread-3", &batch(3, "error")),
            event("LogBatchResult", "Thread-2", &batch(2, "error")),
            event("LogBatchResult", "Thread-1", &batch(1, "OK")),
        ];
        let report = parse(&lines.iter().map(String::as_str).collect::<Vec<_>>());
        let run = report.microbatch.get("m").unwrap();
        assert_eq!(run.message.as_ref().unwrap().0, "error of three");
        assert_eq!(run.not_built(), [2, 3]);
        assert_eq!(run.start_of(1).unwrap().label(), "2026-12-01");
    }

    #[test]
    fn a_pre_release_batch_line_is_never_a_finished_node() {
        let report = parse(&[
            "12:00:00  1 of 2 START sql microbatch model main.m ..... [RUN]",
            "12:00:00  1 of 3 START batch 2026-11-28 of main.m ..... [RUN]",
            "12:00:00  1 of 3 OK created batch 2026-11-28 of main.m ..... [OK in 0.1s]",
            "12:00:00  2 of 3 START batch 2026-11-29 of main.m ..... [RUN]",
        ]);
        assert_eq!(report.finished.count, 0);
        assert!(!report.conflicting);
        let run = report.microbatch.get("m").unwrap();
        assert_eq!(run.not_built(), [2, 3]);
        assert_eq!(run.status(2), Some(BatchStatus::Started));
    }
}
