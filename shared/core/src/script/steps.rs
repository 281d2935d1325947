//! Which step of a script each dbt invocation of the log was, and what happened to every step.
//!
//! The script's control flow is played forward with what the log shows: a dbt step that
//! is reached takes the next invocation (whose verb must fit the step's), an `&&` list stops
//! at its first failure, `set -e` ends the script after a failure that is not followed by
//! `&&` (POSIX ignores `-e` for the other commands of an `&&` list), a kill or an `exec` ends
//! it. Steps that are not dbt leave nothing in the log: they are assumed to succeed, which
//! the log then bears out or contradicts (a missing or extra invocation makes the mapping
//! fail, and the script is re-run whole or not at all).

use super::shell::{Joiner, Script, StepKind};
use super::Unreadable;
use crate::log::{Invocation, RunReport};

/// What happened to one step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepOutcome {
    /// A dbt step whose invocation (its index in the log) ended with every node succeeding.
    Succeeded(usize),
    /// A dbt step whose invocation ended with failures, or dbt's own error.
    Failed(usize),
    /// A dbt step whose invocation was cut off (the task was killed during it).
    Killed(usize),
    /// A step that is not dbt, reached (its exit status is not in the log).
    Reached,
    /// Not reached: an earlier failure, a kill or an `exec` ended the script first.
    NeverRan,
}

impl StepOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Succeeded(_) => "succeeded",
            Self::Failed(_) => "failed",
            Self::Killed(_) => "killed",
            Self::Reached => "ran",
            Self::NeverRan => "never_ran",
        }
    }

    /// The step's invocation, for a dbt step that ran.
    pub fn invocation(self) -> Option<usize> {
        match self {
            Self::Succeeded(i) | Self::Failed(i) | Self::Killed(i) => Some(i),
            _ => None,
        }
    }
}

/// How an invocation ended, from its report.
fn ending(report: &RunReport, last: bool) -> Result<Ending, String> {
    if !report.end_of_run {
        return if last {
            Ok(Ending::Killed)
        } else {
            Err("a dbt invocation that is not the last has no end-of-run marker".to_owned())
        };
    }
    if report.failed.is_empty() && report.error.is_none() {
        Ok(Ending::Succeeded)
    } else {
        Ok(Ending::Failed)
    }
}

enum Ending {
    Succeeded,
    Failed,
    Killed,
}

/// The outcome of every step of `script` given the log's `invocations`, in order.
pub fn map_invocations(
    script: &Script,
    invocations: &[Invocation],
) -> Result<Vec<StepOutcome>, Unreadable> {
    let mut outcomes = vec![StepOutcome::NeverRan; script.steps.len()];
    let mut next = 0; // the next invocation to take
    let mut ended = false; // the script ended (errexit, kill, exec)
    for statement in &script.statements {
        let mut list_ok = true;
        for (position, &index) in statement.steps.iter().enumerate() {
            let step = &script.steps[index];
            let last_of_list = position + 1 == statement.steps.len();
            if ended || (matches!(step.joiner, Joiner::And { .. }) && !list_ok) {
                continue;
            }
            let dbt = match &step.kind {
                StepKind::Dbt(dbt) => dbt,
                StepKind::Exec => {
                    outcomes[index] = StepOutcome::Reached;
                    ended = true;
                    continue;
                }
                StepKind::Other => {
                    outcomes[index] = StepOutcome::Reached;
                    continue;
                }
            };
            let Some(invocation) = invocations.get(next) else {
                // The log has no more invocations: the script stopped before this step.
                ended = true;
                continue;
            };
            let verb = dbt.command.verb.as_str();
            if !invocation.could_be(verb) {
                return Err(Unreadable(format!(
                    "dbt invocation {} of the log does not look like the script's `dbt {verb}` step",
                    next + 1
                )));
            }
            let last = next + 1 == invocations.len();
            outcomes[index] = match ending(&invocation.report, last).map_err(Unreadable)? {
                Ending::Succeeded => StepOutcome::Succeeded(next),
                Ending::Failed => {
                    list_ok = false;
                    ended = last_of_list && step.errexit;
                    StepOutcome::Failed(next)
                }
                Ending::Killed => {
                    ended = true;
                    StepOutcome::Killed(next)
                }
            };
            ended |= dbt.exec;
            next += 1;
        }
    }
    if next < invocations.len() {
        return Err(Unreadable(format!(
            "the log has {} dbt invocations and the script's steps account for {next}",
            invocations.len()
        )));
    }
    Ok(outcomes)
}
