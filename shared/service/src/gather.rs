//! Gathering what a decision needs: the dbt container's command (the event's override, else
//! the task definition's) and, when the failure needs it, its log.

use crate::log_wait::{read_log, LogRead};
use crate::ports::{Ecs, Logs};
use crate::ServiceError;
use dbt_rerun_core::classify::{LogNeed, TaskOutcome};
use dbt_rerun_core::config::ServiceConfig;
use dbt_rerun_core::decision::{decide, recovery, Decided, DecisionConfig, DecisionInput};
use dbt_rerun_core::event::EcsTask;
use dbt_rerun_core::record::LogFacts;
use dbt_rerun_core::script::TaskCommand;
use dbt_rerun_core::task_definition::LogLocation;

/// A decision and what reading the log gave.
#[derive(Debug, Clone)]
pub struct Gathered {
    pub decided: Decided,
    pub log: LogFacts,
}

/// Reads what a decision on `task` needs (its task definition when the event lacks the
/// command or the log is needed, the dbt container's log when the failure needs it) and
/// decides.
pub async fn gather_and_decide<E: Ecs, L: Logs>(
    ecs: &E,
    logs: &L,
    service: &ServiceConfig,
    task: &EcsTask,
) -> Result<Gathered, ServiceError> {
    let config = &service.decision;
    let outcome = match needs_more_than_the_event(task, config) {
        Ok(outcome) => outcome,
        Err(decided) => {
            return Ok(Gathered {
                decided: *decided,
                log: LogFacts::default(),
            })
        }
    };
    let need = log_need(&outcome, config);
    let override_command = task
        .container_override(&outcome.container)
        .and_then(|o| o.command.clone());
    let definition = if need != LogNeed::None || override_command.is_none() {
        Some(ecs.task_definition(&task.task_definition_arn).await?)
    } else {
        None
    };
    let container = definition
        .as_ref()
        .and_then(|d| d.container(&outcome.container));
    let command = override_command.or_else(|| container.and_then(|c| c.command.clone()));
    let entry_point = container.and_then(|c| c.entry_point.clone());
    // A script's log is read step by step (and so is one dbt-rerun cannot see into, to judge
    // every step's failures).
    let by_invocation = command.as_deref().is_some_and(|c| {
        !matches!(
            TaskCommand::read(entry_point.as_deref().unwrap_or_default(), c),
            TaskCommand::Dbt(_)
        )
    });
    let (read, log) = if need == LogNeed::None {
        (LogRead::default(), LogFacts::default())
    } else {
        let location = match container {
            Some(container) => container.log_location(task),
            None => Err(format!(
                "the task definition has no container {}, so its log cannot be found",
                outcome.container
            )),
        };
        let to_the_end = need == LogNeed::ToTheEnd;
        read_located(logs, location, service, to_the_end, by_invocation).await?
    };
    let decided = decide(DecisionInput {
        task,
        report: read.report.as_ref(),
        log_note: read.note.as_deref(),
        command: command.as_deref(),
        entry_point: entry_point.as_deref(),
        invocations: read.invocations.as_deref(),
        config,
    });
    Ok(Gathered { decided, log })
}

/// The task's outcome when deciding on it needs more than the event, else the decision the
/// event alone gives. A task that has not stopped is ignored before its containers are looked
/// at (a Spot interruption notice lists none), and so is one of a cluster or family not
/// served; one without a dbt container is given up on. A
/// successful stop of one of our re-runs closes its chain: decided from the event alone
/// (unless DBT_RERUN_INSPECT_SUCCESS wants its log read for failures a wrapper hid). The core
/// says so, without AWS.
fn needs_more_than_the_event(
    task: &EcsTask,
    config: &DecisionConfig,
) -> Result<TaskOutcome, Box<Decided>> {
    let outcome = task
        .is_stopped()
        .then(|| TaskOutcome::from_task(task, config.container.as_deref()).ok())
        .flatten();
    let recovered =
        !config.inspect_success && recovery(task, config.container.as_deref()).is_some();
    // A task of a cluster or family this deployment does not serve is refused unread.
    let refused = config
        .scope
        .refusal(task.cluster_name(), task.family())
        .is_some();
    match outcome {
        Some(outcome) if !recovered && !refused => Ok(outcome),
        outcome => {
            // A recovered chain's record shows the command its event carries.
            let command = outcome
                .filter(|_| recovered)
                .and_then(|o| task.container_override(&o.container)?.command.clone());
            Err(Box::new(decide(DecisionInput {
                task,
                report: None,
                log_note: None,
                command: command.as_deref(),
                entry_point: None,
                invocations: None,
                config,
            })))
        }
    }
}

/// How much of the log the decision needs: what the failure needs, and for a clean exit the
/// whole log when DBT_RERUN_INSPECT_SUCCESS asks (a wrapper may have hidden dbt's failures).
fn log_need(outcome: &TaskOutcome, config: &DecisionConfig) -> LogNeed {
    let need = outcome.log_need();
    let clean_exit = outcome.exit_code == Some(0) && outcome.stopped_by().is_none();
    if need == LogNeed::None && clean_exit && config.inspect_success {
        LogNeed::ToTheEnd
    } else {
        need
    }
}

/// Reads the log at `location` (or notes why it cannot be found) and what the record says
/// of the reading.
async fn read_located<L: Logs>(
    logs: &L,
    location: Result<LogLocation, String>,
    service: &ServiceConfig,
    to_the_end: bool,
    by_invocation: bool,
) -> Result<(LogRead, LogFacts), ServiceError> {
    let mut log = LogFacts::default();
    match location {
        Ok(at) => {
            let read = read_log(logs, &at, service.log_wait, to_the_end, by_invocation).await?;
            if !logs.complete() {
                log.location = Some(at);
                log.waited_seconds = Some(read.waited.as_secs_f64());
            }
            Ok((read, log))
        }
        Err(why) => {
            log.waited_seconds = Some(0.0);
            let read = LogRead {
                note: Some(why),
                ..LogRead::default()
            };
            Ok((read, log))
        }
    }
}
