//! The second phase: the stages a stopped task's decision runs once, in order — classify,
//! plan, allow, size. Each either passes its result on or settles the decision (its `Err`).

use super::commands::{command_plan, CommandPlan, CommandReading};
use super::{
    ChainFacts, ContainerFacts, Decided, Decision, DecisionConfig, FailureFacts, Findings,
    Gathered, GiveUpReason, IgnoreReason, PlannedRerun, RerunReason, Stopped,
};
use crate::chain::ChainPosition;
use crate::classify::{classify, node_class, Classification, FailureKind, TaskOutcome};
use crate::event::EcsTask;
use crate::fargate::{next_size, TaskSize};
use crate::log::RunReport;
use crate::plan::{json_len, overrides_len, ECS_OVERRIDE_LIMIT};
use crate::policy::RetryClass;

/// What the classify stage settles: the failure, as judged (with a wrapper's hidden failures).
struct Classified {
    classification: Classification,
    /// The outcome as judged: exit 1 where a wrapper hid dbt's failures.
    outcome: TaskOutcome,
    /// A wrapper hid dbt's failures (`DBT_RERUN_INSPECT_SUCCESS`).
    masked: bool,
    /// The failure in one sentence, with the log's note.
    what: String,
}

/// A decision reached before a re-run was planned.
enum Early {
    Ignore(IgnoreReason),
    GiveUp(GiveUpReason),
}

impl From<Early> for Decision {
    fn from(early: Early) -> Self {
        match early {
            Early::Ignore(reason) => Decision::ignore(reason),
            Early::GiveUp(reason) => Decision::give_up(reason),
        }
    }
}

impl Stopped<'_> {
    /// Decides on this stopped task with what was gathered.
    pub fn decide(&self, gathered: &Gathered<'_>, config: &DecisionConfig) -> Decided {
        let reading = CommandReading::of(gathered, self.outcome.exit_code);
        let mut findings = Findings::shown(self.task, gathered, reading.shown.as_deref(), config);
        findings.container = Some(ContainerFacts {
            name: self.outcome.container.clone(),
            exit_code: self.outcome.exit_code,
        });
        let decision = self
            .stages(gathered, &reading, config, &mut findings)
            .unwrap_or_else(Decision::from);
        Decided::new(findings, decision)
    }

    /// classify → plan → allow → size; each stage's result lands in `findings` once.
    fn stages(
        &self,
        gathered: &Gathered<'_>,
        reading: &CommandReading<'_>,
        config: &DecisionConfig,
        findings: &mut Findings,
    ) -> Result<Decision, Early> {
        let judged = self.classify(gathered, reading, config)?;
        findings.failure = Some(FailureFacts {
            kind: judged.classification.kind,
            transient: judged.classification.transient,
        });
        let position = self.position(gathered)?;
        findings.chain = Some(ChainFacts {
            attempt: position.attempt,
            origin_task_arn: position.chain.origin_task_arn().to_owned(),
        });
        // A successful stop of the chain's own re-run (and no failure hidden in its log): the
        // chain recovered.
        if let Some(recovery) = self.recovery.clone().filter(|_| !judged.masked) {
            findings.recovered = Some(recovery.clone());
            return Err(Early::Ignore(IgnoreReason::Recovered(recovery)));
        }
        fusion_log(&judged, gathered)?;
        let container = &self.outcome.container;
        let others = self.task.other_overrides(container);
        let environment = position.chain.environment(&self.env, position.attempt + 1);
        let budget = command_budget(container, &environment, &others);
        let plan = command_plan(&judged.classification, gathered, reading, budget, config);
        let plan = findings.plan.insert(noted(plan, gathered)).clone();
        allowed(&judged, reading.judged(), config, position.attempt)?;
        let what = &judged.what;
        let command = plan.argv.ok_or_else(|| {
            Early::GiveUp(GiveUpReason::NoCommand {
                what: what.clone(),
                why: no_command(gathered, plan.note.as_deref()),
            })
        })?;
        let size = match judged.classification.kind {
            FailureKind::Oom => Some(oom_size(self.task, config).map_err(|why| {
                Early::GiveUp(GiveUpReason::NoLargerSize {
                    what: what.clone(),
                    why,
                })
            })?),
            _ => None,
        };
        let rerun = PlannedRerun::next(&position, container, environment, others, command, size);
        fits_the_overrides(&rerun, what)?;
        let reason = RerunReason {
            what: what.clone(),
            attempt: rerun.attempt,
            max_attempts: config.policy.max_attempts,
            memory: size.map(|s| s.memory),
            plan_note: plan.note,
        };
        Ok(Decision::Rerun { rerun, reason })
    }

    /// The classify stage: what failed and how, judged by the log the command's shape
    /// selects; a script that failed outside dbt is given up on here.
    fn classify(
        &self,
        gathered: &Gathered<'_>,
        reading: &CommandReading<'_>,
        config: &DecisionConfig,
    ) -> Result<Classified, Early> {
        let mut outcome = self.outcome.clone();
        let masked = hidden_failure(&mut outcome, gathered, reading, config);
        script_failed_outside_dbt(&outcome, reading)?;
        let mut classification = classify(&outcome, reading.judged(), &config.transient);
        if masked {
            classification.summary = format!(
                "the task exited 0, but dbt reported failures its wrapper hid (DBT_RERUN_INSPECT_SUCCESS): {}",
                classification.summary
            );
        }
        let what = with_log_note(&classification.summary, gathered.log_note);
        Ok(Classified {
            classification,
            outcome,
            masked,
            what,
        })
    }

    /// The task's place in its chain, its original command known now that its command is.
    fn position(&self, gathered: &Gathered<'_>) -> Result<ChainPosition, Early> {
        match &self.position {
            Ok(position) => Ok(position.clone().ran(&self.env, gathered.command)),
            Err(e) => Err(Early::GiveUp(GiveUpReason::BadChain(e.clone()))),
        }
    }
}

/// With `DBT_RERUN_INSPECT_SUCCESS`, a task that exited 0 although dbt reported failures is
/// judged as dbt's exit 1 would be; whether it was.
fn hidden_failure(
    outcome: &mut TaskOutcome,
    gathered: &Gathered<'_>,
    reading: &CommandReading<'_>,
    config: &DecisionConfig,
) -> bool {
    let failures = reading
        .judged()
        .is_some_and(|r| !r.failed.is_empty() || r.error.is_some())
        || gathered
            .report
            .and_then(|r| r.fusion.as_ref())
            .is_some_and(|f| f.shows_failures());
    let hidden = config.inspect_success && outcome.exit_code == Some(0) && failures;
    if hidden {
        outcome.exit_code = Some(1);
    }
    hidden
}

/// A log dbt Fusion wrote is not dbt Core's: where the decision needs its failed and skipped
/// nodes or dbt's own error (exit 1, exit 2), it gives up and says the log is Fusion's. Kills
/// (OOM, Spot, a stop) need no node and are decided as ever, re-running the whole command
/// (see `command_plan`).
fn fusion_log(judged: &Classified, gathered: &Gathered<'_>) -> Result<(), Early> {
    let Some(fusion) = gathered.report.and_then(|r| r.fusion.as_ref()) else {
        return Ok(());
    };
    if !matches!(
        judged.classification.kind,
        FailureKind::DbtNodes | FailureKind::DbtRuntime
    ) {
        return Ok(());
    }
    let exited = if judged.masked {
        "the task exited 0, but its log shows failures a wrapper hid (DBT_RERUN_INSPECT_SUCCESS)"
            .to_owned()
    } else {
        judged
            .outcome
            .exit_code
            .map_or("dbt failed".to_owned(), |code| format!("dbt exited {code}"))
    };
    Err(Early::GiveUp(GiveUpReason::FusionLog {
        exited,
        fusion: fusion.describe(),
        log_note: gathered.log_note.map(str::to_owned),
    }))
}

/// A script that failed (exit 1 or 2) while every dbt step in it succeeded failed in a step
/// dbt-rerun cannot judge.
fn script_failed_outside_dbt(
    outcome: &TaskOutcome,
    reading: &CommandReading<'_>,
) -> Result<(), Early> {
    match (outcome.exit_code, reading.script_run()) {
        (Some(code @ (1 | 2)), Some(run)) if run.root.is_none() => {
            Err(Early::GiveUp(GiveUpReason::ScriptFailedOutsideDbt { code }))
        }
        _ => Ok(()),
    }
}

/// A task ECS is stopping: why, so the record says what its STOPPED event will be about.
pub(super) fn stopping(task: &EcsTask) -> String {
    let code = task.stop_code.as_ref().map(|c| c.as_str());
    let reason = task
        .stopped_reason
        .as_deref()
        .filter(|r| !r.trim().is_empty());
    if task.desired_status.as_deref() != Some(crate::event::STOPPED) && code.is_none() {
        return String::new();
    }
    let why = [
        code.map(|c| format!("stopCode {c}")),
        reason.map(|r| crate::log::truncate(r, 200).to_owned()),
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join(", ");
    if why.is_empty() {
        " (ECS is stopping it; its STOPPED event decides)".to_owned()
    } else {
        format!(" (ECS is stopping it: {why}; its STOPPED event decides)")
    }
}

pub(super) fn shown_status(status: &str) -> &str {
    if status.is_empty() {
        "in an unknown state"
    } else {
        crate::log::truncate(status, 40)
    }
}

/// The allow stage: the failure is worth a re-run (successes and tasks stopped from outside
/// are not), the policy re-runs it, and the budget has an attempt left.
fn allowed(
    judged: &Classified,
    report: Option<&RunReport>,
    config: &DecisionConfig,
    attempt: u32,
) -> Result<(), Early> {
    let (classification, what) = (&judged.classification, judged.what.clone());
    if classification.kind == FailureKind::None {
        return Err(Early::Ignore(IgnoreReason::Succeeded { what }));
    }
    if classification.stopped_by.is_some() {
        return Err(Early::Ignore(IgnoreReason::StoppedFromOutside { what }));
    }
    if let Some(why) = policy_refusal(classification, report, config) {
        return Err(Early::GiveUp(GiveUpReason::NotRerunnable { what, why }));
    }
    if !config.policy.budget_left(attempt) {
        return Err(Early::GiveUp(GiveUpReason::BudgetSpent {
            what,
            attempt,
            max_attempts: config.policy.max_attempts,
        }));
    }
    Ok(())
}

/// The longest the re-run's argv may be as JSON: ECS's override limit minus what the
/// overrides hold besides the command (`environment`, the re-run's with the chain's
/// variables; the other containers; the largest size).
fn command_budget(
    container: &str,
    environment: &[crate::event::KeyValue],
    others: &[crate::event::ContainerOverride],
) -> usize {
    let rest = overrides_len(
        container,
        &[],
        environment,
        others,
        Some("16384"),
        Some("122880"),
    );
    ECS_OVERRIDE_LIMIT
        .saturating_sub(rest)
        .saturating_add(json_len(&[]))
}

/// Why no re-run command could be planned.
pub(super) fn no_command(gathered: &Gathered<'_>, note: Option<&str>) -> String {
    match (gathered.command, note) {
        (None, _) => "the original command is not known (no override in the event and no task definition command)".to_owned(),
        (_, Some(note)) => note.to_owned(),
        (_, None) => "no re-run command could be planned".to_owned(),
    }
}

/// The size stage's last check: the re-run's RunTask overrides fit ECS's limit.
fn fits_the_overrides(rerun: &PlannedRerun, what: &str) -> Result<(), Early> {
    let length = overrides_len(
        &rerun.container,
        &rerun.command,
        &rerun.environment,
        &rerun.other_overrides,
        rerun.cpu.as_deref(),
        rerun.memory.as_deref(),
    );
    if length > ECS_OVERRIDE_LIMIT {
        return Err(Early::GiveUp(GiveUpReason::OverridesTooLong {
            what: what.to_owned(),
            length,
        }));
    }
    Ok(())
}

fn with_log_note(summary: &str, note: Option<&str>) -> String {
    match note {
        Some(note) => format!("{summary} ({note})"),
        None => summary.to_owned(),
    }
}

/// Why the policy does not allow re-running this failure, if it does not.
fn policy_refusal(
    classification: &Classification,
    report: Option<&RunReport>,
    config: &DecisionConfig,
) -> Option<String> {
    if classification.classes.is_empty() {
        return Some(match classification.kind {
            FailureKind::DbtRuntime => "a re-run cannot fix it".to_owned(),
            FailureKind::Unknown => "dbt-rerun does not re-run unknown failures".to_owned(),
            _ => "nothing is known that a re-run could fix".to_owned(),
        });
    }
    let policy = &config.policy;
    let refused: Vec<RetryClass> = classification
        .classes
        .iter()
        .copied()
        .filter(|c| !policy.allows(*c))
        .collect();
    if refused.is_empty() {
        return None;
    }
    let allowed: Vec<&str> = policy.retry_on.iter().map(|c| c.as_str()).collect();
    let mut why = format!(
        "DBT_RERUN_RETRY_ON={} does not re-run {}",
        allowed.join(","),
        unique(refused.iter().map(|c| c.as_str())).join(" or ")
    );
    if let Some(blocking) = report.map(|r| blocking_nodes(r, config)) {
        if !blocking.is_empty() {
            why.push_str(&format!(" ({})", blocking.join("; ")));
        }
    }
    Some(why)
}

/// The failed nodes the policy does not re-run: one deterministic failure among transient
/// ones blocks the re-run, since it would fail again and spend an attempt.
fn blocking_nodes(report: &RunReport, config: &DecisionConfig) -> Vec<String> {
    report
        .failed
        .iter()
        .filter(|n| !config.policy.allows(node_class(n, &config.transient).0))
        .take(3)
        .map(|n| {
            format!(
                "{} {}: {}",
                n.resource_type.as_str(),
                n.name,
                crate::log::truncate(&n.message, 120)
            )
        })
        .collect()
}

fn unique<'a>(items: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
    let mut out: Vec<&str> = Vec::new();
    for item in items {
        if !out.contains(&item) {
            out.push(item);
        }
    }
    out
}

fn oom_size(task: &EcsTask, config: &DecisionConfig) -> Result<TaskSize, String> {
    let parse = |v: &Option<String>| v.as_deref().and_then(|s| s.trim().parse::<u32>().ok());
    let cpu = parse(&task.overrides.cpu).or(parse(&task.cpu));
    let memory = parse(&task.overrides.memory).or(parse(&task.memory));
    let (Some(cpu), Some(memory)) = (cpu, memory) else {
        return Err(
            "the event does not give the task's cpu and memory, so no larger size can be chosen"
                .to_owned(),
        );
    };
    next_size(
        TaskSize { cpu, memory },
        config.max_memory_mib,
        task.on_fargate(),
    )
    .ok_or_else(|| {
        format!(
            "the task already has {memory} MiB and DBT_RERUN_MAX_MEMORY_MIB is {}",
            config.max_memory_mib
        )
    })
}

/// The plan stage's result as the findings keep it, when no command was planned and the
/// plan said nothing: why.
pub(super) fn noted(mut plan: CommandPlan, gathered: &Gathered<'_>) -> CommandPlan {
    if plan.argv.is_none() && plan.note.is_none() {
        plan.note = Some(no_command(gathered, None));
    }
    plan
}
