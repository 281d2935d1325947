//! dbt's JSON log format (`--log-format json`): one event object per line,
//! `{"data": {...}, "info": {"name": "LogModelResult", "msg": "...", ...}}`.

use super::{failed_node, text, Block, LogParser, RunStats};
use crate::node::{FailStatus, ResourceType, SkippedNode};
use serde::de::IgnoredAny;
use serde::Deserialize;
use std::borrow::Cow;

#[derive(Deserialize)]
struct Event<'a> {
    #[serde(borrow)]
    info: Info<'a>,
    #[serde(default, borrow)]
    data: Data<'a>,
}

#[derive(Deserialize)]
struct Info<'a> {
    #[serde(borrow)]
    name: Cow<'a, str>,
    #[serde(default, borrow)]
    msg: Lenient<'a>,
}

#[derive(Deserialize, Default)]
struct Data<'a> {
    #[serde(default, borrow)]
    node_info: Option<NodeInfo<'a>>,
    #[serde(default, borrow)]
    status: Lenient<'a>,
    #[serde(default, borrow)]
    version: Lenient<'a>,
    #[serde(default, borrow)]
    exc: Lenient<'a>,
    #[serde(default, borrow)]
    msg: Lenient<'a>,
    #[serde(default, borrow)]
    node_name: Lenient<'a>,
    #[serde(default, borrow)]
    resource_type: Lenient<'a>,
    #[serde(default)]
    stats: Option<Stats>,
}

#[derive(Deserialize, Default)]
struct NodeInfo<'a> {
    #[serde(default, borrow)]
    unique_id: Lenient<'a>,
    #[serde(default, borrow)]
    node_name: Lenient<'a>,
    #[serde(default, borrow)]
    node_status: Lenient<'a>,
    #[serde(default, borrow)]
    resource_type: Lenient<'a>,
}

#[derive(Deserialize, Default)]
struct Stats {
    #[serde(default)]
    pass: u64,
    #[serde(default)]
    warn: u64,
    #[serde(default)]
    error: u64,
    #[serde(default)]
    skip: u64,
    #[serde(default)]
    total: u64,
}

/// A string field that tolerates any other JSON type (kept as absent), so one odd field in a
/// future dbt version cannot make a whole event unreadable.
#[derive(Default)]
struct Lenient<'a>(Option<Cow<'a, str>>);

impl<'de: 'a, 'a> Deserialize<'de> for Lenient<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Any<'a> {
            Str(#[serde(borrow)] Cow<'a, str>),
            Other(IgnoredAny),
        }
        Ok(match Any::deserialize(d)? {
            Any::Str(s) => Lenient(Some(s)),
            Any::Other(_) => Lenient(None),
        })
    }
}

impl Lenient<'_> {
    fn get(&self) -> Option<&str> {
        self.0.as_deref().filter(|s| !s.is_empty())
    }
}

/// Events that never change the report: skipped without a full parse.
const UNINTERESTING: &[&str] = &[
    "LogStartLine",
    "NodeStart",
    "NodeFinished",
    "NodeExecuting",
    "NodeCompiling",
    "Formatting",
    "SQLQuery",
    "SQLQueryStatus",
    "SQLCommit",
    "ConnectionUsed",
    "NewConnection",
    "ConnectionReused",
    "ConnectionLeftOpenInCleanup",
    "ConnectionClosedInCleanup",
    "ConnectionClosed",
    "Rollback",
    "WritingInjectedSQLForNode",
    "TimingInfoCollected",
    "LogDebugStackTrace",
];

/// The event name from a line, found cheaply: `info` is the last key of dbt's events and
/// `name` follows `msg` inside it, so the last `"name": "` is the event's (an unescaped quote
/// cannot occur inside a JSON string).
pub(super) fn quick_event_name(line: &[u8]) -> Option<&[u8]> {
    let key = b"\"name\": \"";
    let start = memchr::memmem::rfind(line, key)? + key.len();
    let len = memchr::memchr(b'"', &line[start..])?;
    Some(&line[start..start + len])
}

/// The `info.invocation_id` of a line, found cheaply like [`quick_event_name`]: the last
/// `"invocation_id"` key (`info` is the last key, and a key inside a JSON string would be
/// escaped). Any spacing around the colon is accepted. Not a proof that the line is a dbt
/// event: see [`invocation_id`].
pub(super) fn quick_invocation_id(line: &[u8]) -> Option<&[u8]> {
    let key = b"\"invocation_id\"";
    let rest = &line[memchr::memmem::rfind(line, key)? + key.len()..];
    let rest = rest.trim_ascii_start().strip_prefix(b":")?;
    let rest = rest.trim_ascii_start().strip_prefix(b"\"")?;
    let len = memchr::memchr(b'"', rest)?;
    Some(&rest[..len]).filter(|id| !id.is_empty())
}

#[derive(Deserialize)]
struct IdEvent<'a> {
    #[serde(borrow)]
    info: IdInfo<'a>,
}

#[derive(Deserialize)]
struct IdInfo<'a> {
    /// Required: every dbt event has a name.
    #[serde(rename = "name")]
    _name: IgnoredAny,
    #[serde(borrow)]
    invocation_id: Cow<'a, str>,
}

/// The `info.invocation_id` of a line that is a dbt JSON event (an object whose `info` has a
/// `name` and an `invocation_id`), parsed in full.
pub(super) fn invocation_id(line: &[u8]) -> Option<String> {
    let event: IdEvent<'_> = serde_json::from_slice(line).ok()?;
    Some(event.info.invocation_id.into_owned()).filter(|id| !id.is_empty())
}

impl LogParser {
    /// Handles a line that looks like JSON; false when it is not a dbt event after all.
    pub(super) fn push_json(&mut self, line: &[u8]) -> bool {
        if let Some(name) = quick_event_name(line) {
            if UNINTERESTING.iter().any(|u| u.as_bytes() == name) {
                return true;
            }
        }
        let Ok(event) = serde_json::from_slice::<Event<'_>>(line) else {
            return false;
        };
        self.json_event(&event);
        true
    }

    fn json_event(&mut self, event: &Event<'_>) {
        let data = &event.data;
        let node = data.node_info.as_ref();
        let unique_id = node.and_then(|n| n.unique_id.get());
        let node_name = node
            .and_then(|n| n.node_name.get())
            .or_else(|| data.node_name.get());
        let resource_type = node
            .and_then(|n| n.resource_type.get())
            .or_else(|| data.resource_type.get())
            .map(ResourceType::from_dbt)
            .unwrap_or(ResourceType::Other);
        match event.info.name.as_ref() {
            "MainReportVersion" => {
                if let Some(v) = data.version.get() {
                    self.report.dbt_version = Some(v.trim_start_matches('=').to_owned());
                }
            }
            "LogModelResult" | "LogTestResult" | "LogSeedResult" | "LogSnapshotResult"
            | "LogNodeResult" => {
                if let Some(name) = node_name {
                    self.json_result(event, name, resource_type, unique_id);
                }
            }
            "SkippingDetails" => {
                if let Some(name) = node_name {
                    self.add_skipped(SkippedNode {
                        name: name.to_owned(),
                        resource_type,
                        unique_id: unique_id.map(str::to_owned),
                    });
                }
            }
            "RunResultError" | "RunResultFailure" | "RunResultErrorNoMessage" => {
                self.in_summary = true;
                let msg = data
                    .msg
                    .get()
                    .or_else(|| event.info.msg.get())
                    .unwrap_or_default();
                self.json_summary(event.info.name.as_ref(), unique_id.or(node_name), msg);
            }
            "EndOfRunSummary" => self.in_summary = true,
            "StatsLine" => {
                if let Some(s) = &data.stats {
                    self.report.stats = Some(RunStats {
                        pass: s.pass,
                        warn: s.warn,
                        error: s.error,
                        skip: s.skip,
                        total: s.total,
                    });
                }
                self.report.end_of_run = true;
            }
            "MainEncounteredError" => {
                self.report.end_of_run = true;
                if let Some(exc) = data.exc.get().or_else(|| event.info.msg.get()) {
                    for line in exc.lines() {
                        self.add_error_line(&strip_ansi_str(line));
                    }
                }
            }
            "LogCancelLine" => self.report.cancelled = true,
            _ => {}
        }
    }

    /// A node's result line: failed, skipped, or finished.
    fn json_result(
        &mut self,
        event: &Event<'_>,
        name: &str,
        resource_type: ResourceType,
        unique_id: Option<&str>,
    ) {
        let node = event.data.node_info.as_ref();
        // Unit test results carry node_status "None" and the verdict in data.status.
        let status = node
            .and_then(|n| n.node_status.get())
            .filter(|s| *s != "None")
            .or_else(|| event.data.status.get())
            .unwrap_or_default()
            .to_ascii_lowercase();
        let unique_id = unique_id.map(str::to_owned);
        match status.as_str() {
            "error" | "runtime error" => {
                self.add_json_failure(name, resource_type, unique_id, FailStatus::Error)
            }
            "fail" => self.add_json_failure(name, resource_type, unique_id, FailStatus::Fail),
            "skipped" => self.add_skipped(SkippedNode {
                name: name.to_owned(),
                resource_type,
                unique_id,
            }),
            _ => self.add_finished(SkippedNode {
                name: name.to_owned(),
                resource_type,
                unique_id,
            }),
        }
    }

    fn add_json_failure(
        &mut self,
        name: &str,
        resource_type: ResourceType,
        unique_id: Option<String>,
        status: FailStatus,
    ) {
        let index = self.add_failed(failed_node(
            name.to_owned(),
            resource_type,
            unique_id,
            status,
        ));
        // Index by name too: 1.6/1.7 summaries name the node but carry no unique_id.
        if let Some(index) = index {
            self.failed_index.entry(name.to_owned()).or_insert(index);
        }
    }

    /// A failure in the end-of-run summary. 1.8+ events name their node; 1.6/1.7 send
    /// `RunResultFailure` with a node name and then a bare `RunResultError` message, or an
    /// error whose first line is a text header.
    fn json_summary(&mut self, event: &str, key: Option<&str>, msg: &str) {
        let mut lines = msg.lines().map(strip_ansi_str).peekable();
        while lines.peek().is_some_and(|l| l.trim().is_empty()) {
            lines.next();
        }
        let header = lines
            .peek()
            .and_then(|l| text::parse_header(l.trim()).map(|h| (h.warning, h.name.to_owned())));
        if header.as_ref().is_some_and(|(warning, _)| *warning) {
            self.block = Block::Ignored;
            return;
        }
        let index = key
            .or(header.as_ref().map(|(_, name)| name.as_str()))
            .and_then(|k| self.failed_index.get(k).copied())
            .or(match (self.block, event) {
                (Block::Failure { index, .. }, "RunResultError") => Some(index),
                _ => None,
            });
        let Some(index) = index else {
            self.block = Block::None;
            return;
        };
        self.block = Block::Failure {
            index,
            has_text: true,
        };
        if event == "RunResultFailure" {
            return; // only the `Failure in ...` header
        }
        for line in lines {
            if !line.trim().is_empty() {
                self.add_message_line(index, &line);
            }
        }
    }
}

fn strip_ansi_str(s: &str) -> Cow<'_, str> {
    if !s.contains('\x1b') {
        return Cow::Borrowed(s);
    }
    let mut out = Vec::with_capacity(s.len());
    text::strip_ansi(s.as_bytes(), &mut out);
    Cow::Owned(String::from_utf8_lossy(&out).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_event_name_is_found_without_parsing() {
        let line = br#"{"data": {"name": "not_null_x", "node_info": {"node_name": "x"}}, "info": {"msg": "a \"name\": \"b\"", "name": "LogTestResult", "pid": 1}}"#;
        assert_eq!(quick_event_name(line), Some(&b"LogTestResult"[..]));
    }

    #[test]
    fn odd_field_types_do_not_lose_the_event() {
        let line = br#"{"data": {"status": 3, "node_info": {"unique_id": "model.p.m", "node_name": "m", "node_status": "error", "resource_type": "model"}}, "info": {"name": "LogModelResult", "msg": "x"}}"#;
        let mut parser = LogParser::default();
        parser.push_line(line);
        let report = parser.finish();
        assert_eq!(report.failed.len(), 1);
        assert_eq!(report.failed[0].unique_id.as_deref(), Some("model.p.m"));
    }
}
