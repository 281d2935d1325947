//! The decision for one stopped task: re-run, ignore or give up. A pure function of the
//! event, the parsed log, the original command and the configuration, in two phases:
//!
//! 1. [`assess`] reads the event alone. It answers where it can (not stopped, not this
//!    deployment's, no dbt container, a chain that recovered) and otherwise says what it
//!    [`Needs`] (the task definition, how much of the log) and hands on the [`Stopped`] task,
//!    worked out once: its dbt container's outcome, environment and place in its chain.
//! 2. [`Stopped::decide`] takes what was gathered ([`Gathered`]: the command, the log) and
//!    runs the stages once, in order: classify, plan, allow, size (`stages`).
//!
//! The answer is a [`Decided`]: the [`Decision`] (a sum type, so a re-run always carries its
//! plan and nothing else does; its reasons are typed, [`reasons`]) and the [`Findings`],
//! composed of what each stage found. The record a person or a program reads is a view of
//! both, assembled at the edge ([`crate::record`]) once the launch's outcome is known.

use crate::chain::{Chain, ChainPosition};
use crate::classify::FailureKind;
use crate::event::{ContainerOverride, EcsTask, KeyValue};
use crate::fargate::TaskSize;
use crate::log::RunReport;
use crate::node::{FailedNode, SkippedNode};
use crate::policy::RetryPolicy;
use crate::transient::TransientPatterns;
use serde::Serialize;

pub use crate::chain::{ATTEMPT_VAR, ORIGIN_COMMAND_VAR, ORIGIN_VAR};
pub use assess::{assess, Assessed, Gathered, Needs, Stopped};
pub use commands::{CommandPlan, ScriptFallback, ScriptStep};
pub use reasons::{GiveUpReason, IgnoreReason, RerunReason, Why};

mod assess;
mod commands;
pub mod reasons;
mod stages;

/// The record names finished nodes when there are at most this many.
pub(crate) const MAX_FINISHED_NAMES: usize = 20;

/// What to do about a stopped task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Start the next attempt of the chain; `reason` says why.
    Rerun {
        /// The launch the re-run needs.
        rerun: PlannedRerun,
        /// Why the failure is worth a re-run (the record's `reason`).
        reason: RerunReason,
    },
    /// Nothing to do (success, a person or the service scheduler stopped it, not stopped yet,
    /// another cluster).
    Ignore(Why<IgnoreReason>),
    /// A re-run cannot help or is not allowed; a person has to look.
    GiveUp(Why<GiveUpReason>),
}

impl Decision {
    /// The reason as the record says it: one sentence.
    pub fn reason(&self) -> String {
        match self {
            Self::Rerun { reason, .. } => reason.to_string(),
            Self::Ignore(why) => why.to_string(),
            Self::GiveUp(why) => why.to_string(),
        }
    }

    /// The planned re-run, for a `rerun` decision.
    pub fn rerun(&self) -> Option<&PlannedRerun> {
        match self {
            Self::Rerun { rerun, .. } => Some(rerun),
            _ => None,
        }
    }

    fn ignore(reason: IgnoreReason) -> Self {
        Self::Ignore(Why::of(reason))
    }

    fn give_up(reason: GiveUpReason) -> Self {
        Self::GiveUp(Why::of(reason))
    }
}

/// The settings decisions depend on.
#[derive(Debug, Clone)]
pub struct DecisionConfig {
    /// The dbt container's name (`DBT_RERUN_CONTAINER`), else found from the event.
    pub container: Option<String>,
    /// Which failures are re-run and how often (`DBT_RERUN_RETRY_ON`, `DBT_RERUN_MAX_ATTEMPTS`).
    pub policy: RetryPolicy,
    /// Warehouse errors that go away: the built-in ones and `DBT_RERUN_TRANSIENT_PATTERNS`.
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
    /// The stopped task, as the event describes it.
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
    /// The settings the decision depends on.
    pub config: &'a DecisionConfig,
}

/// What a decision found out about the task, whatever it decided: what the event and the
/// gathered command and log show, then what each stage that ran found (a stage that did not
/// run, because the decision came before it, left its part empty).
#[derive(Debug, Clone, PartialEq)]
pub struct Findings {
    /// What the event says of the task.
    pub task: TaskFacts,
    /// What the command and the log show, before anything is judged.
    pub shown: ShownFacts,
    /// The attempt budget (`DBT_RERUN_MAX_ATTEMPTS`).
    pub max_attempts: u32,
    /// The dbt container and how it exited.
    pub container: Option<ContainerFacts>,
    /// The classify stage: what kind of failure.
    pub failure: Option<FailureFacts>,
    /// The stopped task's place in its chain.
    pub chain: Option<ChainFacts>,
    /// The plan stage: the command that re-runs what can be re-run.
    pub plan: Option<CommandPlan>,
    /// The task was a chain's re-run that succeeded.
    pub recovered: Option<Recovery>,
}

/// What the event says of the task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskFacts {
    /// The stopped task's ARN.
    pub task_arn: String,
    /// The cluster's name, from its ARN.
    pub cluster: String,
    /// The task definition family, from `group` or the definition's ARN.
    pub task_family: String,
    /// ECS's `stopCode`, as ECS wrote it.
    pub stop_code: Option<String>,
}

/// What the gathered command and log show.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ShownFacts {
    /// The command the dbt container ran, when it was found (override or task definition).
    pub command: Option<Vec<String>>,
    /// The task definition's entry point, when it has one.
    pub entry_point: Option<Vec<String>>,
    /// The nodes the log shows failed.
    pub failed_nodes: Vec<FailedNode>,
    /// The nodes dbt skipped because of them.
    pub skipped_nodes: Vec<SkippedNode>,
    /// How many nodes the log shows finished (what a resume leaves out).
    pub finished_nodes: u64,
    /// Their names, when there are at most `MAX_FINISHED_NAMES`.
    pub finished_node_names: Vec<String>,
    /// dbt's end-of-run marker was in the log.
    pub log_complete: bool,
}

/// The dbt container and how it exited (as ECS says: before a wrapper's hidden failures are
/// taken into account).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerFacts {
    /// The dbt container's name.
    pub name: String,
    /// Its exit code; none when ECS gives none (the container never ran or was killed).
    pub exit_code: Option<i32>,
}

/// What kind of failure the classify stage found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FailureFacts {
    /// What kind of failure stopped the task.
    pub kind: FailureKind,
    /// The failure is a warehouse or network error known to go away.
    pub transient: bool,
}

/// The stopped task's place in its chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainFacts {
    /// 1 = the original run.
    pub attempt: u32,
    /// The chain's original task.
    pub origin_task_arn: String,
}

impl Findings {
    /// The findings of a decision reached from the event and what was gathered (`report`:
    /// the one the record shows), before any stage ran.
    fn shown(
        task: &EcsTask,
        gathered: &Gathered<'_>,
        report: Option<&RunReport>,
        config: &DecisionConfig,
    ) -> Self {
        let finished = report.map(|r| &r.finished);
        Self {
            task: TaskFacts {
                task_arn: task.task_arn.clone(),
                cluster: task.cluster_name().to_owned(),
                task_family: task.family().to_owned(),
                stop_code: task.stop_code.as_ref().map(|c| c.as_str().to_owned()),
            },
            shown: ShownFacts {
                command: gathered.command.map(<[String]>::to_vec),
                entry_point: gathered.entry_point.map(<[String]>::to_vec),
                failed_nodes: report.map(|r| r.failed.clone()).unwrap_or_default(),
                skipped_nodes: report.map(|r| r.skipped.clone()).unwrap_or_default(),
                finished_nodes: finished.map_or(0, |f| f.count),
                finished_node_names: finished
                    .filter(|f| f.count <= MAX_FINISHED_NAMES as u64)
                    .map(|f| f.nodes.iter().map(|n| n.name.clone()).collect())
                    .unwrap_or_default(),
                log_complete: report.is_some_and(|r| r.end_of_run),
            },
            max_attempts: config.policy.max_attempts,
            container: None,
            failure: None,
            chain: None,
            plan: None,
            recovered: None,
        }
    }

    /// Why no re-run command could be planned, when nodes failed and none was.
    fn no_command(&self) -> Option<String> {
        let plan = self.plan.as_ref()?;
        match (&plan.argv, &plan.note) {
            (None, Some(why)) if !self.shown.failed_nodes.is_empty() => Some(why.clone()),
            _ => None,
        }
    }
}

/// A chain's re-run that succeeded: the chain recovered, and the loop closes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Recovery {
    /// The chain's original task.
    pub origin_task_arn: String,
    /// The attempt that succeeded (2 = the first re-run).
    pub attempt: u32,
}

/// Whether `task` (its dbt container `container`, else found as [`decide`] finds it) is the
/// successful stop of a re-run dbt-rerun started: stopped, dbt exited 0 and no person stopped
/// it, and it is a later attempt of its chain with the `startedBy` that attempt gets. Such a
/// stop is decided from the event alone (`ignore`: recovered): nothing is read, nothing
/// launched. With `DBT_RERUN_INSPECT_SUCCESS` its log is still read first, and failures a
/// wrapper hid make it a failure like any other. (The decision applies the rule in
/// [`assess`]; this is the rule alone, for tests.)
#[cfg(test)]
pub(crate) fn recovery(task: &EcsTask, container: Option<&str>) -> Option<Recovery> {
    let config = DecisionConfig {
        container: container.map(str::to_owned),
        ..DecisionConfig::default()
    };
    Stopped::of(task, &config).ok()?.recovery
}

/// A decision and what it rests on.
#[derive(Debug, Clone, PartialEq)]
pub struct Decided {
    /// What the decision found, whichever it was: the record's facts.
    pub findings: Findings,
    /// What to do.
    pub decision: Decision,
}

impl Decided {
    /// `decision`, with why no re-run command could be planned added to its reason.
    fn new(findings: Findings, decision: Decision) -> Self {
        let decision = match (decision, findings.no_command()) {
            (Decision::Ignore(why), no_command @ Some(_)) => {
                Decision::Ignore(Why { no_command, ..why })
            }
            (Decision::GiveUp(why), no_command @ Some(_)) => {
                Decision::GiveUp(Why { no_command, ..why })
            }
            (decision, _) => decision,
        };
        Self { findings, decision }
    }
}

/// The launch a `rerun` decision asks for: the next attempt of a chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedRerun {
    /// The dbt container.
    pub container: String,
    /// The argv the re-run's dbt container runs.
    pub command: Vec<String>,
    /// The re-run's environment: the original's plus the chain variables. It holds values
    /// that may be secret: only their names are ever shown.
    pub environment: Vec<KeyValue>,
    /// The other containers' overrides, as the stopped task ran with them.
    pub other_overrides: Vec<ContainerOverride>,
    /// Task-level size for an OOM re-run.
    pub cpu: Option<String>,
    /// Task-level memory (MiB) for an OOM re-run; with `cpu`, a Fargate size.
    pub memory: Option<String>,
    /// The attempt number the re-run will be.
    pub attempt: u32,
    /// The chain the re-run continues.
    pub chain: Chain,
}

impl PlannedRerun {
    /// The attempt after `position` with `command`: the stopped task's dbt container
    /// `container` with `environment` (the stopped task's with the chain variables of the
    /// next attempt, [`Chain::environment`]), the other containers' overrides as the task
    /// ran them, and an optional larger size.
    pub fn next(
        position: &ChainPosition,
        container: &str,
        environment: Vec<KeyValue>,
        other_overrides: Vec<ContainerOverride>,
        command: Vec<String>,
        size: Option<TaskSize>,
    ) -> Self {
        let attempt = position.attempt + 1;
        Self {
            container: container.to_owned(),
            environment,
            other_overrides,
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
        let others = task.other_overrides(container);
        let environment = position.chain.environment(&env, position.attempt + 1);
        Ok(Self::next(
            &position,
            container,
            environment,
            others,
            command,
            None,
        ))
    }

    /// The re-run's `startedBy`, from its chain and attempt.
    pub fn started_by(&self) -> String {
        self.chain.started_by(self.attempt)
    }

    /// The re-run's RunTask `clientToken`, from its chain and attempt.
    pub fn client_token(&self) -> String {
        self.chain.client_token(self.attempt)
    }
}

/// Decides what to do about a stopped task from everything at hand: both phases, with
/// `input` as what was gathered (a test's, the fuzzer's or an offline caller's).
pub fn decide(input: DecisionInput<'_>) -> Decided {
    let gathered = Gathered {
        command: input.command,
        entry_point: input.entry_point,
        report: input.report,
        log_note: input.log_note,
        invocations: input.invocations,
        read: None,
    };
    match Stopped::of(input.task, input.config) {
        Ok(stopped) => stopped.decide(&gathered, input.config),
        Err(early) => {
            let reading = commands::CommandReading::of(&gathered, None);
            let report = reading.shown.as_deref();
            let findings = Findings::shown(input.task, &gathered, report, input.config);
            Decided::new(findings, *early)
        }
    }
}

#[cfg(test)]
mod tests;
