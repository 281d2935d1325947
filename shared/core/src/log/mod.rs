//! Streaming parser for dbt's console output, as CloudWatch stores it: one event per line.
//!
//! Feed it lines with [`LogParser::push_line`] (or a whole reader with [`parse_reader`]) and
//! take the [`RunReport`] with [`LogParser::finish`]. Each line is detected on its own as
//! dbt's JSON format (`--log-format json`) or text, so mixed logs (an entrypoint script that
//! echoes before dbt starts) parse too. Memory is bounded: the report keeps at most
//! [`Limits`] entries and bytes, whatever the length of the log; past a limit it counts and
//! says so in [`RunReport::truncated`].
//!
//! Inside, each line goes through a reader, then the state machine. `text.rs` and `json.rs`
//! read a line of their format into dbt events (`event.rs`: what the line says, a node's
//! result, a summary header, the stats line...) without knowing what came before; `state.rs`
//! applies the events in one `match`, and is the only code that changes what the parser knows
//! (which node a message line belongs to, whether the summary has begun...).
//!
//! A log holding several dbt invocations (a script's `dbt deps && dbt build`) is cut into one
//! report per invocation by [`InvocationSplitter`] (or [`split_reader`]).
//!
//! Before the parser, [`LineReader`] turns a log's events into dbt's lines however the task
//! shipped them: FireLens records unwrapped, multi-line events split, a prefix every line
//! shares stripped (see [`source`]). A log dbt Fusion wrote is recognised and summarised in
//! [`RunReport::fusion`], never read as dbt Core's (see [`fusion`]).

pub mod batches;
mod event;
pub mod fusion;
mod invocations;
mod json;
pub mod source;
mod state;
mod text;

pub use batches::{
    BatchSize, BatchStart, BatchStatus, MicrobatchRun, MicrobatchRuns, ModelOutcome,
};
pub use fusion::FusionLog;
pub use invocations::{
    split_reader, Invocation, InvocationSplitter, SplitLog, DEFAULT_MAX_INVOCATIONS,
};
pub use source::{EventFormat, FireLensRecords, LinePrefix, LineReader, ReadStats};

use crate::node::{FailedNode, SkippedNode};
use event::{DbtEvent, LineKind};
use serde::Serialize;
use state::State;
use std::io::{self, Read};

/// What dbt's output said about one run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RunReport {
    /// `text`, `json`, `mixed` (both seen) or `empty` (no dbt line at all).
    pub format: LogFormat,
    /// dbt-core's version from `Running with dbt=...`.
    pub dbt_version: Option<String>,
    /// Nodes that errored or failed, in the order dbt reported them.
    pub failed: Vec<FailedNode>,
    /// Nodes dbt listed as skipped.
    pub skipped: Vec<SkippedNode>,
    /// Nodes that finished (OK, PASS, WARN, loaded seeds, taken snapshots).
    pub finished: FinishedNodes,
    /// dbt's closing stats line (`Done. PASS=.. ERROR=..`).
    pub stats: Option<RunStats>,
    /// dbt's end-of-run marker was seen: the stats line, or the error that stopped dbt.
    pub end_of_run: bool,
    /// The error that stopped dbt itself (exit 2: compilation, parsing, connection), first
    /// lines, without colour codes.
    pub error: Option<String>,
    /// dbt cancelled running nodes (`--fail-fast`): it does not list what it never started.
    pub cancelled: bool,
    /// A limit of [`Limits`] was reached: some names were counted but not kept.
    pub truncated: bool,
    /// Lines contradict each other (a result index started twice): something in the log
    /// imitates dbt's own lines, so its finished nodes are not trusted for a resume.
    pub conflicting: bool,
    /// A text log names a failed model, seed or snapshot by a relation other than its node
    /// name (the project sets `alias`, or its own `generate_alias_name`). dbt's OK/ERROR
    /// lines name the relation built, so the finished names may not be node names at all;
    /// its SKIP lines and summary use node names.
    pub aliased: bool,
    /// Versioned models a text log names without saying which version did not succeed: the
    /// summary header of a version defined in a file not named `<model>_v<N>`. (A SKIP line
    /// never says the version; JSON events always do.) At most `MAX_VERSIONS_UNKNOWN`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub versions_unknown: Vec<String>,
    /// dbt Fusion (dbt 2.0) wrote (part of) this log: its output is not dbt Core's, and what
    /// the other fields say of it means nothing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fusion: Option<FusionLog>,
    /// The prefix every line shared (a shipper's timestamp), stripped before parsing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line_prefix: Option<LinePrefix>,
    /// Microbatch models whose batches the log shows, and what became of each batch (see
    /// [`batches`]). A model some of whose batches failed is also among `failed`.
    #[serde(skip_serializing_if = "MicrobatchRuns::is_empty")]
    pub microbatch: MicrobatchRuns,
    /// Lines of the log read.
    pub lines: u64,
    /// Bytes read.
    pub bytes: u64,
}

impl RunReport {
    /// dbt listed every node it skipped: the names kept equal the stats line's count and no
    /// cancellation hid any. Without this, "failed + skipped" cannot be an exact list.
    pub fn skipped_complete(&self) -> bool {
        let counted = self.stats.map(|s| s.skip);
        !self.truncated && !self.cancelled && counted == Some(self.skipped.len() as u64)
    }
}

/// Nodes a run finished, for resuming a run cut off part-way.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct FinishedNodes {
    /// How many nodes finished (success, pass, warn, no-op or reused), all of them, not only
    /// the named ones.
    pub count: u64,
    /// Up to [`Limits::finished_names`] of them, in log order.
    #[serde(skip)]
    pub nodes: Vec<SkippedNode>,
    /// How many of `nodes` finished before the first failure was reported. With `--fail-fast`
    /// dbt records nodes that finish after the first failure as skipped, so only these count.
    #[serde(skip)]
    pub before_first_failure: usize,
}

/// The counts of dbt's closing stats line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct RunStats {
    /// `PASS=`: nodes that succeeded.
    pub pass: u64,
    /// `WARN=`: tests that warned (finished).
    pub warn: u64,
    /// `ERROR=`: nodes that errored or failed.
    pub error: u64,
    /// `SKIP=`: nodes dbt skipped, mostly because an upstream node failed.
    pub skip: u64,
    /// `TOTAL=`: every node of the run.
    pub total: u64,
    /// `REUSED=` (1.12+): nodes dbt reused from an earlier build instead of building them
    /// (status `reused`): finished, never re-run. 0 before 1.12.
    pub reused: u64,
}

/// How dbt wrote the log: its console text, its JSON lines (`--log-format json`), or both.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    /// No dbt line was read.
    #[default]
    Empty,
    /// dbt's text output only.
    Text,
    /// dbt's JSON log lines only.
    Json,
    /// Both (a script whose steps log differently, or a wrapper that echoes text).
    Mixed,
}

/// The most names [`RunReport::versions_unknown`] keeps; past it the report is truncated.
pub(crate) const MAX_VERSIONS_UNKNOWN: usize = 1000;

/// Bounds on what a report keeps, so memory does not grow with the log.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Failed nodes kept; past it the report is truncated.
    pub failed: usize,
    /// Skipped nodes kept; past it the report is truncated.
    pub skipped: usize,
    /// Names of finished nodes kept (their count is always kept).
    pub finished_names: usize,
    /// Bytes of a failure's message kept for classification.
    pub message_bytes: usize,
    /// Longest line looked at; the rest of a longer line is ignored.
    pub line_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            failed: 10_000,
            skipped: 100_000,
            finished_names: 20_000,
            message_bytes: 4096,
            line_bytes: 1 << 20,
        }
    }
}

/// A streaming dbt log parser. See the module documentation.
///
/// Readers turn each line into dbt events (`text.rs`, `json.rs`); the state machine
/// (`state.rs`) applies them, and is the only code that changes what the parser knows.
pub struct LogParser {
    reader: Reader,
    state: State,
}

impl Default for LogParser {
    fn default() -> Self {
        Self::new(Limits::default())
    }
}

impl LogParser {
    /// A parser that has read nothing yet, keeping at most what `limits` allow.
    pub fn new(limits: Limits) -> Self {
        Self {
            reader: Reader {
                line_bytes: limits.line_bytes,
                text: text::TextReader::default(),
            },
            state: State::new(limits),
        }
    }

    /// Parses one line (one CloudWatch event). Trailing `\r`/`\n` are ignored; bytes need not
    /// be UTF-8.
    pub fn push_line(&mut self, line: &[u8]) {
        let state = &mut self.state;
        self.reader.read(line, &mut |event| state.apply(event));
    }

    /// dbt's end-of-run marker has been seen so far.
    pub fn end_of_run(&self) -> bool {
        self.state.end_of_run()
    }

    /// Nothing dbt prints after this point can change the report: its final stats line
    /// (`Done. PASS=...`, JSON `StatsLine`) has been seen, which dbt prints last (only
    /// warnings such as its deprecation summary may follow), and no error is still being
    /// read. A log read page by page can stop here without asking for more.
    pub fn settled(&self) -> bool {
        self.state.settled()
    }

    /// The report for everything pushed so far.
    pub fn finish(self) -> RunReport {
        self.state.finish()
    }
}

/// Reads a line of either format into [`DbtEvent`]s: a text result line of a node that did
/// not fail on a byte-level hot path, a JSON event, else text.
struct Reader {
    /// Longest line looked at ([`Limits::line_bytes`]).
    line_bytes: usize,
    text: text::TextReader,
}

impl Reader {
    fn read(&mut self, line: &[u8], emit: &mut impl FnMut(DbtEvent<'_>)) {
        let bytes = line.len();
        let mut line = &line[..line.len().min(self.line_bytes)];
        while let [rest @ .., b'\n' | b'\r'] = line {
            line = rest;
        }
        if let Some(result) = text::fast_result(line) {
            emit(DbtEvent::Line {
                bytes,
                kind: LineKind::Text,
            });
            emit(result);
            return;
        }
        let first = line.iter().position(|b| !b.is_ascii_whitespace());
        if first.is_some_and(|i| line[i] == b'{') && json::read(line, bytes, emit) {
            return;
        }
        self.text.read(line, bytes, emit);
    }
}

/// A prefix of `s` of at most `max` bytes, cut at a character boundary.
pub(crate) fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Parses a whole log from a reader, line by line, in bounded memory; a prefix every line
/// shares is stripped first (see [`LineReader`]).
pub fn parse_reader<R: Read>(reader: R, limits: Limits) -> io::Result<RunReport> {
    let mut parser = LogParser::new(limits);
    let mut lines = LineReader::new(EventFormat::Text);
    let mut push = |line: &[u8]| parser.push_line(line);
    for_each_line(reader, limits.line_bytes, |line| {
        lines.push_line(line, &mut push)
    })?;
    let stats = lines.finish(&mut push);
    let mut report = parser.finish();
    report.line_prefix = stats.prefix;
    Ok(report)
}

/// Calls `f` with every line of `reader` (without its `\n`); a line longer than `max_line`
/// is cut to that length, the rest skipped, so memory stays bounded.
pub(crate) fn for_each_line<R: Read>(
    mut reader: R,
    max_line: usize,
    mut f: impl FnMut(&[u8]),
) -> io::Result<()> {
    let mut buf = vec![0u8; 256 * 1024];
    let mut start = 0; // start of the pending line in buf
    let mut end = 0; // end of valid data in buf
    let mut skipping = false; // inside an over-long line, dropping bytes to its end
    loop {
        let n = match reader.read(&mut buf[end..]) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if n == 0 {
            if end > start && !skipping {
                f(&buf[start..end]);
            }
            return Ok(());
        }
        let mut pos = end;
        end += n;
        while let Some(i) = memchr::memchr(b'\n', &buf[pos..end]) {
            let nl = pos + i;
            if !skipping {
                f(&buf[start..nl]);
            }
            skipping = false;
            start = nl + 1;
            pos = start;
        }
        // Keep the unfinished line; make room for more.
        if end - start >= max_line && !skipping {
            f(&buf[start..start + max_line]);
            skipping = true;
        }
        if skipping {
            start = end;
        }
        if start > 0 {
            buf.copy_within(start..end, 0);
            end -= start;
            start = 0;
        }
        if end == buf.len() {
            let grown = (buf.len() * 2).min(max_line + 1).max(buf.len() + 1);
            buf.resize(grown, 0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The names of the events the readers make of `line`.
    fn events_of(reader: &mut Reader, line: &str) -> Vec<String> {
        let mut names = Vec::new();
        reader.read(line.as_bytes(), &mut |event| {
            let debug = format!("{event:?}");
            let end = debug.find([' ', '(', '{']).unwrap_or(debug.len());
            names.push(debug[..end].to_owned());
        });
        names
    }

    #[test]
    fn a_line_is_read_into_the_events_it_says_whatever_came_before() {
        let cases: &[(&str, &[&str])] = &[
            (
                "\x1b[0m05:28:50  7 of 28 START test unique_x ............ [RUN]",
                &["Line", "ResultLine"],
            ),
            (
                "12:24:25  29 of 32 SKIP relation main.p due to ephemeral model status 'skipped'  [ERROR SKIP]",
                &["Line", "ResultLine", "EphemeralSkip"],
            ),
            (
                "12:15:26  Failure in model dim_accounts (models/dim_accounts.sql)",
                &["Line", "Message"],
            ),
            ("  Binder Error: x", &["Line", "Continuation"]),
            (
                "12:15:26  Done. PASS=1 WARN=0 ERROR=1 SKIP=1 NO-OP=0 TOTAL=3",
                &["Line", "DoneLine"],
            ),
            (
                r#"{"data": {"stats": {"pass": 1}}, "info": {"name": "StatsLine", "msg": ""}}"#,
                &["Line", "StatsLine"],
            ),
            (
                r#"{"data": {}, "info": {"name": "NodeStart", "msg": ""}}"#,
                &["Line"],
            ),
            // Not a dbt event after all: read as text.
            ("{ echo start; }", &["Line", "Continuation"]),
        ];
        let mut reader = LogParser::default().reader;
        for (line, events) in cases {
            assert_eq!(events_of(&mut reader, line), *events, "{line}");
        }
        // What a header does depends on where dbt is (the state machine's to know), what the
        // line says does not.
        let header = "12:15:26  Failure in model x (models/x.sql)";
        let mut parser = LogParser::default();
        parser.push_line(header.as_bytes());
        parser.push_line(b"12:15:26  Completed with 1 error, 0 partial successes, and 0 warnings:");
        let before = events_of(&mut parser.reader, header);
        parser.push_line(header.as_bytes());
        assert_eq!(events_of(&mut parser.reader, header), before);
        let failed: Vec<String> = parser.finish().failed.into_iter().map(|n| n.name).collect();
        assert_eq!(failed, ["x"]);
    }

    fn lines_of(input: &[u8], max: usize) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        for_each_line(input, max, |l| out.push(l.to_vec())).unwrap();
        out
    }

    #[test]
    fn lines_are_split_on_newlines_with_a_last_unterminated_line() {
        assert_eq!(
            lines_of(b"a\nbb\n\nccc", 100),
            vec![b"a".to_vec(), b"bb".to_vec(), b"".to_vec(), b"ccc".to_vec()]
        );
    }

    #[test]
    fn over_long_lines_are_cut_and_the_next_line_survives() {
        let mut input = vec![b'x'; 1_000_000];
        input.extend_from_slice(b"\nnext\n");
        let lines = lines_of(&input, 1000);
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].len(), 1000);
        assert_eq!(lines[1], b"next");
    }

    #[test]
    fn reading_in_small_pieces_gives_the_same_lines() {
        struct Trickle<'a>(&'a [u8]);
        impl Read for Trickle<'_> {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                let n = self.0.len().min(buf.len()).min(3);
                buf[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        let input = b"first line\nsecond\nthird one here\n";
        let mut out = Vec::new();
        for_each_line(Trickle(input), 100, |l| out.push(l.to_vec())).unwrap();
        assert_eq!(out, lines_of(input, 100));
    }
}
