//! Retry policy: which kinds of failure are re-run (`DBT_RERUN_RETRY_ON`) and how many runs a
//! chain may have in all (`DBT_RERUN_MAX_ATTEMPTS`).

use serde::Serialize;
use std::collections::BTreeSet;
use std::fmt;

/// A class of failure the policy can allow re-running.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RetryClass {
    /// The task never ran dbt or was killed from outside (image pull, ENI, Spot).
    Infra,
    /// The container ran out of memory; re-run with more.
    Oom,
    /// A warehouse error that usually goes away (connection reset, lock timeout, throttling).
    Transient,
    /// A statement or job cancelled at its time limit (or on request): the same query may run
    /// as long again, so it is re-run only when `DBT_RERUN_RETRY_ON` names it.
    Timeout,
    /// A node errored deterministically (bad SQL, missing column).
    ModelError,
    /// A test found rows.
    TestFailure,
}

impl RetryClass {
    pub(crate) const ALL: [RetryClass; 6] = [
        Self::Infra,
        Self::Oom,
        Self::Transient,
        Self::Timeout,
        Self::ModelError,
        Self::TestFailure,
    ];

    /// The class as `DBT_RERUN_RETRY_ON` and the record write it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Infra => "infra",
            Self::Oom => "oom",
            Self::Transient => "transient",
            Self::Timeout => "timeout",
            Self::ModelError => "model_error",
            Self::TestFailure => "test_failure",
        }
    }
}

impl fmt::Display for RetryClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A value of `DBT_RERUN_RETRY_ON` or `DBT_RERUN_MAX_ATTEMPTS` that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum PolicyError {
    #[error("unknown retry class `{0}` (known: infra, oom, transient, timeout, model_error, test_failure)")]
    UnknownClass(String),
    #[error("the attempt budget must be a whole number from 1 to {MAX_ATTEMPTS_LIMIT}, got `{0}`")]
    BadBudget(String),
}

/// The most runs a chain may be given; a guard against a budget typed with an extra zero.
pub(crate) const MAX_ATTEMPTS_LIMIT: u32 = 20;

/// What may be re-run, and how often.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RetryPolicy {
    /// `DBT_RERUN_RETRY_ON`: the retry classes that are re-run.
    pub retry_on: BTreeSet<RetryClass>,
    /// Runs in all, the original included: 3 means the original and two re-runs.
    pub max_attempts: u32,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            retry_on: [RetryClass::Infra, RetryClass::Oom, RetryClass::Transient].into(),
            max_attempts: 3,
        }
    }
}

impl RetryPolicy {
    /// Parses a comma-separated list such as `infra,oom,transient` (spaces allowed; empty
    /// means re-run nothing).
    pub(crate) fn parse_retry_on(value: &str) -> Result<BTreeSet<RetryClass>, PolicyError> {
        value
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                RetryClass::ALL
                    .into_iter()
                    .find(|c| c.as_str().eq_ignore_ascii_case(s))
                    .ok_or_else(|| PolicyError::UnknownClass(s.to_owned()))
            })
            .collect()
    }

    pub(crate) fn parse_max_attempts(value: &str) -> Result<u32, PolicyError> {
        match value.trim().parse::<u32>() {
            Ok(n) if (1..=MAX_ATTEMPTS_LIMIT).contains(&n) => Ok(n),
            _ => Err(PolicyError::BadBudget(value.to_owned())),
        }
    }

    /// Whether failures of `class` are re-run.
    pub fn allows(&self, class: RetryClass) -> bool {
        self.retry_on.contains(&class)
    }

    /// Whether a run that was attempt `attempt` of its chain may be followed by another.
    pub(crate) fn budget_left(&self, attempt: u32) -> bool {
        attempt < self.max_attempts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_retries_infra_oom_and_transient_three_runs_in_all() {
        let policy = RetryPolicy::default();
        assert!(policy.allows(RetryClass::Infra));
        assert!(policy.allows(RetryClass::Oom));
        assert!(policy.allows(RetryClass::Transient));
        assert!(!policy.allows(RetryClass::Timeout), "timeouts are opt-in");
        assert!(!policy.allows(RetryClass::ModelError));
        assert!(!policy.allows(RetryClass::TestFailure));
        assert_eq!(policy.max_attempts, 3);
    }

    #[test]
    fn the_budget_counts_the_original_run() {
        let policy = RetryPolicy {
            max_attempts: 3,
            ..RetryPolicy::default()
        };
        assert!(policy.budget_left(1));
        assert!(policy.budget_left(2));
        assert!(!policy.budget_left(3), "attempt 3 of 3 is the last");
        assert!(!policy.budget_left(4));
        let once = RetryPolicy {
            max_attempts: 1,
            ..RetryPolicy::default()
        };
        assert!(!once.budget_left(1), "a budget of 1 never re-runs");
    }

    #[test]
    fn retry_classes_parse_and_unknown_ones_are_named() {
        let classes = RetryPolicy::parse_retry_on(" infra, Model_Error ,test_failure,").unwrap();
        assert_eq!(
            classes.into_iter().collect::<Vec<_>>(),
            [
                RetryClass::Infra,
                RetryClass::ModelError,
                RetryClass::TestFailure
            ]
        );
        assert!(RetryPolicy::parse_retry_on("infra,oom,transient,timeout")
            .unwrap()
            .contains(&RetryClass::Timeout));
        assert!(RetryPolicy::parse_retry_on("").unwrap().is_empty());
        let err = RetryPolicy::parse_retry_on("infra,flaky").unwrap_err();
        assert!(err.to_string().contains("`flaky`"), "{err}");
    }

    #[test]
    fn budgets_outside_one_to_twenty_are_refused() {
        assert_eq!(RetryPolicy::parse_max_attempts("5"), Ok(5));
        for bad in ["0", "-1", "three", "", "21", "1.5"] {
            assert!(RetryPolicy::parse_max_attempts(bad).is_err(), "{bad:?}");
        }
    }
}
