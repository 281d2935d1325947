//! Gathering what a decision needs: the dbt container's command (the event's override, else
//! the task definition's) and, when the failure needs it, its log.

use crate::log_wait::{read_log, LogRead};
use crate::ports::{Ecs, Logs};
use crate::ServiceError;
use dbt_rerun_core::classify::LogNeed;
use dbt_rerun_core::config::ServiceConfig;
use dbt_rerun_core::decision::{assess, Assessed, Decided};
use dbt_rerun_core::event::EcsTask;
use dbt_rerun_core::record::LogFacts;
use dbt_rerun_core::task_definition::LogLocation;

/// A decision and what reading the log gave.
#[derive(Debug, Clone)]
pub struct Gathered {
    pub decided: Decided,
    pub log: LogFacts,
}

/// Decides on `task`, fetching what the core says the decision needs and nothing else: the
/// task definition (when the event lacks the command or the log is to be found) and the dbt
/// container's log, as much of it as the failure needs, split by invocation when the command
/// is not one dbt command.
pub async fn gather_and_decide<E: Ecs, L: Logs>(
    ecs: &E,
    logs: &L,
    service: &ServiceConfig,
    task: &EcsTask,
) -> Result<Gathered, ServiceError> {
    let config = &service.decision;
    let (stopped, needs) = match assess(task, config) {
        Assessed::Decided(decided) => {
            return Ok(Gathered {
                decided: *decided,
                log: LogFacts::default(),
            })
        }
        Assessed::Needs(stopped, needs) => (stopped, needs),
    };
    let definition = if needs.task_definition {
        Some(ecs.task_definition(&task.task_definition_arn).await?)
    } else {
        None
    };
    let ran = stopped.command(definition.as_ref());
    let (read, log) = match (&definition, needs.log) {
        (Some(definition), need) if need != LogNeed::None => {
            let location = stopped.log_location(definition);
            let to_the_end = need == LogNeed::ToTheEnd;
            let by_invocation = ran.reads_log_by_invocation();
            read_located(logs, location, service, to_the_end, by_invocation).await?
        }
        _ => (LogRead::default(), LogFacts::default()),
    };
    let gathered = ran.with_log(
        read.report.as_ref(),
        read.note.as_deref(),
        read.invocations.as_deref(),
    );
    let decided = stopped.decide(&gathered, config);
    Ok(Gathered { decided, log })
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
