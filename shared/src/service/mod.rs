//! The two Lambda functions' work, over the [`crate::aws`] traits: gather the inputs a
//! decision needs (task definition, log), call the pure core, act on its answer.
//!
//! - [`OnTaskStopped`]: an ECS task state change in, a [`DecisionRecord`] out, and at most one
//!   RunTask.
//! - [`RerunTask`]: a person's (or the CLI's) request to re-run, see [`RerunRequest`].

mod launch;
mod log_wait;
mod once;
mod rerun_task;

pub use launch::launch_for;
pub use log_wait::{read_log, LogRead};
pub use once::{jitter_draw, launch_once, schedule_once, Outcome, PlannedLaunch};
pub use rerun_task::{
    RequestError, RerunRequest, RerunResponse, RerunTask, RerunTaskService, Terms,
};

use crate::alert::alert_for;
use crate::aws::{
    Alerts, AwsError, CloudWatchLogs, Ecs, EcsClient, Logs, SchedulerClient, Schedules, SnsAlerts,
};
use crate::classify::TaskOutcome;
use crate::config::ServiceConfig;
use crate::decision::{decide, Decision, DecisionInput, DecisionRecord};
use crate::event::{parse_task_event, EcsTask, EventError};
use crate::metrics::{decision_log_line, now_ms};

/// Why an invocation failed (Lambda then retries it, and its failure destination gets it
/// last). A decision that cannot be carried out is an error, never a silent success.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("bad event: {0}")]
    Event(#[from] EventError),
    #[error(transparent)]
    Aws(#[from] AwsError),
    #[error("bad request: {0}")]
    Request(#[from] RequestError),
}

/// Handles ECS task state changes: decides, launches the re-run, logs, alerts.
pub struct OnTaskStopped<E, L, A, S> {
    pub ecs: E,
    pub logs: L,
    pub alerts: A,
    pub schedules: S,
    pub config: ServiceConfig,
}

/// A function's cold start: its configuration from the environment (an error names the
/// variable) and the SDK configuration, each read once per process.
pub async fn cold_start(
) -> Result<(ServiceConfig, aws_config::SdkConfig), crate::config::ConfigError> {
    let config =
        crate::config::service_config(|name| std::env::var(name).ok()).inspect_err(|e| {
            tracing::error!(error = %e, "bad configuration");
        })?;
    Ok((config, crate::aws::load_config().await))
}

/// on-task-stopped over the real AWS clients.
pub type OnTaskStoppedService =
    OnTaskStopped<EcsClient, CloudWatchLogs, SnsAlerts, SchedulerClient>;

impl OnTaskStoppedService {
    /// The real service: SDK clients for `aws`, built once per process.
    pub fn new(aws: &aws_config::SdkConfig, config: ServiceConfig) -> Self {
        Self {
            ecs: EcsClient::new(aws),
            logs: CloudWatchLogs::new(aws),
            alerts: SnsAlerts::new(aws),
            schedules: SchedulerClient::new(aws),
            config,
        }
    }
}

impl<E: Ecs, L: Logs, A: Alerts, S: Schedules> OnTaskStopped<E, L, A, S> {
    /// Decides on one event (JSON as EventBridge sends it); for `rerun`, starts the task
    /// unless one was already started for this attempt or this is a dry run; writes the
    /// decision's log line (EMF) to stdout; then publishes the alert the settings ask for. A
    /// failed publish is an error, after the decision was logged (and the task launched: a
    /// retried invocation finds it and launches nothing).
    pub async fn handle(&self, event: &[u8]) -> Result<DecisionRecord, ServiceError> {
        let event = parse_task_event(event)?;
        let task = &event.detail;
        let mut record = self.decide(task).await?;
        if record.decision == Decision::Rerun && !self.config.dry_run {
            self.launch(task, &mut record).await?;
        }
        println!(
            "{}",
            decision_log_line(&record, &self.config.metrics_namespace, now_ms())
        );
        if let (Some(topic), Some(alert)) = (
            self.config.alerts.topic_arn.as_deref(),
            alert_for(&record, &self.config.alerts),
        ) {
            self.alerts.publish(topic, &alert).await?;
        }
        Ok(record)
    }

    /// The decision alone, reading what it needs from AWS; launches nothing.
    pub async fn decide(&self, task: &EcsTask) -> Result<DecisionRecord, ServiceError> {
        gather_and_decide(&self.ecs, &self.logs, &self.config, task).await
    }

    /// Starts the planned re-run once, at once or as a schedule when a delay is set; a
    /// re-run already started or scheduled (a repeated event), or made unnecessary by a newer
    /// run of the same command, turns the decision into `ignore`.
    async fn launch(
        &self,
        task: &EcsTask,
        record: &mut DecisionRecord,
    ) -> Result<(), ServiceError> {
        let Some(rerun) = record.rerun.as_ref() else {
            return Ok(());
        };
        let planned = PlannedLaunch {
            launch: launch_for(
                task,
                rerun,
                &self.config.network,
                record.container.as_deref().unwrap_or_default(),
            ),
            family: task.family().to_owned(),
            origin_task_arn: rerun.origin_task_arn.clone(),
            original_command: rerun.original_command.clone(),
            attempt: rerun.attempt,
        };
        let seconds = self
            .config
            .delay
            .before(rerun.attempt, jitter_draw(&task.task_arn));
        let outcome = if seconds > 0 {
            schedule_once(
                &self.ecs,
                &self.schedules,
                &self.config,
                &planned,
                seconds,
                chrono::Utc::now(),
            )
            .await?
        } else {
            launch_once(&self.ecs, &self.config, &planned).await?
        };
        match outcome {
            Outcome::Started(arn) => {
                if let Some(rerun) = record.rerun.as_mut() {
                    rerun.task_arn = Some(arn);
                }
            }
            Outcome::Scheduled { name, due, new } => {
                if new {
                    if let Some(rerun) = record.rerun.as_mut() {
                        rerun.scheduled_at = Some(due.clone());
                        rerun.schedule_name = Some(name);
                    }
                    record
                        .reason
                        .push_str(&format!(", due at {due} ({seconds} s from now)"));
                } else {
                    duplicate(
                        record,
                        format!("it is already scheduled as {name} (a repeated event)"),
                    );
                }
            }
            Outcome::AlreadyStarted(why) => duplicate(record, why),
            Outcome::Superseded(arn) => superseded(record, &arn),
        }
        Ok(())
    }
}

/// Reads what a decision on `task` needs (its task definition when the event lacks the
/// command or the log is needed, the dbt container's log when dbt exited 1 or 2) and decides.
pub async fn gather_and_decide<E: Ecs, L: Logs>(
    ecs: &E,
    logs: &L,
    service: &ServiceConfig,
    task: &EcsTask,
) -> Result<DecisionRecord, ServiceError> {
    let config = &service.decision;
    let stopped = task.last_status == "STOPPED";
    let outcome = TaskOutcome::from_task(task, config.container.as_deref()).ok();
    let (Some(outcome), true) = (outcome, stopped) else {
        // Not stopped, or no dbt container: the core says so without AWS.
        return Ok(decide(DecisionInput {
            task,
            report: None,
            log_note: None,
            command: None,
            config,
        }));
    };
    // dbt's own failures need the log to say what failed; a run killed part-way (out of
    // memory, Spot, any signal) needs it to say what had finished. A task a person stopped, or
    // one that never ran dbt (no exit code), does not.
    let expect_end = matches!(outcome.exit_code, Some(1 | 2));
    let killed = outcome.exit_code.is_some_and(|c| c != 0)
        && !expect_end
        && outcome.stop_code.as_deref() != Some("UserInitiated");
    let needs_log = expect_end || killed;
    let override_command = task
        .container_override(&outcome.container)
        .and_then(|o| o.command.clone());
    let definition = if needs_log || override_command.is_none() {
        Some(ecs.task_definition(&task.task_definition_arn).await?)
    } else {
        None
    };
    let container = definition
        .as_ref()
        .and_then(|d| d.container(&outcome.container));
    let command = override_command.or_else(|| container.and_then(|c| c.command.clone()));
    let mut read = LogRead::default();
    let mut log_stream = None;
    if needs_log {
        match container.and_then(|c| c.log_location(task.task_id())) {
            Some(at) => {
                read = read_log(logs, &at, service.log_wait, expect_end).await?;
                log_stream = Some(at);
            }
            None => {
                read.note = Some(format!(
                    "container {} does not log to CloudWatch with the awslogs driver, so its log cannot be read",
                    outcome.container
                ))
            }
        }
    }
    let mut record = decide(DecisionInput {
        task,
        report: read.report.as_ref(),
        log_note: read.note.as_deref(),
        command: command.as_deref(),
        config,
    });
    record.log_wait_seconds = needs_log.then_some(read.waited.as_secs_f64());
    record.log_stream = log_stream;
    Ok(record)
}

fn superseded(record: &mut DecisionRecord, newer: &str) {
    let attempt = record.rerun.as_ref().map(|r| r.attempt).unwrap_or_default();
    record.decision = Decision::Ignore;
    record.reason = format!(
        "superseded by task {newer}, a newer run of the same command that does this work \
         (DBT_RERUN_ON_OVERLAP=skip): attempt {attempt} is not started"
    );
    record.rerun = None;
}

fn duplicate(record: &mut DecisionRecord, why: String) {
    let attempt = record.rerun.as_ref().map(|r| r.attempt).unwrap_or_default();
    record.decision = Decision::Ignore;
    record.reason = format!("the re-run for attempt {attempt} was already launched: {why}");
    record.rerun = None;
    record.duplicate = true;
}
