//! Decision lines of real decisions (the core's `decide`), written by `decision_log_line` as
//! on-task-stopped writes them: for the tests of `history` here and of its table in the CLI.

use super::TaskBuilder;
use crate::chain::{ATTEMPT_VAR, ORIGIN_VAR};
use crate::decision::{decide, DecisionConfig, DecisionInput};
use crate::event::EcsTask;
use crate::history::{chains, Filter, History, LogEvent};
use crate::log::RunReport;
use crate::metrics::decision_log_line;
use crate::node::{FailStatus, FailedNode, ResourceType, SkippedNode};
use crate::record::{DecisionKind, DecisionRecord, Launched, LogFacts};
use serde_json::Value;

/// The ARN of the chain's original task, whose chain [`run`] builds.
pub const T1: &str = "arn:aws:ecs:eu-west-1:123456789012:task/dbt/11111111111111111111111111111111";
/// A second task's ARN (the first re-run, in most tests).
pub const T2: &str = "arn:aws:ecs:eu-west-1:123456789012:task/dbt/22222222222222222222222222222222";
/// A third task's ARN.
pub const T3: &str = "arn:aws:ecs:eu-west-1:123456789012:task/dbt/33333333333333333333333333333333";
/// A night's timestamp, ms since the epoch: the decisions' clock starts here.
pub const NIGHT: i64 = 1_795_000_000_000;
/// One minute, in ms, to space the lines.
pub const MINUTE: i64 = 60_000;

/// A transient failure of `fct_orders`, with `agg_daily` skipped.
pub fn transient() -> RunReport {
    RunReport {
        failed: vec![FailedNode {
            name: "fct_orders".into(),
            resource_type: ResourceType::Model,
            unique_id: None,
            status: FailStatus::Error,
            message: "SSL SYSCALL error: EOF detected".into(),
            detail: "SSL SYSCALL error: EOF detected".into(),
        }],
        skipped: vec![SkippedNode {
            name: "agg_daily".into(),
            resource_type: ResourceType::Model,
            unique_id: None,
        }],
        end_of_run: true,
        lines: 40,
        ..Default::default()
    }
}

/// Attempt `attempt` of the chain of `T1`, run as task `arn`.
pub fn run(arn: &str, attempt: u32) -> TaskBuilder {
    let attempt_s = attempt.to_string();
    let chain: Vec<(&str, &str)> = if attempt == 1 {
        vec![]
    } else {
        vec![(ATTEMPT_VAR, attempt_s.as_str()), (ORIGIN_VAR, T1)]
    };
    let mut b = TaskBuilder::exited(Some(1))
        .arn(arn)
        .overrides(None, &chain);
    if attempt > 1 {
        b = b.started_by(&format!(
            "dbt-rerun/11111111111111111111111111111111/{attempt}"
        ));
    }
    b
}

/// The record of a real decision on `task` with a transient failure in its log.
pub fn decided(task: &EcsTask, launched: Option<Launched>) -> DecisionRecord {
    decided_with(
        task,
        launched,
        Some(&transient()),
        &DecisionConfig::default(),
    )
}

/// As [`decided`], with `report` as the log and `config` as the settings.
pub fn decided_with(
    task: &EcsTask,
    launched: Option<Launched>,
    report: Option<&RunReport>,
    config: &DecisionConfig,
) -> DecisionRecord {
    let command = ["dbt", "build", "--target", "prod"].map(str::to_owned);
    let decided = decide(DecisionInput {
        task,
        report,
        log_note: None,
        command: Some(&command),
        entry_point: None,
        invocations: None,
        config,
    });
    DecisionRecord::assemble(&decided, &LogFacts::default(), launched.as_ref())
}

/// A launch that started task `arn`.
pub fn started(arn: &str) -> Option<Launched> {
    Some(Launched::Started {
        task_arn: arn.into(),
    })
}

/// The decision line of `record`, logged at `at` (ms since the epoch).
pub fn event(record: &DecisionRecord, at: i64) -> LogEvent {
    LogEvent {
        timestamp_ms: at,
        message: decision_log_line(record, "DbtRerun", at as u64),
    }
}

/// The line of a successful re-run's stop, as closing the loop writes it: `ignore`, a reason
/// that says so, a `Recovered` metric.
pub fn recovered(arn: &str, attempt: u32, at: i64) -> LogEvent {
    let task = run(arn, attempt).exit_code(Some(0)).build();
    let record = decided_with(&task, None, None, &DecisionConfig::default());
    assert_eq!(record.decision, DecisionKind::Ignore, "{}", record.reason);
    let mut v: Value = serde_json::from_str(&event(&record, at).message).unwrap();
    v["Recovered"] = 1.into();
    v["record"]["reason"] = format!("recovered: attempt {attempt} succeeded").into();
    LogEvent {
        timestamp_ms: at,
        message: v.to_string(),
    }
}

/// The chains of `events`, unfiltered.
pub fn all(events: &[LogEvent]) -> History {
    chains(events, &Filter::default())
}
