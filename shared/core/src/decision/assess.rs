//! The first phase: what the event alone decides, and otherwise what the decision needs.

use super::GiveUpReason;
use super::{Decided, Decision, DecisionConfig, Findings, IgnoreReason, Recovery};
use crate::chain::{ChainError, ChainPosition};
use crate::classify::{LogNeed, TaskOutcome};
use crate::event::{EcsTask, KeyValue};
use crate::log::{Invocation, RunReport};
use crate::script::TaskCommand;
use crate::task_definition::{LogLocation, TaskDefinition};

/// A stopped task of this deployment with a dbt container, as the event shows it: worked out
/// once, by [`assess`], and handed to [`Stopped::decide`].
#[derive(Debug, Clone)]
pub struct Stopped<'a> {
    pub(super) task: &'a EcsTask,
    /// The dbt container's outcome, as ECS reports it.
    pub(super) outcome: TaskOutcome,
    /// The dbt container's environment (the chain variables are in it).
    pub(super) env: Vec<KeyValue>,
    /// Where the task sits in its chain by its variables; an error is decided on once the
    /// failure is known (the record then still says what failed).
    pub(super) position: Result<ChainPosition, ChainError>,
    /// The chain's recovery, when this is the successful stop of one of our re-runs.
    pub(super) recovery: Option<Recovery>,
}

/// What the decision on a [`Stopped`] task needs beyond the event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Needs {
    /// The dbt container's name.
    pub container: String,
    /// How much of its log (none, to dbt's end-of-run marker, until it goes quiet).
    pub log: LogNeed,
    /// The task definition: the event carries no command for the dbt container, or the log
    /// is to be found (its location is in the definition).
    pub task_definition: bool,
}

/// The first phase's answer.
#[derive(Debug, Clone)]
pub enum Assessed<'a> {
    /// The event alone decides.
    Decided(Box<Decided>),
    /// The decision needs more: gather it, then [`Stopped::decide`].
    Needs(Box<Stopped<'a>>, Needs),
}

/// What was gathered for the decision: the dbt container's command and its log.
#[derive(Debug, Clone, Copy, Default)]
pub struct Gathered<'a> {
    /// What the dbt container ran: the event's override, else the task definition's command.
    /// None when neither is known.
    pub command: Option<&'a [String]>,
    /// The task definition's `entryPoint` of the dbt container: ECS runs it, then the command.
    pub entry_point: Option<&'a [String]>,
    /// The parsed log; None when it was not read or could not be.
    pub report: Option<&'a RunReport>,
    /// Why the log is missing or partial, for the reason (e.g. "no log stream").
    pub log_note: Option<&'a str>,
    /// The log split by dbt invocation, for a command that is not one dbt command.
    pub invocations: Option<&'a [Invocation]>,
    /// The command as read, when the gathering read it already.
    pub(super) read: Option<&'a TaskCommand>,
}

/// What the event alone decides about `task`, or what deciding needs. A task that has not
/// stopped is ignored before its containers are looked at (a Spot interruption notice lists
/// none), and so is one of a cluster or family not served; one without a dbt container is
/// given up on. A successful stop of one of our re-runs closes its chain, unread (unless
/// `DBT_RERUN_INSPECT_SUCCESS` wants its log read for failures a wrapper hid).
pub fn assess<'a>(task: &'a EcsTask, config: &DecisionConfig) -> Assessed<'a> {
    let stopped = match Stopped::of(task, config) {
        Ok(stopped) => stopped,
        Err(decision) => {
            let findings = Findings::shown(task, &Gathered::default(), None, config);
            return Assessed::Decided(Box::new(Decided::new(findings, *decision)));
        }
    };
    if !config.inspect_success && stopped.recovery.is_some() {
        // The record shows the command its event carries.
        let command = stopped.override_command();
        let gathered = Gathered {
            command: command.as_deref(),
            ..Gathered::default()
        };
        return Assessed::Decided(Box::new(stopped.decide(&gathered, config)));
    }
    let needs = stopped.needs(config);
    Assessed::Needs(Box::new(stopped), needs)
}

impl<'a> Stopped<'a> {
    /// `task` if it is a stopped task of this deployment with a dbt container; else the
    /// decision that it is not.
    pub(super) fn of(task: &'a EcsTask, config: &DecisionConfig) -> Result<Self, Box<Decision>> {
        if !task.is_stopped() {
            return Err(Box::new(Decision::ignore(IgnoreReason::NotStopped {
                status: super::stages::shown_status(&task.last_status).to_owned(),
                stopping: super::stages::stopping(task),
            })));
        }
        if let Some(why) = config.scope.refusal(task.cluster_name(), task.family()) {
            return Err(Box::new(Decision::ignore(IgnoreReason::NotServed { why })));
        }
        let outcome = TaskOutcome::from_task(task, config.container.as_deref())
            .map_err(|e| Box::new(Decision::give_up(GiveUpReason::NoDbtContainer(e))))?;
        let env = task.environment_of(&outcome.container);
        let position = crate::chain::Chain::locate_by_variables(task, &env);
        let recovery = recovery(task, &outcome, &position);
        Ok(Self {
            task,
            outcome,
            env,
            position,
            recovery,
        })
    }

    /// The dbt container's name.
    pub fn container(&self) -> &str {
        &self.outcome.container
    }

    /// The command the event's override gives the dbt container.
    fn override_command(&self) -> Option<Vec<String>> {
        self.task
            .container_override(&self.outcome.container)?
            .command
            .clone()
    }

    /// How much of the log the decision needs: what the failure needs, and for a clean exit
    /// the whole log when `DBT_RERUN_INSPECT_SUCCESS` asks (a wrapper may have hidden dbt's
    /// failures); and whether the task definition is needed.
    fn needs(&self, config: &DecisionConfig) -> Needs {
        let outcome = &self.outcome;
        let clean_exit = outcome.exit_code == Some(0) && outcome.stopped_by().is_none();
        let log = match outcome.log_need() {
            LogNeed::None if clean_exit && config.inspect_success => LogNeed::ToTheEnd,
            need => need,
        };
        Needs {
            container: outcome.container.clone(),
            task_definition: log != LogNeed::None || self.override_command().is_none(),
            log,
        }
    }

    /// What the dbt container ran: the event's override, else `definition`'s command; and
    /// `definition`'s entry point.
    pub fn command(&self, definition: Option<&TaskDefinition>) -> RanCommand {
        let container = definition.and_then(|d| d.container(&self.outcome.container));
        let command = self
            .override_command()
            .or_else(|| container.and_then(|c| c.command.clone()));
        let entry_point = container.and_then(|c| c.entry_point.clone());
        let read = command
            .as_deref()
            .map(|c| TaskCommand::read(entry_point.as_deref().unwrap_or_default(), c));
        RanCommand {
            command,
            entry_point,
            read,
        }
    }

    /// Where the dbt container's log is, by `definition`; why it cannot be found otherwise.
    pub fn log_location(&self, definition: &TaskDefinition) -> Result<LogLocation, String> {
        match definition.container(&self.outcome.container) {
            Some(container) => container.log_location(self.task),
            None => Err(format!(
                "the task definition has no container {}, so its log cannot be found",
                self.outcome.container
            )),
        }
    }
}

/// The recovery rule: a later attempt of a chain, with the `startedBy` that attempt gets,
/// whose dbt container exited 0 and that no one stopped: the chain recovered.
fn recovery(
    task: &EcsTask,
    outcome: &TaskOutcome,
    position: &Result<ChainPosition, ChainError>,
) -> Option<Recovery> {
    let position = position.as_ref().ok()?;
    (outcome.succeeded() && position.is_rerun(task)).then(|| Recovery {
        origin_task_arn: position.chain.origin_task_arn().to_owned(),
        attempt: position.attempt,
    })
}

/// What the dbt container ran, read once.
#[derive(Debug, Clone)]
pub struct RanCommand {
    pub command: Option<Vec<String>>,
    pub entry_point: Option<Vec<String>>,
    read: Option<TaskCommand>,
}

impl RanCommand {
    /// Whether its log is read split by dbt invocation: a script's (step by step), and one
    /// dbt-rerun cannot see into (to judge every step's failures).
    pub fn reads_log_by_invocation(&self) -> bool {
        self.read
            .as_ref()
            .is_some_and(|c| !matches!(c, TaskCommand::Dbt(_)))
    }

    /// What was gathered: this command with the log as read.
    pub fn with_log<'a>(
        &'a self,
        report: Option<&'a RunReport>,
        log_note: Option<&'a str>,
        invocations: Option<&'a [Invocation]>,
    ) -> Gathered<'a> {
        Gathered {
            command: self.command.as_deref(),
            entry_point: self.entry_point.as_deref(),
            report,
            log_note,
            invocations,
            read: self.read.as_ref(),
        }
    }
}
