//! What kind of failure stopped a task, from the ECS event and (for dbt's own failures) the
//! parsed log.

use crate::event::{EcsTask, StopCode};
use crate::log::RunReport;
use crate::node::{FailStatus, FailedNode};
use crate::policy::RetryClass;
use crate::transient::{ErrorMatch, TransientPatterns};
use serde::Serialize;

/// The kind of failure, as the decision record reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    /// Exit code 0.
    None,
    /// The task never ran dbt, or was stopped from outside.
    Infra,
    /// Killed for using too much memory.
    Oom,
    /// dbt ran and some nodes failed (exit 1).
    DbtNodes,
    /// dbt itself failed: compilation, parsing, connection (exit 2), or a `run-operation`
    /// macro (exit 1 with dbt's error and no failed node).
    DbtRuntime,
    /// Anything else (an exit code dbt does not use).
    Unknown,
}

impl FailureKind {
    /// The kind as the record and the metrics write it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Infra => "infra",
            Self::Oom => "oom",
            Self::DbtNodes => "dbt_nodes",
            Self::DbtRuntime => "dbt_runtime",
            Self::Unknown => "unknown",
        }
    }
}

/// How the dbt container stopped, from the event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TaskOutcome {
    /// The dbt container's name, as chosen among the task's containers.
    pub container: String,
    /// Its exit code; None when it never ran or was killed without one.
    pub exit_code: Option<i32>,
    /// ECS's `stopCode` for the task.
    pub stop_code: Option<StopCode>,
    /// ECS's `stoppedReason` for the task.
    pub stopped_reason: Option<String>,
    /// The container's own stop reason (`OutOfMemoryError: ...`), when ECS gives one.
    pub container_reason: Option<String>,
}

/// The event names no container that can be the dbt container.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContainerError {
    /// `DBT_RERUN_CONTAINER` names a container the task does not have.
    #[error("the task has no container named `{wanted}` (DBT_RERUN_CONTAINER); its containers are: {present}")]
    NotFound {
        /// The configured name.
        wanted: String,
        /// The task's containers' names, listed.
        present: String,
    },
    /// The event's task has no containers (a partial event, or a task that never got any).
    #[error("the event lists no containers for the task")]
    NoContainers,
}

/// Who stopped a task from outside it, when someone did: such a task is never re-run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StoppedBy {
    /// A person, or a program acting for one (stopCode `UserInitiated`; before stop codes,
    /// StopTask's default reason `Task stopped by user`).
    Person,
    /// The ECS service scheduler (stopCode `ServiceSchedulerInitiated`; before stop codes, a
    /// `Scaling activity initiated by ...` reason): scaling in, a deployment replacing the
    /// task.
    ServiceScheduler,
    /// The service scheduler, because the task failed its load balancer's or its container's
    /// health checks.
    HealthCheck,
}

/// Reasons ECS gives a task that a health check stopped (`Task failed ELB health checks in
/// (target-group ...)`).
const HEALTH_CHECK_STOPS: &[&str] = &[
    "Task failed ELB health checks",
    "Task failed container health checks",
];

/// The reasons a stop gave before stop codes existed (2017–2019), and with a stop code this
/// version does not know: StopTask's default reason and the service scheduler's.
const PERSON_STOPS: &[&str] = &["Task stopped by user"];
const SCHEDULER_STOPS: &[&str] = &["Scaling activity initiated by"];

/// Fargate Spot's reason, for events without a stop code that says so.
const SPOT_STOPS: &[&str] = &["Your Spot Task was interrupted"];

impl TaskOutcome {
    /// The dbt container's outcome: the configured container, else the only one, else the
    /// first that exited non-zero (a sidecar's exit code can also match the rule), else the
    /// first. Containers can share a name: of those named as configured, the first that
    /// exited non-zero.
    pub fn from_task(task: &EcsTask, container: Option<&str>) -> Result<Self, ContainerError> {
        let named = |c: &&crate::event::EcsContainer| container.is_none_or(|w| c.name == w);
        let failed = |c: &&crate::event::EcsContainer| c.exit_code.is_some_and(|e| e != 0);
        let chosen = task
            .containers
            .iter()
            .filter(named)
            .find(failed)
            .or_else(|| task.containers.iter().find(named));
        let chosen = match (chosen, container) {
            (Some(chosen), _) => chosen,
            (None, Some(wanted)) => {
                return Err(ContainerError::NotFound {
                    wanted: wanted.to_owned(),
                    present: task
                        .containers
                        .iter()
                        .map(|c| c.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                })
            }
            (None, None) => return Err(ContainerError::NoContainers),
        };
        Ok(Self {
            container: chosen.name.clone(),
            exit_code: chosen.exit_code,
            stop_code: task.stop_code.clone(),
            stopped_reason: task.stopped_reason.clone(),
            container_reason: chosen.reason.clone(),
        })
    }

    /// What a decision needs from the dbt container's log: dbt's own failures (exit 1 or 2)
    /// need it to say what failed, to its end; a run killed part-way (out of memory, Spot,
    /// any signal) needs it to say what had finished. A task stopped from outside (a person,
    /// the service scheduler: never re-run), one that never ran dbt (no exit code) and a
    /// success need none.
    pub(crate) fn log_need(&self) -> LogNeed {
        if self.stopped_by().is_some() {
            return LogNeed::None;
        }
        match self.exit_code {
            Some(1 | 2) => LogNeed::ToTheEnd,
            Some(0) | None => LogNeed::None,
            Some(_) => LogNeed::UntilQuiet,
        }
    }

    /// Who stopped the task from outside, if someone did: the stop code, else (no stop code,
    /// as before 2019, or one this version does not know) ECS's reason.
    pub(crate) fn stopped_by(&self) -> Option<StoppedBy> {
        let by_reason = || {
            if self.stopped_reason_starts_with(HEALTH_CHECK_STOPS) {
                Some(StoppedBy::HealthCheck)
            } else if self.stopped_reason_starts_with(SCHEDULER_STOPS) {
                Some(StoppedBy::ServiceScheduler)
            } else if self.stopped_reason_starts_with(PERSON_STOPS) {
                Some(StoppedBy::Person)
            } else {
                None
            }
        };
        match &self.stop_code {
            Some(StopCode::UserInitiated) => Some(StoppedBy::Person),
            Some(StopCode::ServiceSchedulerInitiated) => {
                Some(if self.stopped_reason_starts_with(HEALTH_CHECK_STOPS) {
                    StoppedBy::HealthCheck
                } else {
                    StoppedBy::ServiceScheduler
                })
            }
            None | Some(StopCode::Other(_)) => by_reason(),
            Some(_) => None,
        }
    }

    /// Fargate Spot (or an EC2 Spot capacity provider) took the capacity back: stopCode
    /// `SpotInterruption` or `TerminationNotice`, or Spot's reason without a stop code.
    fn spot_interrupted(&self) -> bool {
        match &self.stop_code {
            Some(StopCode::SpotInterruption | StopCode::TerminationNotice) => true,
            None | Some(StopCode::Other(_)) => self.stopped_reason_starts_with(SPOT_STOPS),
            Some(_) => false,
        }
    }

    /// ECS itself says the container ran out of memory (`OutOfMemoryError: Container killed
    /// due to memory usage`).
    fn ecs_says_oom(&self) -> bool {
        self.reason_starts_with(&["OutOfMemoryError"])
    }

    fn stopped_reason_starts_with(&self, prefixes: &[&str]) -> bool {
        self.stopped_reason
            .as_deref()
            .is_some_and(|r| prefixes.iter().any(|p| r.trim_start().starts_with(p)))
    }

    /// dbt exited 0 and no person stopped the task: what [`classify`] calls no failure.
    pub fn succeeded(&self) -> bool {
        self.exit_code == Some(0) && self.stop_code != Some(StopCode::UserInitiated)
    }

    fn reason_starts_with(&self, prefixes: &[&str]) -> bool {
        [&self.container_reason, &self.stopped_reason]
            .into_iter()
            .flatten()
            .any(|r| prefixes.iter().any(|p| r.trim_start().starts_with(p)))
    }
}

/// How much of the dbt container's log a decision needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogNeed {
    /// No log: the task was stopped from outside, never ran dbt, or succeeded.
    None,
    /// dbt ended on its own: read until its end-of-run marker (or the wait runs out).
    ToTheEnd,
    /// dbt was killed: no marker will come; read until no new line arrives.
    UntilQuiet,
}

/// The verdict on one stopped task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Classification {
    /// What kind of failure, or `none`.
    pub kind: FailureKind,
    /// Someone stopped the task from outside (a person, the service scheduler, a failed
    /// health check): never re-run.
    pub stopped_by: Option<StoppedBy>,
    /// The failure is transient: every failed node (or dbt's own error) matched a transient
    /// pattern.
    pub transient: bool,
    /// The retry class of each failure, for the policy: one per failed node for `dbt_nodes`,
    /// one for the task otherwise; empty when nothing can be retried.
    pub classes: Vec<RetryClass>,
    /// What happened, one sentence.
    pub summary: String,
}

/// Launch failures: ECS could not start the container.
const LAUNCH_FAILURES: &[&str] = &[
    "CannotPullContainerError",
    "ResourceInitializationError",
    "CannotStartContainerError",
    "CannotCreateContainerError",
    "CannotInspectContainerError",
    "ContainerRuntimeError",
    "ContainerRuntimeTimeoutError",
    "InternalError",
    "TaskFailedToStart",
    // The reason before stop codes existed (2017–2019).
    "Task failed to start",
];

/// The retry class of one failed node: `test_failure`, `transient` or `timeout` (with the
/// pattern that matched), else `model_error`.
pub fn node_class(
    node: &FailedNode,
    patterns: &TransientPatterns,
) -> (RetryClass, Option<ErrorMatch>) {
    if node.status == FailStatus::Fail {
        return (RetryClass::TestFailure, None);
    }
    let text = if node.detail.is_empty() {
        &node.message
    } else {
        &node.detail
    };
    match patterns.find(text) {
        Some(m) => (m.class, Some(m)),
        None => (RetryClass::ModelError, None),
    }
}

/// Classifies a stopped task. `report` is the parsed log, when there is one.
pub fn classify(
    outcome: &TaskOutcome,
    report: Option<&RunReport>,
    patterns: &TransientPatterns,
) -> Classification {
    let reason = outcome
        .container_reason
        .as_deref()
        .or(outcome.stopped_reason.as_deref())
        .unwrap_or("no reason given");

    if let Some(by) = outcome.stopped_by() {
        return Classification {
            stopped_by: Some(by),
            ..verdict(
                FailureKind::Infra,
                vec![],
                stopped_from_outside(outcome, by),
            )
        };
    }
    if outcome.exit_code == Some(0) {
        return verdict(FailureKind::None, vec![], "dbt exited 0".to_owned());
    }
    if let Some(stopped) = stopped_by_the_platform(outcome, reason) {
        return stopped;
    }
    match outcome.exit_code {
        None => verdict(
            FailureKind::Infra,
            vec![RetryClass::Infra],
            format!("the container has no exit code: dbt never ran or was killed ({reason})"),
        ),
        // `run-operation` exits 1 with dbt's own error and no node when its macro fails.
        Some(1) if failed_without_a_node(report) => classify_dbt_error(1, report, patterns),
        Some(1) => classify_nodes(report, patterns),
        Some(2) => classify_dbt_error(2, report, patterns),
        Some(code @ (143 | 130)) => verdict(
            FailureKind::Infra,
            vec![RetryClass::Infra],
            format!("dbt was stopped from outside (exit {code}, {reason})"),
        ),
        Some(code) => verdict(
            FailureKind::Unknown,
            vec![],
            format!("the container exited {code}, which dbt does not use ({reason})"),
        ),
    }
}

/// A task the platform stopped: it failed to start, Spot took its capacity back, or it was
/// killed for memory.
fn stopped_by_the_platform(outcome: &TaskOutcome, reason: &str) -> Option<Classification> {
    let stop_code = outcome.stop_code.as_ref();
    if stop_code == Some(&StopCode::TaskFailedToStart)
        || outcome.reason_starts_with(LAUNCH_FAILURES)
    {
        return Some(verdict(
            FailureKind::Infra,
            vec![RetryClass::Infra],
            format!("the task failed to start ({reason})"),
        ));
    }
    if outcome.spot_interrupted() {
        let code = stop_code.map_or("no stop code", StopCode::as_str);
        return Some(verdict(
            FailureKind::Infra,
            vec![RetryClass::Infra],
            format!(
                "Spot reclaimed the task's capacity ({code}{}; {reason})",
                outcome
                    .exit_code
                    .map(|e| format!(", exit {e}"))
                    .unwrap_or_default()
            ),
        ));
    }
    // Exit 137 is SIGKILL: out of memory when ECS says so, or when nothing else stopped the
    // task (ECS does not always write the reason; the stops from outside are settled above).
    if outcome.ecs_says_oom() || outcome.exit_code == Some(137) {
        return Some(verdict(
            FailureKind::Oom,
            vec![RetryClass::Oom],
            format!(
                "the container was killed for memory ({}, {reason})",
                outcome
                    .exit_code
                    .map_or("no exit code".to_owned(), |e| format!("exit {e}"))
            ),
        ));
    }
    None
}

/// What a stop from outside the task was, one sentence.
fn stopped_from_outside(outcome: &TaskOutcome, by: StoppedBy) -> String {
    let code = outcome
        .stop_code
        .as_ref()
        .map_or("no stop code".to_owned(), |c| {
            format!("stopCode {}", c.as_str())
        });
    let reason = outcome
        .stopped_reason
        .as_deref()
        .filter(|r| !r.trim().is_empty())
        .map(|r| crate::log::truncate(r, 300))
        .unwrap_or("no reason given");
    let exit = outcome
        .exit_code
        .map(|e| format!(", exit {e}"))
        .unwrap_or_default();
    match by {
        StoppedBy::Person => format!("a person stopped the task ({code}: {reason}{exit})"),
        StoppedBy::ServiceScheduler => format!(
            "the ECS service scheduler stopped the task ({code}: {reason}{exit}); the task \
             belongs to a service, which decides what replaces it"
        ),
        StoppedBy::HealthCheck => format!(
            "the ECS service scheduler stopped the task after failed health checks ({code}: \
             {reason}{exit}); the task belongs to a service, which replaces it"
        ),
    }
}

fn verdict(kind: FailureKind, classes: Vec<RetryClass>, summary: String) -> Classification {
    Classification {
        kind,
        stopped_by: None,
        transient: false,
        classes,
        summary,
    }
}

/// The log names no failed node but dbt's own error (`Encountered an error while running
/// operation: ...`).
fn failed_without_a_node(report: Option<&RunReport>) -> bool {
    report.is_some_and(|r| {
        r.failed.is_empty() && r.error.as_deref().is_some_and(|e| !e.trim().is_empty())
    })
}

/// dbt itself failed (exit 2, or exit 1 from `run-operation`): transient (or a timeout) only
/// when its error is.
fn classify_dbt_error(
    code: i32,
    report: Option<&RunReport>,
    patterns: &TransientPatterns,
) -> Classification {
    let error = report.and_then(|r| r.error.as_deref()).unwrap_or_default();
    let first = error
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("no error in the log");
    match patterns.find(error) {
        Some(m) => {
            let what = match m.class {
                RetryClass::Timeout => "a timeout",
                _ => "a transient error",
            };
            Classification {
                transient: m.class == RetryClass::Transient,
                ..verdict(
                    FailureKind::DbtRuntime,
                    vec![m.class],
                    format!("dbt itself failed with {what} ({}): {first}", m.pattern),
                )
            }
        }
        None => verdict(
            FailureKind::DbtRuntime,
            vec![],
            format!("dbt itself failed (exit {code}): {}", first.trim()),
        ),
    }
}

fn classify_nodes(report: Option<&RunReport>, patterns: &TransientPatterns) -> Classification {
    let nodes = report.map(|r| r.failed.as_slice()).unwrap_or_default();
    if nodes.is_empty() {
        let why = match report {
            None => "the log could not be read",
            Some(r) if r.lines == 0 => "the log is empty",
            Some(_) => "the log names no failed node",
        };
        return Classification {
            kind: FailureKind::DbtNodes,
            stopped_by: None,
            transient: false,
            classes: vec![],
            summary: format!("dbt exited 1 but {why}"),
        };
    }
    let classes: Vec<RetryClass> = nodes.iter().map(|n| node_class(n, patterns).0).collect();
    let transient = classes.iter().all(|c| *c == RetryClass::Transient);
    let count = |class| classes.iter().filter(|c| **c == class).count();
    let mut parts = Vec::new();
    for (class, what) in [
        (RetryClass::Transient, "transient error"),
        (RetryClass::Timeout, "timeout"),
        (RetryClass::ModelError, "error"),
        (RetryClass::TestFailure, "test failure"),
    ] {
        match count(class) {
            0 => {}
            1 => parts.push(format!("1 {what}")),
            n => parts.push(format!("{n} {what}s")),
        }
    }
    Classification {
        kind: FailureKind::DbtNodes,
        stopped_by: None,
        transient,
        classes,
        summary: format!(
            "{} failed node{} ({})",
            nodes.len(),
            if nodes.len() == 1 { "" } else { "s" },
            parts.join(", ")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::EcsContainer;
    use crate::node::ResourceType;

    fn outcome(exit: Option<i32>, stop_code: &str, reason: Option<&str>) -> TaskOutcome {
        TaskOutcome {
            container: "dbt".into(),
            exit_code: exit,
            stop_code: Some(stop_code.to_owned().into()),
            stopped_reason: Some("Essential container in task exited".into()),
            container_reason: reason.map(Into::into),
        }
    }

    fn failed(name: &str, status: FailStatus, message: &str) -> FailedNode {
        FailedNode {
            name: name.into(),
            resource_type: ResourceType::Model,
            unique_id: None,
            status,
            message: message.into(),
            detail: message.into(),
        }
    }

    fn report(nodes: Vec<FailedNode>) -> RunReport {
        RunReport {
            failed: nodes,
            lines: 10,
            end_of_run: true,
            ..RunReport::default()
        }
    }

    fn kind_of(o: &TaskOutcome, r: Option<&RunReport>) -> Classification {
        classify(o, r, &TransientPatterns::default())
    }

    #[test]
    fn every_kind_is_recognised() {
        let ok = outcome(Some(0), "EssentialContainerExited", None);
        assert_eq!(kind_of(&ok, None).kind, FailureKind::None);

        let pull = outcome(
            None,
            "TaskFailedToStart",
            Some("CannotPullContainerError: pull access denied"),
        );
        let c = kind_of(&pull, None);
        assert_eq!(
            (c.kind, c.classes.as_slice()),
            (FailureKind::Infra, &[RetryClass::Infra][..])
        );
        assert!(
            c.summary.contains("CannotPullContainerError"),
            "{}",
            c.summary
        );

        let eni = outcome(
            None,
            "EssentialContainerExited",
            Some("ResourceInitializationError: unable to pull secrets"),
        );
        assert_eq!(kind_of(&eni, None).kind, FailureKind::Infra);

        let spot = outcome(Some(143), "SpotInterruption", None);
        assert_eq!(kind_of(&spot, None).kind, FailureKind::Infra);

        let oom = outcome(
            Some(137),
            "EssentialContainerExited",
            Some("OutOfMemoryError: Container killed due to memory usage"),
        );
        assert_eq!(kind_of(&oom, None).kind, FailureKind::Oom);

        let no_exit = outcome(None, "EssentialContainerExited", None);
        assert_eq!(kind_of(&no_exit, None).kind, FailureKind::Infra);

        let term = outcome(Some(143), "EssentialContainerExited", None);
        assert_eq!(kind_of(&term, None).kind, FailureKind::Infra);

        let nodes = outcome(Some(1), "EssentialContainerExited", None);
        let r = report(vec![failed(
            "m",
            FailStatus::Error,
            "Binder Error: no column x",
        )]);
        let c = kind_of(&nodes, Some(&r));
        assert_eq!((c.kind, c.transient), (FailureKind::DbtNodes, false));
        assert_eq!(c.classes, [RetryClass::ModelError]);

        let runtime = outcome(Some(2), "EssentialContainerExited", None);
        let r = RunReport {
            error: Some(
                "Compilation Error\n  Model 'model.p.m' depends on a node named 'x'".into(),
            ),
            ..RunReport::default()
        };
        let c = kind_of(&runtime, Some(&r));
        assert_eq!(
            (c.kind, c.transient, c.classes.len()),
            (FailureKind::DbtRuntime, false, 0)
        );
        assert!(c.summary.contains("Compilation Error"), "{}", c.summary);

        let weird = outcome(Some(127), "EssentialContainerExited", None);
        assert_eq!(kind_of(&weird, None).kind, FailureKind::Unknown);
    }

    #[test]
    fn a_person_stopping_the_task_is_never_retried() {
        let c = kind_of(&outcome(Some(143), "UserInitiated", None), None);
        assert_eq!(c.stopped_by, Some(StoppedBy::Person));
        // Never re-run, so its log is not worth a wait, whatever dbt's exit code.
        assert_eq!(
            outcome(Some(1), "UserInitiated", None).log_need(),
            LogNeed::None
        );
        assert!(c.classes.is_empty());
        assert!(c.summary.contains("a person stopped"), "{}", c.summary);
    }

    fn stopped_with(exit: Option<i32>, stop_code: Option<&str>, stopped: &str) -> TaskOutcome {
        TaskOutcome {
            container: "dbt".into(),
            exit_code: exit,
            stop_code: stop_code.map(Into::into),
            stopped_reason: Some(stopped.into()),
            container_reason: None,
        }
    }

    #[test]
    fn exit_137_is_an_oom_only_when_ecs_says_so_or_nothing_else_stopped_the_task() {
        // Nothing else stopped it: the kernel's OOM killer (ECS does not always say so).
        for code in [
            Some("EssentialContainerExited"),
            None,
            Some("SomeCodeAwsAddsLater"),
        ] {
            let c = kind_of(
                &stopped_with(Some(137), code, "Essential container in task exited"),
                None,
            );
            assert_eq!(
                (c.kind, c.classes.as_slice()),
                (FailureKind::Oom, &[RetryClass::Oom][..]),
                "{code:?}"
            );
        }
        // The service scheduler scaled in: SIGTERM, then SIGKILL after the stop timeout.
        let scaling = stopped_with(
            Some(137),
            Some("ServiceSchedulerInitiated"),
            "Scaling activity initiated by (deployment ecs-svc/8646900195280463695)",
        );
        let c = kind_of(&scaling, None);
        assert_eq!(
            (c.kind, c.stopped_by),
            (FailureKind::Infra, Some(StoppedBy::ServiceScheduler))
        );
        assert!(c.classes.is_empty());
        assert!(
            c.summary.contains("service scheduler") && c.summary.contains("Scaling activity"),
            "{}",
            c.summary
        );
        assert_eq!(scaling.log_need(), LogNeed::None);
        // A Spot reclaim that outlived the stop timeout.
        let spot = stopped_with(
            Some(137),
            Some("TerminationNotice"),
            "Your Spot Task was interrupted.",
        );
        let c = kind_of(&spot, None);
        assert_eq!(
            (c.kind, c.classes.as_slice()),
            (FailureKind::Infra, &[RetryClass::Infra][..])
        );
        assert!(c.summary.contains("Spot"), "{}", c.summary);
        // ECS's own word wins over the exit code, and needs none.
        let said = TaskOutcome {
            container_reason: Some("OutOfMemoryError: Container killed due to memory usage".into()),
            ..stopped_with(None, None, "Essential container in task exited")
        };
        assert_eq!(kind_of(&said, None).kind, FailureKind::Oom);
    }

    #[test]
    fn a_health_check_stop_is_not_rerun() {
        let elb = stopped_with(
            Some(143),
            Some("ServiceSchedulerInitiated"),
            "Task failed ELB health checks in (target-group arn:aws:elasticloadbalancing:ap-northeast-2:1:targetgroup/web/c)",
        );
        let c = kind_of(&elb, None);
        assert_eq!(c.stopped_by, Some(StoppedBy::HealthCheck));
        assert!(c.classes.is_empty());
        assert!(c.summary.contains("failed health checks"), "{}", c.summary);
        assert_eq!(elb.log_need(), LogNeed::None);
    }

    #[test]
    fn stops_before_stop_codes_existed_are_read_from_the_reason() {
        let by = |exit, reason| stopped_with(exit, None, reason).stopped_by();
        assert_eq!(
            by(Some(143), "Task stopped by user"),
            Some(StoppedBy::Person)
        );
        assert_eq!(
            by(
                Some(137),
                "Scaling activity initiated by (deployment ecs-svc/1)"
            ),
            Some(StoppedBy::ServiceScheduler)
        );
        assert_eq!(
            by(
                Some(143),
                "Task failed ELB health checks in (target-group x)"
            ),
            Some(StoppedBy::HealthCheck)
        );
        assert_eq!(by(Some(1), "Essential container in task exited"), None);
        // A stop code ECS wrote is trusted over the reason's words.
        let custom = stopped_with(
            Some(143),
            Some("EssentialContainerExited"),
            "Task stopped by user",
        );
        assert_eq!(custom.stopped_by(), None);
        // 2018: "Task failed to start", no stop code, no exit code.
        let c = kind_of(&stopped_with(None, None, "Task failed to start"), None);
        assert_eq!(
            (c.kind, c.classes.as_slice()),
            (FailureKind::Infra, &[RetryClass::Infra][..])
        );
        assert!(c.summary.contains("failed to start"), "{}", c.summary);
        // Spot's reason without a stop code.
        let c = kind_of(
            &stopped_with(Some(143), None, "Your Spot Task was interrupted."),
            None,
        );
        assert!(c.summary.contains("Spot"), "{}", c.summary);
    }

    #[test]
    fn an_unknown_stop_code_is_classified_by_the_exit_code() {
        let c = kind_of(
            &stopped_with(
                None,
                Some("SomeStrangeStopCode"),
                "Essential container in task exited",
            ),
            None,
        );
        assert_eq!(
            (c.kind, c.classes.as_slice()),
            (FailureKind::Infra, &[RetryClass::Infra][..])
        );
        let c = kind_of(
            &stopped_with(Some(255), Some("SomeStrangeStopCode"), "x"),
            None,
        );
        assert_eq!(c.kind, FailureKind::Unknown);
    }

    #[test]
    fn of_containers_that_share_a_name_the_one_that_failed_is_chosen() {
        let task = EcsTask {
            containers: vec![
                EcsContainer {
                    name: "default".into(),
                    exit_code: Some(0),
                    ..Default::default()
                },
                EcsContainer {
                    name: "default".into(),
                    exit_code: Some(999),
                    ..Default::default()
                },
            ],
            ..Default::default()
        };
        for wanted in [None, Some("default")] {
            assert_eq!(
                TaskOutcome::from_task(&task, wanted).unwrap().exit_code,
                Some(999)
            );
        }
    }

    #[test]
    fn a_connection_error_that_stops_dbt_is_transient() {
        let r = RunReport {
            error: Some("Database Error\n  could not connect to server: Connection refused".into()),
            ..RunReport::default()
        };
        let c = kind_of(
            &outcome(Some(2), "EssentialContainerExited", None),
            Some(&r),
        );
        assert_eq!((c.kind, c.transient), (FailureKind::DbtRuntime, true));
        assert_eq!(c.classes, [RetryClass::Transient]);
    }

    #[test]
    fn node_failures_get_a_class_each_and_transient_needs_all_transient() {
        let o = outcome(Some(1), "EssentialContainerExited", None);
        let r = report(vec![
            failed("a", FailStatus::Error, "SSL SYSCALL error: EOF detected"),
            failed(
                "b",
                FailStatus::Fail,
                "Got 3 results, configured to fail if != 0",
            ),
        ]);
        let c = kind_of(&o, Some(&r));
        assert_eq!(c.classes, [RetryClass::Transient, RetryClass::TestFailure]);
        assert!(!c.transient);
        assert_eq!(
            c.summary,
            "2 failed nodes (1 transient error, 1 test failure)"
        );

        let r = report(vec![failed(
            "a",
            FailStatus::Error,
            "connection reset by peer",
        )]);
        assert!(kind_of(&o, Some(&r)).transient);
    }

    #[test]
    fn exit_1_without_failed_nodes_says_why() {
        let o = outcome(Some(1), "EssentialContainerExited", None);
        assert!(kind_of(&o, None).summary.contains("could not be read"));
        assert!(kind_of(&o, Some(&report(vec![])))
            .summary
            .contains("names no failed node"));
    }

    #[test]
    fn exit_1_with_dbts_own_error_and_no_node_is_judged_by_the_error() {
        // dbt run-operation whose macro failed: exit 1, `Encountered an error while running
        // operation`, no node.
        let o = outcome(Some(1), "EssentialContainerExited", None);
        let mut r = report(vec![]);
        r.error = Some("Runtime Error\n  SSL SYSCALL error: EOF detected".to_owned());
        let c = kind_of(&o, Some(&r));
        assert_eq!(c.kind, FailureKind::DbtRuntime);
        assert!(c.transient, "{}", c.summary);
        r.error = Some("Compilation Error\n  macro 'x' takes no argument 'y'".to_owned());
        let c = kind_of(&o, Some(&r));
        assert!(!c.transient);
        assert!(c.classes.is_empty());
        assert_eq!(c.summary, "dbt itself failed (exit 1): Compilation Error");
    }

    #[test]
    fn the_dbt_container_is_the_configured_one_or_the_one_that_failed() {
        let task = EcsTask {
            containers: vec![
                EcsContainer {
                    name: "sidecar".into(),
                    exit_code: Some(0),
                    ..Default::default()
                },
                EcsContainer {
                    name: "dbt".into(),
                    exit_code: Some(1),
                    ..Default::default()
                },
            ],
            ..Default::default()
        };
        assert_eq!(
            TaskOutcome::from_task(&task, None).unwrap().container,
            "dbt"
        );
        assert_eq!(
            TaskOutcome::from_task(&task, Some("sidecar"))
                .unwrap()
                .exit_code,
            Some(0)
        );
        let err = TaskOutcome::from_task(&task, Some("dbt-core")).unwrap_err();
        assert!(
            err.to_string().contains("`dbt-core`") && err.to_string().contains("sidecar, dbt"),
            "{err}"
        );
        assert_eq!(
            TaskOutcome::from_task(&EcsTask::default(), None),
            Err(ContainerError::NoContainers)
        );
    }
}
