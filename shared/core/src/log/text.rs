//! dbt's text console format, every version from 1.5: `HH:MM:SS  message`, colour codes even
//! without a terminal, multi-line messages continued on lines without a timestamp.

use super::event::{Continuation, DbtEvent, LineKind, Message, ResultNode, ResultStatus, Says};
use super::{truncate, RunStats};
use crate::node::{version_parts, FailStatus, ResourceType};
use std::borrow::Cow;

/// A summary header: `Failure in model fct_orders (models/fct_orders.sql)` (1.8–1.11),
/// `[ERROR]: in model fct_orders (...)` (1.12+), `Runtime Error in model ...` (1.6/1.7, and
/// the second line of 1.8+), `Database Error in seed ...`, `Warning in test ...` /
/// `[WARNING]: in test ...`.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Header<'a> {
    pub kind: HeaderKind,
    pub resource_type: ResourceType,
    pub name: &'a str,
    /// A "model" header whose file is YAML: dbt 1.8+ names a unit test's error after the
    /// model it reads (`Compilation Error in model fct_orders (models/marts/unit_tests.yml)`),
    /// not after the unit test.
    pub unit_test_in_disguise: bool,
    /// The file's name without its directory and extension (`dim_customers_v2`).
    pub file_stem: &'a str,
}

impl<'a> Header<'a> {
    pub(crate) fn is_warning(&self) -> bool {
        self.kind == HeaderKind::Warning
    }

    /// The name that selects the node: a model's file is named after it, except a version of
    /// a versioned model, whose default file is `<model>_v<N>` (dbt's `defined_in`); such a
    /// header names version N, selected as `<model>.vN`.
    pub fn node_name(&self) -> Cow<'a, str> {
        match self.version() {
            Some(version) => Cow::Owned(format!("{}.{version}", self.name)),
            None => Cow::Borrowed(self.name),
        }
    }

    fn version(&self) -> Option<&'a str> {
        if self.resource_type != ResourceType::Model || self.unit_test_in_disguise {
            return None;
        }
        version_parts(self.file_stem)
            .filter(|(base, _)| *base == self.name)
            .map(|(_, version)| version)
    }

    /// A model header whose file is neither the model's own name nor a version's default
    /// file: a version of a versioned model defined in a file of another name, which the
    /// header does not say.
    pub(crate) fn version_unknown(&self) -> bool {
        self.resource_type == ResourceType::Model
            && !self.unit_test_in_disguise
            && self.file_stem != self.name
            && self.version().is_none()
    }
}

/// What a summary header says of its node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HeaderKind {
    /// `Failure in` (1.8–1.11), `[ERROR]: in` (1.12+): the node did not succeed; the
    /// message (or an [`HeaderKind::Error`] line) follows.
    Failure,
    /// `Runtime Error in`, `Database Error in`, `Compilation Error in`: the node could not
    /// run, and the header names the error's kind.
    Error,
    /// `Warning in`, `[WARNING]: in`: the node passed with a warning.
    Warning,
}

/// Parses a summary header line (already trimmed, without timestamp and colours).
pub(crate) fn parse_header(line: &str) -> Option<Header<'_>> {
    let (kind, rest) = line.split_once(" in ")?;
    let kind = match kind {
        "Failure" | "[ERROR]:" => HeaderKind::Failure,
        "Warning" | "[WARNING]:" => HeaderKind::Warning,
        k if k.ends_with("Error") && k.len() < 40 => HeaderKind::Error,
        _ => return None,
    };
    let (type_word, rest) = rest.split_once(' ')?;
    let resource_type = ResourceType::from_dbt(type_word);
    if resource_type == ResourceType::Other {
        return None;
    }
    let (name, path) = rest.split_once(" (")?;
    if name.is_empty() || name.contains(' ') || !path.ends_with(')') {
        return None;
    }
    let yaml = path.ends_with(".yml)") || path.ends_with(".yaml)");
    let file = path[..path.len() - 1]
        .rsplit(['/', '\\'])
        .next()
        .unwrap_or_default();
    let file_stem = file.rsplit_once('.').map_or(file, |(stem, _)| stem);
    Some(Header {
        kind,
        resource_type,
        name,
        unit_test_in_disguise: resource_type == ResourceType::Model && yaml,
        file_stem,
    })
}

/// Removes ANSI escape sequences (CSI `ESC [ ... final`, and two-byte `ESC x`).
pub(crate) fn strip_ansi(line: &[u8], out: &mut Vec<u8>) {
    out.clear();
    let mut i = 0;
    while i < line.len() {
        match memchr::memchr(0x1b, &line[i..]) {
            None => {
                out.extend_from_slice(&line[i..]);
                break;
            }
            Some(j) => {
                out.extend_from_slice(&line[i..i + j]);
                i += j + 1;
                if line.get(i) == Some(&b'[') {
                    i += 1;
                    while i < line.len() && !(0x40..=0x7e).contains(&line[i]) {
                        i += 1;
                    }
                }
                i += 1; // the final byte, or the byte after a lone ESC
            }
        }
    }
}

/// Splits dbt's `HH:MM:SS` (text) or `HH:MM:SS.ffffff [info ] [Thread]: ` (debug) prefix off.
fn split_timestamp(line: &[u8]) -> Option<&[u8]> {
    let ts = line.get(..8)?;
    let digits = |r: std::ops::Range<usize>| ts[r].iter().all(u8::is_ascii_digit);
    if !(ts[2] == b':' && ts[5] == b':' && digits(0..2) && digits(3..5) && digits(6..8)) {
        return None;
    }
    let mut rest = &line[8..];
    if let [b'.', tail @ ..] = rest {
        let n = tail.iter().take_while(|b| b.is_ascii_digit()).count();
        rest = &tail[n..];
    }
    // The debug format's `[level] [thread]: ` prefix.
    if rest.starts_with(b" [") {
        if let Some(i) = memchr::memmem::find(rest, b"]: ") {
            rest = &rest[i + 3..];
        }
    }
    Some(rest)
}

/// `HH:MM:SS  N of M ... [`: a result line whose text up to its status bracket is all here.
fn is_result_line(line: &[u8]) -> bool {
    let Some(rest) = split_timestamp(line) else {
        return false;
    };
    let rest = rest.trim_ascii_start();
    rest.first().is_some_and(u8::is_ascii_digit) && rest.ends_with(b"[")
}

/// Splits `N of M REST` into (N, REST); None if the line is not a numbered result line.
fn split_result_index(line: &str) -> Option<(u64, &str)> {
    let bytes = line.as_bytes();
    let n = bytes.iter().take_while(|b| b.is_ascii_digit()).count();
    if n == 0 || !line[n..].starts_with(" of ") {
        return None;
    }
    let index = line[..n].parse().ok()?;
    let rest = &line[n + 4..];
    let m = rest.bytes().take_while(|b| b.is_ascii_digit()).count();
    if m == 0 || !rest[m..].starts_with(' ') {
        return None;
    }
    Some((index, &rest[m + 1..]))
}

/// The node a result line describes: the text before the dots and the `[STATUS in 0.1s]`.
/// `created sql table model main.fct_orders` gives (Model, `fct_orders`): text logs name a
/// model by its relation, `schema.alias`. None when the line names no node: a hook
/// (`START hook: shop.on-run-end.0`), or a name that is missing (a redacted paste's `SKIP
/// exposure  .....`) or only a node type.
fn result_subject(desc: &str) -> Option<(ResourceType, &str)> {
    // The span's ends are next to ASCII bytes (or the ends of `desc`): char boundaries.
    subject_span(desc.as_bytes()).map(|(t, span)| (t, &desc[span]))
}

/// [`result_subject`] over bytes: the node's type and where its name is in `desc`.
fn subject_span(desc: &[u8]) -> Option<(ResourceType, std::ops::Range<usize>)> {
    subject_span_cut(&desc[..cut_at_dots(desc)])
}

/// [`subject_span`] of a description already cut at its dots.
fn subject_span_cut(desc: &[u8]) -> Option<(ResourceType, std::ops::Range<usize>)> {
    if desc.starts_with(b"hook: ") {
        return None;
    }
    let mut end = desc.len();
    while end > 0 && desc[end - 1].is_ascii_whitespace() {
        end -= 1;
    }
    let desc = &desc[..end];
    let last_start = memchr::memrchr(b' ', desc).map_or(0, |at| at + 1);
    let (before, last) = desc.split_at(last_start);
    if last.is_empty() || (before.is_empty() && TYPE_WORDS.iter().any(|w| w.as_bytes() == last)) {
        return None;
    }
    // One pass over the name: its last `.` and its last `::`.
    let (mut dot, mut colons) = (None, None);
    for (i, &b) in last.iter().enumerate() {
        if b == b'.' {
            dot = Some(i);
        } else if b == b':' && i > 0 && last[i - 1] == b':' {
            colons = Some(i - 1);
        }
    }
    let resource_type = if desc.starts_with(b"test ") {
        ResourceType::Test
    } else if desc.starts_with(b"unit_test ") || colons.is_some() {
        ResourceType::UnitTest
    } else if before.ends_with(b"seed file ") {
        // `START seed file`, `OK loaded seed file`, `ERROR loading seed file`.
        ResourceType::Seed
    } else if desc.starts_with(b"snapshot")
        && [&b"snapshot "[..], b"snapshotted ", b"snapshotting "]
            .iter()
            .any(|p| desc.starts_with(p))
    {
        ResourceType::Snapshot
    } else if desc.starts_with(b"exposure ") {
        ResourceType::Other
    } else if before.ends_with(b"function ") {
        // 1.11+: `START function main.f`, `OK created function main.f`, `ERROR creating ...`.
        ResourceType::Function
    } else if !before.is_empty() && dot.is_some() {
        ResourceType::Model
    } else {
        // `PASS name`, `FAIL 1 name`: tests print their bare name.
        ResourceType::Test
    };
    let name_start = match resource_type {
        // Unit tests print `model::test_name`.
        ResourceType::Test | ResourceType::UnitTest => colons.map_or(0, |at| at + 2),
        _ => dot.map_or(0, |at| at + 1),
    };
    let name = last_start + name_start..end;
    (!name.is_empty()).then_some((resource_type, name))
}

/// The node of a SKIP line for a node built on an ephemeral model that failed or was skipped:
/// `relation main.fct_orders due to ephemeral model status 'skipped'  [ERROR SKIP]` (1.10+)
/// or `relation main.fct_orders due to ephemeral model error .... [ERROR SKIP]` (1.6, 1.8).
/// dbt prints `schema.name`, the node's name (not its alias); 1.6 prints tests this way
/// too, in dbt's test schema (`<schema>_dbt_test__audit`).
fn ephemeral_skip(desc: &str) -> Option<(ResourceType, &str)> {
    let (relation, _) = desc
        .strip_prefix("relation ")?
        .split_once(" due to ephemeral model")?;
    let relation = relation.trim();
    if relation.is_empty() || relation.contains(' ') {
        return None;
    }
    let (schema, name) = relation.rsplit_once('.').unwrap_or(("", relation));
    let resource_type = if schema.ends_with("dbt_test__audit") {
        ResourceType::Test
    } else {
        ResourceType::Model
    };
    Some((resource_type, name))
}

/// Where a result line's description ends: its first ` .` (the dots) or ` [` (the status
/// bracket), or its end.
#[inline]
fn cut_at_dots(desc: &[u8]) -> usize {
    memchr::memchr2_iter(b'.', b'[', desc)
        .find(|&i| i > 0 && desc[i - 1] == b' ')
        .map_or(desc.len(), |i| i - 1)
}

/// The hot path: a text result line of a node that did not fail, `[ESC[0m]HH:MM:SS  N of M
/// STATUS desc ...`, read from its bytes without decoding the rest of the line (its dots and
/// status bracket): its [`DbtEvent::ResultLine`]. None for anything else (failures, other
/// formats, colour codes or other bytes than ASCII before the dots), which the general path
/// reads, with the same result.
#[inline]
pub(super) fn fast_result(raw: &[u8]) -> Option<DbtEvent<'_>> {
    let (index, status, desc) = fast_result_parts(raw)?;
    let desc = match status {
        ResultStatus::Done => skip_count_bytes(desc),
        _ => desc,
    };
    let node = subject_span_cut(desc).map(|(resource_type, span)| ResultNode {
        status,
        resource_type,
        name: &desc[span],
    });
    Some(DbtEvent::ResultLine { index, node })
}

/// [`fast_result`]'s reading of the line: the index, the status and the description up to
/// where [`result_subject`] cuts it (ASCII).
#[inline]
fn fast_result_parts(raw: &[u8]) -> Option<(u64, ResultStatus, &[u8])> {
    let line = raw.strip_prefix(b"\x1b[0m").unwrap_or(raw);
    let &[h1, h2, b':', m1, m2, b':', s1, s2, b' ', b' '] = line.get(..10)? else {
        return None;
    };
    if ![h1, h2, m1, m2, s1, s2].iter().all(u8::is_ascii_digit) {
        return None;
    }
    let rest = &line[10..];
    let mut index: u64 = 0;
    let mut n = 0;
    while let Some(&b) = rest.get(n) {
        if !b.is_ascii_digit() {
            break;
        }
        index = index.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
        n += 1;
    }
    if n == 0 || !rest[n..].starts_with(b" of ") {
        return None;
    }
    let after = &rest[n + 4..];
    let m = after.iter().take_while(|b| b.is_ascii_digit()).count();
    if m == 0 || after.get(m) != Some(&b' ') {
        return None;
    }
    let body = &after[m + 1..];
    let (status, desc) = if let Some(desc) = body.strip_prefix(b"START ") {
        (ResultStatus::Start, desc)
    } else if let Some(desc) = body.strip_prefix(b"OK ") {
        (ResultStatus::Done, desc)
    } else if let Some(desc) = body.strip_prefix(b"PASS ") {
        (ResultStatus::Done, desc)
    } else if let Some(desc) = body.strip_prefix(b"SKIP ") {
        (ResultStatus::Skip, desc)
    } else if let Some(desc) = [&b"WARN "[..], b"SUCCESS ", b"NO-OP "]
        .iter()
        .find_map(|p| body.strip_prefix(*p))
    {
        (ResultStatus::Done, desc)
    } else {
        return None;
    };
    if matches!(status, ResultStatus::Skip)
        && memchr::memmem::find(desc, b" due to ephemeral model").is_some()
    {
        // A node skipped for its ephemeral parent: the general path reads what follows.
        return None;
    }
    if super::batches::is_batch_description(desc) {
        // A microbatch model's batch (pre-release 1.9 printed no `Batch` prefix): never a
        // node of its own.
        return None;
    }
    let desc = &desc[..cut_at_dots(desc)];
    desc.is_ascii().then_some((index, status, desc))
}

/// Words of a result line that name a node type, not a node.
const TYPE_WORDS: &[&str] = &[
    "exposure",
    "relation",
    "model",
    "test",
    "unit_test",
    "seed",
    "snapshot",
    "source",
    "hook",
    "function",
];

/// Parses `Done. PASS=17 WARN=0 ERROR=1 SKIP=10 NO-OP=0 TOTAL=28` (1.12+: `... NO-OP=0
/// REUSED=0 TOTAL=28`).
fn parse_stats(line: &str) -> Option<RunStats> {
    let rest = line.strip_prefix("Done. ")?;
    let mut stats = RunStats::default();
    let mut seen_total = false;
    for pair in rest.split_whitespace() {
        let (key, value) = pair.split_once('=')?;
        let value: u64 = value.parse().ok()?;
        match key {
            "PASS" => stats.pass = value,
            "WARN" => stats.warn = value,
            "ERROR" => stats.error = value,
            "SKIP" => stats.skip = value,
            "REUSED" => stats.reused = value,
            "TOTAL" => {
                stats.total = value;
                seen_total = true;
            }
            _ => {}
        }
    }
    seen_total.then_some(stats)
}

/// `Completed with 1 error and 0 warnings:`, `Completed with 9 errors, 0 partial successes,
/// and 0 warnings:`: dbt's summary header with failures.
fn is_summary_start(line: &str) -> bool {
    let Some(rest) = line.strip_prefix("Completed with ") else {
        return false;
    };
    let n = rest.bytes().take_while(u8::is_ascii_digit).count();
    n > 0 && (rest[n..].starts_with(" error") || rest[n..].starts_with(" failure"))
}

/// `Encountered an error:` (1.12+: `[ERROR]: Encountered an error:`), the line before the
/// error that stopped dbt: the line without its level tag.
fn encountered_error(line: &str) -> Option<&str> {
    let line = line.strip_prefix("[ERROR]: ").unwrap_or(line);
    line.starts_with("Encountered an error").then_some(line)
}

/// A text line as the parser reads it: a dbt event (the message after dbt's timestamp
/// prefix) or a continuation line (no timestamp: the next line of a multi-line message).
pub(super) enum TextLine<'a> {
    Event(&'a str),
    Continuation(&'a str),
}

/// Calls `f` with `raw` read as a [`TextLine`], colour codes removed. `scratch` is reused
/// between calls so that a line with colour codes costs no allocation.
pub(super) fn with_text_line<R>(
    raw: &[u8],
    scratch: &mut Vec<u8>,
    f: impl FnOnce(TextLine<'_>) -> R,
) -> R {
    // The hot path: a result line, `ESC[0m` + `HH:MM:SS  N of M STATUS desc ... [ESC...`.
    // Only what comes before the colour codes of its status bracket is read, so the line
    // is cut at its first escape instead of copied without them.
    let unprefixed = raw.strip_prefix(b"\x1b[0m").unwrap_or(raw);
    let line: &[u8] = match memchr::memchr(0x1b, unprefixed) {
        None => unprefixed,
        Some(at) if is_result_line(&unprefixed[..at]) => &unprefixed[..at],
        Some(_) => {
            strip_ansi(raw, scratch);
            &scratch[..]
        }
    };
    // Valid UTF-8 (almost always) is borrowed; the lossy decoder only for the rest.
    let line = match std::str::from_utf8(line) {
        Ok(text) => std::borrow::Cow::Borrowed(text),
        Err(_) => String::from_utf8_lossy(line),
    };
    match split_timestamp(line.as_bytes()) {
        // Timestamp stripped at an ASCII position, so the rest is valid UTF-8 too.
        Some(rest) => f(TextLine::Event(&line[line.len() - rest.len()..])),
        None => f(TextLine::Continuation(&line)),
    }
}

/// The version of a `Running with dbt=1.8.8` message (trimmed, timestamp already removed):
/// the header every dbt invocation prints first.
pub(super) fn header_version(message: &str) -> Option<&str> {
    message.strip_prefix("Running with dbt=").map(str::trim)
}

/// dbt's text output read into [`DbtEvent`]s, a line at a time. What a line continues is the
/// state machine's to know ([`DbtEvent::Message`], [`DbtEvent::Continuation`]); the reader's
/// only state is a buffer reused for lines with colour codes.
#[derive(Default)]
pub(super) struct TextReader {
    scratch: Vec<u8>,
}

impl TextReader {
    /// The events of one line (trailing newline removed), `bytes` long as it came.
    pub(super) fn read(&mut self, raw: &[u8], bytes: usize, emit: &mut impl FnMut(DbtEvent<'_>)) {
        with_text_line(raw, &mut self.scratch, |line| match line {
            TextLine::Event(rest) => {
                let kind = LineKind::Text;
                emit(DbtEvent::Line { bytes, kind });
                timestamped(rest, emit);
            }
            TextLine::Continuation(line) => {
                let kind = LineKind::Untimed;
                emit(DbtEvent::Line { bytes, kind });
                continuation(line, emit);
            }
        });
    }
}

/// A line without timestamp: the next line of the open multi-line message, or Fusion's.
fn continuation(line: &str, emit: &mut impl FnMut(DbtEvent<'_>)) {
    let trimmed = line.trim();
    if super::fusion::may_be_fusion(trimmed) {
        if let Some(fusion) = super::fusion::read(trimmed) {
            emit(DbtEvent::Fusion(fusion));
        }
    }
    emit(DbtEvent::Continuation(Continuation {
        line,
        usage_error: line.starts_with("Error: "),
        summary_start: is_summary_start(trimmed),
    }));
}

/// A timestamped line: a batch, result or stats line, or another message.
fn timestamped(line: &str, emit: &mut impl FnMut(DbtEvent<'_>)) {
    let trimmed = line.trim();
    if let Some(batch) = super::batches::text_batch_line(trimmed) {
        emit(DbtEvent::Batch {
            line: batch,
            unique_id: None,
            thread: "",
        });
    } else if let Some((index, rest)) = split_result_index(trimmed) {
        result_line(index, rest, emit);
    } else if let Some(stats) = parse_stats(trimmed) {
        emit(DbtEvent::DoneLine(stats));
    } else {
        emit(DbtEvent::Message(Message {
            line,
            trimmed,
            header: parse_header(trimmed),
            says: says(trimmed),
        }));
    }
}

/// What a timestamped line says on its own, when it continues no message.
fn says(trimmed: &str) -> Option<Says<'_>> {
    if super::batches::is_batch_error_start(trimmed) {
        Some(Says::BatchErrorStart)
    } else if trimmed.starts_with("Completed ") {
        // `Completed successfully`, `Completed with 1 error and 0 warnings:`
        Some(Says::Completed)
    } else if let Some(version) = header_version(trimmed) {
        Some(Says::RunningWith(version))
    } else if let Some(encountered) = encountered_error(trimmed) {
        let tail = encountered
            .strip_prefix("Encountered an error:")
            .map(str::trim)
            .filter(|t| !t.is_empty());
        Some(Says::EncounteredError(tail))
    } else if trimmed.starts_with("CANCEL query ") {
        Some(Says::Cancelled)
    } else if super::fusion::may_be_fusion(trimmed) {
        super::fusion::read(trimmed).map(Says::Fusion)
    } else {
        None
    }
}

/// `N of M STATUS ...` (`rest` is what follows `N of M `): what the line says of its node.
fn result_line(index: u64, rest: &str, emit: &mut impl FnMut(DbtEvent<'_>)) {
    let (status, desc) = rest.split_once(' ').unwrap_or((rest, ""));
    let node = match status {
        "START" => result_node(ResultStatus::Start, desc),
        "OK" | "PASS" | "WARN" | "SUCCESS" | "NO-OP" => {
            result_node(ResultStatus::Done, skip_count(desc))
        }
        "SKIP" => {
            if let Some(node) = ephemeral_skip(desc) {
                emit(DbtEvent::ResultLine { index, node: None });
                emit(DbtEvent::EphemeralSkip(Some(node)));
                return;
            }
            result_node(ResultStatus::Skip, desc)
        }
        // `PARTIALLY created sql microbatch model main.m ... [PARTIAL SUCCESS (9/10)]`
        "PARTIALLY" => result_node(ResultStatus::PartialSuccess, desc),
        "ERROR" | "FAIL" => result_subject(skip_count(desc)).map(|(resource_type, name)| {
            let fail_status = if status == "FAIL" {
                FailStatus::Fail
            } else {
                FailStatus::Error
            };
            let message = truncate(&format!("{status} {}", desc.trim()), 200)
                .split(" ..")
                .next()
                .unwrap_or_default()
                .to_owned();
            ResultNode {
                status: ResultStatus::Failed {
                    status: fail_status,
                    message,
                },
                resource_type,
                name: name.as_bytes(),
            }
        }),
        _ => None,
    };
    emit(DbtEvent::ResultLine { index, node });
}

/// The node a result line's description names, with the line's status.
fn result_node(status: ResultStatus, desc: &str) -> Option<ResultNode<'_>> {
    let (resource_type, name) = result_subject(desc)?;
    Some(ResultNode {
        status,
        resource_type,
        name: name.as_bytes(),
    })
}

/// `FAIL 1 name` / `WARN 3 name`: drops the failure count before the name.
fn skip_count_bytes(desc: &[u8]) -> &[u8] {
    let n = desc.iter().take_while(|b| b.is_ascii_digit()).count();
    if n > 0 && desc.get(n) == Some(&b' ') {
        &desc[n + 1..]
    } else {
        desc
    }
}

fn skip_count(desc: &str) -> &str {
    let n = desc.bytes().take_while(|b| b.is_ascii_digit()).count();
    if n > 0 && desc[n..].starts_with(' ') {
        &desc[n + 1..]
    } else {
        desc
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::LogParser;
    use crate::node::SkippedNode;

    #[test]
    fn headers_of_every_version_are_recognised() {
        let h = parse_header("Failure in model fct_orders (models/marts/fct_orders.sql)").unwrap();
        assert_eq!(
            (h.kind, h.resource_type, h.name),
            (HeaderKind::Failure, ResourceType::Model, "fct_orders")
        );
        // 1.12 (real lines of tests/fixtures/runs/1.12, colours removed).
        let h = parse_header(
            "[ERROR]: in test unique_stg_customers_customer_id (models/staging/schema.yml)",
        )
        .unwrap();
        assert_eq!(
            (h.kind, h.resource_type, h.name),
            (
                HeaderKind::Failure,
                ResourceType::Test,
                "unique_stg_customers_customer_id"
            )
        );
        let h = parse_header("[WARNING]: in test warn_large_orders (tests/warn_large_orders.sql)")
            .unwrap();
        assert!(h.is_warning());
        assert_eq!(
            parse_header("[WARNING]: Got 5 results, configured to warn if != 0"),
            None
        );
        assert_eq!(
            parse_header("[WARNING][DeprecationsSummary]: Deprecated functionality"),
            None
        );
        let h =
            parse_header("Runtime Error in seed raw_payments (seeds/raw_payments.csv)").unwrap();
        assert_eq!(
            (h.resource_type, h.name),
            (ResourceType::Seed, "raw_payments")
        );
        let h = parse_header("Database Error in model x (models/x.sql)").unwrap();
        assert_eq!(h.name, "x");
        let h = parse_header("Failure in unit_test t_1 (models/unit_tests.yml)").unwrap();
        assert_eq!(h.resource_type, ResourceType::UnitTest);
        assert!(parse_header("Warning in test w (tests/w.sql)")
            .unwrap()
            .is_warning());
        assert_eq!(
            parse_header("Runtime Error in seed s (seeds/s.csv)").map(|h| h.kind),
            Some(HeaderKind::Error)
        );
        assert_eq!(parse_header("Completed with 1 error and 0 warnings:"), None);
        assert_eq!(parse_header("Failure in the night (sad)"), None);
        assert_eq!(parse_header("Failure in model two words (x.sql)"), None);
    }

    #[test]
    fn ansi_codes_are_removed() {
        let mut out = Vec::new();
        strip_ansi(b"\x1b[0m12:14:25  \x1b[31mFailure\x1b[0m in", &mut out);
        assert_eq!(out, b"12:14:25  Failure in");
        strip_ansi(b"a\x1b[0;1m@@\x1b[0m\x1b", &mut out);
        assert_eq!(out, b"a@@");
    }

    #[test]
    fn timestamps_of_text_and_debug_formats_are_split_off() {
        assert_eq!(split_timestamp(b"12:14:25  Done."), Some(&b"  Done."[..]));
        assert_eq!(
            split_timestamp(b"12:14:25.123456 [info ] [MainThread]: Done."),
            Some(&b"Done."[..])
        );
        assert_eq!(split_timestamp(b"  Binder Error: x"), None);
        assert_eq!(split_timestamp(b"12:1"), None);
    }

    #[test]
    fn result_lines_name_their_node() {
        let subject = |line| {
            let (_, rest) = split_result_index(line).unwrap();
            let desc = rest.split_once(' ').unwrap().1;
            result_subject(skip_count(desc)).unwrap()
        };
        assert_eq!(
            subject(
                "16 of 28 ERROR creating sql table model main.fct_orders ..... [ERROR in 0.01s]"
            ),
            (ResourceType::Model, "fct_orders")
        );
        assert_eq!(
            subject("7 of 28 FAIL 1 unique_stg_customers_customer_id ..... [FAIL 1 in 0.02s]"),
            (ResourceType::Test, "unique_stg_customers_customer_id")
        );
        assert_eq!(
            subject("9 of 28 PASS accepted_values_x__a__b  [PASS in 0.01s]"),
            (ResourceType::Test, "accepted_values_x__a__b")
        );
        assert_eq!(
            subject("24 of 28 SKIP unit_test test_sums ..... [SKIP]"),
            (ResourceType::UnitTest, "test_sums")
        );
        assert_eq!(
            subject("20 of 28 FAIL 1 agg_daily_revenue::test_sums ..... [FAIL 1 in 0.1s]"),
            (ResourceType::UnitTest, "test_sums")
        );
        assert_eq!(
            subject("3 of 28 ERROR loading seed file main.raw_payments ..... [ERROR in 0.1s]"),
            (ResourceType::Seed, "raw_payments")
        );
        assert_eq!(
            subject("15 of 28 OK snapshotted snapshots.orders_snapshot ..... [OK in 0.05s]"),
            (ResourceType::Snapshot, "orders_snapshot")
        );
        assert_eq!(split_result_index("Done. PASS=1"), None);
        assert_eq!(
            split_result_index("12 of 30 OK x").map(|(i, _)| i),
            Some(12)
        );
        assert_eq!(split_result_index("3 off 4"), None);
    }

    fn parse(lines: &[&str]) -> super::super::RunReport {
        let mut parser = LogParser::default();
        for line in lines {
            parser.push_line(line.as_bytes());
        }
        parser.finish()
    }

    fn names(nodes: &[SkippedNode]) -> Vec<(&str, ResourceType)> {
        nodes
            .iter()
            .map(|n| (n.name.as_str(), n.resource_type))
            .collect()
    }

    #[test]
    fn a_summary_names_a_version_by_its_default_file() {
        let h =
            parse_header("Failure in model dim_accounts (models/v/dim_accounts_v1.sql)").unwrap();
        assert_eq!(
            (h.node_name().as_ref(), h.version_unknown()),
            ("dim_accounts.v1", false)
        );
        // The latest version defined in the model's own file: nothing says it is a version.
        let h = parse_header("Failure in model dim_accounts (models/v/dim_accounts.sql)").unwrap();
        assert_eq!(
            (h.node_name().as_ref(), h.version_unknown()),
            ("dim_accounts", false)
        );
        // Defined in a file of another name (`defined_in`): a version, but which one?
        let h = parse_header("Runtime Error in model dim_accounts (models/v/accounts_new.sql)")
            .unwrap();
        assert_eq!(
            (h.node_name().as_ref(), h.version_unknown()),
            ("dim_accounts", true)
        );
        let h = parse_header("Failure in test unique_x_v1 (models/x_v1.sql)").unwrap();
        assert_eq!(h.node_name(), "unique_x_v1");
        let h = parse_header("Failure in model x (models/unit_tests.yml)").unwrap();
        assert_eq!((h.node_name().as_ref(), h.version_unknown()), ("x", false));
    }

    #[test]
    fn a_failed_version_is_named_by_its_version_and_not_taken_for_an_alias() {
        let report = parse(&[
            "12:15:16  14 of 39 START sql table model main.dim_accounts_v1 ..... [RUN]",
            "12:15:16  14 of 39 ERROR creating sql table model main.dim_accounts_v1 ..... [ERROR in 0.03s]",
            "12:15:16  18 of 39 SKIP test not_null_dim_accounts_v1_customer_id ..... [SKIP]",
            "12:15:16  28 of 39 START sql table model main.dim_accounts ..... [RUN]",
            "12:15:16  28 of 39 OK created sql table model main.dim_accounts ..... [OK in 0.02s]",
            "12:15:26  Completed with 1 error, 0 partial successes, and 0 warnings:",
            "12:15:26  ",
            "12:15:26  Failure in model dim_accounts (models/versioned/dim_accounts_v1.sql)",
            "12:15:26    Runtime Error in model dim_accounts (models/versioned/dim_accounts_v1.sql)",
            "  Binder Error: no such column",
            "12:15:26  ",
            "12:15:26  Done. PASS=1 WARN=0 ERROR=1 SKIP=1 NO-OP=0 TOTAL=3",
        ]);
        let failed: Vec<&str> = report.failed.iter().map(|n| n.name.as_str()).collect();
        assert_eq!(failed, ["dim_accounts.v1"]);
        assert_eq!(report.failed[0].message, "Binder Error: no such column");
        assert!(!report.aliased);
        // What finished is named by relation: dim_accounts is the latest version's.
        assert_eq!(
            names(&report.finished.nodes),
            [("dim_accounts", ResourceType::Model)]
        );
    }

    #[test]
    fn a_skip_for_an_ephemeral_parent_names_the_model_in_every_version() {
        let report = parse(&[
            "12:24:25  16 of 32 ERROR creating sql table model main.fct_orders ..... [ERROR in 0.02s]",
            // 1.10+
            "12:24:25  29 of 32 SKIP relation main.payments_by_method due to ephemeral model status 'skipped'  [\x1b[31mERROR SKIP\x1b[0m]",
            // 1.6, 1.8
            "12:22:52  28 of 31 SKIP relation main.payments_by_status due to ephemeral model error .... [ERROR SKIP]",
            // 1.6 prints the tests built on it so, in dbt's test schema
            "12:22:52  30 of 31 SKIP relation main_dbt_test__audit.unique_payments_by_method_payment_method due to ephemeral model error  [ERROR SKIP]",
        ]);
        assert_eq!(
            names(&report.skipped),
            [
                ("payments_by_method", ResourceType::Model),
                ("payments_by_status", ResourceType::Model),
                (
                    "unique_payments_by_method_payment_method",
                    ResourceType::Test
                ),
            ]
        );
        let failed: Vec<&str> = report.failed.iter().map(|n| n.name.as_str()).collect();
        assert_eq!(failed, ["fct_orders"]);
    }

    #[test]
    fn an_ephemeral_models_error_after_the_skips_is_its_failure() {
        // 1.10+ print `Failure in` and the error after each skip, 1.6 and 1.8 the error only;
        // neither names the ephemeral model in the summary.
        for failure_line in [true, false] {
            let mut lines = Vec::new();
            for child in ["payments_by_method", "payments_by_status"] {
                lines.push(format!("12:24:21  29 of 32 SKIP relation main.{child} due to ephemeral model status 'error'  [ERROR SKIP]"));
                if failure_line {
                    lines.push("12:24:21  \x1b[31mFailure in model int_order_payments (models/ephemeral/int_order_payments.sql)\x1b[0m".to_owned());
                }
                lines.push("12:24:21    Compilation Error in model int_order_payments (models/ephemeral/int_order_payments.sql)".to_owned());
                lines.push("  break_ephemeral: cannot be compiled".to_owned());
            }
            lines.push("12:24:21  31 of 32 SKIP test unique_payments_by_method_payment_method ..... [SKIP]".to_owned());
            lines.push(
                "12:24:21  Completed with 2 errors, 0 partial successes, and 0 warnings:"
                    .to_owned(),
            );
            lines.push("12:24:21  Done. PASS=28 WARN=0 ERROR=0 SKIP=3 NO-OP=0 TOTAL=31".to_owned());
            let report = parse(&lines.iter().map(String::as_str).collect::<Vec<_>>());
            assert_eq!(report.failed.len(), 1, "{:?}", report.failed);
            let node = &report.failed[0];
            assert_eq!(
                (node.name.as_str(), node.resource_type, node.status),
                ("int_order_payments", ResourceType::Model, FailStatus::Error)
            );
            assert_eq!(node.message, "break_ephemeral: cannot be compiled");
            assert_eq!(node.detail.matches("break_ephemeral").count(), 1);
            assert_eq!(report.skipped.len(), 3);
            assert!(report.skipped_complete());
            assert!(!report.aliased);
        }
    }

    #[test]
    fn a_version_defined_in_another_file_is_known_to_be_unknown() {
        let report = parse(&[
            "12:15:16  28 of 39 ERROR creating sql table model main.dim_accounts_v3 ..... [ERROR in 0.02s]",
            "12:15:26  Completed with 1 error, 0 partial successes, and 0 warnings:",
            "12:15:26  Failure in model dim_accounts (models/accounts_next.sql)",
            "  Binder Error: x",
            "12:15:26  Done. PASS=0 WARN=0 ERROR=1 SKIP=0 NO-OP=0 TOTAL=1",
        ]);
        assert_eq!(report.failed[0].name, "dim_accounts");
        assert_eq!(report.versions_unknown, ["dim_accounts"]);
    }

    /// The summary of a real 1.12 run (tests/fixtures/runs/1.12/test_failure_build and
    /// /two_failures_threads4), as CloudWatch gets it.
    const SUMMARY_1_12: &[&str] = &[
        "\x1b[0m05:28:50  7 of 28 START test unique_stg_customers_customer_id ............................ [RUN]",
        "\x1b[0m05:28:50  7 of 28 FAIL 1 unique_stg_customers_customer_id ................................ [\x1b[31mFAIL 1\x1b[0m in 0.05s]",
        "\x1b[0m05:28:58  14 of 28 START sql table model main.dim_customers .............................. [RUN]",
        "\x1b[0m05:28:58  14 of 28 ERROR creating sql table model main.dim_customers ..................... [\x1b[31mERROR\x1b[0m in 0.20s]",
        "\x1b[0m05:28:50  ",
        "\x1b[0m05:28:50  \x1b[31mCompleted with 2 errors, 0 partial successes, and 0 warnings:\x1b[0m",
        "\x1b[0m05:28:50  ",
        "\x1b[0m05:28:50  [\x1b[31mERROR\x1b[0m]: in test unique_stg_customers_customer_id (models/staging/schema.yml)",
        "\x1b[0m05:28:50    Got 1 result, configured to fail if != 0",
        "\x1b[0m05:28:50  ",
        "\x1b[0m05:28:50    compiled code at target/compiled/shop/models/staging/schema.yml/unique_stg_customers_customer_id.sql",
        "\x1b[0m05:28:50  ",
        "\x1b[0m05:28:58  [\x1b[31mERROR\x1b[0m]: in model dim_customers (models/marts/dim_customers.sql)",
        "\x1b[0m05:28:58    Runtime Error in model dim_customers (models/marts/dim_customers.sql)",
        "  Binder Error: Values list \"c\" does not have a column named \"missing_column\"",
        "  ",
        "  LINE 15:     , c.missing_column",
        "                 ^^^^^^^^^^^^^^^^",
        "\x1b[0m05:28:58  ",
        "\x1b[0m05:28:58    compiled code at target/compiled/shop/models/marts/dim_customers.sql",
        "\x1b[0m05:28:58  ",
        "\x1b[0m05:28:50  Done. PASS=21 WARN=0 ERROR=2 SKIP=6 NO-OP=0 REUSED=0 TOTAL=28",
        "\x1b[0m05:28:50  [\x1b[33mWARNING\x1b[0m][DeprecationsSummary]: Deprecated functionality",
        "Summary of encountered deprecations:",
        "- MissingArgumentsPropertyInGenericTestDeprecation: 2 occurrences",
    ];

    #[test]
    fn a_1_12_summary_names_its_failed_test_and_model() {
        let report = parse(SUMMARY_1_12);
        let failed: Vec<(&str, ResourceType, FailStatus, &str)> = report
            .failed
            .iter()
            .map(|n| {
                (
                    n.name.as_str(),
                    n.resource_type,
                    n.status,
                    n.message.as_str(),
                )
            })
            .collect();
        assert_eq!(
            failed,
            [
                (
                    "unique_stg_customers_customer_id",
                    ResourceType::Test,
                    FailStatus::Fail,
                    "Got 1 result, configured to fail if != 0"
                ),
                (
                    "dim_customers",
                    ResourceType::Model,
                    FailStatus::Error,
                    "Binder Error: Values list \"c\" does not have a column named \"missing_column\""
                ),
            ]
        );
        assert!(report.failed[1]
            .detail
            .starts_with("Runtime Error in model dim_customers"));
        assert!(report.end_of_run && report.error.is_none() && report.fusion.is_none());
        assert_eq!(report.stats.map(|s| (s.error, s.reused)), Some((2, 0)));
    }

    #[test]
    fn a_function_and_the_model_built_on_it_are_read() {
        // Real 1.12 lines: the function failed, the model calling it was skipped.
        let report = parse(&[
            "\x1b[0m06:19:03  1 of 31 START function main.order_size ......................................... [RUN]",
            "\x1b[0m06:19:04  1 of 31 ERROR creating function main.order_size ................................ [\x1b[31mERROR\x1b[0m in 0.11s]",
            "\x1b[0m06:19:07  25 of 31 SKIP relation main.order_sizes ........................................ [\x1b[33mSKIP\x1b[0m]",
            "\x1b[0m06:19:07  \x1b[31mCompleted with 1 error, 0 partial successes, and 0 warnings:\x1b[0m",
            "\x1b[0m06:19:07  [\x1b[31mERROR\x1b[0m]: in function order_size (functions/order_size.sql)",
            "\x1b[0m06:19:07    Runtime Error in function order_size (functions/order_size.sql)",
            "  Parser Error: syntax error at or near \"then\"",
            "\x1b[0m06:19:07  Done. PASS=28 WARN=0 ERROR=1 SKIP=1 NO-OP=0 REUSED=0 TOTAL=30",
        ]);
        let failed = &report.failed[0];
        assert_eq!(
            (failed.name.as_str(), failed.resource_type, failed.status),
            ("order_size", ResourceType::Function, FailStatus::Error)
        );
        assert_eq!(
            failed.message,
            "Parser Error: syntax error at or near \"then\""
        );
        assert_eq!(
            names(&report.skipped),
            [("order_sizes", ResourceType::Model)]
        );
        assert!(!report.aliased);
        // And one that was created (the hot path reads it).
        let report = parse(&[
            "\x1b[0m06:18:40  1 of 31 START function main.order_size ......................................... [RUN]",
            "\x1b[0m06:18:41  1 of 31 OK created function main.order_size .................................... [\x1b[32mSUCCESS\x1b[0m in 0.22s]",
        ]);
        assert_eq!(
            names(&report.finished.nodes),
            [("order_size", ResourceType::Function)]
        );
    }

    #[test]
    fn a_test_that_could_not_run_is_an_error_in_1_11_and_1_12() {
        // A relationships test whose other model was never built (a real run of each).
        for header in [
            "\x1b[0m05:39:44  \x1b[31mFailure in test relationships_fct_orders_customer_id__customer_id__ref_dim_customers_ (models/marts/schema.yml)\x1b[0m",
            "\x1b[0m05:40:08  [\x1b[31mERROR\x1b[0m]: in test relationships_fct_orders_customer_id__customer_id__ref_dim_customers_ (models/marts/schema.yml)",
        ] {
            let report = parse(&[
                "\x1b[0m05:40:08  \x1b[31mCompleted with 1 error, 0 partial successes, and 0 warnings:\x1b[0m",
                "\x1b[0m05:40:08  ",
                header,
                "\x1b[0m05:40:08    Runtime Error in test relationships_fct_orders_customer_id__customer_id__ref_dim_customers_ (models/marts/schema.yml)",
                "  Catalog Error: Table with name dim_customers does not exist!",
                "\x1b[0m05:40:08  ",
                "\x1b[0m05:40:08  Done. PASS=15 WARN=0 ERROR=1 SKIP=0 NO-OP=0 REUSED=0 TOTAL=16",
            ]);
            assert_eq!(report.failed.len(), 1);
            let node = &report.failed[0];
            assert_eq!(
                (node.resource_type, node.status, node.message.as_str()),
                (
                    ResourceType::Test,
                    FailStatus::Error,
                    "Catalog Error: Table with name dim_customers does not exist!"
                ),
                "{header}"
            );
        }
    }

    #[test]
    fn a_1_12_warning_is_no_failure() {
        let report = parse(&[
            "\x1b[0m05:29:59  \x1b[33mCompleted with 1 warning:\x1b[0m",
            "\x1b[0m05:29:59  ",
            "\x1b[0m05:29:59  [\x1b[33mWARNING\x1b[0m]: in test warn_large_orders (tests/warn_large_orders.sql)",
            "\x1b[0m05:29:59  [\x1b[33mWARNING\x1b[0m]: Got 5 results, configured to warn if != 0",
            "\x1b[0m05:29:59  ",
            "\x1b[0m05:29:59    compiled code at target/compiled/shop/tests/warn_large_orders.sql",
            "\x1b[0m05:29:59  ",
            "\x1b[0m05:29:59  Done. PASS=27 WARN=1 ERROR=0 SKIP=0 NO-OP=0 REUSED=0 TOTAL=28",
        ]);
        assert!(report.failed.is_empty(), "{:?}", report.failed);
        assert_eq!(report.stats.map(|s| (s.warn, s.total)), Some((1, 28)));
    }

    #[test]
    fn a_1_12_error_that_stopped_dbt_is_read() {
        // tests/fixtures/runs/1.12/compile_error
        let report = parse(&[
            "\x1b[0m05:29:40  [\x1b[31mERROR\x1b[0m]: Encountered an error:",
            "Compilation Error",
            "  Model 'model.shop.customer_ltv' (models/marts/customer_ltv.sql) depends on a node named 'does_not_exist' which was not found",
        ]);
        assert!(report.end_of_run);
        let error = report.error.unwrap_or_default();
        assert!(
            error.starts_with("Compilation Error\n") && error.contains("'does_not_exist'"),
            "{error}"
        );
    }

    #[test]
    fn the_dbt_v2_banner_of_1_12_is_neither_fusion_nor_a_failure() {
        // `dbt --version` of dbt-core 1.12.6, as a script's first step prints it.
        let report = parse(&[
            "Core:",
            "  - installed: 1.12.6",
            "  - latest:    1.12.6 - Up to date!",
            "",
            "Plugins:",
            "  - duckdb: 1.11.1 - Up to date!",
            "",
            "",
            "\x1b[0m05:28:18  dbt v2 is available, and is the default for new installations. This is dbt Core v1.",
            "          New project - install v2: https://docs.getdbt.com/docs/local/install-dbt?utm_source=dbt-cli",
            "          Existing v1 project - upgrade guide: https://docs.getdbt.com/docs/dbt-versions/dbt-upgrade/upgrading-to-v2?utm_source=dbt-cli",
        ]);
        assert_eq!(report.fusion, None);
        assert!(report.failed.is_empty() && report.skipped.is_empty());
        assert_eq!(report.error, None);
        assert!(!report.end_of_run && report.stats.is_none());
        assert_eq!(report.dbt_version, None);
    }

    #[test]
    fn stats_lines_of_every_version_parse() {
        let s = parse_stats("Done. PASS=17 WARN=0 ERROR=1 SKIP=10 NO-OP=0 TOTAL=28").unwrap();
        assert_eq!((s.pass, s.error, s.skip, s.total), (17, 1, 10, 28));
        let s = parse_stats("Done. PASS=0 WARN=0 ERROR=1 SKIP=0 NO-OP=0 REUSED=3 TOTAL=4").unwrap();
        assert_eq!((s.error, s.reused, s.total), (1, 3, 4));
        let s = parse_stats("Done. PASS=27 WARN=0 ERROR=0 SKIP=0 TOTAL=27").unwrap();
        assert_eq!(s.total, 27);
        assert_eq!(parse_stats("Done. Nothing to do"), None);
    }
}
