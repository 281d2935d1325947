//! The decision record: what on-task-stopped answers and logs, and what `dbt-rerun plan`
//! prints. **API boundary**: its JSON only grows (fields are added, never renamed or removed).
//!
//! The record is a view, assembled once at the edge from the [`Decided`] (the decision and
//! its findings), what reading the log gave, and the launch's outcome: so `rerun` is present
//! exactly when `decision` is `rerun`, by construction. A launch that finds its re-run already
//! started (a repeated event) or made unnecessary (a newer run) turns the record's decision
//! into `ignore` here, and nowhere else.

use crate::chain::is_chain_var;
use crate::classify::FailureKind;
use crate::decision::{Decided, Decision, FailureFacts, PlannedRerun, Recovery, ScriptStep};
use crate::event::KeyValue;
use crate::microbatch::BatchRerun;
use crate::node::{FailedNode, SkippedNode};
use crate::plan::{PlanShape, Work};
use crate::task_definition::LogLocation;
use serde::{Serialize, Serializer};

/// A decision, as the record and `DBT_RERUN_ALERT_ON` name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DecisionKind {
    /// A re-run is launched (or scheduled, or printed on a dry run).
    Rerun,
    /// Nothing to do: a success, a stop from outside, another deployment's task, or a re-run
    /// already launched.
    Ignore,
    /// A re-run could not help or is not allowed (permanent error, budget spent): a person is told.
    GiveUp,
}

impl DecisionKind {
    /// The name the record, the metrics and `DBT_RERUN_ALERT_ON` use.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Rerun => "rerun",
            Self::Ignore => "ignore",
            Self::GiveUp => "give_up",
        }
    }
}

/// What became of a re-run's launch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Launched {
    /// RunTask started the re-run.
    Started {
        /// The started task's ARN.
        task_arn: String,
    },
    /// A delayed re-run, scheduled now: due at `due` (RFC 3339), `seconds` from now.
    Scheduled {
        /// The EventBridge Scheduler schedule's name, from the chain and attempt.
        name: String,
        /// When it is due, RFC 3339 UTC.
        due: String,
        /// Seconds from the decision to `due`.
        seconds: u64,
    },
    /// The re-run of this chain and attempt was started before (a repeated event).
    AlreadyStarted {
        /// How it was found started (RunTask's clientToken conflict, or the task seen running).
        why: String,
    },
    /// The re-run of this chain and attempt is already scheduled (a repeated event).
    AlreadyScheduled {
        /// The schedule's name.
        name: String,
    },
    /// A newer run of the same command is running: it does the work.
    Superseded {
        /// The newer task's ARN.
        by: String,
    },
}

/// What reading the log gave, for the record.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LogFacts {
    /// Where the dbt container's log is, when it was read from CloudWatch.
    pub location: Option<LogLocation>,
    /// How long the function waited for the log; None when it read none.
    pub waited_seconds: Option<f64>,
}

/// The response of on-task-stopped and the output of `dbt-rerun plan`. Built only by
/// [`DecisionRecord::assemble`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DecisionRecord {
    /// What dbt-rerun decided, after the launch (a repeated or superseded launch reads `ignore`).
    pub decision: DecisionKind,
    /// One sentence a person understands.
    pub reason: String,
    /// What kind of failure stopped the task; `unknown` when the decision came before judging it.
    pub failure_kind: FailureKind,
    /// The failure is a warehouse or network error known to go away on its own.
    pub transient: bool,
    /// The stopped task's ARN, as the event names it.
    pub task_arn: String,
    /// The cluster's name and the task definition family, for people and metrics.
    pub cluster: String,
    /// The task definition's family, from the task's `group` or its definition's ARN.
    pub task_family: String,
    /// The command the dbt container ran, when known.
    pub command: Option<Vec<String>>,
    /// The task definition's entry point, which ECS runs before the command (a re-run keeps
    /// it; `rerun_command` is the command that follows it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entry_point: Option<Vec<String>>,
    /// For a shell script: each step, what happened to it, and what the re-run does with it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub script_steps: Option<Vec<ScriptStep>>,
    /// Where the dbt container's log is, when it was read.
    pub log_stream: Option<LogLocation>,
    /// The stopped task's attempt in its chain (1 = the original run).
    pub attempt: u32,
    /// The chain's original task (the task itself for attempt 1), once the chain is known:
    /// `dbt-rerun history` groups decisions by it. Null when the decision came first (a task
    /// of another cluster, a task still running).
    pub origin_task_arn: Option<String>,
    /// The chain's attempt budget (`DBT_RERUN_MAX_ATTEMPTS`), the original run included.
    pub max_attempts: u32,
    /// The dbt container's name, once found in the task; null when the decision came first.
    pub container: Option<String>,
    /// The dbt container's exit code; null when it has none (never ran, killed) or is unknown.
    pub exit_code: Option<i32>,
    /// ECS's `stopCode` for the task, as ECS wrote it.
    pub stop_code: Option<String>,
    /// The nodes the log shows failed (models, tests, ...), with dbt's message.
    pub failed_nodes: Vec<FailedNode>,
    /// The nodes dbt skipped because something upstream failed.
    pub skipped_nodes: Vec<SkippedNode>,
    /// The command that re-runs what can be re-run, for a person too; null when nothing can.
    pub rerun_command: Option<Vec<String>>,
    /// How the re-run command was built from the original (`null` when there is none).
    pub plan_shape: Option<PlanShape>,
    /// Why the re-run command has its shape (what it could not narrow, what the log did not
    /// say), or why there is none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plan_note: Option<String>,
    /// The re-run resumes a run cut off part-way rather than listing failed nodes.
    pub resume: bool,
    /// Nodes the log shows as finished.
    pub finished_nodes: u64,
    /// Their names, when there are at most `crate::decision::MAX_FINISHED_NAMES`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub finished_node_names: Vec<String>,
    /// dbt's end-of-run marker was in the log.
    pub log_complete: bool,
    /// How long the function waited for the log to be complete; null when it read none.
    pub log_wait_seconds: Option<f64>,
    /// Present only when the decision is `rerun`.
    pub rerun: Option<RerunRecord>,
    /// The event repeated one already handled: its re-run was launched before.
    pub duplicate: bool,
    /// For a `rerun`: how many nodes the re-run runs (the failed and skipped ones for the
    /// exact shapes; the run's total for the original command; for a script, those of the
    /// steps the stopped run reached); null when the log cannot tell (a resume). 0 for any
    /// other decision.
    pub rerun_nodes: Option<u64>,
    /// For a `rerun`: how many finished nodes it leaves out, which a whole-command retry
    /// would have run again (for a script, with the nodes of the succeeded steps it removes);
    /// 0 for the original command and for any other decision.
    pub nodes_saved: u64,
    /// The task was a re-run of a chain, and it succeeded: the chain recovered at this
    /// attempt. Absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recovered: Option<Recovery>,
    /// Microbatch models whose batches the run did not all build: the re-run's window
    /// (`--event-time-start`/`--event-time-end`, UTC, end exclusive) and, per model, the batches
    /// not built and those that run again; without a window, why (the re-run command is then
    /// the whole original). Absent when no microbatch model is concerned.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub microbatch: Option<BatchRerun>,
}

/// The re-run of a `rerun` record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RerunRecord {
    /// The argv the re-run's dbt container runs.
    pub command: Vec<String>,
    /// The re-run's environment: the original's plus the chain variables. Serialised as
    /// names with `(redacted)` values (they may hold secrets), except dbt-rerun's own chain
    /// variables, whose values are shown.
    #[serde(serialize_with = "names_only")]
    pub environment: Vec<KeyValue>,
    /// Task-level size for an OOM re-run.
    pub cpu: Option<String>,
    /// Task-level memory (MiB) for an OOM re-run.
    pub memory: Option<String>,
    /// The attempt number the re-run will be.
    pub attempt: u32,
    /// The chain's original task, which the re-run continues.
    pub origin_task_arn: String,
    /// `dbt-rerun/<origin-task-id>/<attempt>`.
    pub started_by: String,
    /// Deterministic, so a retried invocation cannot start a second task.
    pub client_token: String,
    /// The launched task, once launched; null on a dry run or while it is scheduled.
    pub task_arn: Option<String>,
    /// The chain's first command (a newer run of it makes this re-run unnecessary).
    pub original_command: Option<Vec<String>>,
    /// For a delayed re-run: when it is due (RFC 3339, UTC) and its schedule's name.
    pub scheduled_at: Option<String>,
    /// The EventBridge Scheduler schedule that launches it, for a delayed re-run.
    pub schedule_name: Option<String>,
}

fn names_only<S: Serializer>(env: &[KeyValue], s: S) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap;
    let mut map = s.serialize_map(Some(env.len()))?;
    for kv in env {
        // Our own chain variables are not secret and help whoever reads the record.
        let value = if is_chain_var(&kv.name) {
            kv.value.as_str()
        } else {
            "(redacted)"
        };
        map.serialize_entry(&kv.name, value)?;
    }
    map.end()
}

impl RerunRecord {
    fn of(rerun: &PlannedRerun) -> Self {
        Self {
            command: rerun.command.clone(),
            environment: rerun.environment.clone(),
            cpu: rerun.cpu.clone(),
            memory: rerun.memory.clone(),
            attempt: rerun.attempt,
            origin_task_arn: rerun.chain.origin_task_arn().to_owned(),
            started_by: rerun.started_by(),
            client_token: rerun.client_token(),
            task_arn: None,
            original_command: rerun.chain.original_command().map(<[String]>::to_vec),
            scheduled_at: None,
            schedule_name: None,
        }
    }
}

/// The record's decision part: kind, reason, re-run, duplicate.
struct Verdict {
    kind: DecisionKind,
    reason: String,
    rerun: Option<RerunRecord>,
    duplicate: bool,
}

impl Verdict {
    fn of(decision: &Decision, launched: Option<&Launched>) -> Self {
        let (rerun, reason) = match decision {
            Decision::Ignore(why) => return Self::plain(DecisionKind::Ignore, why.to_string()),
            Decision::GiveUp(why) => return Self::plain(DecisionKind::GiveUp, why.to_string()),
            Decision::Rerun { rerun, reason } => (rerun, reason),
        };
        let mut view = RerunRecord::of(rerun);
        let attempt = rerun.attempt;
        let ignored = |reason: String, duplicate| Self {
            kind: DecisionKind::Ignore,
            reason,
            rerun: None,
            duplicate,
        };
        let mut reason = reason.to_string();
        match launched {
            None => {}
            Some(Launched::Started { task_arn }) => view.task_arn = Some(task_arn.clone()),
            Some(Launched::Scheduled { name, due, seconds }) => {
                view.scheduled_at = Some(due.clone());
                view.schedule_name = Some(name.clone());
                reason.push_str(&format!(", due at {due} ({seconds} s from now)"));
            }
            Some(Launched::AlreadyStarted { why }) => {
                return ignored(already(attempt, why), true);
            }
            Some(Launched::AlreadyScheduled { name }) => {
                let why = format!("it is already scheduled as {name} (a repeated event)");
                return ignored(already(attempt, &why), true);
            }
            Some(Launched::Superseded { by }) => {
                return ignored(
                    format!(
                        "superseded by task {by}, a newer run of the same command that does this \
                         work (DBT_RERUN_ON_OVERLAP=skip): attempt {attempt} is not started"
                    ),
                    false,
                );
            }
        }
        Self {
            kind: DecisionKind::Rerun,
            reason,
            rerun: Some(view),
            duplicate: false,
        }
    }

    fn plain(kind: DecisionKind, reason: String) -> Self {
        Self {
            kind,
            reason,
            rerun: None,
            duplicate: false,
        }
    }
}

fn already(attempt: u32, why: &str) -> String {
    format!("the re-run for attempt {attempt} was already launched: {why}")
}

impl DecisionRecord {
    /// The record of `decided`, with what reading the log gave and, for a re-run that was
    /// launched (not on a dry run), what became of the launch.
    pub fn assemble(decided: &Decided, log: &LogFacts, launched: Option<&Launched>) -> Self {
        let verdict = Verdict::of(&decided.decision, launched);
        let f = decided.findings.clone();
        let plan = f.plan.unwrap_or_default();
        // Only a re-run this decision plans does (or saves) work: a duplicate or superseded
        // one counts nothing, so the metrics add up over a chain.
        let work = match verdict.kind {
            DecisionKind::Rerun => plan.work.unwrap_or_default(),
            _ => Work::NONE,
        };
        let failure = f.failure.unwrap_or(FailureFacts {
            kind: FailureKind::Unknown,
            transient: false,
        });
        let (container, exit_code) = f
            .container
            .map_or((None, None), |c| (Some(c.name), c.exit_code));
        let (attempt, origin_task_arn) = f
            .chain
            .map_or((1, None), |c| (c.attempt, Some(c.origin_task_arn)));
        let (task, shown) = (f.task, f.shown);
        Self {
            decision: verdict.kind,
            reason: verdict.reason,
            failure_kind: failure.kind,
            transient: failure.transient,
            task_arn: task.task_arn,
            cluster: task.cluster,
            task_family: task.task_family,
            command: shown.command,
            entry_point: shown.entry_point,
            script_steps: plan.steps,
            log_stream: log.location.clone(),
            attempt,
            origin_task_arn,
            max_attempts: f.max_attempts,
            container,
            exit_code,
            stop_code: task.stop_code,
            failed_nodes: shown.failed_nodes,
            skipped_nodes: shown.skipped_nodes,
            rerun_command: plan.argv,
            resume: plan.shape == Some(PlanShape::Resume),
            plan_shape: plan.shape,
            plan_note: plan.note,
            finished_nodes: shown.finished_nodes,
            finished_node_names: shown.finished_node_names,
            log_complete: shown.log_complete,
            log_wait_seconds: log.waited_seconds,
            rerun: verdict.rerun,
            duplicate: verdict.duplicate,
            rerun_nodes: work.rerun_nodes,
            nodes_saved: work.nodes_saved,
            recovered: f.recovered,
            microbatch: plan.microbatch,
        }
    }
}
