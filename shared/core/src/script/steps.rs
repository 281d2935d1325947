//! Which step of a script each dbt invocation of the log was, and what happened to every step.
//!
//! The script's control flow is played forward with what the log shows: a dbt step that
//! is reached takes the next invocation (whose verb must fit the step's); in an and-or list a
//! step after `&&` runs when the last step that ran succeeded, one after `||` when it failed;
//! `set -e` ends the script after a failure of the last step of a list (POSIX ignores `-e` for
//! every other step of an and-or list, so it never applies to the left of `||`, nor to a step
//! whose failure skips the rest of an `&&` list); a kill, an `exec` or an `exit` ends it. A
//! pipeline's status is dbt's only under `pipefail`. Steps that are not dbt leave nothing in
//! the log: they are assumed to succeed, which the log then bears out or contradicts (a
//! missing or extra invocation makes the mapping fail, and the script is re-run whole or not
//! at all).
//!
//! # Invocations without an end-of-run marker
//!
//! `run-operation`, `debug`, `compile`, `parse`, `ls`/`list`, `docs generate`, `source
//! freshness`, `clean`, `show` and `deps` never print dbt's end-of-run summary
//! ([`prints_no_marker`]). Such an invocation's outcome is read, in this order, from:
//! 1. **its own events**: dbt's error (`Encountered an error ...`, which also ends the
//!    invocation) or a failed node (a stale source): it failed;
//! 2. **the script's structure**, when another invocation followed it: the shell went on to
//!    another dbt step, so dbt was not killed during it and exited. When a failure of the step
//!    could not have reached any later dbt step (an `&&` after it skipping the rest of its
//!    list, `set -e` after the last step of a list, an `||` handler that exits), it exited 0:
//!    it succeeded. Otherwise (`;` without `set -e`, `|| true`, a pipeline without
//!    `pipefail`) its status is not known, and the script cannot be followed;
//! 3. **the process's exit code**, for the log's last invocation: a kill (no exit code, or
//!    128 + a signal) cut it off; otherwise dbt exited by itself, and these verbs report every
//!    failure with their error, so it succeeded (a step after it failed) — except `debug`,
//!    which reports a failed check without one: with a non-zero exit code its outcome is not
//!    known.
//!
//! A verb that does print the marker (`build`, `run`, ...) without it was cut off: killed when
//! it is the last invocation, and a contradiction otherwise.

use super::shell::{Joiner, Script, Statement, StepKind};
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
    /// Not reached: an earlier failure, a kill, an `exec` or an `exit` ended the script
    /// first, or an `&&`/`||` skipped it.
    NeverRan,
}

impl StepOutcome {
    /// The outcome as the record's `script_steps` write it.
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

/// dbt verbs (first words) whose invocations never print an end-of-run marker (checked on dbt
/// 1.11 and 1.12: no summary, no stats line, no `Completed successfully`).
pub const MARKERLESS_VERBS: &[&str] = &[
    "run-operation",
    "debug",
    "compile",
    "parse",
    "ls",
    "list",
    "docs",
    "source",
    "clean",
    "show",
    "deps",
];

/// Whether dbt `verb` never prints an end-of-run marker.
pub fn prints_no_marker(verb: &str) -> bool {
    MARKERLESS_VERBS.contains(&verb)
}

enum Ending {
    Succeeded,
    Failed,
    Killed,
}

/// Where a step is in the script: its statement and its position in that statement's list.
#[derive(Clone, Copy)]
struct Place {
    statement: usize,
    position: usize,
}

/// The outcome of every step of `script` given the log's `invocations`, in order, and the dbt
/// container's `exit_code` (None when it has none).
pub fn map_invocations(
    script: &Script,
    invocations: &[Invocation],
    exit_code: Option<i32>,
) -> Result<Vec<StepOutcome>, Unreadable> {
    let mut outcomes = vec![StepOutcome::NeverRan; script.steps.len()];
    let mut next = 0; // the next invocation to take
    let mut ended = false; // the script ended (errexit, kill, exec, exit)
    for (s, statement) in script.statements.iter().enumerate() {
        // The status of the last step of the list that ran.
        let mut last_ok = true;
        for (position, &index) in statement.steps.iter().enumerate() {
            let step = &script.steps[index];
            let runs = match step.joiner {
                Joiner::Statement => true,
                Joiner::And { .. } => last_ok,
                Joiner::Or { .. } => !last_ok,
            };
            if ended || !runs {
                continue;
            }
            let dbt = match &step.kind {
                StepKind::Dbt(dbt) => dbt,
                StepKind::Exec | StepKind::Exit => {
                    outcomes[index] = StepOutcome::Reached;
                    ended = true;
                    continue;
                }
                StepKind::Other => {
                    outcomes[index] = StepOutcome::Reached;
                    last_ok = true;
                    continue;
                }
            };
            let Some(invocation) = invocations.get(next) else {
                // The log has no more invocations: the script stopped before this step.
                ended = true;
                continue;
            };
            let verb = dbt.command.verb.as_str();
            is_the_steps(invocation, verb, next)?;
            let place = Place {
                statement: s,
                position,
            };
            let read = Read {
                script,
                invocations,
                exit_code,
            };
            outcomes[index] = match read.ending(next, verb, place)? {
                Ending::Succeeded => {
                    last_ok = true;
                    StepOutcome::Succeeded(next)
                }
                Ending::Failed => {
                    last_ok = step.status_hidden();
                    let last_of_list = position + 1 == statement.steps.len();
                    ended = !last_ok && last_of_list && step.errexit;
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

/// The log's `index`-th dbt invocation (0-based) could be the script's `dbt {verb}` step.
fn is_the_steps(invocation: &Invocation, verb: &str, index: usize) -> Result<(), Unreadable> {
    if invocation.could_be(verb) {
        return Ok(());
    }
    Err(Unreadable(format!(
        "dbt invocation {} of the log does not look like the script's `dbt {verb}` step",
        index + 1
    )))
}

/// What decides how an invocation ended.
struct Read<'a> {
    script: &'a Script,
    invocations: &'a [Invocation],
    exit_code: Option<i32>,
}

impl Read<'_> {
    /// How invocation `n` (of the step at `place`, verb `verb`) ended. See the module docs.
    fn ending(&self, n: usize, verb: &str, place: Place) -> Result<Ending, Unreadable> {
        let report = &self.invocations[n].report;
        let last = n + 1 == self.invocations.len();
        if report.end_of_run {
            return Ok(if failed(report) {
                Ending::Failed
            } else {
                Ending::Succeeded
            });
        }
        let which = format!("dbt invocation {} (`dbt {verb}`)", n + 1);
        if !prints_no_marker(verb) {
            return match last {
                true => Ok(Ending::Killed),
                false => Err(Unreadable(format!(
                    "{which} has no end-of-run marker, yet another dbt invocation follows it"
                ))),
            };
        }
        if failed(report) {
            return Ok(Ending::Failed);
        }
        if !last {
            return match self.failure_reaches_no_dbt_step(place) {
                true => Ok(Ending::Succeeded),
                false => Err(Unreadable(format!(
                    "{which} printed no end-of-run marker and no error, and the script goes on to its next dbt step whatever its exit status (`;` without `set -e`, `||`, or a pipeline without `pipefail`), so whether it succeeded is not known"
                ))),
            };
        }
        match self.exit_code {
            None => Ok(Ending::Killed),
            Some(code) if code >= 128 => Ok(Ending::Killed),
            Some(code) if code != 0 && verb == "debug" => Err(Unreadable(format!(
                "{which} is the log's last, and the task exited {code}: `dbt debug` reports a failed check without an error, so whether it succeeded is not known"
            ))),
            Some(_) => Ok(Ending::Succeeded),
        }
    }

    /// Whether the shell, had the step at `place` failed, would have reached no later dbt
    /// step: steps that are not dbt succeed, as the mapping assumes.
    fn failure_reaches_no_dbt_step(&self, place: Place) -> bool {
        let script = self.script;
        let statement: &Statement = &script.statements[place.statement];
        let step = &script.steps[statement.steps[place.position]];
        if step.status_hidden() {
            return false;
        }
        let mut last_ok = false;
        for &index in &statement.steps[place.position + 1..] {
            let next = &script.steps[index];
            let runs = match next.joiner {
                Joiner::Statement => true,
                Joiner::And { .. } => last_ok,
                Joiner::Or { .. } => !last_ok,
            };
            match &next.kind {
                _ if !runs => {}
                StepKind::Dbt(_) => return false,
                StepKind::Exec | StepKind::Exit => return true,
                StepKind::Other => last_ok = true,
            }
        }
        let last_of_list = place.position + 1 == statement.steps.len();
        if !last_ok && last_of_list && step.errexit {
            return true;
        }
        let later = &script.statements[place.statement + 1..];
        !later
            .iter()
            .flat_map(|st| &st.steps)
            .any(|&i| matches!(script.steps[i].kind, StepKind::Dbt(_)))
    }
}

/// dbt said it failed: its own error, or a node that errored or failed.
fn failed(report: &RunReport) -> bool {
    !report.failed.is_empty() || report.error.is_some()
}
