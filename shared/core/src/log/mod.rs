//! Streaming parser for dbt's console output, as CloudWatch stores it: one event per line.
//!
//! Feed it lines with [`LogParser::push_line`] (or a whole reader with [`parse_reader`]) and
//! take the [`RunReport`] with [`LogParser::finish`]. Each line is detected on its own as
//! dbt's JSON format (`--log-format json`) or text, so mixed logs (an entrypoint script that
//! echoes before dbt starts) parse too. Memory is bounded: the report keeps at most
//! [`Limits`] entries and bytes, whatever the length of the log; past a limit it counts and
//! says so in [`RunReport::truncated`].
//!
//! A log holding several dbt invocations (a script's `dbt deps && dbt build`) is cut into one
//! report per invocation by [`InvocationSplitter`] (or [`split_reader`]).
//!
//! Before the parser, [`LineReader`] turns a log's events into dbt's lines however the task
//! shipped them: FireLens records unwrapped, multi-line events split, a prefix every line
//! shares stripped (see [`source`]). A log dbt Fusion wrote is recognised and summarised in
//! [`RunReport::fusion`], never read as dbt Core's (see [`fusion`]).

pub mod batches;
pub mod fusion;
mod invocations;
mod json;
pub mod source;
mod text;

pub use batches::{
    BatchSize, BatchStart, BatchStatus, MicrobatchRun, MicrobatchRuns, ModelOutcome,
};
pub use fusion::FusionLog;
pub use invocations::{
    split_reader, Invocation, InvocationSplitter, SplitLog, DEFAULT_MAX_INVOCATIONS,
};
pub use source::{EventFormat, FireLensRecords, LinePrefix, LineReader, ReadStats};

use crate::node::{FailStatus, FailedNode, ResourceType, SkippedNode};
use serde::Serialize;
use std::collections::HashMap;
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
    /// never says the version; JSON events always do.) At most [`MAX_VERSIONS_UNKNOWN`].
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
    pub lines: u64,
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
    pub pass: u64,
    pub warn: u64,
    pub error: u64,
    pub skip: u64,
    pub total: u64,
    /// `REUSED=` (1.12+): nodes dbt reused from an earlier build instead of building them
    /// (status `reused`): finished, never re-run. 0 before 1.12.
    pub reused: u64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    #[default]
    Empty,
    Text,
    Json,
    Mixed,
}

/// The most names [`RunReport::versions_unknown`] keeps; past it the report is truncated.
pub const MAX_VERSIONS_UNKNOWN: usize = 1000;

/// Bounds on what a report keeps, so memory does not grow with the log.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub failed: usize,
    pub skipped: usize,
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

/// Where the parser is in dbt's output, for lines that continue an earlier one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Block {
    None,
    /// Message lines of `failed[index]`, from the end-of-run summary.
    Failure {
        index: usize,
        has_text: bool,
    },
    /// A block whose lines are not needed (warnings, compiled-code paths).
    Ignored,
    /// The error that stopped dbt.
    TopLevelError,
    /// The message of a failed batch (`Unhandled error while executing`), which names no
    /// model: it belongs to the next failed batch.
    BatchError,
}

/// A streaming dbt log parser. See the module documentation.
pub struct LogParser {
    report: RunReport,
    limits: Limits,
    block: Block,
    /// The end-of-run summary (`Completed with ...`) has begun: failure headers count.
    in_summary: bool,
    /// The summary began only with a `Completed with N errors` line that had lost its
    /// timestamp (a pasted excerpt): its headers count, and so do the result lines' failures.
    summary_untimed: bool,
    /// Failures read from result lines (`ERROR creating ... main.x`), used when no summary
    /// names them (a log cut short).
    result_failures: Vec<FailedNode>,
    /// The summary named a unit test's error after a model: its result line is the truth.
    unit_tests_unnamed: bool,
    /// Failed node by unique_id or name, to attach messages and skip duplicates.
    failed_index: HashMap<String, usize>,
    seen_text: bool,
    seen_json: bool,
    scratch: Vec<u8>,
    starts: StartedNodes,
    /// The last result line skipped a node because of its ephemeral parent: an error header
    /// that follows names that parent (dbt prints it there, not in the summary).
    ephemeral_skipped: bool,
    /// Indexes into `report.failed` of ephemeral models, which have no result line.
    ephemeral_failures: std::collections::HashSet<usize>,
    /// Failed batches' messages not yet tied to their batch: (thread, message, detail), in
    /// log order (a text log names no thread: "").
    batch_errors: std::collections::VecDeque<(String, String, String)>,
}

/// Text result lines in flight: which node each started index names, and which indexes
/// have started at all (one bit each, so the memory stays small for a million nodes).
#[derive(Default)]
struct StartedNodes {
    /// Index -> a hash of the node name its START line gave (no allocation per node).
    running: HashMap<u64, u64, std::hash::BuildHasherDefault<IndexHasher>>,
    ever: Vec<u64>,
}

/// A fast hasher for result indexes (Fibonacci hashing): the in-flight map sees two
/// operations per node, and SipHash showed in the parse benchmark.
#[derive(Default)]
struct IndexHasher(u64);

impl std::hash::Hasher for IndexHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0.rotate_left(5) ^ u64::from(*b)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0 ^ n).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

/// FNV-1a of a node name.
fn name_hash(name: &[u8]) -> u64 {
    name.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Indexes above this are not remembered as started: a bit each up to here (256 KiB, for two
/// million nodes, more than any dbt project has), allocated only as far as the highest index
/// a log shows.
const MAX_TRACKED_INDEX: u64 = 2 << 20;

impl StartedNodes {
    /// A START line; false when the index had started before (a contradiction).
    fn begin(&mut self, index: u64, name: &[u8]) -> bool {
        let mut fresh = true;
        if index < MAX_TRACKED_INDEX {
            let (word, bit) = ((index / 64) as usize, 1u64 << (index % 64));
            if self.ever.len() <= word {
                self.ever.resize(word + 1, 0);
            }
            fresh = self.ever[word] & bit == 0;
            self.ever[word] |= bit;
        }
        // Bounded: dbt has at most its thread count of nodes running.
        if self.running.len() < 100_000 {
            self.running.insert(index, name_hash(name));
        }
        fresh
    }

    /// A result line; true when it follows a START of the same index and node.
    fn end(&mut self, index: u64, name: &[u8]) -> bool {
        self.running.remove(&index) == Some(name_hash(name))
    }
}

impl Default for LogParser {
    fn default() -> Self {
        Self::new(Limits::default())
    }
}

impl LogParser {
    pub fn new(limits: Limits) -> Self {
        Self {
            report: RunReport::default(),
            limits,
            block: Block::None,
            in_summary: false,
            summary_untimed: false,
            result_failures: Vec::new(),
            unit_tests_unnamed: false,
            failed_index: HashMap::new(),
            seen_text: false,
            seen_json: false,
            scratch: Vec::new(),
            starts: StartedNodes::default(),
            ephemeral_skipped: false,
            ephemeral_failures: std::collections::HashSet::new(),
            batch_errors: std::collections::VecDeque::new(),
        }
    }

    /// Parses one line (one CloudWatch event). Trailing `\r`/`\n` are ignored; bytes need not
    /// be UTF-8.
    pub fn push_line(&mut self, line: &[u8]) {
        self.report.lines += 1;
        self.report.bytes += line.len() as u64;
        let mut line = &line[..line.len().min(self.limits.line_bytes)];
        while let [rest @ .., b'\n' | b'\r'] = line {
            line = rest;
        }
        if let Some((index, status, desc)) = text::fast_result(line) {
            self.seen_text = true;
            self.block = Block::None;
            self.fast_result_line(index, status, desc);
            return;
        }
        let first = line.iter().position(|b| !b.is_ascii_whitespace());
        if first.is_some_and(|i| line[i] == b'{') && self.push_json(line) {
            self.seen_json = true;
            return;
        }
        self.push_text(line);
    }

    /// dbt's end-of-run marker has been seen so far.
    pub fn end_of_run(&self) -> bool {
        self.report.end_of_run
    }

    /// Nothing dbt prints after this point can change the report: its final stats line
    /// (`Done. PASS=...`, JSON `StatsLine`) has been seen, which dbt prints last (only
    /// warnings such as its deprecation summary may follow), and no error is still being
    /// read. A log read page by page can stop here without asking for more.
    pub fn settled(&self) -> bool {
        self.report.stats.is_some() && self.block != Block::TopLevelError
    }

    /// The report for everything pushed so far.
    pub fn finish(mut self) -> RunReport {
        if self.in_summary && !self.summary_untimed {
            self.report.aliased = self.summary_names_differ();
            if self.unit_tests_unnamed {
                self.add_unit_tests_of_result_lines();
            }
        } else {
            // No end-of-run summary (a log cut short, a run killed): the result lines'
            // failures are all there is. With a summary, the summary is dbt's verdict (under
            // --fail-fast, dbt prints nodes it cancelled as ERROR but records them skipped).
            for node in std::mem::take(&mut self.result_failures) {
                let known = self.report.failed.iter().any(|f| {
                    f.name == node.name || (f.unique_id.is_some() && f.unique_id == node.unique_id)
                });
                if !known {
                    self.add_failed(node);
                }
            }
        }
        self.explain_failed_microbatch_models();
        self.report.format = match (self.seen_text, self.seen_json) {
            (false, false) => LogFormat::Empty,
            (true, false) => LogFormat::Text,
            (false, true) => LogFormat::Json,
            (true, true) => LogFormat::Mixed,
        };
        self.report
    }

    /// The unit tests whose result lines say they failed, when the summary did not name them.
    fn add_unit_tests_of_result_lines(&mut self) {
        let unit_tests: Vec<FailedNode> = self
            .result_failures
            .iter()
            .filter(|n| n.resource_type == ResourceType::UnitTest)
            .filter(|n| !self.report.failed.iter().any(|f| f.name == n.name))
            .cloned()
            .collect();
        for node in unit_tests {
            self.add_failed(node);
        }
    }

    /// A failed model, seed or snapshot the text summary names (by node name) has no result
    /// line of that name, while result lines name such failures (by relation): the
    /// relations are aliased.
    /// A version the summary names `model.vN` builds `model_vN` unless it sets an alias; an
    /// ephemeral model has no result line at all.
    fn summary_names_differ(&self) -> bool {
        let by_relation = |n: &&FailedNode| n.resource_type.named_by_relation();
        let mut result_lines = self.result_failures.iter().filter(by_relation).peekable();
        if result_lines.peek().is_none() {
            return false;
        }
        let relations: std::collections::HashSet<&str> =
            result_lines.map(|n| n.name.as_str()).collect();
        let relation_of = |n: &FailedNode| match crate::node::version_parts(&n.name) {
            Some((base, version)) if n.name.contains('.') => format!("{base}_{version}"),
            _ => n.name.clone(),
        };
        self.report
            .failed
            .iter()
            .enumerate()
            .filter(|(i, _)| !self.ephemeral_failures.contains(i))
            .map(|(_, n)| n)
            .filter(by_relation)
            .filter(|n| n.unique_id.is_none())
            .any(|n| !relations.contains(relation_of(n).as_str()))
    }

    /// A versioned model named without its version (see [`RunReport::versions_unknown`]).
    fn note_version_unknown(&mut self, model: &str) {
        let known = &mut self.report.versions_unknown;
        if known.iter().any(|m| m == model) {
            return;
        }
        if known.len() >= MAX_VERSIONS_UNKNOWN {
            self.report.truncated = true;
        } else {
            known.push(model.to_owned());
        }
    }

    fn add_failed(&mut self, node: FailedNode) -> Option<usize> {
        let key = node.unique_id.clone().unwrap_or_else(|| node.name.clone());
        if let Some(&index) = self.failed_index.get(&key) {
            return Some(index);
        }
        if self.report.failed.len() >= self.limits.failed {
            self.report.truncated = true;
            return None;
        }
        self.report.failed.push(node);
        let index = self.report.failed.len() - 1;
        self.failed_index.insert(key, index);
        Some(index)
    }

    fn add_skipped(&mut self, node: SkippedNode) {
        if self.report.skipped.len() >= self.limits.skipped {
            self.report.truncated = true;
        } else {
            self.report.skipped.push(node);
        }
    }

    fn add_finished(&mut self, node: SkippedNode) {
        let finished = &mut self.report.finished;
        finished.count += 1;
        if finished.nodes.len() >= self.limits.finished_names {
            self.report.truncated = true;
            return;
        }
        self.keep_finished(node);
    }

    /// [`LogParser::add_finished`] of a text result line's node, its name made a `String`
    /// only when kept.
    fn add_finished_with(&mut self, resource_type: ResourceType, name: &[u8]) {
        let finished = &mut self.report.finished;
        finished.count += 1;
        if finished.nodes.len() >= self.limits.finished_names {
            self.report.truncated = true;
            return;
        }
        self.keep_finished(SkippedNode {
            name: String::from_utf8_lossy(name).into_owned(),
            resource_type,
            unique_id: None,
        });
    }

    fn keep_finished(&mut self, node: SkippedNode) {
        let finished = &mut self.report.finished;
        finished.nodes.push(node);
        if self.report.failed.is_empty() && self.result_failures.is_empty() {
            finished.before_first_failure = finished.nodes.len();
        }
    }

    /// Appends a line of a failure's message: the first line that is not a header becomes the
    /// node's `message`; all lines, bounded, its `detail`.
    fn add_message_line(&mut self, index: usize, line: &str) {
        let limit = self.limits.message_bytes;
        let Some(node) = self.report.failed.get_mut(index) else {
            return;
        };
        let trimmed = line.trim();
        if node.message.is_empty() && !trimmed.is_empty() && text::parse_header(trimmed).is_none() {
            node.message = truncate(trimmed, 500).to_owned();
        }
        if node.detail.len() < limit {
            if !node.detail.is_empty() {
                node.detail.push('\n');
            }
            node.detail
                .push_str(truncate(trimmed, limit.saturating_sub(node.detail.len())));
        }
    }

    fn add_error_line(&mut self, line: &str) {
        let limit = self.limits.message_bytes;
        let error = self.report.error.get_or_insert_with(String::new);
        let line = line.trim_end();
        if error.len() < limit && !(error.is_empty() && line.trim().is_empty()) {
            if !error.is_empty() {
                error.push('\n');
            }
            error.push_str(truncate(line, limit.saturating_sub(error.len())));
        }
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

/// A failed node from a result or summary line, message to come.
fn failed_node(
    name: String,
    resource_type: ResourceType,
    unique_id: Option<String>,
    status: FailStatus,
) -> FailedNode {
    FailedNode {
        name,
        resource_type,
        unique_id,
        status,
        message: String::new(),
        detail: String::new(),
    }
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
pub fn for_each_line<R: Read>(
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
