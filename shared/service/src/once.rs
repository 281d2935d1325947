//! Starting a planned re-run once, at the right time, and never beside a newer run.
//!
//! Before a launch (at once, or when its schedule fires) one look at the family's running
//! tasks answers two questions: is this chain's re-run for this attempt already running (a
//! repeated event: start nothing), and is a run of the chain's original command running that
//! is not part of the chain (a newer scheduled run: it does the work; with
//! `DBT_RERUN_ON_OVERLAP=allow` the re-run starts anyway). A delayed re-run becomes a
//! one-time schedule named after the chain and attempt, so a repeated event finds it there.

use crate::ports::{Ecs, Schedules};
use crate::ServiceError;
use dbt_rerun_core::config::{OnOverlap, ServiceConfig};
use dbt_rerun_core::delay::{at_expression, due, rfc3339};
use dbt_rerun_core::record::Launched;
use dbt_rerun_core::schedule::{PlannedLaunch, ScheduleRequest};

/// Starts `planned` now, unless it already runs or a newer run supersedes it.
pub async fn launch_once<E: Ecs>(
    ecs: &E,
    config: &ServiceConfig,
    planned: &PlannedLaunch,
) -> Result<Launched, ServiceError> {
    if let Some(outcome) = look_around(ecs, config, planned).await? {
        return Ok(outcome);
    }
    match ecs.run_task(&planned.launch).await {
        Ok(task_arn) => Ok(Launched::Started { task_arn }),
        Err(e) if e.is_conflict() => Ok(Launched::AlreadyStarted {
            why: format!("RunTask reports it as started ({})", e.message),
        }),
        Err(e) => Err(e.into()),
    }
}

/// Schedules `planned` `seconds` after `now` (or finds it scheduled), unless it already runs
/// or a newer run supersedes it.
pub async fn schedule_once<E: Ecs, S: Schedules>(
    ecs: &E,
    schedules: &S,
    config: &ServiceConfig,
    planned: &PlannedLaunch,
    seconds: u64,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Launched, ServiceError> {
    if let Some(outcome) = look_around(ecs, config, planned).await? {
        return Ok(outcome);
    }
    let Some(target) = &config.schedule else {
        // Configuration guarantees a target whenever there is a delay.
        return launch_once(ecs, config, planned).await;
    };
    let name = planned.chain().schedule_name(planned.attempt);
    let when = due(now, seconds);
    let new = schedules
        .create(&ScheduleRequest {
            name: name.clone(),
            group: target.group.clone(),
            expression: at_expression(when),
            target_arn: target.target_arn.clone(),
            role_arn: target.role_arn.clone(),
            input: planned.schedule_input(),
        })
        .await?;
    Ok(if new {
        Launched::Scheduled {
            name,
            due: rfc3339(when),
            seconds,
        }
    } else {
        Launched::AlreadyScheduled { name }
    })
}

/// The family's running tasks, asked once: this re-run already running, or a newer run of
/// the chain's command.
async fn look_around<E: Ecs>(
    ecs: &E,
    config: &ServiceConfig,
    planned: &PlannedLaunch,
) -> Result<Option<Launched>, ServiceError> {
    let launch = &planned.launch;
    let running = ecs.running_tasks(&launch.cluster, &planned.family).await?;
    if let Some(t) = running
        .iter()
        .find(|t| t.started_by.as_deref() == Some(launch.started_by.as_str()))
    {
        return Ok(Some(Launched::AlreadyStarted {
            why: format!("it is already running as {}", t.task_arn),
        }));
    }
    let chain = planned.chain();
    let Some(original) = chain.original_command() else {
        return Ok(None);
    };
    if config.on_overlap == OnOverlap::Allow {
        return Ok(None);
    }
    for t in running.iter().filter(|t| !chain.includes(t)) {
        let command = match t
            .container_override(&launch.container)
            .and_then(|o| o.command.clone())
        {
            Some(command) => Some(command),
            None => ecs
                .task_definition(&t.task_definition_arn)
                .await?
                .container(&launch.container)
                .and_then(|c| c.command.clone()),
        };
        if command.as_deref() == Some(original) {
            return Ok(Some(Launched::Superseded {
                by: t.task_arn.clone(),
            }));
        }
    }
    Ok(None)
}
