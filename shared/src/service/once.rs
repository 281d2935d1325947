//! Starting a planned re-run once, at the right time, and never beside a newer run.
//!
//! Before a launch (at once, or when its schedule fires) one look at the family's running
//! tasks answers two questions: is this chain's re-run for this attempt already running (a
//! repeated event: start nothing), and is a run of the chain's original command running that
//! is not part of the chain (a newer scheduled run: it does the work; with
//! `DBT_RERUN_ON_OVERLAP=allow` the re-run starts anyway). A delayed re-run becomes a
//! one-time schedule named after the chain and attempt, so a repeated event finds it there.

use super::ServiceError;
use crate::aws::{Ecs, Launch, ScheduleRequest, Schedules};
use crate::config::{OnOverlap, ServiceConfig};
use crate::delay::{at_expression, due, rfc3339, schedule_name};
use serde::{Deserialize, Serialize};

/// A re-run planned for later: the launch and what the checks at launch time need. It is the
/// input of a delayed re-run's schedule, and carries environment values: never log it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlannedLaunch {
    pub launch: Launch,
    pub family: String,
    pub origin_task_arn: String,
    pub original_command: Option<Vec<String>>,
    pub attempt: u32,
}

/// What became of a launch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Started(String),
    /// The re-run of this chain and attempt was started before (a repeated event).
    AlreadyStarted(String),
    /// A newer run of the same command is running: it does the work.
    Superseded(String),
    /// A delayed re-run: scheduled (or already scheduled) under this name, due then.
    Scheduled {
        name: String,
        due: String,
        new: bool,
    },
}

/// Starts `planned` now, unless it already runs or a newer run supersedes it.
pub async fn launch_once<E: Ecs>(
    ecs: &E,
    config: &ServiceConfig,
    planned: &PlannedLaunch,
) -> Result<Outcome, ServiceError> {
    if let Some(outcome) = look_around(ecs, config, planned).await? {
        return Ok(outcome);
    }
    match ecs.run_task(&planned.launch).await {
        Ok(arn) => Ok(Outcome::Started(arn)),
        Err(e) if e.is_conflict() => Ok(Outcome::AlreadyStarted(format!(
            "RunTask reports it as started ({})",
            e.message
        ))),
        Err(e) => Err(e.into()),
    }
}

/// Schedules `planned` `seconds` from now (or finds it scheduled), unless it already runs or
/// a newer run supersedes it.
pub async fn schedule_once<E: Ecs, S: Schedules>(
    ecs: &E,
    schedules: &S,
    config: &ServiceConfig,
    planned: &PlannedLaunch,
    seconds: u64,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Outcome, ServiceError> {
    if let Some(outcome) = look_around(ecs, config, planned).await? {
        return Ok(outcome);
    }
    let Some(target) = &config.schedule else {
        // Configuration guarantees a target whenever there is a delay.
        return launch_once(ecs, config, planned).await;
    };
    let origin_id = planned
        .origin_task_arn
        .rsplit('/')
        .next()
        .unwrap_or(&planned.origin_task_arn);
    let name = schedule_name(origin_id, planned.attempt);
    let when = due(now, seconds);
    let input = serde_json::json!({ "planned_launch": planned }).to_string();
    let new = schedules
        .create(&ScheduleRequest {
            name: name.clone(),
            group: target.group.clone(),
            expression: at_expression(when),
            target_arn: target.target_arn.clone(),
            role_arn: target.role_arn.clone(),
            input,
        })
        .await?;
    Ok(Outcome::Scheduled {
        name,
        due: rfc3339(when),
        new,
    })
}

/// The family's running tasks, asked once: this re-run already running, or a newer run of
/// the chain's command.
async fn look_around<E: Ecs>(
    ecs: &E,
    config: &ServiceConfig,
    planned: &PlannedLaunch,
) -> Result<Option<Outcome>, ServiceError> {
    let launch = &planned.launch;
    let running = ecs.running_tasks(&launch.cluster, &planned.family).await?;
    if let Some(t) = running
        .iter()
        .find(|t| t.started_by.as_deref() == Some(launch.started_by.as_str()))
    {
        return Ok(Some(Outcome::AlreadyStarted(format!(
            "it is already running as {}",
            t.task_arn
        ))));
    }
    let Some(original) = planned.original_command.as_deref() else {
        return Ok(None);
    };
    if config.on_overlap == OnOverlap::Allow {
        return Ok(None);
    }
    let origin_id = planned
        .origin_task_arn
        .rsplit('/')
        .next()
        .unwrap_or(&planned.origin_task_arn);
    let chain_prefix = format!("dbt-rerun/{origin_id}/");
    for t in &running {
        let in_chain = t.task_arn == planned.origin_task_arn
            || t.started_by
                .as_deref()
                .is_some_and(|s| s.starts_with(&chain_prefix));
        if in_chain {
            continue;
        }
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
            return Ok(Some(Outcome::Superseded(t.task_arn.clone())));
        }
    }
    Ok(None)
}

/// A number in `[0, 1)` for jitter, from the clock and `seed` (no randomness crate needed;
/// schedules are idempotent by name, so it need not repeat).
pub fn jitter_draw(seed: &str) -> f64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ u64::from(nanos);
    for b in seed.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    h ^= h >> 33;
    (h % 1_000_000) as f64 / 1_000_000.0
}
