//! dbt's JSON log format (`--log-format json`): one event object per line,
//! `{"data": {...}, "info": {"name": "LogModelResult", "msg": "...", ...}}`.

use super::batches::BatchLine;
use super::event::{DbtEvent, LineKind, NodeResult, NodeStatus, RunResult, RunResultKind};
use super::{text, BatchStatus, RunStats};
use crate::node::{versioned_name, ResourceType};
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
    /// The dbt thread that fired the event (`Thread-1 (worker)`).
    #[serde(default, borrow)]
    thread: Lenient<'a>,
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
    /// `LogSkipBecauseError`: the skipped node's schema and name.
    #[serde(default, borrow)]
    schema: Lenient<'a>,
    #[serde(default, borrow)]
    relation: Lenient<'a>,
    #[serde(default)]
    stats: Option<Stats>,
    /// `LogStartBatch`, `LogBatchResult`: the batch, `batch 2026-11-25 of main.m`.
    #[serde(default, borrow)]
    description: Lenient<'a>,
    #[serde(default)]
    batch_index: LenientNumber,
    #[serde(default)]
    total_batches: LenientNumber,
}

/// A number field that tolerates any other JSON type (kept as absent), like [`Lenient`].
#[derive(Default)]
struct LenientNumber(Option<u64>);

impl<'de> Deserialize<'de> for LenientNumber {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Any {
            Number(u64),
            Other(IgnoredAny),
        }
        Ok(match Any::deserialize(d)? {
            Any::Number(n) => LenientNumber(Some(n)),
            Any::Other(_) => LenientNumber(None),
        })
    }
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
    #[serde(default)]
    reused: u64,
}

impl Stats {
    fn counts(&self) -> RunStats {
        RunStats {
            pass: self.pass,
            warn: self.warn,
            error: self.error,
            skip: self.skip,
            total: self.total,
            reused: self.reused,
        }
    }
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

/// The events of a line that looks like JSON; false when it is not a dbt event after all.
pub(super) fn read(line: &[u8], bytes: usize, emit: &mut impl FnMut(DbtEvent<'_>)) -> bool {
    if let Some(name) = quick_event_name(line) {
        if UNINTERESTING.iter().any(|u| u.as_bytes() == name) {
            let kind = LineKind::Json {
                ends_ephemeral_skip: false,
            };
            emit(DbtEvent::Line { bytes, kind });
            return true;
        }
    }
    let Ok(event) = serde_json::from_slice::<Event<'_>>(line) else {
        return false;
    };
    let run_result = run_result_kind(&event.info.name).is_some();
    let kind = LineKind::Json {
        ends_ephemeral_skip: !run_result,
    };
    emit(DbtEvent::Line { bytes, kind });
    events(&event, emit);
    true
}

/// The node an event is about, as far as it says.
struct Node<'a> {
    unique_id: Option<&'a str>,
    /// node_info's node_name, else data's.
    node_name: Option<&'a str>,
    /// A version of a versioned model (`model.vN`): its node_name is the model's, which
    /// selects every version; its unique_id says which.
    versioned: Option<String>,
    resource_type: ResourceType,
}

impl<'a> Node<'a> {
    fn of(data: &'a Data<'_>) -> Self {
        let node = data.node_info.as_ref();
        let unique_id = node.and_then(|n| n.unique_id.get());
        Node {
            unique_id,
            node_name: node
                .and_then(|n| n.node_name.get())
                .or_else(|| data.node_name.get()),
            versioned: unique_id.and_then(versioned_name),
            resource_type: node
                .and_then(|n| n.resource_type.get())
                .or_else(|| data.resource_type.get())
                .map(ResourceType::from_dbt)
                .unwrap_or(ResourceType::Other),
        }
    }

    /// The name that selects the node.
    fn name(&self) -> Option<&str> {
        self.versioned.as_deref().or(self.node_name)
    }
}

/// What one dbt JSON event says.
fn events(event: &Event<'_>, emit: &mut impl FnMut(DbtEvent<'_>)) {
    let data = &event.data;
    let node = Node::of(data);
    let (unique_id, node_name, name) = (node.unique_id, node.node_name, node.name());
    let resource_type = node.resource_type;
    let thread = event.info.thread.get().unwrap_or_default();
    match event.info.name.as_ref() {
        "MainReportVersion" => {
            if let Some(v) = data.version.get() {
                let version = v.trim_start_matches('=');
                emit(DbtEvent::RunningWith { version });
            }
        }
        // `LogFunctionResult`: a user-defined function (1.11+).
        "LogModelResult" | "LogTestResult" | "LogSeedResult" | "LogSnapshotResult"
        | "LogFunctionResult" | "LogNodeResult" => {
            if let Some(name) = name {
                emit(DbtEvent::NodeResult(NodeResult {
                    name,
                    versioned_model: node_name.filter(|_| node.versioned.is_some()),
                    resource_type,
                    unique_id,
                    status: node_status(data),
                }));
            }
        }
        "SkippingDetails" => {
            if let Some(name) = name {
                emit(DbtEvent::NodeSkipped {
                    name,
                    resource_type,
                    unique_id,
                });
            }
        }
        "LogSkipBecauseError" => emit(DbtEvent::EphemeralSkip(ephemeral_skip(data))),
        "LogStartBatch" | "LogBatchResult" => {
            if let Some(line) = batch_line(event, name) {
                emit(DbtEvent::Batch {
                    line,
                    unique_id,
                    thread,
                });
            }
        }
        "GenericExceptionOnRun" => {
            let lines = stripped_lines(data.exc.get());
            emit(DbtEvent::BatchError {
                thread,
                lines: &lines,
            });
        }
        "EndOfRunSummary" => emit(DbtEvent::EndOfRunSummary),
        "StatsLine" => emit(DbtEvent::StatsLine(data.stats.as_ref().map(Stats::counts))),
        // dbt's own error; `run-operation` reports its macro's failure with the second
        // (exit 1), as text says `Encountered an error while running operation: ...`.
        "MainEncounteredError" | "RunningOperationCaughtError" => {
            let lines = stripped_lines(data.exc.get().or_else(|| event.info.msg.get()));
            emit(DbtEvent::MainError { lines: &lines });
        }
        "LogCancelLine" => emit(DbtEvent::Cancelled),
        // `RunResultError`, `RunResultFailure`, `RunResultErrorNoMessage`; else nothing.
        other => {
            if let Some(kind) = run_result_kind(other) {
                let key = unique_id.or(node_name);
                run_result(event, kind, (key, unique_id, name), emit);
            }
        }
    }
}

/// A node's status in its result event.
fn node_status(data: &Data<'_>) -> NodeStatus {
    // Unit test results carry node_status "None" and the verdict in data.status.
    let status = data
        .node_info
        .as_ref()
        .and_then(|n| n.node_status.get())
        .filter(|s| *s != "None")
        .or_else(|| data.status.get())
        .unwrap_or_default()
        .to_ascii_lowercase();
    match status.as_str() {
        "error" | "runtime error" => NodeStatus::Error,
        "fail" => NodeStatus::Fail,
        "partial success" => NodeStatus::PartialSuccess,
        "skipped" => NodeStatus::Skipped,
        // `success`, `pass`, `warn`, `no-op`, and `reused` (1.12+: dbt reused the node
        // from an earlier build, it stands as built).
        _ => NodeStatus::Finished,
    }
}

fn run_result_kind(name: &str) -> Option<RunResultKind> {
    match name {
        "RunResultError" => Some(RunResultKind::Error),
        "RunResultFailure" => Some(RunResultKind::Failure),
        "RunResultErrorNoMessage" => Some(RunResultKind::ErrorNoMessage),
        _ => None,
    }
}

/// A `RunResult*` event: its node (key, unique_id, name) and its message's lines.
fn run_result(
    event: &Event<'_>,
    kind: RunResultKind,
    (key, unique_id, name): (Option<&str>, Option<&str>, Option<&str>),
    emit: &mut impl FnMut(DbtEvent<'_>),
) {
    let msg = event
        .data
        .msg
        .get()
        .or_else(|| event.info.msg.get())
        .unwrap_or_default();
    let lines: Vec<Cow<'_, str>> = msg
        .lines()
        .map(strip_ansi_str)
        .filter(|l| !l.trim().is_empty())
        .collect();
    let first = lines.first().map_or("", |l| l.trim());
    emit(DbtEvent::RunResult(RunResult {
        kind,
        key,
        unique_id,
        name,
        lines: &lines,
        header: text::parse_header(first),
        caused_by_ephemeral_parent: first
            .contains(", caused by compilation error in referenced ephemeral model"),
    }));
}

/// A node skipped because its ephemeral parent failed or was skipped: no node_info, the
/// node's schema and name (see text::ephemeral_skip).
fn ephemeral_skip<'a>(data: &'a Data<'_>) -> Option<(ResourceType, &'a str)> {
    let name = data.relation.get()?;
    let test_schema = data
        .schema
        .get()
        .is_some_and(|s| s.ends_with("dbt_test__audit"));
    let resource_type = if test_schema {
        ResourceType::Test
    } else {
        ResourceType::Model
    };
    Some((resource_type, name))
}

/// A batch of a microbatch model starts or ends.
fn batch_line<'a>(event: &'a Event<'_>, name: Option<&'a str>) -> Option<BatchLine<'a>> {
    let data = &event.data;
    let (Some(index), Some(total), Some(description)) = (
        data.batch_index.0,
        data.total_batches.0,
        data.description.get(),
    ) else {
        return None;
    };
    let (label, relation_name) = super::batches::batch_description(description)?;
    let status = match (event.info.name.as_ref(), data.status.get()) {
        ("LogStartBatch", _) => BatchStatus::Started,
        (_, Some(s)) if s.eq_ignore_ascii_case("error") => BatchStatus::Error,
        (_, Some(s)) if s.eq_ignore_ascii_case("skipped") => BatchStatus::Skipped,
        _ => BatchStatus::Ok,
    };
    Some(BatchLine {
        index,
        total,
        status,
        label,
        model: name.unwrap_or(relation_name),
    })
}

/// The lines of a message, colour codes removed.
fn stripped_lines(message: Option<&str>) -> Vec<Cow<'_, str>> {
    message.map_or_else(Vec::new, |m| m.lines().map(strip_ansi_str).collect())
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
    use crate::log::LogParser;

    #[test]
    fn the_event_name_is_found_without_parsing() {
        let line = br#"{"data": {"name": "not_null_x", "node_info": {"node_name": "x"}}, "info": {"msg": "a \"name\": \"b\"", "name": "LogTestResult", "pid": 1}}"#;
        assert_eq!(quick_event_name(line), Some(&b"LogTestResult"[..]));
    }

    fn parse(lines: &[&str]) -> super::super::RunReport {
        let mut parser = LogParser::default();
        for line in lines {
            parser.push_line(line.as_bytes());
        }
        parser.finish()
    }

    fn node_event(event: &str, id: &str, name: &str, status: &str) -> String {
        format!(
            r#"{{"data": {{"node_info": {{"unique_id": "{id}", "node_name": "{name}", "node_status": "{status}", "resource_type": "model"}}}}, "info": {{"name": "{event}", "msg": "x"}}}}"#
        )
    }

    #[test]
    fn a_version_is_named_by_its_unique_id() {
        let lines = [
            node_event("LogModelResult", "model.shop.dim_accounts.v1", "dim_accounts", "success"),
            node_event("LogModelResult", "model.shop.dim_accounts.v2", "dim_accounts", "error"),
            node_event("SkippingDetails", "model.shop.dim_accounts.v3", "dim_accounts", "skipped"),
            // 1.6: the summary names the failed version by its model only.
            r#"{"data": {"msg": "Runtime Error in model dim_accounts (models/dim_accounts.sql)\n  Binder Error: x"}, "info": {"name": "RunResultError", "msg": "x"}}"#.to_owned(),
        ];
        let report = parse(&lines.iter().map(String::as_str).collect::<Vec<_>>());
        assert_eq!(report.failed[0].name, "dim_accounts.v2");
        assert_eq!(report.failed[0].message, "Binder Error: x");
        assert_eq!(report.skipped[0].name, "dim_accounts.v3");
        assert_eq!(report.finished.nodes[0].name, "dim_accounts.v1");
    }

    #[test]
    fn a_skip_because_of_an_ephemeral_model_and_its_error() {
        let skip = |relation: &str, schema: &str| {
            format!(
                r#"{{"data": {{"index": 28, "relation": "{relation}", "schema": "{schema}", "status": "error", "total": 32}}, "info": {{"name": "LogSkipBecauseError", "msg": "SKIP relation"}}}}"#
            )
        };
        let error = r#"{"data": {"msg": "Compilation Error in model int_order_payments (models/ephemeral/int_order_payments.sql)\n  break_ephemeral: cannot be compiled", "node_info": {"node_name": "int_order_payments", "node_status": "None", "resource_type": "model", "unique_id": "model.shop.int_order_payments"}}, "info": {"name": "RunResultError", "msg": "x"}}"#;
        // 1.6: no node_info, the model only in the message.
        let bare_error = r#"{"data": {"msg": "Compilation Error in model int_order_payments (models/ephemeral/int_order_payments.sql)\n  break_ephemeral: cannot be compiled"}, "info": {"name": "RunResultError", "msg": "x"}}"#;
        let failed = node_event(
            "LogModelResult",
            "model.shop.fct_orders",
            "fct_orders",
            "error",
        );
        let fct_summary = r#"{"data": {"msg": "Runtime Error in model fct_orders (models/fct_orders.sql)\n  SSL SYSCALL error: EOF detected"}, "info": {"name": "RunResultError", "msg": "x"}}"#;
        let caused = r#"{"data": {"msg": "Compilation Error in model.shop.payments_by_method, caused by compilation error in referenced ephemeral model model.shop.int_order_payments"}, "info": {"name": "RunResultError", "msg": "x"}}"#;
        let summary = r#"{"data": {}, "info": {"name": "EndOfRunSummary", "msg": ""}}"#;
        for ephemeral_error in [error, bare_error] {
            let lines = [
                failed.as_str(),
                &skip("payments_by_method", "main"),
                ephemeral_error,
                &skip("unique_payments_by_status_status", "main_dbt_test__audit"),
                ephemeral_error,
                summary,
                fct_summary,
                caused,
            ];
            let report = parse(&lines);
            let failed: Vec<&str> = report.failed.iter().map(|n| n.name.as_str()).collect();
            assert_eq!(failed, ["fct_orders", "int_order_payments"]);
            assert_eq!(
                report.failed[1].message,
                "break_ephemeral: cannot be compiled"
            );
            assert_eq!(
                report.failed[1].detail.matches("break_ephemeral").count(),
                1
            );
            // The summary's line for the skipped child is no part of fct_orders' message.
            assert!(
                !report.failed[0].detail.contains("caused by"),
                "{:?}",
                report.failed[0]
            );
            let skipped: Vec<(&str, ResourceType)> = report
                .skipped
                .iter()
                .map(|n| (n.name.as_str(), n.resource_type))
                .collect();
            assert_eq!(
                skipped,
                [
                    ("payments_by_method", ResourceType::Model),
                    ("unique_payments_by_status_status", ResourceType::Test)
                ]
            );
        }
    }

    #[test]
    fn a_1_12_stats_line_counts_reused_nodes() {
        // tests/fixtures/runs/1.12/json_model_error
        let stats = r#"{"data": {"stats": {"error": 1, "noop": 0, "pass": 17, "reused": 0, "skip": 10, "total": 28, "warn": 0}}, "info": {"category": "", "code": "Z023", "extra": {}, "invocation_id": "c1efc72f-e4aa-4e64-8bec-f3f7cd96df4a", "level": "info", "msg": "Done. PASS=17 WARN=0 ERROR=1 SKIP=10 NO-OP=0 REUSED=0 TOTAL=28", "name": "StatsLine", "pid": 15454, "thread": "MainThread", "ts": "2026-12-07T05:33:52.420122Z"}}"#;
        let report = parse(&[stats, &stats.replace(r#""reused": 0"#, r#""reused": 2"#)]);
        let s = report.stats.unwrap();
        assert_eq!(
            (s.pass, s.error, s.skip, s.total, s.reused),
            (17, 1, 10, 28, 2)
        );
        assert!(report.end_of_run);
    }

    #[test]
    fn a_reused_node_is_finished() {
        // A real 1.12 result event (tests/fixtures/runs/1.12/json_model_error) with the status
        // dbt gives a node it reused: dbt-core 1.12 declares `reused` (NodeStatus.Reused,
        // counted in REUSED=) but no dbt-core code path sets it; dbt's platform does.
        let line = r#"{"data": {"description": "sql view model main.stg_customers", "execution_time": 0.12877703, "index": 4, "node_info": {"materialized": "view", "meta": {}, "node_checksum": "855e45ee1cd55cb697a0d4f907b21d8bf05ccef7cfac8af1dd343065efe559ec", "node_finished_at": "2026-12-07T05:33:50.960637", "node_name": "stg_customers", "node_path": "staging/stg_customers.sql", "node_relation": {"alias": "stg_customers", "database": "shop", "relation_name": "\"shop\".\"main\".\"stg_customers\"", "schema": "main"}, "node_started_at": "2026-12-07T05:33:50.830001", "node_status": "success", "resource_type": "model", "unique_id": "model.shop.stg_customers"}, "status": "OK", "total": 28}, "info": {"category": "", "code": "Q012", "extra": {}, "invocation_id": "c1efc72f-e4aa-4e64-8bec-f3f7cd96df4a", "level": "info", "msg": "4 of 28 OK created sql view model main.stg_customers ........................... [\u001b[32mOK\u001b[0m in 0.13s]", "name": "LogModelResult", "pid": 15454, "thread": "Thread-1 (worker)", "ts": "2026-12-07T05:33:50.961217Z"}}"#;
        for status in ["success", "reused"] {
            let report = parse(&[&line.replace(
                r#""node_status": "success""#,
                &format!(r#""node_status": "{status}""#),
            )]);
            assert!(report.failed.is_empty() && report.skipped.is_empty());
            assert_eq!(report.finished.count, 1, "{status}");
            assert_eq!(report.finished.nodes[0].name, "stg_customers");
            assert_eq!(
                report.finished.nodes[0].unique_id.as_deref(),
                Some("model.shop.stg_customers")
            );
        }
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
