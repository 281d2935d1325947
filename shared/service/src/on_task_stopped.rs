//! on-task-stopped: an ECS task state change in, a [`DecisionRecord`] out, and at most one
//! launch.

use crate::gather::{gather_and_decide, Gathered};
use crate::once::{launch_once, schedule_once};
use crate::ports::{Alerts, Clock, Ecs, Logs, Schedules, SystemClock};
use crate::ServiceError;
use dbt_rerun_core::alert::alert_for;
use dbt_rerun_core::config::ServiceConfig;
use dbt_rerun_core::decision::PlannedRerun;
use dbt_rerun_core::delay::jitter_draw;
use dbt_rerun_core::event::{parse_task_event, EcsTask};
use dbt_rerun_core::launch::Launch;
use dbt_rerun_core::metrics::decision_log_line;
use dbt_rerun_core::record::{DecisionRecord, Launched};
use dbt_rerun_core::schedule::PlannedLaunch;

/// Handles ECS task state changes: decides, launches the re-run, logs, alerts.
pub struct OnTaskStopped<E, L, A, S, C = SystemClock> {
    pub ecs: E,
    pub logs: L,
    pub alerts: A,
    pub schedules: S,
    pub clock: C,
    pub config: ServiceConfig,
}

impl<E: Ecs, L: Logs, A: Alerts, S: Schedules, C: Clock> OnTaskStopped<E, L, A, S, C> {
    /// Decides on one event (JSON as EventBridge sends it); for `rerun`, starts the task
    /// unless one was already started for this attempt or this is a dry run; writes the
    /// decision's log line (EMF) to stdout; then publishes the alert the settings ask for. A
    /// failed publish is an error, after the decision was logged (and the task launched: a
    /// retried invocation finds it and launches nothing).
    pub async fn handle(&self, event: &[u8]) -> Result<DecisionRecord, ServiceError> {
        let event = parse_task_event(event)?;
        let task = &event.detail;
        let gathered = gather_and_decide(&self.ecs, &self.logs, &self.config, task).await?;
        let launched = match gathered.decided.decision.rerun() {
            Some(rerun) if !self.config.dry_run => Some(self.launch(task, rerun).await?),
            _ => None,
        };
        let record = DecisionRecord::assemble(&gathered.decided, &gathered.log, launched.as_ref());
        let timestamp = u64::try_from(self.clock.now().timestamp_millis()).unwrap_or_default();
        println!(
            "{}",
            decision_log_line(&record, &self.config.metrics_namespace, timestamp)
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
        let Gathered { decided, log } =
            gather_and_decide(&self.ecs, &self.logs, &self.config, task).await?;
        Ok(DecisionRecord::assemble(&decided, &log, None))
    }

    /// Starts the planned re-run once, at once or as a schedule when a delay is set.
    async fn launch(&self, task: &EcsTask, rerun: &PlannedRerun) -> Result<Launched, ServiceError> {
        let launch = Launch::rerun_of(task, rerun, &self.config.network);
        let planned = PlannedLaunch::new(
            launch,
            task.family().to_owned(),
            &rerun.chain,
            rerun.attempt,
        );
        let now = self.clock.now();
        let draw = jitter_draw(&task.task_arn, now.timestamp_subsec_nanos());
        match self.config.delay.before(rerun.attempt, draw) {
            0 => launch_once(&self.ecs, &self.config, &planned).await,
            seconds => {
                schedule_once(
                    &self.ecs,
                    &self.schedules,
                    &self.config,
                    &planned,
                    seconds,
                    now,
                )
                .await
            }
        }
    }
}
