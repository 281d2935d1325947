//! What one line of a dbt log says, as the readers understand it: the events the state
//! machine ([`super::state`]) applies. The readers ([`super::text`], [`super::json`]) only
//! produce them; what a line does to the report is decided in one place, the state machine.
//!
//! Some events are the same in both formats (a batch's line, the stats line, dbt's version);
//! others are one format's, because the formats say different things: dbt's text output
//! continues a message on the lines that follow it, so a text line's meaning can depend on
//! what came before (which the state machine knows), while a JSON event stands alone.

use super::batches::BatchLine;
use super::fusion::FusionLine;
use super::text::Header;
use super::RunStats;
use crate::node::{FailStatus, ResourceType};
use std::borrow::Cow;

/// One event of a dbt log.
#[derive(Debug)]
pub(crate) enum DbtEvent<'a> {
    /// A line of `bytes` was read (counted in the report's `lines` and `bytes`), of this
    /// kind; the events it holds follow.
    Line { bytes: usize, kind: LineKind },
    /// `Running with dbt=1.8.8` (text), `MainReportVersion` (JSON).
    RunningWith { version: &'a str },
    /// A microbatch model's batch starts or ends (text `Batch 4 of 18 ...`, JSON
    /// `LogStartBatch`/`LogBatchResult`). `thread` ties a failed batch to its error (JSON);
    /// a text log names no thread (`""`).
    Batch {
        line: BatchLine<'a>,
        unique_id: Option<&'a str>,
        thread: &'a str,
    },
    /// A node skipped because its ephemeral parent failed or was skipped (text `SKIP relation
    /// main.x due to ephemeral model ...`, JSON `LogSkipBecauseError`): an error header that
    /// follows names that parent. None: the event names no node.
    EphemeralSkip(Option<(ResourceType, &'a str)>),
    /// dbt cancelled running nodes (text `CANCEL query ...`, JSON `LogCancelLine`).
    Cancelled,
    /// A line of dbt Fusion's output (text).
    Fusion(FusionLine<'a>),

    /// Text: a result line, `N of M STATUS ...`; None when it names no node (a hook).
    ResultLine {
        index: u64,
        node: Option<ResultNode<'a>>,
    },
    /// Text: `Done. PASS=17 WARN=0 ERROR=1 ...`, dbt's final stats line.
    DoneLine(RunStats),
    /// Text: any other timestamped line: a summary header, the next line of an open message,
    /// or one that says something of its own.
    Message(Message<'a>),
    /// Text: a line without timestamp, the next line of the open message.
    Continuation(Continuation<'a>),
    /// Text: `Completed successfully`, `Completed with 1 error ...`: the end-of-run summary.
    Completed,
    /// Text: `Encountered an error:` (1.12+: `[ERROR]: Encountered an error:`), with what
    /// follows it on the line: the error that stopped dbt begins.
    EncounteredError { tail: Option<&'a str> },
    /// Text: `Unhandled error while executing`: a failed batch's error block begins; it
    /// belongs to the next failed batch.
    BatchErrorStart,

    /// JSON: a node's result (`LogModelResult`, `LogTestResult`, ...).
    NodeResult(NodeResult<'a>),
    /// JSON: `SkippingDetails`, a node dbt skipped.
    NodeSkipped {
        name: &'a str,
        resource_type: ResourceType,
        unique_id: Option<&'a str>,
    },
    /// JSON: `GenericExceptionOnRun`, a failed batch's error (or another node's unexpected
    /// one), colour codes removed: it belongs to the next failed batch of the same thread.
    BatchError {
        thread: &'a str,
        lines: &'a [Cow<'a, str>],
    },
    /// JSON: `RunResultError`, `RunResultFailure`, `RunResultErrorNoMessage`: a failure in
    /// the end-of-run summary, or an ephemeral model's error after a skip.
    RunResult(RunResult<'a>),
    /// JSON: `EndOfRunSummary`.
    EndOfRunSummary,
    /// JSON: `StatsLine`, dbt's final stats (None when its counts cannot be read).
    StatsLine(Option<RunStats>),
    /// JSON: `MainEncounteredError`, `RunningOperationCaughtError`: the error that stopped
    /// dbt (or a `run-operation`'s macro), its lines without colour codes.
    MainError { lines: &'a [Cow<'a, str>] },
}

/// What kind of line a line is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LineKind {
    /// A timestamped line of dbt's text output.
    Text,
    /// A dbt JSON event. `ends_ephemeral_skip`: it is neither a failure's message
    /// (`RunResult*`, which may be the error of the ephemeral model a skip just named) nor an
    /// event nothing reads.
    Json { ends_ephemeral_skip: bool },
    /// A line without timestamp: the next line of a text message, or no dbt line at all.
    Untimed,
}

/// The node of a text result line and what the line says of it.
#[derive(Debug)]
pub(crate) struct ResultNode<'a> {
    pub status: ResultStatus,
    pub resource_type: ResourceType,
    pub name: &'a [u8],
}

/// A text result line's status.
#[derive(Debug)]
pub(crate) enum ResultStatus {
    /// `START`.
    Start,
    /// `OK`, `PASS`, `WARN`, `SUCCESS`, `NO-OP`.
    Done,
    /// `SKIP`.
    Skip,
    /// `PARTIALLY created ... [PARTIAL SUCCESS (9/10)]`: a microbatch model some of whose
    /// batches failed.
    PartialSuccess,
    /// `ERROR`, `FAIL`, with the line's text as a message until the summary gives one.
    Failed { status: FailStatus, message: String },
}

/// A timestamped text line that is not a result, batch or stats line (trimmed, without its
/// timestamp and colours).
#[derive(Debug)]
pub(crate) struct Message<'a> {
    /// The line as dbt printed it after the timestamp (the error that stopped dbt keeps its
    /// indentation).
    pub line: &'a str,
    pub trimmed: &'a str,
    /// The line read as a summary header (`Failure in model x (...)`), which it is only in
    /// the summary or right after an ephemeral skip.
    pub header: Option<Header<'a>>,
    /// What the line says when it continues no open message.
    pub says: Option<Says<'a>>,
}

/// What a timestamped text line says on its own: the events of [`DbtEvent`] a line that
/// continues no message can be.
#[derive(Debug)]
pub(crate) enum Says<'a> {
    BatchErrorStart,
    Completed,
    RunningWith(&'a str),
    EncounteredError(Option<&'a str>),
    Cancelled,
    Fusion(FusionLine<'a>),
}

impl<'a> From<Says<'a>> for DbtEvent<'a> {
    fn from(says: Says<'a>) -> Self {
        match says {
            Says::BatchErrorStart => DbtEvent::BatchErrorStart,
            Says::Completed => DbtEvent::Completed,
            Says::RunningWith(version) => DbtEvent::RunningWith { version },
            Says::EncounteredError(tail) => DbtEvent::EncounteredError { tail },
            Says::Cancelled => DbtEvent::Cancelled,
            Says::Fusion(line) => DbtEvent::Fusion(line),
        }
    }
}

/// A text line without timestamp.
#[derive(Debug)]
pub(crate) struct Continuation<'a> {
    pub line: &'a str,
    /// `Error: ...`: a command-line usage error, when dbt has printed nothing before it.
    pub usage_error: bool,
    /// `Completed with 9 errors ...` that lost its timestamp (a pasted excerpt that starts
    /// there).
    pub summary_start: bool,
}

/// A JSON node result.
#[derive(Debug)]
pub(crate) struct NodeResult<'a> {
    /// The name that selects the node (`model.vN` for a version of a versioned model).
    pub name: &'a str,
    /// A version's model name (`node_name`), which 1.6 summaries name it by.
    pub versioned_model: Option<&'a str>,
    pub resource_type: ResourceType,
    pub unique_id: Option<&'a str>,
    pub status: NodeStatus,
}

/// A JSON node result's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NodeStatus {
    /// `error`, `runtime error`.
    Error,
    /// `fail`.
    Fail,
    /// `partial success`: a microbatch model some of whose batches failed.
    PartialSuccess,
    Skipped,
    /// `success`, `pass`, `warn`, `no-op`, and `reused` (1.12+: dbt reused the node from an
    /// earlier build, it stands as built).
    Finished,
}

/// Which `RunResult*` event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RunResultKind {
    /// `RunResultFailure`: only the `Failure in ...` header.
    Failure,
    /// `RunResultError`: a message, which continues the failure before it when it names no
    /// node (1.6/1.7).
    Error,
    /// `RunResultErrorNoMessage`.
    ErrorNoMessage,
}

/// A `RunResult*` event: the node, as far as it says, and its message. 1.8+ events name their
/// node; 1.6/1.7 send `RunResultFailure` with a node name and then a bare `RunResultError`
/// message, or an error whose first line is a text header.
#[derive(Debug)]
pub(crate) struct RunResult<'a> {
    pub kind: RunResultKind,
    /// unique_id, else node name: how the parser knows the node.
    pub key: Option<&'a str>,
    pub unique_id: Option<&'a str>,
    /// The name that selects it (`model.vN` for a version).
    pub name: Option<&'a str>,
    /// The message's lines from its first that is not blank, colour codes removed.
    pub lines: &'a [Cow<'a, str>],
    /// The first of them read as a summary header.
    pub header: Option<Header<'a>>,
    /// The first says `..., caused by compilation error in referenced ephemeral model ...`:
    /// the summary's line for a node its ephemeral parent skipped (1.6, 1.8), whose parent's
    /// error was printed with the skip.
    pub caused_by_ephemeral_parent: bool,
}
