//! The parser's state machine: everything the parser remembers between lines, changed only
//! by [`State::apply`], one `match` over the [`DbtEvent`]s the readers produce.

use super::batches::{BatchLine, BatchStatus, ModelOutcome};
use super::event::{
    Continuation, DbtEvent, LineKind, Message, NodeResult, NodeStatus, ResultNode, ResultStatus,
    RunResult, RunResultKind,
};
use super::fusion::FusionLine;
use super::text::{self, Header, HeaderKind};
use super::{truncate, Limits, LogFormat, RunReport, MAX_VERSIONS_UNKNOWN};
use crate::node::{FailStatus, FailedNode, ResourceType, SkippedNode};
use std::collections::{HashMap, HashSet, VecDeque};

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

/// Failed batches' messages waiting for their batch: at most this many (a log that prints
/// such blocks without batches cannot grow memory).
const MAX_PENDING_ERRORS: usize = 64;

/// What the parser knows of a log so far.
pub(super) struct State {
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
    starts: StartedNodes,
    /// The last result skipped a node because of its ephemeral parent: an error header that
    /// follows names that parent (dbt prints it there, not in the summary).
    ephemeral_skipped: bool,
    /// Indexes into `report.failed` of ephemeral models, which have no result line.
    ephemeral_failures: HashSet<usize>,
    /// Failed batches' messages not yet tied to their batch: (thread, message, detail), in
    /// log order (a text log names no thread: "").
    batch_errors: VecDeque<(String, String, String)>,
}

impl State {
    pub(super) fn new(limits: Limits) -> Self {
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
            starts: StartedNodes::default(),
            ephemeral_skipped: false,
            ephemeral_failures: HashSet::new(),
            batch_errors: VecDeque::new(),
        }
    }

    /// What an event does to the parser: the one place its state changes.
    pub(super) fn apply(&mut self, event: DbtEvent<'_>) {
        match event {
            DbtEvent::Line { bytes, kind } => {
                self.report.lines += 1;
                self.report.bytes += bytes as u64;
                match kind {
                    LineKind::Text => self.seen_text = true,
                    LineKind::Json {
                        ends_ephemeral_skip,
                    } => {
                        self.seen_json = true;
                        if ends_ephemeral_skip {
                            self.ephemeral_skipped = false;
                        }
                    }
                    LineKind::Untimed => {}
                }
            }
            DbtEvent::RunningWith { version } => self.report.dbt_version = Some(version.to_owned()),
            DbtEvent::Batch {
                line,
                unique_id,
                thread,
            } => self.batch_line(&line, unique_id, thread),
            DbtEvent::EphemeralSkip(node) => {
                self.ephemeral_skipped = true;
                if let Some((resource_type, name)) = node {
                    self.add_skipped(skipped_node(name, resource_type, None));
                }
            }
            DbtEvent::Cancelled => self.report.cancelled = true,
            DbtEvent::Fusion(line) => self.fusion_line(line),
            DbtEvent::ResultLine { index, node } => {
                self.block = Block::None;
                self.ephemeral_skipped = false;
                if let Some(node) = node {
                    self.result_line(index, node);
                }
            }
            DbtEvent::DoneLine(stats) => {
                self.block = Block::None;
                self.report.stats = Some(stats);
                self.report.end_of_run = true;
            }
            DbtEvent::Message(message) => self.message(message),
            DbtEvent::Continuation(line) => self.continuation(line),
            DbtEvent::Completed => {
                self.in_summary = true;
                self.summary_untimed = false;
            }
            DbtEvent::EncounteredError { tail } => self.encountered_error(tail),
            DbtEvent::BatchErrorStart => self.begin_batch_error(""),
            DbtEvent::NodeResult(node) => self.node_result(node),
            DbtEvent::NodeSkipped {
                name,
                resource_type,
                unique_id,
            } => self.add_skipped(skipped_node(name, resource_type, unique_id)),
            DbtEvent::BatchError { thread, lines } => self.batch_error(thread, lines),
            DbtEvent::RunResult(result) => self.run_result(result),
            DbtEvent::EndOfRunSummary => {
                self.in_summary = true;
                self.block = Block::None;
            }
            DbtEvent::StatsLine(stats) => {
                if stats.is_some() {
                    self.report.stats = stats;
                }
                self.report.end_of_run = true;
            }
            DbtEvent::MainError { lines } => {
                self.report.end_of_run = true;
                lines.iter().for_each(|line| self.add_error_line(line));
            }
        }
    }

    /// dbt's end-of-run marker has been seen so far.
    pub(super) fn end_of_run(&self) -> bool {
        self.report.end_of_run
    }

    /// See [`super::LogParser::settled`].
    pub(super) fn settled(&self) -> bool {
        self.report.stats.is_some() && self.block != Block::TopLevelError
    }

    /// The report for everything applied so far.
    pub(super) fn finish(mut self) -> RunReport {
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

    /// A line of dbt Fusion's output: the log is Fusion's (see [`super::fusion`]).
    fn fusion_line(&mut self, line: FusionLine<'_>) {
        if matches!(line, FusionLine::Finished(_)) {
            self.report.end_of_run = true;
        }
        let fusion = self.report.fusion.get_or_insert_with(Default::default);
        fusion.note(line);
    }

    // --- Text

    /// `Encountered an error:`: the error that stopped dbt, on this line's tail and the lines
    /// that follow.
    fn encountered_error(&mut self, tail: Option<&str>) {
        self.report.end_of_run = true;
        self.block = Block::TopLevelError;
        if let Some(tail) = tail {
            self.add_error_line(tail);
        }
    }

    /// A text result line's node. A node counts as finished only when its result line
    /// follows a START line of the same index naming the same node: a line a model printed
    /// that imitates a result (without its START) never makes a node count as finished.
    fn result_line(&mut self, index: u64, node: ResultNode<'_>) {
        let name = node.name;
        match node.status {
            ResultStatus::Start => {
                if !self.starts.begin(index, name) {
                    self.report.conflicting = true;
                }
            }
            ResultStatus::Done => {
                if self.starts.end(index, name) {
                    self.add_finished_with(node.resource_type, name);
                }
            }
            ResultStatus::Skip => {
                let name = String::from_utf8_lossy(name);
                self.add_skipped(skipped_node(&name, node.resource_type, None));
            }
            ResultStatus::PartialSuccess => {
                self.starts.end(index, name);
                let name = String::from_utf8_lossy(name);
                self.microbatch_result(&name, None, ModelOutcome::PartialSuccess);
            }
            ResultStatus::Failed { status, message } => {
                self.starts.end(index, name);
                let name = String::from_utf8_lossy(name);
                self.report.microbatch.outcome(&name, ModelOutcome::Error);
                if self.result_failures.len() < self.limits.failed {
                    let mut node = failed_node(name.into_owned(), node.resource_type, None, status);
                    node.message = message;
                    self.result_failures.push(node);
                } else {
                    self.report.truncated = true;
                }
            }
        }
    }

    /// A timestamped line that is not a result: a summary header, the next line of the open
    /// message, or what it says on its own.
    fn message(&mut self, message: Message<'_>) {
        let Message {
            line,
            trimmed,
            header,
            says,
        } = message;
        // dbt prints an ephemeral model's error right after the SKIP line of each node built
        // on it, outside the summary (which does not name it).
        if self.in_summary || self.ephemeral_skipped {
            if let Some(header) = header {
                self.summary_header(header, trimmed);
                return;
            }
        }
        match self.block {
            Block::Failure { index, has_text } => {
                if trimmed.is_empty() {
                    // A blank line ends the message once it has text (1.8+ prints a blank
                    // right after a unit test's header).
                    if has_text {
                        self.block = Block::None;
                    }
                } else if trimmed.starts_with("compiled ") {
                    // `compiled code at target/...`: not part of the message.
                    self.block = Block::Ignored;
                } else {
                    self.add_message_line(index, trimmed);
                    self.block = Block::Failure {
                        index,
                        has_text: true,
                    };
                }
                return;
            }
            Block::TopLevelError => {
                self.add_error_line(line);
                return;
            }
            Block::Ignored if !trimmed.is_empty() => return,
            Block::Ignored | Block::None | Block::BatchError => self.block = Block::None,
        }
        if let Some(says) = says {
            self.apply(says.into());
        }
    }

    /// A line without timestamp: the next line of the open multi-line message.
    fn continuation(&mut self, continuation: Continuation<'_>) {
        let line = continuation.line;
        match self.block {
            Block::Failure { index, has_text } => {
                self.add_message_line(index, line);
                if !has_text && !line.trim().is_empty() {
                    self.block = Block::Failure {
                        index,
                        has_text: true,
                    };
                }
            }
            Block::TopLevelError => self.add_error_line(line),
            Block::BatchError => self.batch_error_line(line),
            Block::None if !self.seen_text && !self.seen_json && continuation.usage_error => {
                // A command-line usage error, printed before dbt logs anything (exit 2).
                self.report.end_of_run = true;
                self.add_error_line(line);
                self.block = Block::TopLevelError;
            }
            Block::None if !self.in_summary && continuation.summary_start => {
                // `Completed with 9 errors ...` that lost its timestamp (a pasted excerpt that
                // starts there): the headers that follow count, and so do the result lines'
                // failures (the line may not have been dbt's).
                self.in_summary = true;
                self.summary_untimed = true;
            }
            Block::None | Block::Ignored => {}
        }
    }

    fn summary_header(&mut self, header: Header<'_>, line: &str) {
        if header.is_warning() {
            self.block = Block::Ignored;
            return;
        }
        if header.unit_test_in_disguise {
            // Not the model's failure: the unit test's, whose result line names it.
            self.unit_tests_unnamed = true;
            self.block = Block::Ignored;
            return;
        }
        let name = header.node_name();
        if header.version_unknown() {
            self.note_version_unknown(header.name);
        }
        let known = self
            .report
            .failed
            .iter()
            .position(|f| f.name == name && f.resource_type == header.resource_type);
        let ephemeral = !self.in_summary;
        if ephemeral && known.is_some_and(|i| !self.report.failed[i].message.is_empty()) {
            // The same ephemeral model's error again, for the next node built on it.
            self.block = Block::Ignored;
            return;
        }
        let index = match known {
            Some(index) => {
                if header.kind == HeaderKind::Error
                    && self.block
                        == (Block::Failure {
                            index,
                            has_text: false,
                        })
                {
                    // `Failure in test x` / `[ERROR]: in test x`, then `Runtime Error in test
                    // x`: the test could not run (dbt's status `error`), it did not find rows.
                    self.report.failed[index].status = FailStatus::Error;
                }
                Some(index)
            }
            None => {
                let status = if header.kind == HeaderKind::Failure && header.resource_type.is_test()
                {
                    FailStatus::Fail
                } else {
                    FailStatus::Error
                };
                let node = failed_node(name.into_owned(), header.resource_type, None, status);
                let index = self.add_failed(node);
                if ephemeral {
                    self.ephemeral_failures.extend(index);
                }
                index
            }
        };
        match index {
            Some(index) => {
                // `Runtime Error in model x` names the error's kind: keep it in the detail.
                if header.kind == HeaderKind::Error {
                    self.add_message_line(index, line);
                }
                let has_text = !self.report.failed[index].message.is_empty();
                self.block = Block::Failure { index, has_text };
            }
            None => self.block = Block::Ignored,
        }
    }

    // --- JSON

    /// A node's JSON result: failed, skipped, or finished.
    fn node_result(&mut self, result: NodeResult<'_>) {
        let NodeResult {
            name,
            versioned_model,
            resource_type,
            unique_id,
            status,
        } = result;
        match status {
            NodeStatus::Error => {
                self.report.microbatch.outcome(name, ModelOutcome::Error);
                self.add_json_failure(name, resource_type, unique_id, FailStatus::Error)
            }
            NodeStatus::Fail => {
                self.add_json_failure(name, resource_type, unique_id, FailStatus::Fail)
            }
            NodeStatus::PartialSuccess => {
                self.microbatch_result(name, unique_id, ModelOutcome::PartialSuccess)
            }
            NodeStatus::Skipped => {
                self.add_skipped(skipped_node(name, resource_type, unique_id));
            }
            NodeStatus::Finished => {
                self.add_finished(skipped_node(name, resource_type, unique_id));
            }
        }
        if let Some(model) = versioned_model {
            // 1.6 summaries name a failed version by its bare model name.
            if let Some(&index) = self.failed_index.get(name) {
                self.failed_index.entry(model.to_owned()).or_insert(index);
            }
        }
    }

    fn add_json_failure(
        &mut self,
        name: &str,
        resource_type: ResourceType,
        unique_id: Option<&str>,
        status: FailStatus,
    ) {
        let unique_id = unique_id.map(str::to_owned);
        let node = failed_node(name.to_owned(), resource_type, unique_id, status);
        // Index by name too: 1.6/1.7 summaries name the node but carry no unique_id.
        if let Some(index) = self.add_failed(node) {
            self.failed_index.entry(name.to_owned()).or_insert(index);
        }
    }

    /// A failure in the end-of-run summary, or an ephemeral model's error after the skip of a
    /// node built on it (see [`RunResult`]).
    fn run_result(&mut self, result: RunResult<'_>) {
        // Right after an ephemeral skip, dbt prints the ephemeral model's error: not the
        // summary yet.
        let ephemeral = self.ephemeral_skipped;
        if !ephemeral {
            self.in_summary = true;
        }
        let header = result.header.as_ref();
        if header.is_some_and(|h| h.is_warning()) {
            self.block = Block::Ignored;
            return;
        }
        if result.caused_by_ephemeral_parent {
            // The node is among the skipped, its parent's error was printed with the skip.
            self.block = Block::None;
            return;
        }
        if let Some(h) = header.filter(|h| h.version_unknown()) {
            self.note_version_unknown(h.name);
        }
        let index = match self.run_result_node(&result, ephemeral) {
            Ok(index) => index,
            Err(block) => {
                self.block = block;
                return;
            }
        };
        self.block = Block::Failure {
            index,
            has_text: true,
        };
        if result.kind == RunResultKind::Failure {
            return; // only the `Failure in ...` header
        }
        for line in result.lines {
            self.add_message_line(index, line);
        }
    }

    /// The failed node a `RunResult*` event is about, or the block its lines are (ignored:
    /// the same ephemeral model's error again; none: no node).
    fn run_result_node(&mut self, result: &RunResult<'_>, ephemeral: bool) -> Result<usize, Block> {
        let header_name = result.header.as_ref().map(|h| h.node_name().into_owned());
        let found = result
            .key
            .or(header_name.as_deref())
            .and_then(|k| self.failed_index.get(k).copied());
        match found {
            Some(index) if ephemeral => {
                if self.report.failed[index].message.is_empty() {
                    Ok(index)
                } else {
                    // The same ephemeral model's error again, for its next child.
                    Err(Block::Ignored)
                }
            }
            Some(index) => Ok(index),
            None if ephemeral => {
                let name = result.name.or(header_name.as_deref());
                let resource_type = result
                    .header
                    .as_ref()
                    .map_or(ResourceType::Model, |h| h.resource_type);
                name.and_then(|name| self.add_ephemeral_failure(name, resource_type, result))
                    .ok_or(Block::None)
            }
            // A message without a node continues the failure before it (1.6/1.7).
            None if result.key.is_none() => match (self.block, result.kind) {
                (Block::Failure { index, .. }, RunResultKind::Error) => Ok(index),
                _ => Err(Block::None),
            },
            None => Err(Block::None),
        }
    }

    /// An ephemeral model's error after a skip: the model failed (it has no result line).
    fn add_ephemeral_failure(
        &mut self,
        name: &str,
        resource_type: ResourceType,
        result: &RunResult<'_>,
    ) -> Option<usize> {
        let unique_id = result.unique_id.map(str::to_owned);
        let key = unique_id.clone();
        let node = failed_node(name.to_owned(), resource_type, unique_id, FailStatus::Error);
        let index = self.add_failed(node)?;
        self.failed_index.entry(name.to_owned()).or_insert(index);
        if let Some(key) = key {
            self.failed_index.entry(key).or_insert(index);
        }
        self.ephemeral_failures.insert(index);
        Some(index)
    }

    // --- Microbatch

    /// A batch's start or result, of either format. `thread` ties a failed batch to its error
    /// message (JSON); a text log names no thread (`""`), and its messages go in order.
    fn batch_line(&mut self, line: &BatchLine<'_>, unique_id: Option<&str>, thread: &str) {
        self.block = Block::None;
        if !self.report.microbatch.note(line, unique_id) {
            self.report.truncated = true;
        }
        if line.status == BatchStatus::Error {
            let pending = self.batch_errors.iter().position(|(t, ..)| t == thread);
            if let Some((_, message, detail)) = pending.and_then(|at| self.batch_errors.remove(at))
            {
                self.report
                    .microbatch
                    .message(line.model, (message, detail));
            }
        }
    }

    /// A failed batch's whole error (JSON `GenericExceptionOnRun`).
    fn batch_error(&mut self, thread: &str, lines: &[std::borrow::Cow<'_, str>]) {
        self.begin_batch_error(thread);
        for line in lines {
            self.batch_error_line(line);
        }
        self.block = Block::None;
    }

    /// A failed batch's error block begins (`Unhandled error while executing`, JSON
    /// `GenericExceptionOnRun`): its lines follow.
    fn begin_batch_error(&mut self, thread: &str) {
        if self.batch_errors.len() >= MAX_PENDING_ERRORS {
            self.batch_errors.pop_front();
        }
        self.batch_errors
            .push_back((thread.to_owned(), String::new(), String::new()));
        self.block = Block::BatchError;
    }

    /// A line of the open batch error: the first line that says more than `Exception on
    /// worker thread. Runtime Error` is its message; every line, bounded, its detail.
    fn batch_error_line(&mut self, line: &str) {
        let limit = self.limits.message_bytes;
        let Some((_, message, detail)) = self.batch_errors.back_mut() else {
            return;
        };
        let trimmed = line.trim();
        if trimmed.is_empty() {
            return;
        }
        if message.is_empty() && !trimmed.starts_with("Exception on worker thread") {
            *message = truncate(trimmed, 500).to_owned();
        }
        if detail.len() < limit {
            if !detail.is_empty() {
                detail.push('\n');
            }
            detail.push_str(truncate(trimmed, limit.saturating_sub(detail.len())));
        }
    }

    /// A microbatch model's result: a partial success is a model that did not fully succeed,
    /// failed though dbt prints no failure for it in its summary.
    fn microbatch_result(&mut self, name: &str, unique_id: Option<&str>, outcome: ModelOutcome) {
        self.report.microbatch.outcome(name, outcome);
        if outcome == ModelOutcome::PartialSuccess {
            let node = failed_node(
                name.to_owned(),
                ResourceType::Model,
                unique_id.map(str::to_owned),
                FailStatus::Error,
            );
            if let Some(index) = self.add_failed(node) {
                self.failed_index.entry(name.to_owned()).or_insert(index);
            }
        }
    }

    /// A failed microbatch model's message is its first failed batch's: dbt prints none of its
    /// own (a partial success), or only `ERROR` (its first batch failed).
    fn explain_failed_microbatch_models(&mut self) {
        let runs = &self.report.microbatch;
        for node in &mut self.report.failed {
            let run = runs.iter().find(|r| {
                r.model == node.name || (r.unique_id.is_some() && r.unique_id == node.unique_id)
            });
            let Some((message, detail)) = run.and_then(|r| r.message.as_ref()) else {
                continue;
            };
            if node.message.is_empty() || node.message == "ERROR" {
                node.message = message.clone();
                node.detail = if node.detail.is_empty() || node.detail == "ERROR" {
                    detail.clone()
                } else {
                    format!("{}\n{detail}", node.detail)
                };
            }
        }
    }

    // --- The report

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
        let relations: HashSet<&str> = result_lines.map(|n| n.name.as_str()).collect();
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

    /// [`State::add_finished`] of a text result line's node, its name made a `String` only
    /// when kept.
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

fn skipped_node(name: &str, resource_type: ResourceType, unique_id: Option<&str>) -> SkippedNode {
    SkippedNode {
        name: name.to_owned(),
        resource_type,
        unique_id: unique_id.map(str::to_owned),
    }
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
