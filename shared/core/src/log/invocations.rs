//! One log, several dbt invocations: a task that runs a script (`dbt deps && dbt seed && dbt
//! build`) writes every invocation's output to the same log. [`InvocationSplitter`] cuts it
//! into one [`RunReport`] per invocation, streaming, each read by its own [`LogParser`].
//!
//! A new invocation starts at
//! - a text line whose message, after dbt's timestamp prefix and colour codes, is `Running
//!   with dbt=X.Y.Z` (the header dbt prints first, recognised exactly as the parser reads
//!   `dbt_version`; a line that merely contains the phrase elsewhere does not count), or
//! - a dbt JSON event (`--log-format json`) whose `info.invocation_id` differs from the current
//!   invocation's (a text invocation has none, so text and JSON invocations may follow each
//!   other in any order).
//!
//! Lines before the first invocation (an entrypoint's `echo`, `aws s3 cp` ...) are only
//! counted; lines after an invocation's end, up to the next header, stay with it (dbt's own
//! late lines, such as Python's `resource_tracker` warnings after a SIGTERM, belong there).
//! The last invocation of a killed run has no end-of-run marker: [`RunReport::end_of_run`]
//! is false for it, as for a single killed run.
//!
//! A line that imitates a header (a macro that logs `Running with dbt=...`) starts an
//! invocation too: the split then has more invocations than the script has dbt steps, which
//! a caller must treat as a mismatch, never as a guess.
//!
//! Memory is bounded: at most `max_invocations` reports are kept, each within [`Limits`];
//! past that the split is marked [`SplitLog::truncated`] and further invocations are counted
//! (and parsed one at a time, for [`InvocationSplitter::end_of_run`]) but not kept.

use super::{for_each_line, json, text, Limits, LogFormat, LogParser, RunReport};
use crate::node::{FailStatus, ResourceType};
use serde::Serialize;
use std::io::{self, Read};

/// How many invocations a split keeps by default: more dbt steps than any script has.
pub const DEFAULT_MAX_INVOCATIONS: usize = 64;

/// A log cut into its dbt invocations, in the order they started.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SplitLog {
    /// Each dbt invocation's part of the log, parsed, in the order they started.
    pub invocations: Vec<Invocation>,
    /// Lines before the first invocation's first line: not dbt's, not parsed.
    pub preamble_lines: u64,
    /// More invocations started than were kept (see [`InvocationSplitter::invocations_started`]).
    pub truncated: bool,
}

/// One dbt invocation of a log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Invocation {
    /// What its lines said, read as a log of its own. `end_of_run` also holds when `dbt deps`
    /// reached its end, which it marks with no stats line: it found no packages to install,
    /// or another invocation followed once every package it began installing was installed.
    pub report: RunReport,
    /// `info.invocation_id` of a JSON invocation; None for text.
    pub invocation_id: Option<String>,
    /// The 1-based line number, in the whole log, of its first line.
    pub first_line: u64,
    /// It printed what only `dbt deps` prints: `Warning: No packages were found in
    /// packages.yml`, `Installing ...`, `Installed from ...`, `Up to date!` and the like, or
    /// the JSON events `Deps*` (`DepsNoPackagesFound`, `DepsStartPackageInstall`, ...).
    pub setup_markers: bool,
}

/// Resource types as bits, for the evidence of [`Invocation::could_be`].
const MODEL: u8 = 1;
const TESTS: u8 = 2; // data tests and unit tests
const SEED: u8 = 4;
const SNAPSHOT: u8 = 8;
const FUNCTION: u8 = 16;
const DAG_NODES: u8 = MODEL | TESTS | SEED | SNAPSHOT | FUNCTION;

/// Verbs that build, test, load or snapshot nothing.
const NODELESS_VERBS: &[&str] = &[
    "compile",
    "docs",
    "run-operation",
    "ls",
    "list",
    "parse",
    "debug",
    "clean",
    "show",
    "clone",
    "init",
];

impl Invocation {
    /// Whether what this invocation shows is consistent with dbt `verb` (`build`, `seed`,
    /// `source freshness`: the first word counts). It says false only when the log
    /// contradicts the verb; an invocation that shows nothing is consistent with any verb
    /// but `deps` is told apart by its setup markers.
    ///
    /// The evidence is the resource types of the failed, skipped and finished nodes, and
    /// [`Invocation::setup_markers`]:
    /// - `deps`: no node results and no stats line. Setup markers are expected, but their
    ///   absence alone contradicts nothing (a deps killed at once, or stopped by a broken
    ///   `packages.yml`, prints none).
    /// - Every other verb: no setup markers, and
    ///   - `build` (and `retry`, which repeats any verb): any node types, functions among
    ///     them (1.11+: only `build` creates functions; `dbt run --select f` has nothing to do);
    ///   - `run`: models only; `seed`: seeds only; `snapshot`: snapshots only;
    ///   - `test`: data tests and unit tests only, except that a failed model with status
    ///     error is allowed: dbt 1.8+ names a unit test's compilation error after the model
    ///     whose relation it could not read (`Compilation Error in model fct_orders
    ///     (models/marts/unit_tests.yml)`);
    ///   - `source` (freshness): no test, seed or snapshot results; models only in a text
    ///     log, whose freshness lines (`PASS freshness of src.table`) read as model results;
    ///   - compile, docs, run-operation, ls/list, parse, debug, clean, show, clone, init: no
    ///     model, test, seed or snapshot results;
    ///   - any other verb: nothing known contradicts it.
    ///
    /// In a text log a model named by a bare number is an `on-run-start`/`on-run-end` hook
    /// (`1 of 1 OK hook: shop.on-run-end.0`, read as model `0`) and is no evidence: hooks
    /// run with `run`, `seed`, `snapshot`, `test` and `build` alike.
    pub fn could_be(&self, verb: &str) -> bool {
        let verb = verb.split_whitespace().next().unwrap_or_default();
        let shown = NodeTypes::of(&self.report);
        if verb == "deps" {
            return shown.all == 0 && self.report.stats.is_none();
        }
        if self.setup_markers {
            return false;
        }
        let only = |allowed: u8| shown.all & !allowed == 0;
        match verb {
            "build" | "retry" => true,
            "run" => only(MODEL),
            "seed" => only(SEED),
            "snapshot" => only(SNAPSHOT),
            "test" => {
                only(TESTS | MODEL) && shown.not_failed & MODEL == 0 && !shown.failed_model_fail
            }
            "source" => {
                let models = if self.report.format == LogFormat::Json {
                    0
                } else {
                    MODEL
                };
                only(models)
            }
            v if NODELESS_VERBS.contains(&v) => shown.all & DAG_NODES == 0,
            _ => true,
        }
    }
}

/// The resource types of a report's nodes.
struct NodeTypes {
    all: u8,
    /// Of the finished and skipped nodes.
    not_failed: u8,
    /// A failed model has status `fail` (only tests fail; a model errors).
    failed_model_fail: bool,
}

impl NodeTypes {
    fn of(report: &RunReport) -> Self {
        let text = report.format != LogFormat::Json;
        let bit = |resource_type: ResourceType, name: &str| match resource_type {
            ResourceType::Model if text && name.bytes().all(|b| b.is_ascii_digit()) => 0,
            ResourceType::Model => MODEL,
            ResourceType::Test | ResourceType::UnitTest => TESTS,
            ResourceType::Seed => SEED,
            ResourceType::Snapshot => SNAPSHOT,
            ResourceType::Function => FUNCTION,
            ResourceType::Other => 0,
        };
        let failed = report
            .failed
            .iter()
            .fold(0, |acc, n| acc | bit(n.resource_type, &n.name));
        let not_failed = report
            .skipped
            .iter()
            .chain(&report.finished.nodes)
            .fold(0, |acc, n| acc | bit(n.resource_type, &n.name));
        let failed_model_fail = report
            .failed
            .iter()
            .any(|n| n.resource_type == ResourceType::Model && n.status == FailStatus::Fail);
        Self {
            all: failed | not_failed,
            not_failed,
            failed_model_fail,
        }
    }
}

/// Splits a log into its dbt invocations as lines arrive. See the module documentation.
pub struct InvocationSplitter {
    limits: Limits,
    max_invocations: usize,
    invocations: Vec<Invocation>,
    current: Option<Current>,
    started: u64,
    lines: u64,
    preamble_lines: u64,
    truncated: bool,
    scratch: Vec<u8>,
}

/// The invocation lines go to now.
struct Current {
    parser: LogParser,
    invocation_id: Option<String>,
    first_line: u64,
    deps: DepsProgress,
    /// False past `max_invocations`: parsed, then dropped.
    kept: bool,
}

/// What `dbt deps` printed of its work.
#[derive(Default)]
struct DepsProgress {
    markers: bool,
    nothing_to_install: bool,
    installing: u64,
    installed: u64,
}

impl DepsProgress {
    fn note(&mut self, marker: DepsMarker) {
        self.markers = true;
        match marker {
            DepsMarker::NothingToInstall => self.nothing_to_install = true,
            DepsMarker::Installing => self.installing += 1,
            DepsMarker::Installed => self.installed += 1,
            DepsMarker::Other => {}
        }
    }

    /// deps prints no end-of-run line. It is over once it found nothing to install; with
    /// packages, once another invocation `followed` and every package it began installing
    /// was installed (a kill between two packages cannot be told apart otherwise).
    fn ended(&self, followed: bool) -> bool {
        self.nothing_to_install
            || (followed && self.installed > 0 && self.installed >= self.installing)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DepsMarker {
    NothingToInstall,
    Installing,
    Installed,
    Other,
}

/// What a line means to the splitter.
#[derive(Debug, Default, PartialEq, Eq)]
struct Reading {
    /// The line starts an invocation: `Some(None)` a text one, `Some(Some(id))` a JSON one.
    starts: Option<Option<String>>,
    deps: Option<DepsMarker>,
}

/// Substrings without which a text line is neither a header nor a deps marker: the line is
/// read as the parser reads it only when it holds one.
const TEXT_CUES: &[&[u8]] = &[
    b"Running with dbt=",
    b"packages",
    b"Install",
    b"Up to date!",
    b"version available",
    b"lock file",
    b"Added new package",
];

impl Default for InvocationSplitter {
    fn default() -> Self {
        Self::new(Limits::default(), DEFAULT_MAX_INVOCATIONS)
    }
}

impl InvocationSplitter {
    /// A splitter keeping at most `max_invocations` invocations, each report within `limits`.
    pub fn new(limits: Limits, max_invocations: usize) -> Self {
        Self {
            limits,
            max_invocations,
            invocations: Vec::new(),
            current: None,
            started: 0,
            lines: 0,
            preamble_lines: 0,
            truncated: false,
            scratch: Vec::new(),
        }
    }

    /// Reads one line (one CloudWatch event), as [`LogParser::push_line`] does.
    pub fn push_line(&mut self, line: &[u8]) {
        self.lines += 1;
        let reading = self.read(&line[..line.len().min(self.limits.line_bytes)]);
        if let Some(invocation_id) = reading.starts {
            self.begin(invocation_id);
        }
        match &mut self.current {
            None => self.preamble_lines += 1,
            Some(current) => {
                if let Some(marker) = reading.deps {
                    current.deps.note(marker);
                }
                current.parser.push_line(line);
            }
        }
    }

    /// The current invocation's end-of-run marker has been seen (false before the first).
    pub fn end_of_run(&self) -> bool {
        self.current
            .as_ref()
            .is_some_and(|c| c.parser.end_of_run() || c.deps.ended(false))
    }

    /// How many invocations have started, kept or not.
    pub fn invocations_started(&self) -> u64 {
        self.started
    }

    /// The split of everything pushed so far.
    pub fn finish(mut self) -> SplitLog {
        self.close(false);
        SplitLog {
            invocations: self.invocations,
            preamble_lines: self.preamble_lines,
            truncated: self.truncated,
        }
    }

    fn begin(&mut self, invocation_id: Option<String>) {
        self.close(true);
        self.started += 1;
        let kept = self.invocations.len() < self.max_invocations;
        self.truncated |= !kept;
        self.current = Some(Current {
            parser: LogParser::new(self.limits),
            invocation_id,
            first_line: self.lines,
            deps: DepsProgress::default(),
            kept,
        });
    }

    /// Ends the current invocation; `followed`: another one starts.
    fn close(&mut self, followed: bool) {
        let Some(current) = self.current.take() else {
            return;
        };
        if !current.kept {
            return;
        }
        let mut report = current.parser.finish();
        report.end_of_run |= current.deps.ended(followed);
        self.invocations.push(Invocation {
            report,
            invocation_id: current.invocation_id,
            first_line: current.first_line,
            setup_markers: current.deps.markers,
        });
    }

    fn read(&mut self, line: &[u8]) -> Reading {
        let first = line.iter().position(|b| !b.is_ascii_whitespace());
        if first.is_some_and(|i| line[i] == b'{') {
            if let Some(reading) = self.read_json(line) {
                return reading;
            }
        }
        if !TEXT_CUES
            .iter()
            .any(|cue| memchr::memmem::find(line, cue).is_some())
        {
            return Reading::default();
        }
        text::with_text_line(line, &mut self.scratch, |line| match line {
            text::TextLine::Event(message) => read_text_event(message.trim()),
            text::TextLine::Continuation(_) => Reading::default(),
        })
    }

    /// A line that looks like JSON; None when it is no dbt event (then read as text, as the
    /// parser does).
    fn read_json(&self, line: &[u8]) -> Option<Reading> {
        let current_id = self
            .current
            .as_ref()
            .and_then(|c| c.invocation_id.as_deref());
        let starts = match json::quick_invocation_id(line) {
            Some(id) if Some(id) == current_id.map(str::as_bytes) => None,
            // A new id (once per invocation): only a real dbt event starts an invocation.
            Some(_) => Some(Some(json::invocation_id(line)?)),
            None => None,
        };
        let deps = json::quick_event_name(line).and_then(deps_event);
        Some(Reading { starts, deps })
    }
}

/// A text event's message (trimmed, without timestamp and colours).
fn read_text_event(message: &str) -> Reading {
    if text::header_version(message).is_some() {
        return Reading {
            starts: Some(None),
            deps: None,
        };
    }
    let deps = if message.ends_with("No packages were found in packages.yml") {
        Some(DepsMarker::NothingToInstall)
    } else if message.starts_with("Installing ") {
        Some(DepsMarker::Installing)
    } else if message.starts_with("Installed from ") {
        Some(DepsMarker::Installed)
    } else if message == "Up to date!"
        || [
            "Updated version available: ",
            "Updates available for packages: ",
            "Updating lock file in file path: ",
            "Added new package ",
            "Found duplicate package in packages.yml",
        ]
        .iter()
        .any(|p| message.starts_with(p))
    {
        Some(DepsMarker::Other)
    } else {
        None
    };
    Reading { starts: None, deps }
}

/// A JSON event name only `dbt deps` fires (`DepsNoPackagesFound`, `DepsInstallInfo`, ...).
fn deps_event(name: &[u8]) -> Option<DepsMarker> {
    match name {
        b"DepsNoPackagesFound" => Some(DepsMarker::NothingToInstall),
        b"DepsStartPackageInstall" => Some(DepsMarker::Installing),
        b"DepsInstallInfo" => Some(DepsMarker::Installed),
        n if n.starts_with(b"Deps") => Some(DepsMarker::Other),
        _ => None,
    }
}

/// Splits a whole log from a reader, line by line, in bounded memory.
pub fn split_reader<R: Read>(
    reader: R,
    limits: Limits,
    max_invocations: usize,
) -> io::Result<SplitLog> {
    let mut splitter = InvocationSplitter::new(limits, max_invocations);
    let mut lines = super::LineReader::new(super::EventFormat::Text);
    let mut push = |line: &[u8]| splitter.push_line(line);
    for_each_line(reader, limits.line_bytes, |line| {
        lines.push_line(line, &mut push)
    })?;
    lines.finish(&mut push);
    Ok(splitter.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    // Lines of real dbt 1.8 runs (tests/fixtures/scripts/1.8/), shortened where marked.
    const DEPS: &[&str] = &[
        "\x1b[0m10:51:21  Running with dbt=1.8.8",
        "\x1b[0m10:51:21  Warning: No packages were found in packages.yml",
        "\x1b[0m10:51:21  Warning: No packages were found in packages.yml",
    ];
    const SEED: &[&str] = &[
        "\x1b[0m10:51:33  Running with dbt=1.8.8",
        "\x1b[0m10:51:33  Registered adapter: duckdb=1.8.4",
        "\x1b[0m10:51:34  [\x1b[33mWARNING\x1b[0m]: Deprecated functionality",
        "The `tests` config has been renamed to `data_tests`. Please see",
        "\x1b[0m10:51:34  Concurrency: 1 threads (target='dev')",
        "\x1b[0m10:51:34  1 of 1 START seed file main.raw_customers ...................................... [RUN]",
        "\x1b[0m10:51:35  1 of 1 OK loaded seed file main.raw_customers .................................. [\x1b[32mINSERT 4\x1b[0m in 0.13s]",
        "\x1b[0m10:51:35  \x1b[32mCompleted successfully\x1b[0m",
        "\x1b[0m10:51:35  ",
        "\x1b[0m10:51:35  Done. PASS=1 WARN=0 ERROR=0 SKIP=0 TOTAL=1",
    ];
    const RUN: &[&str] = &[
        "\x1b[0m10:51:36  Running with dbt=1.8.8",
        "\x1b[0m10:51:37  1 of 3 START sql view model main.stg_customers ................................. [RUN]",
        "\x1b[0m10:51:37  1 of 3 OK created sql view model main.stg_customers ............................ [\x1b[32mOK\x1b[0m in 0.14s]",
        "\x1b[0m10:51:37  2 of 3 START sql table model main.fct_orders ................................... [RUN]",
        "\x1b[0m10:51:37  2 of 3 ERROR creating sql table model main.fct_orders .......................... [\x1b[31mERROR\x1b[0m in 0.20s]",
        "\x1b[0m10:51:37  3 of 3 SKIP relation main.agg_daily_revenue .................................... [\x1b[33mSKIP\x1b[0m]",
        "\x1b[0m10:51:37  \x1b[31mCompleted with 1 error and 0 warnings:\x1b[0m",
        "\x1b[0m10:51:37  ",
        "\x1b[0m10:51:37    Runtime Error in model fct_orders (models/marts/fct_orders.sql)",
        "  Invalid Input Error: SSL SYSCALL error: EOF detected; could not receive data from server: Connection reset by peer",
        "\x1b[0m10:51:37  ",
        "\x1b[0m10:51:37  Done. PASS=1 WARN=0 ERROR=1 SKIP=1 TOTAL=3",
    ];
    /// A build killed part-way (1.8 killed_second_step_sigterm): no end-of-run marker, and
    /// Python's warning after the SIGTERM.
    const KILLED_BUILD: &[&str] = &[
        "\x1b[0m10:52:13  Running with dbt=1.8.8",
        "\x1b[0m10:52:14  1 of 28 START seed file main.raw_customers ..................................... [RUN]",
        "\x1b[0m10:52:14  1 of 28 OK loaded seed file main.raw_customers ................................. [\x1b[32mINSERT 4\x1b[0m in 0.08s]",
        "\x1b[0m10:52:14  4 of 28 START sql view model main.stg_customers ................................ [RUN]",
        "\x1b[0m10:52:15  4 of 28 OK created sql view model main.stg_customers ........................... [\x1b[32mOK\x1b[0m in 0.69s]",
        "\x1b[0m10:52:17  14 of 28 START sql table model main.dim_customers .............................. [RUN]",
        "/root/.pyenv/versions/3.11.7/lib/python3.11/multiprocessing/resource_tracker.py:254: UserWarning: resource_tracker: There appear to be 2 leaked semaphore objects to clean up at shutdown",
        "  warnings.warn('resource_tracker: There appear to be %d '",
    ];
    // JSON events of 1.8 json_deps_and_build, `data` and `info` shortened.
    const JSON_DEPS: &[&str] = &[
        r#"{"data": {"log_version": 3, "version": "=1.8.8"}, "info": {"category": "", "code": "A001", "extra": {}, "invocation_id": "12441269-861d-4bba-80ae-fbad4a881aa3", "level": "info", "msg": "Running with dbt=1.8.8", "name": "MainReportVersion", "pid": 6000}}"#,
        r#"{"data": {}, "info": {"category": "", "code": "M013", "extra": {}, "invocation_id": "12441269-861d-4bba-80ae-fbad4a881aa3", "level": "info", "msg": "Warning: No packages were found in packages.yml", "name": "DepsNoPackagesFound", "pid": 6000}}"#,
    ];
    const JSON_BUILD: &[&str] = &[
        r#"{"data": {"log_version": 3, "version": "=1.8.8"}, "info": {"category": "", "code": "A001", "extra": {}, "invocation_id": "b5b9cc1c-8848-44f3-8dd5-3b39ad2c46b3", "level": "info", "msg": "Running with dbt=1.8.8", "name": "MainReportVersion", "pid": 6008}}"#,
        r#"{"data": {"description": "sql view model main.stg_customers", "index": 4, "node_info": {"node_name": "stg_customers", "node_status": "success", "resource_type": "model", "unique_id": "model.shop.stg_customers"}, "status": "OK", "total": 28}, "info": {"category": "", "code": "Q012", "extra": {}, "invocation_id": "b5b9cc1c-8848-44f3-8dd5-3b39ad2c46b3", "level": "info", "msg": "4 of 28 OK created sql view model main.stg_customers", "name": "LogModelResult", "pid": 6008}}"#,
        r#"{"data": {"stats": {"error": 1, "pass": 17, "skip": 10, "total": 28, "warn": 0}}, "info": {"category": "", "code": "Z023", "extra": {}, "invocation_id": "b5b9cc1c-8848-44f3-8dd5-3b39ad2c46b3", "level": "info", "msg": "Done. PASS=17 WARN=0 ERROR=1 SKIP=10 TOTAL=28", "name": "StatsLine", "pid": 6008}}"#,
    ];

    fn split(parts: &[&[&str]]) -> SplitLog {
        let mut splitter = InvocationSplitter::default();
        for line in parts.iter().flat_map(|p| p.iter()) {
            splitter.push_line(line.as_bytes());
        }
        splitter.finish()
    }

    fn names(nodes: impl IntoIterator<Item = String>) -> Vec<String> {
        nodes.into_iter().collect()
    }

    #[test]
    fn a_script_log_splits_at_every_header_with_its_own_report() {
        let log = split(&[DEPS, SEED, RUN]);
        assert_eq!((log.invocations.len(), log.preamble_lines), (3, 0));
        assert!(!log.truncated);
        let [deps, seed, run] = &log.invocations[..] else {
            panic!("three invocations");
        };
        assert_eq!(
            [deps.first_line, seed.first_line, run.first_line],
            [1, 4, 14]
        );
        assert!(deps.setup_markers && !seed.setup_markers && !run.setup_markers);
        for inv in &log.invocations {
            assert_eq!(inv.report.dbt_version.as_deref(), Some("1.8.8"));
            assert!(inv.report.end_of_run, "{inv:?}");
            assert_eq!(inv.invocation_id, None);
        }
        assert_eq!(deps.report.lines, 3);
        assert_eq!(seed.report.finished.count, 1);
        assert!(seed.report.failed.is_empty());
        let failed = names(run.report.failed.iter().map(|n| n.name.clone()));
        assert_eq!(failed, ["fct_orders"]);
        assert_eq!(run.report.skipped.len(), 1);
        assert_eq!(run.report.finished.count, 1);
        assert_eq!(run.report.stats.map(|s| s.total), Some(3));
    }

    #[test]
    fn lines_before_the_first_header_are_preamble_and_the_phrase_elsewhere_starts_nothing() {
        let preamble: &[&str] = &[
            "+ aws s3 cp s3://bucket/profiles.yml .",
            "Running with dbt=1.8.8",
            "echo: Running with dbt=1.8.8",
            "\x1b[0m10:51:20  Not Running with dbt=1.8.8",
            r#"{"invocation_id": "not-a-dbt-event"}"#,
        ];
        let log = split(&[preamble, SEED]);
        assert_eq!(log.preamble_lines, 5);
        assert_eq!(log.invocations.len(), 1);
        assert_eq!(log.invocations[0].first_line, 6);
        // The same lines inside an invocation stay in it.
        let log = split(&[SEED, preamble, RUN]);
        assert_eq!(log.invocations.len(), 2);
        assert_eq!(log.invocations[0].report.lines, (SEED.len() + 5) as u64);
    }

    #[test]
    fn the_debug_format_header_counts_too() {
        let debug: &[&str] = &["10:51:36.123456 [info ] [MainThread]: Running with dbt=1.8.8"];
        let log = split(&[SEED, debug]);
        assert_eq!(log.invocations.len(), 2);
        assert_eq!(log.invocations[1].first_line, SEED.len() as u64 + 1);
    }

    #[test]
    fn the_last_invocation_of_a_killed_run_has_no_end_of_run() {
        let mut splitter = InvocationSplitter::default();
        assert!(!splitter.end_of_run());
        for line in SEED {
            splitter.push_line(line.as_bytes());
        }
        assert!(splitter.end_of_run());
        for line in KILLED_BUILD {
            splitter.push_line(line.as_bytes());
            assert!(!splitter.end_of_run(), "{line}");
        }
        assert_eq!(splitter.invocations_started(), 2);
        let log = splitter.finish();
        let killed = &log.invocations[1].report;
        assert!(!killed.end_of_run);
        assert_eq!(killed.finished.count, 2);
        assert_eq!(killed.lines, KILLED_BUILD.len() as u64);
        assert!(log.invocations[1].could_be("build"));
    }

    #[test]
    fn json_invocations_split_at_a_new_invocation_id_and_mix_with_text() {
        let log = split(&[SEED, JSON_DEPS, JSON_BUILD, RUN]);
        let ids: Vec<Option<&str>> = log
            .invocations
            .iter()
            .map(|i| i.invocation_id.as_deref().map(|id| &id[..8]))
            .collect();
        assert_eq!(ids, [None, Some("12441269"), Some("b5b9cc1c"), None]);
        let [seed, deps, build, run] = &log.invocations[..] else {
            panic!("four invocations");
        };
        assert_eq!(deps.first_line, SEED.len() as u64 + 1);
        assert!(deps.setup_markers && deps.report.end_of_run && deps.could_be("deps"));
        assert_eq!(deps.report.format, LogFormat::Json);
        assert_eq!(build.report.finished.count, 1);
        assert!(build.report.end_of_run && !build.setup_markers);
        assert_eq!(build.report.dbt_version.as_deref(), Some("1.8.8"));
        assert!(seed.report.end_of_run && run.report.end_of_run);
        assert_eq!(run.report.format, LogFormat::Text);
    }

    #[test]
    fn an_invocation_id_is_read_with_any_spacing_and_checked_before_it_starts_one() {
        let compact = r#"{"data":{},"info":{"invocation_id":"c0ffee","name":"MainReportVersion","msg":"Running with dbt=1.8.8"}}"#;
        let imitation =
            r#"{"info": {"msg": "x \"invocation_id\": \"d00d\""}, "invocation_id": "d00d"}"#;
        let log = split(&[&[compact, imitation]]);
        assert_eq!(log.invocations.len(), 1);
        assert_eq!(log.invocations[0].invocation_id.as_deref(), Some("c0ffee"));
        assert_eq!(log.invocations[0].report.lines, 2);
    }

    #[test]
    fn past_the_limit_invocations_are_counted_not_kept() {
        let mut splitter = InvocationSplitter::new(Limits::default(), 2);
        for _ in 0..5 {
            for line in SEED {
                splitter.push_line(line.as_bytes());
            }
        }
        assert_eq!(splitter.invocations_started(), 5);
        assert!(splitter.end_of_run());
        let log = splitter.finish();
        assert_eq!(log.invocations.len(), 2);
        assert!(log.truncated);
        assert_eq!(log.invocations[1].first_line, SEED.len() as u64 + 1);
    }

    #[test]
    fn deps_with_packages_ends_when_every_install_is_done_and_the_script_went_on() {
        let deps: &[&str] = &[
            "\x1b[0m10:00:00  Running with dbt=1.8.8",
            "\x1b[0m10:00:01  Updating lock file in file path: /app/package-lock.yml",
            "\x1b[0m10:00:01  Installing dbt-labs/dbt_utils",
            "\x1b[0m10:00:02  Installed from version 1.1.1",
            "\x1b[0m10:00:02  Up to date!",
        ];
        let alone = split(&[deps]);
        assert!(alone.invocations[0].setup_markers);
        assert!(!alone.invocations[0].report.end_of_run);
        let then_run = split(&[deps, RUN]);
        assert!(then_run.invocations[0].report.end_of_run);
        assert!(then_run.invocations[0].could_be("deps"));
        assert!(!then_run.invocations[0].could_be("run"));
        // Cut in the middle of an install: not over, even when something followed.
        let cut = split(&[&deps[..3], RUN]);
        assert!(!cut.invocations[0].report.end_of_run);
    }

    #[test]
    fn could_be_follows_the_node_types_and_the_setup_markers() {
        let log = split(&[DEPS, SEED, RUN, KILLED_BUILD]);
        let [deps, seed, run, build] = &log.invocations[..] else {
            panic!("four invocations");
        };
        let verbs = [
            "build", "run", "test", "seed", "snapshot", "deps", "compile",
        ];
        let consistent = |inv: &Invocation| -> Vec<&str> {
            verbs.iter().copied().filter(|v| inv.could_be(v)).collect()
        };
        assert_eq!(consistent(deps), ["deps"]);
        assert_eq!(consistent(seed), ["build", "seed"]);
        assert_eq!(consistent(run), ["build", "run"]);
        // Seeds and a model started: only build.
        assert_eq!(consistent(build), ["build"]);
        assert!(seed.could_be("retry") && !seed.could_be("source freshness"));
        assert!(seed.could_be("some-future-verb"));
        // Only a header: consistent with everything, deps included.
        let bare = split(&[&SEED[..1]]);
        assert_eq!(consistent(&bare.invocations[0]), verbs);
    }

    #[test]
    fn a_unit_test_error_named_after_a_model_does_not_make_a_test_run_a_run() {
        // 1.8 semicolon_list_later_step_runs: `dbt test` whose unit test could not read
        // fct_orders; dbt's summary names the model.
        let test: &[&str] = &[
            "\x1b[0m10:51:48  Running with dbt=1.8.8",
            "\x1b[0m10:51:49  1 of 2 START test accepted_values_stg_orders_status__placed__shipped__completed__returned  [RUN]",
            "\x1b[0m10:51:49  1 of 2 PASS accepted_values_stg_orders_status__placed__shipped__completed__returned  [\x1b[32mPASS\x1b[0m in 0.06s]",
            "\x1b[0m10:51:49  2 of 2 START unit_test agg_daily_revenue::test_agg_daily_revenue_sums_orders . [RUN]",
            "\x1b[0m10:51:49  2 of 2 ERROR agg_daily_revenue::test_agg_daily_revenue_sums_orders ........... [\x1b[31mERROR\x1b[0m in 0.07s]",
            "\x1b[0m10:51:49  \x1b[31mCompleted with 1 error and 0 warnings:\x1b[0m",
            "\x1b[0m10:51:49  ",
            "\x1b[0m10:51:49    Compilation Error in model fct_orders (models/marts/unit_tests.yml)",
            "  Not able to get columns for unit test 'fct_orders' from relation \"shop\".\"main\".\"fct_orders\" because the relation doesn't exist",
            "\x1b[0m10:51:49  ",
            "\x1b[0m10:51:49  Done. PASS=1 WARN=0 ERROR=1 SKIP=0 TOTAL=2",
        ];
        let log = split(&[test]);
        let inv = &log.invocations[0];
        // The summary's "model" is the unit test's input; the result line names the unit test.
        let failed: Vec<_> = inv
            .report
            .failed
            .iter()
            .map(|f| (f.resource_type, f.name.as_str()))
            .collect();
        assert_eq!(
            failed,
            [(ResourceType::UnitTest, "test_agg_daily_revenue_sums_orders")]
        );
        assert!(inv.could_be("test") && inv.could_be("build"));
        assert!(!inv.could_be("run") && !inv.could_be("deps"));
        // A model that finished is no test run.
        let log = split(&[&RUN[..3]]);
        assert!(!log.invocations[0].could_be("test"));
    }

    #[test]
    fn hooks_and_freshness_lines_of_text_logs_are_no_model_evidence() {
        // dbt's formats: `LogHookEndLine` (`OK hook: <project>.on-run-end.<n>`) and
        // `LogFreshnessResult` (`PASS freshness of <source>.<table>`).
        let seed_with_hook: &[&str] = &[
            "10:00:00  Running with dbt=1.8.8",
            "10:00:01  1 of 1 START seed file main.raw_customers ..... [RUN]",
            "10:00:01  1 of 1 OK loaded seed file main.raw_customers ..... [INSERT 4 in 0.1s]",
            "10:00:02  1 of 1 START hook: shop.on-run-end.0 ..... [RUN]",
            "10:00:02  1 of 1 OK hook: shop.on-run-end.0 ..... [OK in 0.01s]",
        ];
        let freshness: &[&str] = &[
            "10:00:00  Running with dbt=1.8.8",
            "10:00:01  1 of 1 START freshness of raw.raw_orders ..... [RUN]",
            "10:00:01  1 of 1 PASS freshness of raw.raw_orders ..... [PASS in 0.02s]",
        ];
        let log = split(&[seed_with_hook, freshness]);
        let [seed, source] = &log.invocations[..] else {
            panic!("two invocations");
        };
        assert_eq!(seed.report.finished.count, 1, "a hook is not a node");
        assert!(seed.could_be("seed") && !seed.could_be("run"));
        assert!(source.could_be("source freshness"));
        assert!(!source.could_be("seed") && !source.could_be("compile"));
    }

    #[test]
    fn source_in_a_json_log_shows_no_models() {
        let log = split(&[JSON_BUILD]);
        let build = &log.invocations[0];
        assert!(!build.could_be("source") && !build.could_be("docs generate"));
        assert!(build.could_be("run") && !build.could_be("seed"));
    }
}
