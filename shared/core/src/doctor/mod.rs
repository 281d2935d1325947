//! `dbt-rerun doctor`: a deployed setup checked before its first failure. The service reads
//! the stack, its families' task definitions, the rule, the functions' policies and the
//! network into a [`Survey`] (plain data, what the ports return); [`diagnose`] turns it into a
//! checklist of [`Check`]s a person can act on, each with the fix when it fails. Nothing here
//! calls AWS.
//!
//! A check fails when it will stop a re-run (a log the functions cannot read, a role they
//! cannot pass, a family the rule never matches, a subnet that does not exist, a command
//! dbt-rerun cannot see into), and warns when re-runs will work less well than they could (a
//! script re-run whole).

mod checks;
pub mod iam;
pub mod pattern;
pub mod setup;
#[cfg(test)]
mod tests;

use crate::record::DecisionRecord;
use crate::task_definition::TaskDefinition;
use serde::Serialize;
use std::collections::BTreeMap;

pub use checks::diagnose;
pub use iam::{Grant, Policy};
pub use setup::{function_environment, LogGroups, Setup, SetupError};

/// A CloudFormation stack, as DescribeStacks and ListStackResources show it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StackFacts {
    /// The stack's name (`StackName`).
    pub name: String,
    /// The stack's ARN (its region and account).
    pub id: String,
    /// `StackStatus` (`CREATE_COMPLETE`, `UPDATE_ROLLBACK_COMPLETE`, ...).
    pub status: String,
    /// `StackStatusReason`, when CloudFormation gives one.
    pub status_reason: Option<String>,
    /// The deployed parameters, by key: what [`Setup`] is read from.
    pub parameters: BTreeMap<String, String>,
    /// Logical id -> (type, physical id).
    pub resources: BTreeMap<String, (String, Option<String>)>,
}

impl StackFacts {
    /// The physical id of resource `logical`.
    pub fn physical(&self, logical: &str) -> Option<&str> {
        self.resources.get(logical)?.1.as_deref()
    }
}

/// An EventBridge rule (DescribeRule, ListTargetsByRule).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RuleFacts {
    /// The rule's name, for the checklist to point at.
    pub name: String,
    /// `ENABLED`, `DISABLED`, ...
    pub state: String,
    /// The rule's event pattern; None when it has none.
    pub pattern: Option<serde_json::Value>,
    /// The targets' ARNs.
    pub targets: Vec<String>,
}

/// A family's latest ACTIVE task definition and its roles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DefinitionFacts {
    /// The revision, as DescribeTaskDefinition gives it.
    pub definition: TaskDefinition,
    /// `taskRoleArn`: the role dbt runs as, which rerun-task must be allowed to pass.
    pub task_role_arn: Option<String>,
    /// `executionRoleArn`: the role ECS pulls the image and writes the log with, passed too.
    pub execution_role_arn: Option<String>,
}

/// What ECS said of one family the setup names.
#[derive(Debug, Clone, PartialEq)]
pub struct FamilyFacts {
    /// The family, as the setup names it (or as its prefix found it).
    pub family: String,
    /// None: ECS has no ACTIVE task definition of this family. Err: it could not be read.
    pub definition: Result<Option<DefinitionFacts>, String>,
    /// The decisions its stopped tasks that ECS still lists would get (a dry run), newest
    /// first; Err when they could not be listed or planned.
    pub stopped: Result<Vec<DecisionRecord>, String>,
}

/// Which of the setup's subnets and security groups exist (EC2); Err when EC2 could not be
/// asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkFacts {
    /// The setup's subnets that EC2 lists.
    pub subnets: Result<Vec<String>, String>,
    /// The setup's security groups that EC2 lists.
    pub security_groups: Result<Vec<String>, String>,
}

impl Default for FamilyFacts {
    fn default() -> Self {
        Self {
            family: String::new(),
            definition: Ok(None),
            stopped: Ok(vec![]),
        }
    }
}

/// Everything the doctor read.
#[derive(Debug, Clone, PartialEq)]
pub struct Survey {
    /// The stack (None when the parameters were given instead).
    pub stack: Option<StackFacts>,
    /// The deployment as its parameters describe it (the stack's, or those given).
    pub setup: Setup,
    /// The region the stack (and so the functions) runs in.
    pub region: String,
    /// Each family the setup names (a prefix's: those found), with what ECS said.
    pub families: Vec<FamilyFacts>,
    /// Every ACTIVE task definition family of the account (to name the nearest to a typo).
    pub account_families: Vec<String>,
    /// The rule on-task-stopped is invoked by (None without a stack).
    pub rule: Option<Result<RuleFacts, String>>,
    /// The policies of the functions' role (None without a stack).
    pub policies: Option<Result<Vec<Policy>, String>>,
    /// Which of the setup's subnets and security groups exist.
    pub network: NetworkFacts,
}

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// The check passed.
    Ok,
    /// Re-runs work, less well than they could.
    Warn,
    /// Something that will stop a re-run.
    Fail,
    /// Not a check: what a stopped task would get.
    Info,
}

/// One line of the checklist.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    /// What is checked, stable for pipelines: `stack`, `rule`, `policies`, `families`,
    /// `task_definition`, `container`, `log`, `roles`, `run_task`, `command`, `subnets`,
    /// `security_groups`, `plan`.
    pub kind: &'static str,
    /// The family it is about, when it is about one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub family: Option<String>,
    /// How it came out.
    pub status: Status,
    /// What was found, in a sentence.
    pub summary: String,
    /// What to change, when the check did not pass.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

/// The checklist.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DoctorReport {
    /// The stack checked (None: the parameters given).
    pub stack: Option<String>,
    /// No check failed.
    pub ok: bool,
    /// The checks, in the order they ran.
    pub checks: Vec<Check>,
}

impl DoctorReport {
    /// The checklist for a person: one line per check, its fix under it.
    pub fn text(&self) -> String {
        use std::fmt::Write;
        let mut t = String::new();
        let what = match &self.stack {
            Some(stack) => format!("stack {stack}"),
            None => "the parameters given".to_owned(),
        };
        let _ = writeln!(t, "dbt-rerun doctor: {what}");
        for check in &self.checks {
            let mark = match check.status {
                Status::Ok => "ok  ",
                Status::Warn => "WARN",
                Status::Fail => "FAIL",
                Status::Info => "info",
            };
            let about = match &check.family {
                Some(family) => format!("{family}: {}", check.kind),
                None => check.kind.to_owned(),
            };
            let _ = writeln!(t, "[{mark}] {about}: {}", check.summary);
            if let Some(fix) = &check.fix {
                let _ = writeln!(t, "       fix: {fix}");
            }
        }
        let failed = self
            .checks
            .iter()
            .filter(|c| c.status == Status::Fail)
            .count();
        let _ = match failed {
            0 => writeln!(t, "Nothing found that would stop a re-run."),
            n => writeln!(t, "{n} problem(s) will stop re-runs: see FAIL above."),
        };
        t
    }
}
