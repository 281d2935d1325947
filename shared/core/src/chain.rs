//! A chain of runs: the original task and its re-runs. Everything that names a chain lives
//! here, so "at most one launch per chain and attempt" rests on one definition.
//!
//! A key design decision: the functions keep no state. A chain's identity travels with each
//! task, in its environment ([`ATTEMPT_VAR`], [`ORIGIN_VAR`], [`ORIGIN_COMMAND_VAR`]) and in
//! its `startedBy`; the RunTask `clientToken` and the name of a delayed re-run's schedule are
//! functions of the origin task and the attempt, so a repeated event or a retried invocation
//! arrives at the same names and finds its launch already made.

use crate::event::{EcsTask, KeyValue};

/// Environment variable carrying a task's attempt number in its chain (1 = the original).
pub const ATTEMPT_VAR: &str = "DBT_RERUN_ATTEMPT";
/// Environment variable carrying the ARN of the chain's original task.
pub const ORIGIN_VAR: &str = "DBT_RERUN_ORIGIN_TASK";
/// Environment variable carrying the chain's original command (a JSON array), so a re-run can
/// tell a newer run of the same command from other work of the family.
pub const ORIGIN_COMMAND_VAR: &str = "DBT_RERUN_ORIGIN_COMMAND";

/// Every `startedBy` dbt-rerun sets begins so; EventBridge can match it as a prefix.
pub(crate) const STARTED_BY_PREFIX: &str = "dbt-rerun/";
/// Tag keys put on every re-run, so a person can find a chain in the console.
pub(crate) const ORIGIN_TAG: &str = "dbt-rerun:origin-task";
pub(crate) const ATTEMPT_TAG: &str = "dbt-rerun:attempt";
/// Tag of a launch a person asked for (rerun-task, `dbt-rerun invoke`).
pub(crate) const MANUAL_TAG: &str = "dbt-rerun:manual";

/// The variables of a chain, which a record may show (they hold no secret).
pub(crate) fn is_chain_var(name: &str) -> bool {
    name == ATTEMPT_VAR || name == ORIGIN_VAR || name == ORIGIN_COMMAND_VAR
}

/// A task's chain cannot be known.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainError {
    /// The task's [`ATTEMPT_VAR`] is not an attempt number: the chain's place is unknown.
    #[error("{ATTEMPT_VAR} is `{0}`, not an attempt number: refusing to re-run a chain whose attempt is unknown")]
    BadAttempt(String),
    /// A manual launch's request id has no usable character: no idempotent `clientToken`.
    #[error("the invocation id is empty: cannot make an idempotent launch")]
    NoInvocationId,
}

/// The chain a task belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chain {
    origin_task_arn: String,
    original_command: Option<Vec<String>>,
}

/// A task's place in its chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainPosition {
    /// The chain it continues.
    pub chain: Chain,
    /// The task's attempt (1 = the original run).
    pub attempt: u32,
}

impl ChainPosition {
    /// The position of a task that ran `command`: the first run of a chain whose variables
    /// name no original command is that chain's original.
    pub fn ran(mut self, env: &[KeyValue], command: Option<&[String]>) -> Self {
        if self.attempt == 1 && chain_var(env, ORIGIN_COMMAND_VAR).is_none() {
            self.chain.original_command = command.map(<[String]>::to_vec);
        }
        self
    }

    /// Whether `task` is a re-run dbt-rerun started for this position: attempt 2 or later,
    /// with the `startedBy` [`Chain::started_by`] gives that attempt. A chain's first run, a
    /// launch a person asked for (`dbt-rerun/manual/...`) and a `startedBy` that does not
    /// match the task's own chain variables are not.
    pub(crate) fn is_rerun(&self, task: &EcsTask) -> bool {
        self.attempt >= 2
            && task.started_by.as_deref() == Some(self.chain.started_by(self.attempt).as_str())
    }
}

/// A chain variable's value in `env`; the last one wins, as in the container.
fn chain_var<'a>(env: &'a [KeyValue], name: &str) -> Option<&'a str> {
    env.iter()
        .rev()
        .find(|kv| kv.name == name)
        .map(|kv| kv.value.trim())
}

/// How a launch names itself to ECS: `startedBy`, `clientToken` and tags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LaunchIdentity {
    /// RunTask's `startedBy`: `dbt-rerun/<origin-task-id>/<attempt>`, or `dbt-rerun/manual/<id>`.
    pub started_by: String,
    /// RunTask's `clientToken`: the same for the same attempt, so a retry launches nothing new.
    pub client_token: String,
    /// Tags for the task: the chain's origin and the attempt, or `manual`.
    pub tags: Vec<(String, String)>,
}

impl Chain {
    /// The chain whose original task is `origin_task_arn`.
    pub fn new(origin_task_arn: impl Into<String>, original_command: Option<Vec<String>>) -> Self {
        Self {
            origin_task_arn: origin_task_arn.into(),
            original_command,
        }
    }

    /// Where `task` (whose dbt container has environment `env` and ran `command`) sits in its
    /// chain, from the chain variables; a task without them is the first run of a new chain.
    pub(crate) fn locate(
        task: &EcsTask,
        env: &[KeyValue],
        command: Option<&[String]>,
    ) -> Result<ChainPosition, ChainError> {
        Ok(Self::locate_by_variables(task, env)?.ran(env, command))
    }

    /// Where `task` sits in its chain as its variables alone say (what the event shows): the
    /// original command of a chain's first run is known once its command is ([`ChainPosition::ran`]).
    pub(crate) fn locate_by_variables(
        task: &EcsTask,
        env: &[KeyValue],
    ) -> Result<ChainPosition, ChainError> {
        let attempt = match chain_var(env, ATTEMPT_VAR) {
            None => 1,
            Some(v) => match v.parse::<u32>() {
                Ok(n) if n >= 1 => n,
                _ => {
                    return Err(ChainError::BadAttempt(
                        crate::log::truncate(v, 40).to_owned(),
                    ))
                }
            },
        };
        let origin_task_arn = chain_var(env, ORIGIN_VAR)
            .filter(|v| !v.is_empty())
            .unwrap_or(&task.task_arn)
            .to_owned();
        let original_command =
            chain_var(env, ORIGIN_COMMAND_VAR).and_then(|json| serde_json::from_str(json).ok());
        Ok(ChainPosition {
            chain: Chain {
                origin_task_arn,
                original_command,
            },
            attempt,
        })
    }

    /// The chain's original task: the run the re-runs continue.
    pub fn origin_task_arn(&self) -> &str {
        &self.origin_task_arn
    }

    /// The command the chain's first run ran, when known.
    pub fn original_command(&self) -> Option<&[String]> {
        self.original_command.as_deref()
    }

    /// The origin task's id, the last part of its ARN.
    pub(crate) fn origin_id(&self) -> &str {
        self.origin_task_arn
            .rsplit('/')
            .next()
            .unwrap_or(&self.origin_task_arn)
    }

    /// The origin id in the characters `startedBy` admits (letters, digits, `-`, `_`).
    fn started_by_id(&self) -> String {
        self.origin_id()
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
            .take(100)
            .collect()
    }

    /// `startedBy` of attempt `attempt`: `dbt-rerun/<origin-task-id>/<attempt>`, within ECS's
    /// 128 characters of letters, digits, `-`, `/`, `_`.
    pub fn started_by(&self, attempt: u32) -> String {
        format!("{STARTED_BY_PREFIX}{}/{attempt}", self.started_by_id())
    }

    /// RunTask `clientToken` of attempt `attempt`: the same for the same chain and attempt,
    /// so a retried invocation cannot launch twice (at most 64 ASCII characters).
    pub fn client_token(&self, attempt: u32) -> String {
        let id: String = self
            .origin_id()
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
            .take(40)
            .collect();
        format!("dbt-rerun-{id}-{attempt}")
    }

    /// The one-time schedule of attempt `attempt`: at most 64 letters, digits, `-`, `_`.
    pub fn schedule_name(&self, attempt: u32) -> String {
        let id: String = self
            .origin_id()
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
            .take(40)
            .collect();
        format!("dbt-rerun-{id}-{attempt}")
    }

    /// The launch identity of attempt `attempt`.
    pub fn identity(&self, attempt: u32) -> LaunchIdentity {
        LaunchIdentity {
            started_by: self.started_by(attempt),
            client_token: self.client_token(attempt),
            tags: vec![
                (ORIGIN_TAG.to_owned(), self.origin_id().to_owned()),
                (ATTEMPT_TAG.to_owned(), attempt.to_string()),
            ],
        }
    }

    /// Whether `task` is a run of this chain: its original task, or a re-run of it.
    pub fn includes(&self, task: &EcsTask) -> bool {
        let prefix = format!("{STARTED_BY_PREFIX}{}/", self.started_by_id());
        task.task_arn == self.origin_task_arn
            || task
                .started_by
                .as_deref()
                .is_some_and(|s| s.starts_with(&prefix))
    }

    /// The environment of attempt `attempt` of this chain: `env` (the stopped task's) without
    /// its chain variables, then the chain variables of that attempt.
    pub fn environment(&self, env: &[KeyValue], attempt: u32) -> Vec<KeyValue> {
        let mut environment: Vec<KeyValue> = env
            .iter()
            .filter(|kv| !is_chain_var(&kv.name))
            .cloned()
            .collect();
        environment.push(KeyValue {
            name: ATTEMPT_VAR.into(),
            value: attempt.to_string(),
        });
        environment.push(KeyValue {
            name: ORIGIN_VAR.into(),
            value: self.origin_task_arn.clone(),
        });
        if let Some(original) = &self.original_command {
            environment.push(KeyValue {
                name: ORIGIN_COMMAND_VAR.into(),
                // A list of strings always serialises.
                value: serde_json::to_string(original).unwrap_or_default(),
            });
        }
        environment
    }
}

impl LaunchIdentity {
    /// The identity of a launch a person asked for, from the id of the request (Lambda's
    /// request id, the same when Lambda retries it).
    pub fn manual(invocation_id: &str) -> Result<Self, ChainError> {
        let id: String = invocation_id
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
            .take(40)
            .collect();
        if id.is_empty() {
            return Err(ChainError::NoInvocationId);
        }
        Ok(Self {
            started_by: format!("{STARTED_BY_PREFIX}manual/{id}"),
            client_token: format!("dbt-rerun-manual-{id}"),
            tags: vec![(MANUAL_TAG.to_owned(), "true".to_owned())],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(arn: &str, started_by: Option<&str>) -> EcsTask {
        EcsTask {
            task_arn: arn.into(),
            started_by: started_by.map(Into::into),
            ..Default::default()
        }
    }

    const ORIGIN: &str = "arn:aws:ecs:eu-west-1:1:task/dbt/0123456789abcdef";

    #[test]
    fn names_are_functions_of_the_origin_and_the_attempt() {
        let chain = Chain::new(ORIGIN, None);
        assert_eq!(chain.started_by(2), "dbt-rerun/0123456789abcdef/2");
        assert_eq!(chain.client_token(2), "dbt-rerun-0123456789abcdef-2");
        assert_eq!(chain.schedule_name(3), "dbt-rerun-0123456789abcdef-3");
        let identity = chain.identity(2);
        assert_eq!(identity.started_by, chain.started_by(2));
        assert!(identity.tags.contains(&(ATTEMPT_TAG.into(), "2".into())));
    }

    #[test]
    fn a_rerun_is_a_later_attempt_with_the_started_by_its_chain_gives_it() {
        let env = |attempt: &str| {
            vec![
                KeyValue {
                    name: ORIGIN_VAR.into(),
                    value: ORIGIN.into(),
                },
                KeyValue {
                    name: ATTEMPT_VAR.into(),
                    value: attempt.into(),
                },
            ]
        };
        let is_rerun = |started_by: Option<&str>, env: &[KeyValue]| {
            let task = task("arn:aws:ecs:eu-west-1:1:task/dbt/ffff", started_by);
            Chain::locate(&task, env, None).unwrap().is_rerun(&task)
        };
        assert!(is_rerun(Some("dbt-rerun/0123456789abcdef/2"), &env("2")));
        assert!(is_rerun(Some("dbt-rerun/0123456789abcdef/3"), &env("3")));
        // startedBy and the chain variables disagree: not one of ours as it claims.
        assert!(!is_rerun(Some("dbt-rerun/0123456789abcdef/2"), &env("3")));
        assert!(!is_rerun(Some("dbt-rerun/ffff/2"), &env("2")));
        // A first run, a person's launch, a scheduler's run.
        assert!(!is_rerun(Some("dbt-rerun/0123456789abcdef/1"), &[]));
        assert!(!is_rerun(Some("dbt-rerun/manual/req-1"), &[]));
        assert!(!is_rerun(Some("events-rule/dbt-nightly-build"), &env("2")));
        assert!(!is_rerun(None, &env("2")));
    }

    #[test]
    fn names_fit_ecs_and_the_scheduler_whatever_the_arn_holds() {
        let chain = Chain::new(format!("arn:x:task/c/{}$%é", "f".repeat(300)), None);
        let started_by = chain.started_by(20);
        assert!(started_by.len() <= 128, "{started_by}");
        assert!(started_by
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-/_".contains(&b)));
        assert!(chain.client_token(20).len() <= 64);
        assert!(chain.schedule_name(20).len() <= 64);
    }

    #[test]
    fn schedule_names_fit_the_schedulers_rules() {
        let chain = Chain::new(
            "arn:aws:ecs:r:1:task/c/0123456789abcdef0123456789abcdef",
            None,
        );
        let name = chain.schedule_name(2);
        assert_eq!(name, "dbt-rerun-0123456789abcdef0123456789abcdef-2");
        let long = Chain::new("f".repeat(200), None).schedule_name(20);
        assert!(long.len() <= 64, "{long}");
        assert!(long
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)));
    }

    #[test]
    fn a_chain_includes_its_origin_and_its_reruns_only() {
        let chain = Chain::new(ORIGIN, None);
        assert!(chain.includes(&task(ORIGIN, None)));
        assert!(chain.includes(&task("arn:other", Some(&chain.started_by(3)))));
        assert!(!chain.includes(&task("arn:other", None)));
        assert!(!chain.includes(&task("arn:other", Some("dbt-rerun/0123456789abcdef0/2"))));
        // An origin id with characters startedBy drops is still recognised.
        let odd = Chain::new("arn:x:task/c/ab.cd", None);
        assert!(odd.includes(&task("arn:other", Some(&odd.started_by(2)))));
    }

    #[test]
    fn the_position_comes_from_the_chain_variables() {
        let env = |pairs: &[(&str, &str)]| -> Vec<KeyValue> {
            pairs
                .iter()
                .map(|(n, v)| KeyValue {
                    name: (*n).into(),
                    value: (*v).into(),
                })
                .collect()
        };
        let me = task("arn:me", None);
        let command = ["dbt".to_owned(), "build".to_owned()];
        let first = Chain::locate(&me, &[], Some(&command)).unwrap();
        assert_eq!(first.attempt, 1);
        assert_eq!(first.chain.origin_task_arn(), "arn:me");
        assert_eq!(first.chain.original_command(), Some(&command[..]));
        let later = Chain::locate(
            &me,
            &env(&[(ATTEMPT_VAR, "3"), (ORIGIN_VAR, ORIGIN)]),
            Some(&command),
        )
        .unwrap();
        assert_eq!(
            (later.attempt, later.chain.origin_id()),
            (3, "0123456789abcdef")
        );
        assert_eq!(
            later.chain.original_command(),
            None,
            "not the re-run's command"
        );
        let bad = Chain::locate(&me, &env(&[(ATTEMPT_VAR, "zero")]), None).unwrap_err();
        assert!(bad.to_string().contains("`zero`"), "{bad}");
    }

    #[test]
    fn the_next_environment_replaces_the_chain_variables() {
        let chain = Chain::new(ORIGIN, Some(vec!["dbt".into(), "build".into()]));
        let env = vec![
            KeyValue {
                name: ATTEMPT_VAR.into(),
                value: "2".into(),
            },
            KeyValue {
                name: "DBT_TARGET".into(),
                value: "prod".into(),
            },
        ];
        let next = chain.environment(&env, 3);
        let names: Vec<&str> = next.iter().map(|kv| kv.name.as_str()).collect();
        assert_eq!(
            names,
            ["DBT_TARGET", ATTEMPT_VAR, ORIGIN_VAR, ORIGIN_COMMAND_VAR]
        );
        assert_eq!(next[1].value, "3");
        assert_eq!(next[3].value, r#"["dbt","build"]"#);
    }

    #[test]
    fn manual_launches_need_an_invocation_id() {
        let id = LaunchIdentity::manual("req-1").unwrap();
        assert_eq!(id.started_by, "dbt-rerun/manual/req-1");
        assert_eq!(id.client_token, "dbt-rerun-manual-req-1");
        assert_eq!(
            LaunchIdentity::manual("$$$"),
            Err(ChainError::NoInvocationId)
        );
    }
}
