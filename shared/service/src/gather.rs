//! Gathering what a decision needs: the dbt container's command (the event's override, else
//! the task definition's) and, when the failure needs it, its log.

use crate::log_wait::{read_log, LogRead};
use crate::ports::{Ecs, Logs};
use crate::ServiceError;
use dbt_rerun::classify::{LogNeed, TaskOutcome};
use dbt_rerun::config::ServiceConfig;
use dbt_rerun::decision::{decide, Decided, DecisionInput};
use dbt_rerun::event::EcsTask;
use dbt_rerun::record::LogFacts;

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
    let outcome = TaskOutcome::from_task(task, config.container.as_deref()).ok();
    let Some(outcome) = outcome.filter(|_| task.is_stopped()) else {
        // Not stopped, or no dbt container: the core says so without AWS.
        let decided = decide(DecisionInput {
            task,
            report: None,
            log_note: None,
            command: None,
            config,
        });
        return Ok(Gathered {
            decided,
            log: LogFacts::default(),
        });
    };
    let need = outcome.log_need();
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
    let mut read = LogRead::default();
    let mut log = LogFacts::default();
    if need != LogNeed::None {
        match container.and_then(|c| c.log_location(task.task_id())) {
            Some(at) => {
                read = read_log(logs, &at, service.log_wait, need == LogNeed::ToTheEnd).await?;
                if !logs.complete() {
                    log.location = Some(at);
                    log.waited_seconds = Some(read.waited.as_secs_f64());
                }
            }
            None => {
                read.note = Some(format!(
                    "container {} does not log to CloudWatch with the awslogs driver, so its log cannot be read",
                    outcome.container
                ));
                log.waited_seconds = Some(0.0);
            }
        }
    }
    let decided = decide(DecisionInput {
        task,
        report: read.report.as_ref(),
        log_note: read.note.as_deref(),
        command: command.as_deref(),
        config,
    });
    Ok(Gathered { decided, log })
}
