//! The decision for one stopped task: re-run, ignore or give up. A pure function of the
//! event, the parsed log, the original command and the configuration.
//!
//! [`decide`] answers with a [`Decided`]: the [`Decision`] (a sum type, so a re-run always
//! carries its plan and nothing else does) and the [`Findings`] that explain it. The record a
//! person or a program reads is assembled from both at the edge ([`crate::record`]), once the
//! launch's outcome is known.

use crate::chain::{Chain, ChainPosition};
use crate::classify::{classify, node_class, Classification, FailureKind, TaskOutcome};
use crate::event::{EcsTask, KeyValue};
use crate::fargate::{next_size, TaskSize};
use crate::log::RunReport;
use crate::node::{FailedNode, SkippedNode};
use crate::plan::{json_len, overrides_len, PlanShape, Work, ECS_OVERRIDE_LIMIT};
use crate::policy::{RetryClass, RetryPolicy};
use crate::transient::TransientPatterns;
use serde::Serialize;

pub use crate::chain::{ATTEMPT_VAR, ORIGIN_COMMAND_VAR, ORIGIN_VAR};
pub use commands::{ScriptFallback, ScriptStep};

mod commands;

use commands::{command_plan, Reading};

/// The record names finished nodes when there are at most this many.
pub const MAX_FINISHED_NAMES: usize = 20;

/// What to do about a stopped task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Start the next attempt of the chain; `reason` says why, in one sentence.
    Rerun { rerun: PlannedRerun, reason: String },
    /// Nothing to do (success, a person or the service scheduler stopped it, not stopped yet,
    /// another cluster).
    Ignore(String),
    /// A re-run cannot help or is not allowed; a person has to look.
    GiveUp(String),
}

impl Decision {
    pub fn reason(&self) -> &str {
        match self {
            Self::Rerun { reason, .. } | Self::Ignore(reason) | Self::GiveUp(reason) => reason,
        }
    }

    pub fn rerun(&self) -> Option<&PlannedRerun> {
        match self {
            Self::Rerun { rerun, .. } => Some(rerun),
            _ => None,
        }
    }
}

/// The settings decisions depend on.
#[derive(Debug, Clone)]
pub struct DecisionConfig {
    /// The dbt container's name (`DBT_RERUN_CONTAINER`), else found from the event.
    pub container: Option<String>,
    pub policy: RetryPolicy,
    pub transient: TransientPatterns,
    /// The most memory an OOM re-run may get, MiB (`DBT_RERUN_MAX_MEMORY_MIB`).
    pub max_memory_mib: u32,
    /// The dbt cluster (`DBT_RERUN_CLUSTER`): rerun-task's default cluster.
    pub cluster: Option<String>,
    /// The clusters and task families served: tasks of others are not handled.
    pub scope: crate::scope::Scope,
    /// A script that cannot be re-run from its failed step (`DBT_RERUN_SCRIPT_FALLBACK`).
    pub script_fallback: ScriptFallback,
    /// A task that exited 0 is judged by its log too (`DBT_RERUN_INSPECT_SUCCESS`): a wrapper
    /// such as `dbt run || true` hides dbt's failures from the exit code.
    pub inspect_success: bool,
    /// A re-run after a warehouse error (transient or timeout) runs with at most this many
    /// dbt threads (`DBT_RERUN_RETRY_THREADS`; None: as the original ran).
    pub retry_threads: Option<u32>,
}

impl Default for DecisionConfig {
    fn default() -> Self {
        Self {
            container: None,
            policy: RetryPolicy::default(),
            transient: TransientPatterns::default(),
            max_memory_mib: 30720,
            cluster: None,
            scope: crate::scope::Scope::default(),
            script_fallback: ScriptFallback::Whole,
            inspect_success: false,
            retry_threads: None,
        }
    }
}

/// Everything a decision is made from.
#[derive(Debug, Clone, Copy)]
pub struct DecisionInput<'a> {
    pub task: &'a EcsTask,
    /// The parsed log; None when it could not be read.
    pub report: Option<&'a RunReport>,
    /// Why the log is missing or partial, for the reason (e.g. "no log stream").
    pub log_note: Option<&'a str>,
    /// The command the dbt container ran: the event's override, else the task definition's.
    /// None when neither is known.
    pub command: Option<&'a [String]>,
    /// The task definition's `entryPoint` of the dbt container: ECS runs it, then the command.
    pub entry_point: Option<&'a [String]>,
    /// The log split by dbt invocation, for a command that runs a shell script.
    pub invocations: Option<&'a [crate::log::Invocation]>,
    pub config: &'a DecisionConfig,
}

/// What a decision found out about the task, whatever it decided.
#[derive(Debug, Clone, PartialEq)]
pub struct Findings {
    pub failure_kind: FailureKind,
    pub transient: bool,
    pub task_arn: String,
    pub cluster: String,
    pub task_family: String,
    pub command: Option<Vec<String>>,
    /// The task definition's entry point, when it has one.
    pub entry_point: Option<Vec<String>>,
    /// For a script: its steps, what happened to each, what the re-run does with it.
    pub script_steps: Option<Vec<ScriptStep>>,
    /// The stopped task's attempt in its chain (1 = the original run).
    pub attempt: u32,
    /// The chain's original task, once the chain is known (None for a decision reached
    /// before: a task of another cluster, one still running).
    pub origin_task_arn: Option<String>,
    pub max_attempts: u32,
    pub container: Option<String>,
    pub exit_code: Option<i32>,
    pub stop_code: Option<String>,
    pub failed_nodes: Vec<FailedNode>,
    pub skipped_nodes: Vec<SkippedNode>,
    /// The command that re-runs what can be re-run, for a person too; None when nothing can.
    pub rerun_command: Option<Vec<String>>,
    pub plan_shape: Option<PlanShape>,
    /// Why the plan has its shape, or why there is no re-run command.
    pub plan_note: Option<String>,
    pub finished_nodes: u64,
    /// Their names, when there are at most [`MAX_FINISHED_NAMES`].
    pub finished_node_names: Vec<String>,
    /// dbt's end-of-run marker was in the log.
    pub log_complete: bool,
    /// What the re-run command runs and leaves out, in nodes; None without a command.
    pub work: Option<Work>,
    /// Microbatch models whose batches were not all built: the re-run's window and which
    /// batches of which model run again (or why no window could be known).
    pub microbatch: Option<crate::microbatch::BatchRerun>,
    /// The task was a chain's re-run that succeeded.
    pub recovered: Option<Recovery>,
}

/// A chain's re-run that succeeded: the chain recovered, and the loop closes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Recovery {
    /// The chain's original task.
    pub origin_task_arn: String,
    /// The attempt that succeeded (2 = the first re-run).
    pub attempt: u32,
}

impl Recovery {
    /// The decision's reason.
    fn reason(&self) -> String {
        let origin = self.origin_task_arn.rsplit('/').next();
        format!(
            "recovered: attempt {} of chain {} succeeded (dbt exited 0): nothing to re-run",
            self.attempt,
            origin.unwrap_or(&self.origin_task_arn)
        )
    }
}

/// Whether `task` (its dbt container `container`, else found as [`decide`] finds it) is the
/// successful stop of a re-run dbt-rerun started: stopped, dbt exited 0 and no person stopped
/// it, and it is a later attempt of its chain with the `startedBy` that attempt gets. Such a
/// stop is decided from the event alone (`ignore`: recovered): nothing is read, nothing
/// launched. With `DBT_RERUN_INSPECT_SUCCESS` its log is still read first, and failures a
/// wrapper hid make it a failure like any other.
pub fn recovery(task: &EcsTask, container: Option<&str>) -> Option<Recovery> {
    if !task.is_stopped() {
        return None;
    }
    let outcome = TaskOutcome::from_task(task, container).ok()?;
    let env = task.environment_of(&outcome.container);
    let position = Chain::locate(task, &env, None).ok()?;
    recovery_of(task, &outcome, &position)
}

fn recovery_of(
    task: &EcsTask,
    outcome: &TaskOutcome,
    position: &ChainPosition,
) -> Option<Recovery> {
    (outcome.succeeded() && position.is_rerun(task)).then(|| Recovery {
        origin_task_arn: position.chain.origin_task_arn().to_owned(),
        attempt: position.attempt,
    })
}

/// A decision and what it rests on.
#[derive(Debug, Clone, PartialEq)]
pub struct Decided {
    pub findings: Findings,
    pub decision: Decision,
}

/// The launch a `rerun` decision asks for: the next attempt of a chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedRerun {
    pub command: Vec<String>,
    /// The re-run's environment: the original's plus the chain variables. It holds values
    /// that may be secret: only their names are ever shown.
    pub environment: Vec<KeyValue>,
    /// Task-level size for an OOM re-run.
    pub cpu: Option<String>,
    pub memory: Option<String>,
    /// The attempt number the re-run will be.
    pub attempt: u32,
    pub chain: Chain,
}

impl PlannedRerun {
    /// The attempt after `position` with `command`, the stopped task's environment `env` and
    /// an optional larger size.
    pub fn next(
        position: &ChainPosition,
        env: &[KeyValue],
        command: Vec<String>,
        size: Option<TaskSize>,
    ) -> Self {
        let attempt = position.attempt + 1;
        Self {
            environment: position.chain.environment(env, attempt),
            command,
            cpu: size.map(|s| s.cpu.to_string()),
            memory: size.map(|s| s.memory.to_string()),
            attempt,
            chain: position.chain.clone(),
        }
    }

    /// The next run of the chain `task` belongs to, with `command`, whatever the policy says:
    /// for a person who asked for it. `task_command` is what `task` itself ran.
    pub fn continuing(
        task: &EcsTask,
        container: &str,
        command: Vec<String>,
        task_command: Option<&[String]>,
    ) -> Result<Self, crate::chain::ChainError> {
        let env = task.environment_of(container);
        let position = Chain::locate(task, &env, task_command)?;
        Ok(Self::next(&position, &env, command, None))
    }

    pub fn started_by(&self) -> String {
        self.chain.started_by(self.attempt)
    }

    pub fn client_token(&self) -> String {
        self.chain.client_token(self.attempt)
    }
}

/// Decides what to do about a stopped task.
pub fn decide(input: DecisionInput<'_>) -> Decided {
    let reading = Reading::of(&input);
    let mut findings = Findings::new(&input, reading.shown.as_deref());
    // Each step either passes or settles the decision early (its Err).
    let decision = judge(&input, &reading, &mut findings).unwrap_or_else(Decision::from);
    let decision = explain_missing_command(decision, &findings);
    Decided { findings, decision }
}

/// Nodes failed but there is no re-run command: the reason says why, whatever else it says
/// (a policy that would not re-run anyway must not hide that no command could be planned).
fn explain_missing_command(decision: Decision, findings: &Findings) -> Decision {
    let why = match (&findings.rerun_command, &findings.plan_note) {
        (None, Some(why)) if !findings.failed_nodes.is_empty() => why,
        _ => return decision,
    };
    let explained = |reason: String| {
        if reason.contains(why.as_str()) {
            reason
        } else {
            format!("{reason}; no re-run command: {why}")
        }
    };
    match decision {
        Decision::Ignore(reason) => Decision::Ignore(explained(reason)),
        Decision::GiveUp(reason) => Decision::GiveUp(explained(reason)),
        rerun @ Decision::Rerun { .. } => rerun,
    }
}

impl Findings {
    /// What the task and the log say before anything is judged.
    fn new(input: &DecisionInput<'_>, report: Option<&RunReport>) -> Self {
        let task = input.task;
        let finished = report.map(|r| &r.finished);
        Self {
            failure_kind: FailureKind::Unknown,
            transient: false,
            task_arn: task.task_arn.clone(),
            cluster: task.cluster_name().to_owned(),
            task_family: task.family().to_owned(),
            command: input.command.map(<[String]>::to_vec),
            entry_point: input.entry_point.map(<[String]>::to_vec),
            script_steps: None,
            attempt: 1,
            origin_task_arn: None,
            max_attempts: input.config.policy.max_attempts,
            container: None,
            exit_code: None,
            stop_code: task.stop_code.as_ref().map(|c| c.as_str().to_owned()),
            failed_nodes: report.map(|r| r.failed.clone()).unwrap_or_default(),
            skipped_nodes: report.map(|r| r.skipped.clone()).unwrap_or_default(),
            rerun_command: None,
            plan_shape: None,
            plan_note: None,
            finished_nodes: finished.map_or(0, |f| f.count),
            finished_node_names: finished
                .filter(|f| f.count <= MAX_FINISHED_NAMES as u64)
                .map(|f| f.nodes.iter().map(|n| n.name.clone()).collect())
                .unwrap_or_default(),
            log_complete: report.is_some_and(|r| r.end_of_run),
            work: None,
            microbatch: None,
            recovered: None,
        }
    }
}

/// The decision, step by step; an `Err` is a decision reached early.
fn judge(
    input: &DecisionInput<'_>,
    reading: &Reading<'_>,
    findings: &mut Findings,
) -> Result<Decision, Early> {
    let (task, config) = (input.task, input.config);
    handled_here(task, config)?;
    let mut outcome =
        TaskOutcome::from_task(task, config.container.as_deref()).map_err(give_up_with)?;
    findings.container = Some(outcome.container.clone());
    findings.exit_code = outcome.exit_code;
    let masked = hidden_failure(&mut outcome, input, reading, config);
    script_failed_outside_dbt(&outcome, reading)?;
    let mut classification = classify(&outcome, reading.judged(), &config.transient);
    if masked {
        classification.summary = format!(
            "the task exited 0, but dbt reported failures its wrapper hid (DBT_RERUN_INSPECT_SUCCESS): {}",
            classification.summary
        );
    }
    findings.failure_kind = classification.kind;
    findings.transient = classification.transient;
    let env = task.environment_of(&outcome.container);
    let position = Chain::locate(task, &env, input.command).map_err(give_up_with)?;
    findings.attempt = position.attempt;
    findings.origin_task_arn = Some(position.chain.origin_task_arn().to_owned());
    // A successful stop of the chain's own re-run (and no failure hidden in its log): the
    // chain recovered.
    if let Some(recovery) = recovery_of(task, &outcome, &position) {
        let reason = recovery.reason();
        findings.recovered = Some(recovery);
        return Err(Early::Ignore(reason));
    }
    fusion_log(&classification, &outcome, masked, input)?;

    let budget = command_budget(task, &outcome.container, &position, &env);
    let plan = command_plan(&classification, input, reading, budget);
    findings.rerun_command = plan.argv.clone();
    findings.plan_shape = plan.shape;
    findings.plan_note = match (&plan.argv, &plan.note) {
        (None, None) => Some(no_command(input, None)),
        (_, note) => note.clone(),
    };
    findings.script_steps = plan.steps.clone();
    findings.work = plan.work;
    findings.microbatch = plan.microbatch.clone();

    let what = with_log_note(&classification.summary, input.log_note);
    worth_a_rerun(&classification, &what)?;
    allowed(
        &classification,
        reading.judged(),
        config,
        position.attempt,
        &what,
    )?;
    let command = plan.argv.ok_or_else(|| {
        Early::GiveUp(format!(
            "{what}; {}",
            no_command(input, plan.note.as_deref())
        ))
    })?;
    let size = match classification.kind {
        FailureKind::Oom => {
            Some(oom_size(task, config).map_err(|why| Early::GiveUp(format!("{what}; {why}")))?)
        }
        _ => None,
    };
    let rerun = PlannedRerun::next(&position, &env, command, size);
    fits_the_overrides(task, &outcome.container, &rerun, &what)?;
    let reason = format!(
        "{what}; re-running as attempt {} of {}{}{}",
        rerun.attempt,
        config.policy.max_attempts,
        size.map(|s| format!(" with {} MiB", s.memory))
            .unwrap_or_default(),
        plan.note.map(|n| format!(" ({n})")).unwrap_or_default(),
    );
    Ok(Decision::Rerun { rerun, reason })
}

/// A decision reached before any re-run was planned.
enum Early {
    Ignore(String),
    GiveUp(String),
}

impl From<Early> for Decision {
    fn from(early: Early) -> Self {
        match early {
            Early::Ignore(reason) => Decision::Ignore(reason),
            Early::GiveUp(reason) => Decision::GiveUp(reason),
        }
    }
}

fn give_up_with(error: impl std::fmt::Display) -> Early {
    Early::GiveUp(error.to_string())
}

/// With `DBT_RERUN_INSPECT_SUCCESS`, a task that exited 0 although dbt reported failures is
/// judged as dbt's exit 1 would be; whether it was.
fn hidden_failure(
    outcome: &mut TaskOutcome,
    input: &DecisionInput<'_>,
    reading: &Reading<'_>,
    config: &DecisionConfig,
) -> bool {
    let failures = reading
        .judged()
        .is_some_and(|r| !r.failed.is_empty() || r.error.is_some())
        || input
            .report
            .and_then(|r| r.fusion.as_ref())
            .is_some_and(|f| f.shows_failures());
    let hidden = config.inspect_success && outcome.exit_code == Some(0) && failures;
    if hidden {
        outcome.exit_code = Some(1);
    }
    hidden
}

/// A log dbt Fusion wrote is not dbt Core's: where the decision needs its failed and skipped
/// nodes or dbt's own error (exit 1, exit 2), it gives up and says the log is Fusion's. Kills
/// (OOM, Spot, a stop) need no node and are decided as ever, re-running the whole command
/// (see `command_plan`).
fn fusion_log(
    classification: &Classification,
    outcome: &TaskOutcome,
    masked: bool,
    input: &DecisionInput<'_>,
) -> Result<(), Early> {
    let Some(fusion) = input.report.and_then(|r| r.fusion.as_ref()) else {
        return Ok(());
    };
    if !matches!(
        classification.kind,
        FailureKind::DbtNodes | FailureKind::DbtRuntime
    ) {
        return Ok(());
    }
    let exited = if masked {
        "the task exited 0, but its log shows failures a wrapper hid (DBT_RERUN_INSPECT_SUCCESS)"
            .to_owned()
    } else {
        outcome
            .exit_code
            .map_or("dbt failed".to_owned(), |code| format!("dbt exited {code}"))
    };
    Err(Early::GiveUp(with_log_note(
        &format!(
            "{exited} and the log is dbt Fusion's ({}), not dbt Core's: Fusion's result lines name \
             relations rather than nodes, its skipped lines may leave nodes unnamed and its \
             totals may be missing, so dbt-rerun cannot tell for certain what failed and plans \
             no re-run",
            fusion.describe()
        ),
        input.log_note,
    )))
}

/// A script that failed (exit 1 or 2) while every dbt step in it succeeded failed in a step
/// dbt-rerun cannot judge.
fn script_failed_outside_dbt(outcome: &TaskOutcome, reading: &Reading<'_>) -> Result<(), Early> {
    match (outcome.exit_code, reading.script_run()) {
        (Some(code @ (1 | 2)), Some(run)) if run.root.is_none() => Err(Early::GiveUp(format!(
            "the script exited {code} while every dbt step in it that ran succeeded: a step that \
             is not dbt failed, and dbt-rerun cannot tell whether a re-run would help"
        ))),
        _ => Ok(()),
    }
}

/// Only stopped tasks of the configured clusters and families are handled. A task that has
/// not stopped is ignored before anything else is required of the event (a Spot interruption
/// notice of a running task lists no containers).
fn handled_here(task: &EcsTask, config: &DecisionConfig) -> Result<(), Early> {
    if !task.is_stopped() {
        return Err(Early::Ignore(format!(
            "the task is {}, not STOPPED: nothing to do yet{}",
            shown_status(&task.last_status),
            stopping(task)
        )));
    }
    match config.scope.refusal(task.cluster_name(), task.family()) {
        Some(why) => Err(Early::Ignore(format!("{why}: not handled"))),
        None => Ok(()),
    }
}

/// A task ECS is stopping: why, so the record says what its STOPPED event will be about.
fn stopping(task: &EcsTask) -> String {
    let code = task.stop_code.as_ref().map(|c| c.as_str());
    let reason = task
        .stopped_reason
        .as_deref()
        .filter(|r| !r.trim().is_empty());
    if task.desired_status.as_deref() != Some(crate::event::STOPPED) && code.is_none() {
        return String::new();
    }
    let why = [
        code.map(|c| format!("stopCode {c}")),
        reason.map(|r| crate::log::truncate(r, 200).to_owned()),
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join(", ");
    if why.is_empty() {
        " (ECS is stopping it; its STOPPED event decides)".to_owned()
    } else {
        format!(" (ECS is stopping it: {why}; its STOPPED event decides)")
    }
}

/// Successes and tasks stopped from outside (a person, the service scheduler, a failed
/// health check) are not re-run.
fn worth_a_rerun(classification: &Classification, what: &str) -> Result<(), Early> {
    if classification.kind == FailureKind::None {
        return Err(Early::Ignore(format!("{what}: nothing to re-run")));
    }
    if classification.stopped_by.is_some() {
        return Err(Early::Ignore(format!("{what}: not re-run")));
    }
    Ok(())
}

/// The policy re-runs this failure and the budget has an attempt left.
fn allowed(
    classification: &Classification,
    report: Option<&RunReport>,
    config: &DecisionConfig,
    attempt: u32,
    what: &str,
) -> Result<(), Early> {
    if let Some(why) = policy_refusal(classification, report, config) {
        return Err(Early::GiveUp(format!("{what}; {why}")));
    }
    if !config.policy.budget_left(attempt) {
        return Err(Early::GiveUp(format!(
            "{what}; attempt {attempt} of {} was the last the budget allows (DBT_RERUN_MAX_ATTEMPTS)",
            config.policy.max_attempts
        )));
    }
    Ok(())
}

/// The longest the re-run's argv may be as JSON: ECS's override limit minus what the
/// overrides hold besides the command (the environment with the chain's variables, the other
/// containers, the largest size).
fn command_budget(
    task: &EcsTask,
    container: &str,
    position: &ChainPosition,
    env: &[KeyValue],
) -> usize {
    let chain_env = position.chain.environment(env, position.attempt + 1);
    let others = task.other_overrides(container);
    let rest = overrides_len(
        container,
        &[],
        &chain_env,
        &others,
        Some("16384"),
        Some("122880"),
    );
    ECS_OVERRIDE_LIMIT
        .saturating_sub(rest)
        .saturating_add(json_len(&[]))
}

/// Why no re-run command could be planned.
fn no_command(input: &DecisionInput<'_>, note: Option<&str>) -> String {
    match (input.command, note) {
        (None, _) => "the original command is not known (no override in the event and no task definition command)".to_owned(),
        (_, Some(note)) => note.to_owned(),
        (_, None) => "no re-run command could be planned".to_owned(),
    }
}

/// The re-run's RunTask overrides fit ECS's limit.
fn fits_the_overrides(
    task: &EcsTask,
    container: &str,
    rerun: &PlannedRerun,
    what: &str,
) -> Result<(), Early> {
    let length = overrides_len(
        container,
        &rerun.command,
        &rerun.environment,
        &task.other_overrides(container),
        rerun.cpu.as_deref(),
        rerun.memory.as_deref(),
    );
    if length > ECS_OVERRIDE_LIMIT {
        return Err(Early::GiveUp(format!(
            "{what}; the re-run's RunTask overrides would be {length} characters and ECS takes \
             {ECS_OVERRIDE_LIMIT}: the task's own overrides (environment) leave no room for the command"
        )));
    }
    Ok(())
}

fn shown_status(status: &str) -> &str {
    if status.is_empty() {
        "in an unknown state"
    } else {
        crate::log::truncate(status, 40)
    }
}

fn with_log_note(summary: &str, note: Option<&str>) -> String {
    match note {
        Some(note) => format!("{summary} ({note})"),
        None => summary.to_owned(),
    }
}

/// Why the policy does not allow re-running this failure, if it does not.
fn policy_refusal(
    classification: &Classification,
    report: Option<&RunReport>,
    config: &DecisionConfig,
) -> Option<String> {
    if classification.classes.is_empty() {
        return Some(match classification.kind {
            FailureKind::DbtRuntime => "a re-run cannot fix it".to_owned(),
            FailureKind::Unknown => "dbt-rerun does not re-run unknown failures".to_owned(),
            _ => "nothing is known that a re-run could fix".to_owned(),
        });
    }
    let policy = &config.policy;
    let refused: Vec<RetryClass> = classification
        .classes
        .iter()
        .copied()
        .filter(|c| !policy.allows(*c))
        .collect();
    if refused.is_empty() {
        return None;
    }
    let allowed: Vec<&str> = policy.retry_on.iter().map(|c| c.as_str()).collect();
    let mut why = format!(
        "DBT_RERUN_RETRY_ON={} does not re-run {}",
        allowed.join(","),
        unique(refused.iter().map(|c| c.as_str())).join(" or ")
    );
    if let Some(blocking) = report.map(|r| blocking_nodes(r, config)) {
        if !blocking.is_empty() {
            why.push_str(&format!(" ({})", blocking.join("; ")));
        }
    }
    Some(why)
}

/// The failed nodes the policy does not re-run: one deterministic failure among transient
/// ones blocks the re-run, since it would fail again and spend an attempt.
fn blocking_nodes(report: &RunReport, config: &DecisionConfig) -> Vec<String> {
    report
        .failed
        .iter()
        .filter(|n| !config.policy.allows(node_class(n, &config.transient).0))
        .take(3)
        .map(|n| {
            format!(
                "{} {}: {}",
                n.resource_type.as_str(),
                n.name,
                crate::log::truncate(&n.message, 120)
            )
        })
        .collect()
}

fn unique<'a>(items: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
    let mut out: Vec<&str> = Vec::new();
    for item in items {
        if !out.contains(&item) {
            out.push(item);
        }
    }
    out
}

fn oom_size(task: &EcsTask, config: &DecisionConfig) -> Result<TaskSize, String> {
    let parse = |v: &Option<String>| v.as_deref().and_then(|s| s.trim().parse::<u32>().ok());
    let cpu = parse(&task.overrides.cpu).or(parse(&task.cpu));
    let memory = parse(&task.overrides.memory).or(parse(&task.memory));
    let (Some(cpu), Some(memory)) = (cpu, memory) else {
        return Err(
            "the event does not give the task's cpu and memory, so no larger size can be chosen"
                .to_owned(),
        );
    };
    next_size(
        TaskSize { cpu, memory },
        config.max_memory_mib,
        task.on_fargate(),
    )
    .ok_or_else(|| {
        format!(
            "the task already has {memory} MiB and DBT_RERUN_MAX_MEMORY_MIB is {}",
            config.max_memory_mib
        )
    })
}

#[cfg(test)]
mod tests;
