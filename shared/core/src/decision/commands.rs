//! The re-run command a decision offers, whatever the task ran: a dbt command narrowed or
//! resumed, a script re-run from its failed step, or the original command whole.

use super::{DecisionConfig, Gathered};
use crate::classify::{Classification, FailureKind};
use crate::command::DbtCommand;
use crate::log::{Invocation, RunReport};
use crate::microbatch::BatchRerun;
use crate::plan::{plan_rerun, plan_resume, PlanShape, RerunCommand, Work};
use crate::policy::RetryClass;
use crate::script::{plan_script, ScriptRun, StepAction, StepKind, TaskCommand, Unreadable};
use serde::Serialize;
use std::borrow::Cow;

/// What to do with a script that cannot be re-run from its failed step
/// (`DBT_RERUN_SCRIPT_FALLBACK`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ScriptFallback {
    /// Re-run the original command whole, as an orchestrator would.
    #[default]
    Whole,
    /// Give up: a person decides.
    GiveUp,
}

/// The task's command and its log, read the way the command needs.
pub(super) struct CommandReading<'a> {
    pub command: Option<TaskCommand>,
    /// For a script: what happened to each step, or why that cannot be told.
    pub script: Option<Result<ScriptRun, Unreadable>>,
    /// The report the failure is judged by: the log's, or the script step the failure is
    /// about. None when there is none.
    pub judged: Option<Cow<'a, RunReport>>,
    /// The report the record shows: the log's, or every invocation's nodes together.
    pub shown: Option<Cow<'a, RunReport>>,
}

impl<'a> CommandReading<'a> {
    /// The gathered command and log, read the way the command needs; `exit_code` is the dbt
    /// container's (how a script's last invocation without an end-of-run marker ended).
    pub fn of(gathered: &Gathered<'a>, exit_code: Option<i32>) -> Self {
        let entry_point = gathered.entry_point.unwrap_or_default();
        let command = match gathered.read {
            Some(read) => Some(read.clone()),
            None => gathered.command.map(|c| TaskCommand::read(entry_point, c)),
        };
        let invocations = gathered.invocations;
        match (&command, invocations) {
            (Some(TaskCommand::Script(shell)), Some(invocations)) => {
                let run = ScriptRun::of(shell, invocations, exit_code);
                let judged = match &run {
                    Ok(run) => run.root_report(invocations).map(Cow::Borrowed),
                    Err(_) => Some(Cow::Owned(combined(invocations))),
                };
                Self {
                    script: Some(run),
                    judged,
                    shown: Some(Cow::Owned(combined(invocations))),
                    command,
                }
            }
            (Some(TaskCommand::Script(_)), None) => Self {
                script: Some(Err(Unreadable(
                    "the log was not read step by step".to_owned(),
                ))),
                judged: gathered.report.map(Cow::Borrowed),
                shown: gathered.report.map(Cow::Borrowed),
                command,
            },
            (Some(TaskCommand::Opaque(_)), Some(invocations)) => Self {
                script: None,
                judged: Some(Cow::Owned(combined(invocations))),
                shown: Some(Cow::Owned(combined(invocations))),
                command,
            },
            _ => Self {
                script: None,
                judged: gathered.report.map(Cow::Borrowed),
                shown: gathered.report.map(Cow::Borrowed),
                command,
            },
        }
    }

    pub fn judged(&self) -> Option<&RunReport> {
        self.judged.as_deref()
    }

    /// The script's run, when the command is a script whose steps the log maps.
    pub(crate) fn script_run(&self) -> Option<&ScriptRun> {
        self.script.as_ref()?.as_ref().ok()
    }
}

/// Every invocation's nodes together, in log order.
fn combined(invocations: &[Invocation]) -> RunReport {
    let mut all = RunReport::default();
    for report in invocations.iter().map(|i| &i.report) {
        all.failed.extend(report.failed.iter().cloned());
        all.skipped.extend(report.skipped.iter().cloned());
        all.finished.count += report.finished.count;
        all.finished
            .nodes
            .extend(report.finished.nodes.iter().cloned());
        all.lines += report.lines;
        all.bytes += report.bytes;
        all.truncated |= report.truncated;
        all.error = all.error.take().or_else(|| report.error.clone());
        all.dbt_version = report.dbt_version.clone().or(all.dbt_version.take());
        all.format = report.format;
        all.microbatch.0.extend(report.microbatch.0.iter().cloned());
    }
    all.end_of_run = invocations.last().is_some_and(|i| i.report.end_of_run);
    all
}

/// A script step in the record: what it is, what happened, what the re-run does with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScriptStep {
    /// 1-based, in script order.
    pub step: usize,
    /// Its source text (bounded).
    pub command: String,
    /// The dbt verb, for a dbt step.
    pub dbt_verb: Option<String>,
    /// `succeeded`, `failed`, `killed`, `ran` (not dbt, reached), `never_ran`.
    pub outcome: &'static str,
    /// `removed` (succeeded: not run again), `as_written`, `narrowed`, `resumed`.
    pub rerun: &'static str,
}

/// The plan stage's result: the command a person (or we) would re-run, whatever the
/// decision.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CommandPlan {
    /// The dbt container's command override (without the entry point).
    pub argv: Option<Vec<String>>,
    /// How the command was built from the original; None without a command.
    pub shape: Option<PlanShape>,
    /// Why this shape, or why there is no command.
    pub note: Option<String>,
    /// For a script: its steps.
    pub steps: Option<Vec<ScriptStep>>,
    /// The nodes the command runs and the finished ones it leaves out; None without a command.
    pub work: Option<Work>,
    /// Microbatch models whose batches were not all built: the window, what runs again.
    pub microbatch: Option<BatchRerun>,
}

impl CommandPlan {
    fn of(plan: RerunCommand, entry_point_len: usize) -> Self {
        Self {
            argv: Some(plan.argv[entry_point_len.min(plan.argv.len())..].to_vec()),
            shape: Some(plan.shape),
            note: plan.note,
            steps: None,
            work: Some(plan.work),
            microbatch: plan.microbatch,
        }
    }

    fn none_because(note: String) -> Self {
        Self {
            note: Some(note),
            ..Self::default()
        }
    }

    /// The original command whole; `report` is the run's, when it is one dbt command's.
    fn original(command: &[String], report: Option<&RunReport>, note: Option<String>) -> Self {
        Self {
            argv: Some(command.to_vec()),
            shape: Some(PlanShape::Original),
            note,
            steps: None,
            work: Some(Work::whole(report)),
            microbatch: None,
        }
    }
}

pub(super) fn command_plan(
    classification: &Classification,
    gathered: &Gathered<'_>,
    reading: &CommandReading<'_>,
    budget: usize,
    config: &DecisionConfig,
) -> CommandPlan {
    let Some(command) = gathered.command else {
        return CommandPlan::none_because(
            "the original command is not known (no override in the event and no task \
             definition command)"
                .to_owned(),
        );
    };
    match classification.kind {
        FailureKind::None => {
            return CommandPlan::none_because("the task exited 0: nothing to re-run".to_owned())
        }
        // dbt's own error has a class only when a re-run may fix it (transient, timeout).
        FailureKind::DbtRuntime if classification.classes.is_empty() => {
            return CommandPlan::none_because(
                "dbt itself failed with an error a re-run cannot fix".to_owned(),
            )
        }
        _ => {}
    }
    if gathered.report.is_some_and(|r| r.fusion.is_some()) {
        // What a Fusion run finished is not known for certain: all of it runs again.
        return CommandPlan::original(
            command,
            None,
            Some(
                "the log is dbt Fusion's, whose finished nodes dbt-rerun does not read: \
                 re-running the whole command"
                    .to_owned(),
            ),
        );
    }
    let entry_point_len = gathered.entry_point.map_or(0, <[String]>::len);
    match &reading.command {
        Some(TaskCommand::Dbt(dbt)) => {
            let plan = dbt_plan(
                classification,
                dbt,
                reading.judged(),
                budget,
                entry_point_len,
                command,
            );
            match config.retry_threads {
                Some(threads) if after_a_warehouse_error(classification) => {
                    with_fewer_threads(plan, threads)
                }
                _ => plan,
            }
        }
        Some(TaskCommand::Script(shell)) => {
            let planned = match (&reading.script, gathered.invocations) {
                (Some(Ok(run)), Some(invocations)) => {
                    let threads = config
                        .retry_threads
                        .filter(|_| after_a_warehouse_error(classification));
                    plan_script(shell, run, invocations, budget, threads).map(|plan| (plan, run))
                }
                (Some(Err(why)), _) => Err(why.clone()),
                _ => Err(Unreadable("the log was not read step by step".to_owned())),
            };
            match planned {
                Ok((plan, run)) => script_plan(shell, run, plan),
                Err(why) => fallback(command, &why, config),
            }
        }
        Some(TaskCommand::Opaque(why)) => fallback(command, why, config),
        None => CommandPlan::default(),
    }
}

/// A bare dbt command: narrowed, resumed, or as it was.
fn dbt_plan(
    classification: &Classification,
    dbt: &DbtCommand,
    report: Option<&RunReport>,
    budget: usize,
    entry_point_len: usize,
    command: &[String],
) -> CommandPlan {
    // A run dbt started and that ended without its end-of-run marker was cut off part-way.
    let cut_off = report.filter(|r| r.lines > 0 && !r.end_of_run);
    match (classification.kind, report) {
        (FailureKind::DbtNodes, Some(report)) => match plan_rerun(dbt, report, budget) {
            Ok(plan) => CommandPlan::of(plan, entry_point_len),
            Err(e) => CommandPlan::none_because(e.to_string()),
        },
        (FailureKind::DbtNodes, None) => {
            CommandPlan::none_because("the log could not be read".to_owned())
        }
        // Killed part-way (out of memory, Spot, any kill): resume from the log when dbt had
        // started and the log shows where it stopped.
        (FailureKind::Infra | FailureKind::Oom, _) if cut_off.is_some() => {
            let report = cut_off.map(Cow::Borrowed).unwrap_or_default();
            CommandPlan::of(plan_resume(dbt, &report, budget), entry_point_len)
        }
        _ => CommandPlan::original(command, report, None),
    }
}

/// The failure is the warehouse's (a transient error or a timeout, of a node or of dbt's
/// own): fewer concurrent queries may be what lets the re-run through.
fn after_a_warehouse_error(classification: &Classification) -> bool {
    matches!(
        classification.kind,
        FailureKind::DbtNodes | FailureKind::DbtRuntime
    ) && classification
        .classes
        .iter()
        .any(|c| matches!(c, RetryClass::Transient | RetryClass::Timeout))
}

/// `plan` running at most `threads` dbt threads (`DBT_RERUN_RETRY_THREADS`), and its note
/// saying so; as it is when it already does.
fn with_fewer_threads(mut plan: CommandPlan, threads: u32) -> CommandPlan {
    let Some(argv) = &plan.argv else {
        return plan;
    };
    let Some(fewer) = DbtCommand::parse(argv)
        .ok()
        .and_then(|c| c.with_threads_at_most(threads))
    else {
        return plan;
    };
    plan.argv = Some(fewer.to_argv());
    let said = DbtCommand::fewer_threads_note(threads);
    plan.note = Some(match plan.note.take() {
        Some(note) => format!("{note}; {said}"),
        None => said,
    });
    plan
}

/// A script re-run from its failed step.
fn script_plan(
    shell: &crate::script::ShellCommand,
    run: &ScriptRun,
    plan: crate::script::ScriptRerun,
) -> CommandPlan {
    let steps = shell
        .script
        .steps
        .iter()
        .zip(&run.outcomes)
        .zip(&plan.actions)
        .enumerate()
        .map(|(i, ((step, outcome), action))| ScriptStep {
            step: i + 1,
            command: crate::log::truncate(&shell.script.text[step.span.clone()], 200).to_owned(),
            dbt_verb: match &step.kind {
                StepKind::Dbt(dbt) => Some(dbt.command.verb.clone()),
                _ => None,
            },
            outcome: outcome.as_str(),
            rerun: match (action, outcome) {
                (StepAction::Drop, _) => "removed",
                (StepAction::Keep, _) => "as_written",
                (StepAction::Narrow(_), crate::script::StepOutcome::Killed(_)) => "resumed",
                (StepAction::Narrow(_), _) => "narrowed",
            },
        })
        .collect();
    let shape = run
        .root
        .and_then(|root| plan.shapes.get(root).copied().flatten())
        .unwrap_or(PlanShape::Original);
    let from = run
        .root
        .map_or("the first step that did not succeed".to_owned(), |r| {
            format!("step {}", r + 1)
        });
    let mut notes = vec![format!("re-running the script from {from}")];
    notes.extend(plan.notes);
    CommandPlan {
        argv: Some(plan.argv[shell.entry_point_len..].to_vec()),
        shape: Some(shape),
        note: Some(notes.join("; ")),
        steps: Some(steps),
        work: Some(plan.work),
        microbatch: plan.microbatch,
    }
}

/// A command that cannot be re-run from its failed step: whole, or not at all.
fn fallback(command: &[String], why: &Unreadable, config: &DecisionConfig) -> CommandPlan {
    match config.script_fallback {
        // A script's log holds several invocations: how many nodes it runs in all is not known.
        ScriptFallback::Whole => CommandPlan::original(
            command,
            None,
            Some(format!("{why}: re-running the whole command")),
        ),
        ScriptFallback::GiveUp => {
            CommandPlan::none_because(format!("{why} (DBT_RERUN_SCRIPT_FALLBACK=give_up)"))
        }
    }
}
