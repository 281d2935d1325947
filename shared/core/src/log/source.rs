//! From a log's events to dbt's lines, before the parser reads them: however the task shipped
//! its output, [`LineReader`] hands on the lines dbt printed.
//!
//! - **FireLens records** ([`EventFormat::FireLens`]): each event is a JSON record, the text
//!   under `log` beside ECS metadata (`container_name`, `source`, `ecs_task_arn`, ...). The
//!   text is unwrapped; records of other containers (and, in a stream every task writes to, of
//!   other tasks) are dropped and counted. A record whose dbt JSON event a Fluent Bit parser
//!   already took apart is put back together. A line Docker split into partial records
//!   (`partial_message`, over 16 KB) is joined again, up to `MAX_PARTIAL_BYTES`.
//! - **Several lines in one event**: the awslogs driver joins lines with
//!   `awslogs-multiline-pattern` or `awslogs-datetime-format`, and Fluent Bit's multiline
//!   filters do too. Every event is split at its newlines, so each line reaches the parser as
//!   it would with one line per event.
//! - **A prefix every line shares**: a shipper or runner that prefixes each line (Docker's and
//!   Kubernetes' RFC 3339 timestamps, an Airflow task log's `[date] {file:line} LEVEL - `).
//!   The prefix is decided from the log itself: the first `PREFIX_WINDOW` lines that are not
//!   blank must all carry the same known prefix, or nothing is stripped. Once decided, it is
//!   stripped from every line that carries it; a line without it passes unchanged. Stripping
//!   only removes what the shipper added: the rest is read exactly as if it had been shipped
//!   bare, so a line that was not dbt's (an echo, a runner's own message) stays a line that is
//!   not dbt's (it has no dbt timestamp after the prefix).
//!
//! Memory is bounded: at most the window's lines are held while the prefix is decided.

use serde::Serialize;
use std::borrow::Cow;

/// How each event of a log stream holds the container's output.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EventFormat {
    /// Text: one line, or several joined by newlines (the awslogs driver, FireLens with
    /// `log_key`, a file).
    #[default]
    Text,
    /// FireLens (Fluent Bit) records, JSON with the text under a key.
    #[serde(rename = "firelens")]
    FireLens(FireLensRecords),
}

impl EventFormat {
    pub(crate) fn is_text(&self) -> bool {
        *self == Self::Text
    }
}

/// Which FireLens records hold the dbt container's output, and where.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FireLensRecords {
    /// The key holding the text (`log`, as Docker's Fluentd driver names it).
    pub key: String,
    /// The container whose records are kept (`container_name`).
    pub container: String,
    /// In a stream every task writes to: the task whose records are kept (`ecs_task_arn`);
    /// records that do not name it are dropped.
    pub task_arn: Option<String>,
}

/// A prefix a shipper puts before every line, recognised by its shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LinePrefix {
    /// `2025-10-03T12:04:01.539715390Z ` (`docker logs --timestamps`, `kubectl logs
    /// --timestamps`).
    Rfc3339Timestamp,
    /// `2025-10-03T12:04:01.539715390Z stdout F ` (the CRI log format of Kubernetes nodes).
    CriLog,
    /// `[2023-09-08, 10:14:54 +07] {subprocess.py:94} INFO - ` (an Airflow task log).
    AirflowTaskLog,
}

const PREFIXES: [LinePrefix; 3] = [
    LinePrefix::CriLog,
    LinePrefix::Rfc3339Timestamp,
    LinePrefix::AirflowTaskLog,
];

/// How many non-blank lines decide the prefix.
pub(crate) const PREFIX_WINDOW: usize = 64;
/// Bytes held at most while the prefix is decided; past them it is decided on what is held.
const PREFIX_WINDOW_BYTES: usize = 256 * 1024;
/// Bytes of a line split into partial FireLens records joined at most; the rest is dropped.
pub(crate) const MAX_PARTIAL_BYTES: usize = 1 << 20;

impl LinePrefix {
    /// `line` without this prefix, when it carries it.
    pub fn strip(self, line: &[u8]) -> Option<&[u8]> {
        match self {
            Self::Rfc3339Timestamp => after_space(line, rfc3339_len(line)?),
            Self::CriLog => {
                let rest = after_space(line, rfc3339_len(line)?)?;
                let rest = rest
                    .strip_prefix(b"stdout ")
                    .or_else(|| rest.strip_prefix(b"stderr "))?;
                match rest {
                    [b'F' | b'P', b' ', tail @ ..] => Some(tail),
                    [b'F' | b'P'] => Some(&[]),
                    _ => None,
                }
            }
            Self::AirflowTaskLog => airflow(line),
        }
    }
}

/// The text after `line[..at]` and one space (or nothing, at the end of the line).
fn after_space(line: &[u8], at: usize) -> Option<&[u8]> {
    match &line[at..] {
        [] | [b'\r'] => Some(&[]),
        [b' ', rest @ ..] => Some(rest),
        _ => None,
    }
}

fn digits(bytes: &[u8], at: usize, n: usize) -> bool {
    bytes
        .get(at..at + n)
        .is_some_and(|d| d.iter().all(u8::is_ascii_digit))
}

/// The length of an RFC 3339 timestamp at the start of `line`:
/// `YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM)`.
fn rfc3339_len(line: &[u8]) -> Option<usize> {
    let shape = digits(line, 0, 4)
        && line.get(4) == Some(&b'-')
        && digits(line, 5, 2)
        && line.get(7) == Some(&b'-')
        && digits(line, 8, 2)
        && line.get(10) == Some(&b'T')
        && digits(line, 11, 2)
        && line.get(13) == Some(&b':')
        && digits(line, 14, 2)
        && line.get(16) == Some(&b':')
        && digits(line, 17, 2);
    if !shape {
        return None;
    }
    let mut at = 19;
    if line.get(at) == Some(&b'.') {
        let n = line[at + 1..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count();
        if n == 0 {
            return None;
        }
        at += 1 + n;
    }
    match line.get(at) {
        Some(b'Z') => Some(at + 1),
        Some(b'+' | b'-')
            if digits(line, at + 1, 2)
                && line.get(at + 3) == Some(&b':')
                && digits(line, at + 4, 2) =>
        {
            Some(at + 6)
        }
        _ => None,
    }
}

/// An Airflow task log line's message: after `[<date>] {<file>:<line>} <LEVEL> - `.
fn airflow(line: &[u8]) -> Option<&[u8]> {
    let rest = line.strip_prefix(b"[")?;
    let close = memchr::memchr(b']', &rest[..rest.len().min(48)])?;
    let date = &rest[..close];
    if !(digits(date, 0, 4) && date.get(4) == Some(&b'-')) {
        return None;
    }
    let rest = rest[close + 1..].strip_prefix(b" {")?;
    let close = memchr::memchr(b'}', &rest[..rest.len().min(200)])?;
    let source = &rest[..close];
    if source.is_empty() || source.contains(&b' ') || !source.contains(&b':') {
        return None;
    }
    let rest = rest[close + 1..].strip_prefix(b" ")?;
    let level = rest.iter().take_while(|b| b.is_ascii_uppercase()).count();
    if !(3..=8).contains(&level) {
        return None;
    }
    let rest = &rest[level..];
    match rest {
        [b' ', b'-', b' ', message @ ..] => Some(message),
        [b' ', b'-'] | [b' ', b'-', b'\r'] => Some(&[]),
        _ => None,
    }
}

/// What reading the events gave besides the lines.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ReadStats {
    /// Log events read (CloudWatch events, or lines of a file).
    pub events: u64,
    /// FireLens records of other containers, dropped.
    pub other_containers: u64,
    /// FireLens records of other tasks (or naming no task) in a stream every task writes to,
    /// dropped.
    pub other_tasks: u64,
    /// Events of a FireLens stream that are no record, or a record without the text: dropped.
    pub not_records: u64,
    /// The prefix every line shares, stripped.
    pub prefix: Option<LinePrefix>,
}

impl ReadStats {
    /// Records dropped as not the dbt container's (or not this task's).
    pub fn dropped(&self) -> u64 {
        self.other_containers + self.other_tasks + self.not_records
    }
}

enum PrefixState {
    /// Lines held (in one buffer, ending at `ends`) until the prefix is decided.
    Deciding {
        held: Vec<u8>,
        ends: Vec<usize>,
        non_blank: usize,
    },
    Decided(Option<LinePrefix>),
}

/// Reads a log's events into dbt's lines. See the module documentation.
pub struct LineReader {
    format: EventFormat,
    prefix: PrefixState,
    stats: ReadStats,
    /// The parts so far of a line Docker split into partial records.
    partial: Vec<u8>,
}

impl LineReader {
    /// A reader of events shaped as `format` says (awslogs lines or FireLens records).
    pub fn new(format: EventFormat) -> Self {
        Self {
            format,
            prefix: PrefixState::Deciding {
                held: Vec::new(),
                ends: Vec::new(),
                non_blank: 0,
            },
            stats: ReadStats::default(),
            partial: Vec::new(),
        }
    }

    /// One event (a CloudWatch Logs event's message): its lines go to `out`, now or once the
    /// prefix is decided.
    pub fn push_event(&mut self, event: &[u8], out: &mut impl FnMut(&[u8])) {
        self.stats.events += 1;
        let text = match &self.format {
            EventFormat::Text => Cow::Borrowed(event),
            EventFormat::FireLens(records) => {
                match unwrap_record(records, event, &mut self.stats) {
                    Some(Unwrapped::Whole(text)) => {
                        // A partial line whose last part never came ends before it.
                        self.flush_partial(out);
                        text
                    }
                    Some(Unwrapped::Part { text, last }) => {
                        let room = MAX_PARTIAL_BYTES.saturating_sub(self.partial.len());
                        self.partial
                            .extend_from_slice(&text[..text.len().min(room)]);
                        if last {
                            self.flush_partial(out);
                        }
                        return;
                    }
                    None => return,
                }
            }
        };
        self.push_text(&text, out);
    }

    /// The line joined from partial records so far, to `out`.
    fn flush_partial(&mut self, out: &mut impl FnMut(&[u8])) {
        if self.partial.is_empty() {
            return;
        }
        let joined = std::mem::take(&mut self.partial);
        self.push_text(&joined, out);
    }

    /// An event's text: its lines to `out`.
    fn push_text(&mut self, text: &[u8], out: &mut impl FnMut(&[u8])) {
        let mut start = 0;
        for nl in memchr::memchr_iter(b'\n', text) {
            self.push_line(&text[start..nl], out);
            start = nl + 1;
        }
        if start < text.len() || start == 0 {
            self.push_line(&text[start..], out);
        }
    }

    /// One line, already split (a file's line): to `out`, now or once the prefix is decided.
    #[inline]
    pub fn push_line(&mut self, line: &[u8], out: &mut impl FnMut(&[u8])) {
        let full = match &mut self.prefix {
            PrefixState::Decided(None) => return out(line),
            PrefixState::Decided(Some(prefix)) => return out(prefix.strip(line).unwrap_or(line)),
            PrefixState::Deciding {
                held,
                ends,
                non_blank,
            } => {
                held.extend_from_slice(line);
                ends.push(held.len());
                if !is_blank(line) {
                    *non_blank += 1;
                }
                *non_blank >= PREFIX_WINDOW || held.len() >= PREFIX_WINDOW_BYTES
            }
        };
        if full {
            self.decide(out);
        }
    }

    /// Decides the prefix on the lines held so far (unless all are blank) and hands them on:
    /// for a reader that has reached the current end of a log still arriving.
    pub fn flush(&mut self, out: &mut impl FnMut(&[u8])) {
        if let PrefixState::Deciding { non_blank, .. } = &self.prefix {
            if *non_blank > 0 {
                self.decide(out);
            }
        }
    }

    /// The lines held go to `out`; what reading gave.
    pub fn finish(mut self, out: &mut impl FnMut(&[u8])) -> ReadStats {
        self.flush_partial(out);
        self.decide(out);
        self.stats
    }

    /// What reading gave so far.
    pub fn stats(&self) -> &ReadStats {
        &self.stats
    }

    fn decide(&mut self, out: &mut impl FnMut(&[u8])) {
        if !matches!(self.prefix, PrefixState::Deciding { .. }) {
            return;
        }
        let PrefixState::Deciding { held, ends, .. } =
            std::mem::replace(&mut self.prefix, PrefixState::Decided(None))
        else {
            return;
        };
        let lines = || held_lines(&held, &ends);
        let prefix = PREFIXES.into_iter().find(|prefix| {
            let mut non_blank = lines().filter(|l| !is_blank(l)).peekable();
            non_blank.peek().is_some() && non_blank.all(|l| prefix.strip(l).is_some())
        });
        for line in lines() {
            out(prefix.and_then(|p| p.strip(line)).unwrap_or(line));
        }
        self.stats.prefix = prefix;
        self.prefix = PrefixState::Decided(prefix);
    }
}

/// The lines held in `held`, each ending at the next of `ends`.
fn held_lines<'a>(held: &'a [u8], ends: &'a [usize]) -> impl Iterator<Item = &'a [u8]> + 'a {
    let starts = std::iter::once(0).chain(ends.iter().copied());
    starts
        .zip(ends.iter().copied())
        .map(|(start, end)| &held[start..end])
}

fn is_blank(line: &[u8]) -> bool {
    line.iter().all(u8::is_ascii_whitespace)
}

/// The text of a FireLens record: a whole event's, or a part of a line Docker split.
enum Unwrapped<'e> {
    Whole(Cow<'e, [u8]>),
    Part { text: Vec<u8>, last: bool },
}

/// The text of a FireLens record that holds the dbt container's output, or None (counted).
fn unwrap_record<'e>(
    records: &FireLensRecords,
    event: &'e [u8],
    stats: &mut ReadStats,
) -> Option<Unwrapped<'e>> {
    use serde_json::Value;
    let Ok(Value::Object(mut record)) = serde_json::from_slice::<Value>(event) else {
        stats.not_records += 1;
        return None;
    };
    if let Some(name) = record.get("container_name").and_then(Value::as_str) {
        if !same_container(name, &records.container) {
            stats.other_containers += 1;
            return None;
        }
    }
    if let Some(task) = &records.task_arn {
        if record.get("ecs_task_arn").and_then(Value::as_str) != Some(task.as_str()) {
            stats.other_tasks += 1;
            return None;
        }
    }
    let flag = |key: &str| record.get(key).and_then(Value::as_str) == Some("true");
    if flag("partial_message") {
        let last = flag("partial_last");
        return match record.remove(&records.key) {
            Some(Value::String(text)) => Some(Unwrapped::Part {
                text: text.into_bytes(),
                last,
            }),
            _ => {
                stats.not_records += 1;
                None
            }
        };
    }
    let whole = |text: Vec<u8>| Some(Unwrapped::Whole(Cow::Owned(text)));
    match record.remove(&records.key) {
        Some(Value::String(text)) => whole(text.into_bytes()),
        // A Fluent Bit parser took dbt's JSON event apart under the key, or into the record
        // itself: put it back together as the line dbt printed.
        Some(value @ Value::Object(_)) => serde_json::to_vec(&value).ok().and_then(whole),
        None if record.contains_key("info") => serde_json::to_vec(&Value::Object(record))
            .ok()
            .and_then(whole),
        _ => {
            stats.not_records += 1;
            None
        }
    }
}

/// `name` (a record's `container_name`) is `container`: the ECS name, or the Docker name ECS
/// gives it on EC2 (`/ecs-<family>-<revision>-<container>-<hex>`).
fn same_container(name: &str, container: &str) -> bool {
    if name == container || name.strip_prefix('/') == Some(container) {
        return true;
    }
    let Some(docker) = name.strip_prefix("/ecs-") else {
        return false;
    };
    let Some((before, hex)) = docker.rsplit_once('-') else {
        return false;
    };
    !hex.is_empty()
        && hex.bytes().all(|b| b.is_ascii_hexdigit())
        && before
            .strip_suffix(container)
            .is_some_and(|b| b.ends_with('-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(format: EventFormat, events: &[&str]) -> (Vec<String>, ReadStats) {
        let mut reader = LineReader::new(format);
        let mut lines = Vec::new();
        let mut out = |l: &[u8]| lines.push(String::from_utf8_lossy(l).into_owned());
        for event in events {
            reader.push_event(event.as_bytes(), &mut out);
        }
        let stats = reader.finish(&mut out);
        (lines, stats)
    }

    #[test]
    fn events_are_split_into_their_lines() {
        let (lines, _) = read(
            EventFormat::Text,
            &[
                "12:00:01  Running with dbt=1.10.1",
                "12:00:02  Failure in model x (models/x.sql)\n  Binder Error: no\n  compiled code\n",
                "",
                "a\r\nb",
            ],
        );
        assert_eq!(
            lines,
            [
                "12:00:01  Running with dbt=1.10.1",
                "12:00:02  Failure in model x (models/x.sql)",
                "  Binder Error: no",
                "  compiled code",
                "",
                "a\r",
                "b"
            ]
        );
    }

    #[test]
    fn a_prefix_every_line_shares_is_stripped() {
        let (lines, stats) = read(
            EventFormat::Text,
            &[
                "2025-10-03T12:04:01.539729887Z Building",
                "2025-10-03T12:04:01.539733073Z ",
                "2025-10-03T12:04:02.392678542Z 12:04:02  Running with dbt=1.10.7",
            ],
        );
        assert_eq!(stats.prefix, Some(LinePrefix::Rfc3339Timestamp));
        assert_eq!(lines, ["Building", "", "12:04:02  Running with dbt=1.10.7"]);
        let (lines, stats) = read(
            EventFormat::Text,
            &[
                "[2023-09-08, 10:14:54 +07] {subprocess.py:94} INFO - 03:14:54  Done. PASS=0",
                "[2023-09-08, 10:14:54 +07] {subprocess.py:94} INFO -   improper relation",
                "[2023-09-08, 10:14:57 +07] {local.py:222} INFO - Inlets: []",
            ],
        );
        assert_eq!(stats.prefix, Some(LinePrefix::AirflowTaskLog));
        assert_eq!(
            lines,
            [
                "03:14:54  Done. PASS=0",
                "  improper relation",
                "Inlets: []"
            ]
        );
        let (lines, stats) = read(
            EventFormat::Text,
            &["2026-01-01T00:00:00.1+00:00 stdout F 12:00:00  Done. PASS=1 TOTAL=1"],
        );
        assert_eq!(stats.prefix, Some(LinePrefix::CriLog));
        assert_eq!(lines, ["12:00:00  Done. PASS=1 TOTAL=1"]);
    }

    #[test]
    fn a_prefix_some_lines_lack_is_not_stripped() {
        let events = [
            "2025-10-03T12:04:02.392678542Z 12:04:02  Running with dbt=1.10.7",
            "12:04:03  Found 2 models",
        ];
        let (lines, stats) = read(EventFormat::Text, &events);
        assert_eq!(stats.prefix, None);
        assert_eq!(lines, events);
        // dbt's own timestamp is never a prefix.
        let (lines, stats) = read(EventFormat::Text, &["12:00:00  a", "12:00:01  b"]);
        assert_eq!((stats.prefix, lines.len()), (None, 2));
    }

    #[test]
    fn the_prefix_is_decided_on_a_window_and_later_lines_without_it_pass_unchanged() {
        let mut events: Vec<String> = (0..PREFIX_WINDOW)
            .map(|i| format!("2026-01-01T00:00:{:02}Z line {i}", i % 60))
            .collect();
        events.push("no prefix here".to_owned());
        events.push("2026-01-01T00:01:00Z last".to_owned());
        let events: Vec<&str> = events.iter().map(String::as_str).collect();
        let (lines, stats) = read(EventFormat::Text, &events);
        assert_eq!(stats.prefix, Some(LinePrefix::Rfc3339Timestamp));
        assert_eq!(lines[0], "line 0");
        assert_eq!(lines[PREFIX_WINDOW], "no prefix here");
        assert_eq!(lines[PREFIX_WINDOW + 1], "last");
    }

    #[test]
    fn flush_decides_on_what_is_there() {
        let mut reader = LineReader::new(EventFormat::Text);
        let mut lines = Vec::new();
        reader.push_event(
            b"2026-01-01T00:00:00Z 12:00:00  Running with dbt=1.9.0",
            &mut |l| lines.push(l.to_vec()),
        );
        assert!(lines.is_empty(), "held while deciding");
        reader.flush(&mut |l| lines.push(l.to_vec()));
        assert_eq!(lines, [b"12:00:00  Running with dbt=1.9.0".to_vec()]);
    }

    fn records(task_arn: Option<&str>) -> EventFormat {
        EventFormat::FireLens(FireLensRecords {
            key: "log".into(),
            container: "dbt".into(),
            task_arn: task_arn.map(Into::into),
        })
    }

    #[test]
    fn firelens_records_are_unwrapped_and_other_containers_dropped() {
        let (lines, stats) = read(
            records(None),
            &[
                r#"{"container_id":"abc","container_name":"dbt","ecs_cluster":"c","ecs_task_arn":"arn:t/1","ecs_task_definition":"d:1","log":"\u001b[0m12:00:01  Running with dbt=1.10.1","source":"stdout"}"#,
                r#"{"container_name":"log_router","log":"[info] fluent bit","source":"stderr"}"#,
                r#"{"container_name":"/ecs-dbt-build-3-dbt-e6c5b4c8a7e2d0dbb601","log":"line two\nline three","source":"stdout"}"#,
                "not json",
                r#"{"container_name":"dbt","log":{"info":{"name":"MainReportVersion"},"data":{"version":"=1.10.1"}}}"#,
            ],
        );
        assert_eq!(
            lines[..3],
            [
                "\u{1b}[0m12:00:01  Running with dbt=1.10.1",
                "line two",
                "line three"
            ]
        );
        assert!(lines[3].contains("MainReportVersion"), "{lines:?}");
        assert_eq!((stats.other_containers, stats.not_records), (1, 1));
    }

    #[test]
    fn a_line_docker_split_into_partial_records_is_joined() {
        let part = |text: &str, last: bool| {
            format!(
                r#"{{"container_name":"dbt","log":"{text}","partial_message":"true","partial_id":"p1","partial_ordinal":"1","partial_last":"{last}"}}"#
            )
        };
        let (lines, _) = read(
            records(None),
            &[
                &part("12:00:01  a very ", false),
                &part("long line", true),
                r#"{"container_name":"dbt","log":"next"}"#,
                &part("cut ", false),
                r#"{"container_name":"dbt","log":"after a lost last part"}"#,
            ],
        );
        assert_eq!(
            lines,
            [
                "12:00:01  a very long line",
                "next",
                "cut ",
                "after a lost last part"
            ]
        );
    }

    #[test]
    fn a_shared_stream_keeps_this_tasks_records_only() {
        let (lines, stats) = read(
            records(Some("arn:t/1")),
            &[
                r#"{"container_name":"dbt","ecs_task_arn":"arn:t/1","log":"mine"}"#,
                r#"{"container_name":"dbt","ecs_task_arn":"arn:t/2","log":"theirs"}"#,
                r#"{"container_name":"dbt","log":"whose?"}"#,
            ],
        );
        assert_eq!(lines, ["mine"]);
        assert_eq!(stats.other_tasks, 2);
    }

    #[test]
    fn docker_container_names_match_only_their_container() {
        assert!(same_container("/ecs-fam-1-dbt-abc123", "dbt"));
        assert!(!same_container("/ecs-fam-1-notdbt-abc123", "dbt"));
        assert!(!same_container("/ecs-fam-1-dbt-xyz", "dbt"));
        assert!(same_container("/dbt", "dbt"));
    }
}
