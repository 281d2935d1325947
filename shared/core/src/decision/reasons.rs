//! Why a decision is what it is, as data: each reason is a variant a test, `history` or an
//! alert can match on, and its `Display` is the one sentence the record's `reason` carries.
//! `what` is the failure as the classification describes it (with the log's note, if any).

use super::Recovery;
use crate::chain::ChainError;
use crate::classify::ContainerError;
use std::fmt;

/// Why nothing is done about a stopped task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IgnoreReason {
    /// The task has not stopped yet (`stopping`: what ECS says of its coming stop, if any).
    NotStopped {
        /// The event's `lastStatus` (`RUNNING`, ...), bounded; `in an unknown state` if empty.
        status: String,
        /// ` (ECS is stopping it: stopCode ..., its reason; ...)` once it is, else empty.
        stopping: String,
    },
    /// The task's cluster or family is not this deployment's.
    NotServed {
        /// Which of the two, from the deployment's scope.
        why: String,
    },
    /// A chain's re-run succeeded: the chain recovered.
    Recovered(Recovery),
    /// dbt succeeded.
    Succeeded {
        /// The outcome as the classification describes it (with the log's note, if any).
        what: String,
    },
    /// A person, the service scheduler or a health check stopped the task.
    StoppedFromOutside {
        /// Who stopped it, as the classification describes it.
        what: String,
    },
}

/// Why a stopped task is not re-run although it failed: a person has to look.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GiveUpReason {
    /// The event does not show a dbt container.
    NoDbtContainer(ContainerError),
    /// The chain variables make no sense.
    BadChain(ChainError),
    /// The log is dbt Fusion's, which does not say for certain what failed.
    FusionLog {
        /// How the container ended (`dbt exited 1`, `dbt failed`).
        exited: String,
        /// Fusion's version and what it says failed, in one clause.
        fusion: String,
        /// Why the log is missing or partial, when it is.
        log_note: Option<String>,
    },
    /// A script failed in a step that is not dbt.
    ScriptFailedOutsideDbt {
        /// The script's exit code.
        code: i32,
    },
    /// The policy does not re-run this failure.
    NotRerunnable {
        /// The failure, as the classification describes it.
        what: String,
        /// Why: nothing a re-run fixes, or its class is not in `DBT_RERUN_RETRY_ON`.
        why: String,
    },
    /// The attempt budget is spent.
    BudgetSpent {
        /// The failure, as the classification describes it.
        what: String,
        /// The stopped task's attempt: the chain's last.
        attempt: u32,
        /// The budget (`DBT_RERUN_MAX_ATTEMPTS`).
        max_attempts: u32,
    },
    /// No re-run command could be planned.
    NoCommand {
        /// The failure, as the classification describes it.
        what: String,
        /// Why the plan stage found no command.
        why: String,
    },
    /// An OOM re-run cannot be given more memory.
    NoLargerSize {
        /// The failure, as the classification describes it.
        what: String,
        /// Why: the event gives no size, or none larger fits `DBT_RERUN_MAX_MEMORY_MIB`.
        why: String,
    },
    /// The re-run's RunTask overrides would exceed ECS's limit.
    OverridesTooLong {
        /// The failure, as the classification describes it.
        what: String,
        /// The overrides' length in characters, as ECS counts them.
        length: usize,
    },
}

/// Why a stopped task is re-run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RerunReason {
    /// The failure, as the classification describes it.
    pub what: String,
    /// The attempt the re-run will be (2 = the first re-run).
    pub attempt: u32,
    /// The budget (`DBT_RERUN_MAX_ATTEMPTS`).
    pub max_attempts: u32,
    /// The memory an OOM re-run gets, MiB.
    pub memory: Option<u32>,
    /// Why the re-run command has its shape.
    pub plan_note: Option<String>,
}

/// A reason, and why no re-run command could be planned when nodes failed: said whatever the
/// reason is (a policy that would not re-run anyway must not hide that no command could be
/// planned), unless the reason says it already.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Why<R> {
    /// The reason itself.
    pub reason: R,
    /// Why the plan stage found no command, when nodes failed and it found none.
    pub no_command: Option<String>,
}

impl<R> Why<R> {
    /// `reason`, with nothing to add about the command.
    pub fn of(reason: R) -> Self {
        Self {
            reason,
            no_command: None,
        }
    }
}

impl fmt::Display for IgnoreReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotStopped { status, stopping } => {
                write!(
                    f,
                    "the task is {status}, not STOPPED: nothing to do yet{stopping}"
                )
            }
            Self::NotServed { why } => write!(f, "{why}: not handled"),
            Self::Recovered(recovery) => {
                let origin = recovery.origin_task_arn.rsplit('/').next();
                write!(
                    f,
                    "recovered: attempt {} of chain {} succeeded (dbt exited 0): nothing to re-run",
                    recovery.attempt,
                    origin.unwrap_or(&recovery.origin_task_arn)
                )
            }
            Self::Succeeded { what } => write!(f, "{what}: nothing to re-run"),
            Self::StoppedFromOutside { what } => write!(f, "{what}: not re-run"),
        }
    }
}

impl fmt::Display for GiveUpReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoDbtContainer(error) => write!(f, "{error}"),
            Self::BadChain(error) => write!(f, "{error}"),
            Self::FusionLog {
                exited,
                fusion,
                log_note,
            } => {
                write!(
                    f,
                    "{exited} and the log is dbt Fusion's ({fusion}), not dbt Core's: Fusion's \
                     result lines name relations rather than nodes, its skipped lines may leave \
                     nodes unnamed and its totals may be missing, so dbt-rerun cannot tell for \
                     certain what failed and plans no re-run"
                )?;
                match log_note {
                    Some(note) => write!(f, " ({note})"),
                    None => Ok(()),
                }
            }
            Self::ScriptFailedOutsideDbt { code } => write!(
                f,
                "the script exited {code} while every dbt step in it that ran succeeded: a step \
                 that is not dbt failed, and dbt-rerun cannot tell whether a re-run would help"
            ),
            Self::NotRerunnable { what, why }
            | Self::NoCommand { what, why }
            | Self::NoLargerSize { what, why } => write!(f, "{what}; {why}"),
            Self::BudgetSpent {
                what,
                attempt,
                max_attempts,
            } => write!(
                f,
                "{what}; attempt {attempt} of {max_attempts} was the last the budget allows \
                 (DBT_RERUN_MAX_ATTEMPTS)"
            ),
            Self::OverridesTooLong { what, length } => write!(
                f,
                "{what}; the re-run's RunTask overrides would be {length} characters and ECS \
                 takes {}: the task's own overrides (environment) leave no room for the command",
                crate::plan::ECS_OVERRIDE_LIMIT
            ),
        }
    }
}

impl fmt::Display for RerunReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}; re-running as attempt {} of {}",
            self.what, self.attempt, self.max_attempts
        )?;
        if let Some(memory) = self.memory {
            write!(f, " with {memory} MiB")?;
        }
        match &self.plan_note {
            Some(note) => write!(f, " ({note})"),
            None => Ok(()),
        }
    }
}

impl<R: fmt::Display> fmt::Display for Why<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let reason = self.reason.to_string();
        match &self.no_command {
            Some(why) if !reason.contains(why.as_str()) => {
                write!(f, "{reason}; no re-run command: {why}")
            }
            _ => f.write_str(&reason),
        }
    }
}
