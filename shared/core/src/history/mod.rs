//! `dbt-rerun history`: the functions' decision lines, read back from their log groups and
//! put together into chains (an original run and its re-runs), each with its outcome.
//!
//! Pure: it is handed the log events ([`LogEvent`], as CloudWatch Logs' `FilterLogEvents`
//! returns them) and answers with plain data; the CLI renders it for a terminal.
//!
//! Which chain a decision line belongs to, first rule that applies:
//!
//! 1. the record's `origin_task_arn` (every line written since history exists);
//! 2. for a `rerun`, its `rerun.origin_task_arn`;
//! 3. the task was launched by a line already read: a `rerun` whose `rerun.task_arn` it is,
//!    or rerun-task's `dbt-rerun launch` line (a delayed re-run whose schedule fired, or a
//!    person's launch from a stopped task) whose `startedBy` (`dbt-rerun/<origin-id>/<n>`)
//!    or decision names the chain;
//! 4. attempt 1: the task is the chain's original;
//! 5. otherwise the chain cannot be known: the line is a chain of its own, without origin.
//!
//! A line of the same event again (`duplicate`, or a second line for a task already
//! decided) adds nothing. The outcome, from the chain's last attempt: `recovered` when a
//! line says the re-run succeeded (the `Recovered` metric, the record's `recovered` field,
//! or an `ignore` of a re-run whose dbt container exited 0 with nothing failed); else a
//! launch later than every decided attempt is `running` (a `rerun` whose task was started,
//! or a delayed one whose schedule fired), `scheduled` (its schedule has not fired: with its
//! time) or `not_launched` (a dry run); else `gave_up` or `ignored` as the last decision
//! says. A re-run that succeeded before successful stops
//! reached the function stays `running`: nothing says otherwise.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};

/// The filter pattern of `FilterLogEvents`: on-task-stopped's decision lines and rerun-task's
/// launch lines. Lines are also checked here, after reading: a pattern narrows, never decides.
pub const FILTER_PATTERN: &str =
    r#"{ ($.message = "dbt-rerun decision") || ($.message = "dbt-rerun launch") }"#;

/// The `message` of on-task-stopped's decision line (see [`crate::metrics`]).
pub(crate) const DECISION_MESSAGE: &str = "dbt-rerun decision";
/// The `message` of rerun-task's line for each launch.
pub(crate) const LAUNCH_MESSAGE: &str = "dbt-rerun launch";

/// One log event as CloudWatch Logs stores it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEvent {
    /// Milliseconds since the Unix epoch.
    pub timestamp_ms: i64,
    /// The event's text: a function's JSON log line (a decision, a launch, or anything else).
    pub message: String,
}

/// How a chain ended, or where it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// A re-run succeeded.
    Recovered,
    /// The last attempt gave up: a person has to look.
    GaveUp,
    /// A re-run was started and has not stopped (or its success was not reported).
    Running,
    /// A delayed re-run waits for its schedule.
    Scheduled,
    /// Not re-run: a person stopped it, a newer run does the work, it succeeded, ...
    Ignored,
    /// A re-run was decided but not launched (a dry run).
    NotLaunched,
}

impl Outcome {
    /// The outcome as `dbt-rerun history --format json` writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Recovered => "recovered",
            Self::GaveUp => "gave_up",
            Self::Running => "running",
            Self::Scheduled => "scheduled",
            Self::Ignored => "ignored",
            Self::NotLaunched => "not_launched",
        }
    }
}

/// One decided attempt of a chain.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AttemptHistory {
    /// The attempt's number in its chain (1 = the original run).
    pub attempt: u32,
    /// `rerun`, `give_up` or `ignore`, as the record says.
    pub decision: String,
    /// The line says this attempt succeeded (the chain recovered here).
    pub recovered: bool,
    /// The record's `reason`, one sentence.
    pub reason: String,
    /// The stopped task the decision was about.
    pub task_arn: String,
    /// The failed nodes' names.
    pub failed_nodes: Vec<String>,
    /// How many nodes dbt skipped in it.
    pub skipped_nodes: usize,
    /// When it was decided (RFC 3339, UTC).
    pub decided_at: String,
    /// Nodes the re-run runs and finished nodes it leaves out, when the line carries them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rerun_nodes: Option<u64>,
    /// Finished nodes the re-run leaves out, when the line carries them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nodes_saved: Option<u64>,
    #[serde(skip)]
    decided_ms: i64,
}

/// A chain: the original run and its re-runs, as the decision lines tell it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChainHistory {
    /// The original task; null when no line names it.
    pub origin_task: Option<String>,
    /// The chain's first decision (when its original run stopped), RFC 3339 UTC.
    pub started_at: String,
    /// The cluster's name, from the chain's first decision.
    pub cluster: String,
    /// The task definition family, from the chain's first decision.
    pub family: String,
    /// The chain's original command, when a line carries it.
    pub command: Option<Vec<String>>,
    /// The decided attempts, in order.
    pub attempts: Vec<AttemptHistory>,
    /// How the chain ended, or where it is.
    pub outcome: Outcome,
    /// The attempt the outcome is about: the one that recovered, gave up or was ignored,
    /// the one running or scheduled.
    pub outcome_attempt: u32,
    /// A `running` chain's task.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub running_task: Option<String>,
    /// A `scheduled` chain's due time (RFC 3339, UTC).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scheduled_at: Option<String>,
    /// Finished nodes the chain's re-runs left out, summed, when the lines carry it.
    pub nodes_saved: Option<u64>,
    #[serde(skip)]
    started_ms: i64,
}

/// The chains found, and how many lines looked like dbt-rerun's but could not be read.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct History {
    /// Newest first.
    pub chains: Vec<ChainHistory>,
    /// Lines naming dbt-rerun's messages that are not JSON or carry no readable record.
    pub unreadable: usize,
}

/// Which chains to keep.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// A task definition family: only its chains are kept.
    pub family: Option<String>,
    /// A cluster's name (or ARN).
    pub cluster: Option<String>,
}

impl Filter {
    fn keeps(&self, chain: &ChainHistory) -> bool {
        let last = |s: &str| s.rsplit('/').next().unwrap_or(s).to_owned();
        self.family.as_ref().is_none_or(|f| *f == chain.family)
            && self
                .cluster
                .as_ref()
                .is_none_or(|c| last(c) == last(&chain.cluster))
    }
}

// The lines as read back: lenient (every field optional), since lines written by older and
// newer versions are read alike.

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RawLine {
    message: String,
    #[serde(rename = "_aws")]
    aws: Option<Value>,
    record: Option<Value>,
    response: Option<Value>,
    #[serde(rename = "Recovered")]
    recovered: Option<Value>,
    #[serde(rename = "NodesSaved")]
    nodes_saved: Option<Value>,
    #[serde(rename = "RerunNodes")]
    rerun_nodes: Option<Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct LineRecord {
    decision: String,
    reason: String,
    task_arn: String,
    cluster: String,
    task_family: String,
    command: Option<Vec<String>>,
    attempt: Option<u32>,
    origin_task_arn: Option<String>,
    failed_nodes: Vec<NodeRef>,
    skipped_nodes: Vec<Value>,
    exit_code: Option<i32>,
    failure_kind: String,
    rerun: Option<RerunRef>,
    duplicate: bool,
    recovered: Option<Value>,
    rerun_nodes: Option<Value>,
    nodes_saved: Option<Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct NodeRef {
    name: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RerunRef {
    attempt: Option<u32>,
    origin_task_arn: Option<String>,
    task_arn: Option<String>,
    scheduled_at: Option<String>,
    original_command: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct LaunchResponse {
    task_arn: Option<String>,
    started_by: String,
    dry_run: bool,
    decision: Option<Value>,
}

/// A decision line, read.
#[derive(Debug)]
struct DecisionLine {
    at_ms: i64,
    record: LineRecord,
    recovered: bool,
    rerun_nodes: Option<u64>,
    nodes_saved: Option<u64>,
}

impl DecisionLine {
    fn attempt(&self) -> u32 {
        self.record.attempt.unwrap_or(1).max(1)
    }

    /// The task succeeded: its dbt container exited 0 and nothing failed (a re-run's success
    /// once the rule lets successful stops of re-runs through).
    fn succeeded(&self) -> bool {
        let r = &self.record;
        r.decision == "ignore"
            && r.exit_code == Some(0)
            && r.failure_kind == "none"
            && r.failed_nodes.is_empty()
    }

    /// The chain's origin as the line itself names it.
    fn named_origin(&self) -> Option<&str> {
        self.record
            .origin_task_arn
            .as_deref()
            .or_else(|| self.record.rerun.as_ref()?.origin_task_arn.as_deref())
            .filter(|o| !o.is_empty())
    }
}

/// A launch line, read: the task it started as attempt `attempt` of the chain `key`.
#[derive(Debug)]
struct LaunchLine {
    key: String,
    origin: Option<String>,
    attempt: u32,
    task_arn: String,
}

enum Line {
    Decision(Box<DecisionLine>),
    Launch(LaunchLine),
}

/// A number a line carries as a JSON number (whole, not negative).
fn count(value: Option<&Value>) -> Option<u64> {
    let v = value?;
    v.as_u64().or_else(|| {
        v.as_f64()
            .filter(|f| *f >= 0.0 && f.fract() == 0.0)
            .map(|f| f as u64)
    })
}

fn truthy(value: Option<&Value>) -> bool {
    match value {
        Some(Value::Bool(b)) => *b,
        Some(Value::Number(n)) => n.as_f64().is_some_and(|f| f > 0.0),
        Some(Value::Object(_)) => true,
        _ => false,
    }
}

/// The chain key of an origin task: its id, the last part of its ARN (what `startedBy`
/// carries).
fn key_of(arn: &str) -> String {
    arn.rsplit('/').next().unwrap_or(arn).to_owned()
}

/// The JSON object in `message`: the line itself, or (should Lambda ever wrap a line in its
/// JSON log format) the line inside its `message`.
fn raw_line(message: &str) -> Option<RawLine> {
    let start = message.find('{')?;
    let raw: RawLine = serde_json::from_str(message[start..].trim_end()).ok()?;
    if raw.message.trim_start().starts_with('{') {
        return serde_json::from_str(raw.message.trim()).ok();
    }
    Some(raw)
}

/// Reads one event: Some(Ok) for a line of dbt-rerun's, Some(Err) for one that says it is
/// but cannot be read, None for any other line.
fn read(event: &LogEvent) -> Option<Result<Line, ()>> {
    if !event.message.contains(DECISION_MESSAGE) && !event.message.contains(LAUNCH_MESSAGE) {
        return None;
    }
    let Some(raw) = raw_line(&event.message) else {
        return Some(Err(()));
    };
    match raw.message.as_str() {
        DECISION_MESSAGE => Some(decided(raw, event.timestamp_ms).ok_or(())),
        LAUNCH_MESSAGE => launch(raw).map(Ok),
        _ => None,
    }
}

fn decided(raw: RawLine, event_ms: i64) -> Option<Line> {
    let record: LineRecord = serde_json::from_value(raw.record?).ok()?;
    if record.task_arn.is_empty() {
        return None;
    }
    let at_ms = raw
        .aws
        .as_ref()
        .and_then(|a| a.get("Timestamp"))
        .and_then(Value::as_i64)
        .unwrap_or(event_ms);
    let recovered = truthy(raw.recovered.as_ref()) || truthy(record.recovered.as_ref());
    Some(Line::Decision(Box::new(DecisionLine {
        at_ms,
        rerun_nodes: count(record.rerun_nodes.as_ref()).or(count(raw.rerun_nodes.as_ref())),
        nodes_saved: count(record.nodes_saved.as_ref()).or(count(raw.nodes_saved.as_ref())),
        recovered,
        record,
    })))
}

/// A launch line that started a task of a known chain; None for a dry run, a launch outside
/// any chain, or a line that cannot be read (it only links, it decides nothing).
fn launch(raw: RawLine) -> Option<Line> {
    let response: LaunchResponse = serde_json::from_value(raw.response?).ok()?;
    let task_arn = response.task_arn.filter(|t| !t.is_empty())?;
    if response.dry_run {
        return None;
    }
    let mut parts = response
        .started_by
        .strip_prefix(crate::chain::STARTED_BY_PREFIX)?
        .split('/');
    let (id, attempt) = (parts.next()?, parts.next());
    if id != "manual" {
        let attempt = attempt?.parse().ok()?;
        return Some(Line::Launch(LaunchLine {
            key: id.to_owned(),
            origin: None,
            attempt,
            task_arn,
        }));
    }
    // A person's launch from a stopped task: the decision names the chain.
    let record: LineRecord = serde_json::from_value(response.decision?).ok()?;
    let origin = record
        .origin_task_arn
        .clone()
        .or_else(|| record.rerun.as_ref()?.origin_task_arn.clone())
        .or_else(|| (record.attempt.unwrap_or(1) <= 1).then(|| record.task_arn.clone()))
        .filter(|o| !o.is_empty())?;
    let attempt = record
        .rerun
        .as_ref()
        .and_then(|r| r.attempt)
        .unwrap_or(record.attempt.unwrap_or(1) + 1);
    Some(Line::Launch(LaunchLine {
        key: key_of(&origin),
        origin: Some(origin),
        attempt,
        task_arn,
    }))
}

/// RFC 3339 (UTC, seconds) of a timestamp in milliseconds.
pub fn rfc3339_ms(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(crate::delay::rfc3339)
        .unwrap_or_default()
}

/// What the links between lines say: which chain each launched task belongs to, the chains'
/// origin tasks, and each chain's launches by attempt.
#[derive(Default)]
struct Links {
    task_chain: HashMap<String, String>,
    task_attempt: HashMap<String, u32>,
    origins: HashMap<String, String>,
    launches: HashMap<String, BTreeMap<u32, String>>,
}

impl Links {
    fn of(lines: &[Line]) -> Self {
        let mut links = Links::default();
        for line in lines {
            match line {
                Line::Decision(d) => {
                    let Some(origin) = d.named_origin() else {
                        continue;
                    };
                    let key = key_of(origin);
                    links.origins.insert(key.clone(), origin.to_owned());
                    links
                        .task_chain
                        .insert(d.record.task_arn.clone(), key.clone());
                    if let Some(rerun) = &d.record.rerun {
                        if let Some(task) = rerun.task_arn.as_ref().filter(|t| !t.is_empty()) {
                            links.task_chain.insert(task.clone(), key.clone());
                            let attempt = rerun.attempt.unwrap_or(d.attempt() + 1);
                            links.launched(&key, attempt, task);
                        }
                    }
                }
                Line::Launch(l) => {
                    if let Some(origin) = &l.origin {
                        links.origins.insert(l.key.clone(), origin.clone());
                    }
                    links.task_chain.insert(l.task_arn.clone(), l.key.clone());
                    links.launched(&l.key, l.attempt, &l.task_arn);
                }
            }
        }
        links
    }

    fn launched(&mut self, key: &str, attempt: u32, task: &str) {
        self.task_attempt.insert(task.to_owned(), attempt);
        self.launches
            .entry(key.to_owned())
            .or_default()
            .entry(attempt)
            .or_insert_with(|| task.to_owned());
    }

    /// The chain of a decision line (the rules of the module's docs).
    fn chain_of(&self, d: &DecisionLine) -> String {
        if let Some(origin) = d.named_origin() {
            return key_of(origin);
        }
        if let Some(key) = self.task_chain.get(&d.record.task_arn) {
            return key.clone();
        }
        if d.attempt() == 1 {
            return key_of(&d.record.task_arn);
        }
        // Cannot collide with a task id: ids have no `?`.
        format!("?{}", d.record.task_arn)
    }
}

/// The chains told by `events` (any order, any mix of the functions' log groups), newest
/// first, those `filter` keeps.
pub fn chains(events: &[LogEvent], filter: &Filter) -> History {
    let mut unreadable = 0;
    let mut lines: Vec<Line> = Vec::new();
    for event in events {
        match read(event) {
            Some(Ok(line)) => lines.push(line),
            Some(Err(())) => unreadable += 1,
            None => {}
        }
    }
    lines.sort_by_key(|l| match l {
        Line::Decision(d) => d.at_ms,
        Line::Launch(_) => i64::MIN,
    });
    let links = Links::of(&lines);
    let mut grouped: BTreeMap<String, Vec<DecisionLine>> = BTreeMap::new();
    for line in lines {
        if let Line::Decision(mut d) = line {
            if d.record.duplicate {
                continue;
            }
            // A task launched as attempt n is attempt n, whatever a line that could not
            // locate its chain says.
            if let Some(&n) = links.task_attempt.get(&d.record.task_arn) {
                if d.attempt() < n {
                    d.record.attempt = Some(n);
                }
            }
            d.recovered |= d.attempt() > 1 && d.succeeded();
            let key = links.chain_of(&d);
            let chain = grouped.entry(key).or_default();
            // The same stop decided again (a retried invocation): the first line stands.
            if !chain.iter().any(|c| c.record.task_arn == d.record.task_arn) {
                chain.push(*d);
            }
        }
    }
    let mut chains: Vec<ChainHistory> = grouped
        .into_iter()
        .filter_map(|(key, decided)| assemble(&key, decided, &links))
        .filter(|c| filter.keeps(c))
        .collect();
    chains.sort_by(|a, b| {
        b.started_ms
            .cmp(&a.started_ms)
            .then_with(|| a.origin_task.cmp(&b.origin_task))
    });
    History { chains, unreadable }
}

fn assemble(key: &str, mut decided: Vec<DecisionLine>, links: &Links) -> Option<ChainHistory> {
    decided.sort_by_key(|d| (d.attempt(), d.at_ms));
    let first = decided.iter().min_by_key(|d| d.at_ms)?;
    let started_ms = first.at_ms;
    let (cluster, family) = (
        first.record.cluster.clone(),
        first.record.task_family.clone(),
    );
    let origin_task = links.origins.get(key).cloned().or_else(|| {
        decided
            .iter()
            .find(|d| d.attempt() == 1 && key_of(&d.record.task_arn) == key)
            .map(|d| d.record.task_arn.clone())
    });
    let command = decided
        .iter()
        .find(|d| d.attempt() == 1)
        .and_then(|d| d.record.command.clone())
        .or_else(|| {
            decided
                .iter()
                .find_map(|d| d.record.rerun.as_ref()?.original_command.clone())
        })
        .or_else(|| decided.iter().find_map(|d| d.record.command.clone()));
    let saved: Vec<u64> = decided.iter().filter_map(|d| d.nodes_saved).collect();
    let nodes_saved = (!saved.is_empty()).then(|| saved.iter().sum());
    let last = decided.last()?;
    let state = outcome(last, links.launches.get(key));
    let attempts = decided.iter().map(attempt_of).collect();
    Some(ChainHistory {
        origin_task,
        started_at: rfc3339_ms(started_ms),
        cluster,
        family,
        command,
        attempts,
        outcome: state.outcome,
        outcome_attempt: state.attempt,
        running_task: state.running_task,
        scheduled_at: state.scheduled_at,
        nodes_saved,
        started_ms,
    })
}

struct State {
    outcome: Outcome,
    attempt: u32,
    running_task: Option<String>,
    scheduled_at: Option<String>,
}

/// The chain's outcome from its last decided attempt and its launches.
fn outcome(last: &DecisionLine, launches: Option<&BTreeMap<u32, String>>) -> State {
    let state = |outcome, attempt| State {
        outcome,
        attempt,
        running_task: None,
        scheduled_at: None,
    };
    if last.recovered {
        return state(Outcome::Recovered, last.attempt());
    }
    // A launch after the last decision (a fired schedule, a person's launch): running.
    if let Some((&attempt, task)) = launches.and_then(|l| l.iter().next_back()) {
        if attempt > last.attempt() {
            return State {
                running_task: Some(task.clone()),
                ..state(Outcome::Running, attempt)
            };
        }
    }
    match last.record.decision.as_str() {
        "give_up" => state(Outcome::GaveUp, last.attempt()),
        "rerun" => {
            let rerun = last.record.rerun.as_ref();
            let next = rerun.and_then(|r| r.attempt).unwrap_or(last.attempt() + 1);
            if let Some(task) = rerun.and_then(|r| r.task_arn.clone()) {
                State {
                    running_task: Some(task),
                    ..state(Outcome::Running, next)
                }
            } else if let Some(due) = rerun.and_then(|r| r.scheduled_at.clone()) {
                State {
                    scheduled_at: Some(due),
                    ..state(Outcome::Scheduled, next)
                }
            } else {
                state(Outcome::NotLaunched, next)
            }
        }
        _ => state(Outcome::Ignored, last.attempt()),
    }
}

fn attempt_of(d: &DecisionLine) -> AttemptHistory {
    AttemptHistory {
        attempt: d.attempt(),
        decision: d.record.decision.clone(),
        recovered: d.recovered,
        reason: d.record.reason.clone(),
        task_arn: d.record.task_arn.clone(),
        failed_nodes: d
            .record
            .failed_nodes
            .iter()
            .map(|n| n.name.clone())
            .collect(),
        skipped_nodes: d.record.skipped_nodes.len(),
        decided_at: rfc3339_ms(d.at_ms),
        rerun_nodes: d.rerun_nodes,
        nodes_saved: d.nodes_saved,
        decided_ms: d.at_ms,
    }
}

impl AttemptHistory {
    /// When it was decided, in milliseconds since the Unix epoch.
    pub fn decided_ms(&self) -> i64 {
        self.decided_ms
    }
}

impl ChainHistory {
    /// When the chain started, in milliseconds since the Unix epoch.
    pub fn started_ms(&self) -> i64 {
        self.started_ms
    }
}

#[cfg(test)]
mod tests;
