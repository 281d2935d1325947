//! rerun-task: a person's request to re-run, by selection, by command, or "like
//! on-task-stopped would" for a stopped task.

use super::{gather_and_decide, launch_for, launch_once, Outcome, PlannedLaunch, ServiceError};
use crate::aws::{Ecs, Launch, Logs, Network};
use crate::command::{is_selector_term, DbtCommand};
use crate::config::ServiceConfig;
use crate::decision::{continue_chain, DecisionRecord};
use crate::event::KeyValue;
use crate::plan::ECS_OVERRIDE_LIMIT;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The payload of rerun-task (and the arguments of `dbt-rerun invoke`). At least one of
/// `select`, `command` or `from_task_arn`; the rest defaults from the environment.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RerunRequest {
    /// dbt selector terms, replacing the command's selection: `"fct_sales+ tag:daily"` or a list.
    #[serde(default)]
    pub select: Option<Terms>,
    #[serde(default)]
    pub exclude: Option<Terms>,
    /// The dbt command; default: the task definition's.
    #[serde(default)]
    pub command: Option<Vec<String>>,
    /// Extra environment variables for the dbt container.
    #[serde(default)]
    pub environment: BTreeMap<String, String>,
    #[serde(default)]
    pub cluster: Option<String>,
    #[serde(default)]
    pub task_definition: Option<String>,
    #[serde(default)]
    pub container: Option<String>,
    /// Plan from this stopped task's log exactly as on-task-stopped would, and launch that.
    #[serde(default)]
    pub from_task_arn: Option<String>,
    #[serde(default)]
    pub dry_run: bool,
    /// A re-run on-task-stopped planned and delayed: its schedule's input. Launched exactly,
    /// after the same checks (already running, superseded); comes alone.
    #[serde(default)]
    pub planned_launch: Option<PlannedLaunch>,
}

/// Selector terms as one space-separated string or a list.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Terms {
    One(String),
    Many(Vec<String>),
}

impl Terms {
    fn split(&self) -> Vec<String> {
        let all: Vec<&String> = match self {
            Terms::One(s) => vec![s],
            Terms::Many(v) => v.iter().collect(),
        };
        all.iter()
            .flat_map(|s| s.split_whitespace())
            .map(str::to_owned)
            .collect()
    }
}

/// What rerun-task did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RerunResponse {
    /// The started task; null on a dry run.
    pub task_arn: Option<String>,
    pub command: Vec<String>,
    pub cluster: String,
    pub task_definition: String,
    pub container: String,
    pub started_by: String,
    pub dry_run: bool,
    /// For `from_task_arn`: the decision on-task-stopped would have made.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decision: Option<DecisionRecord>,
    /// Why nothing was started (a planned launch already running, or superseded).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// A payload that cannot be carried out; the message names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    #[error("{field}: {problem}")]
    Field { field: String, problem: String },
    #[error("give at least one of `select`, `command` or `from_task_arn`")]
    NothingToRun,
}

fn field(field: &str, problem: impl Into<String>) -> RequestError {
    RequestError::Field {
        field: field.to_owned(),
        problem: problem.into(),
    }
}

impl RerunRequest {
    /// Reads a payload; errors name the field (`select: invalid type: integer ...`).
    pub fn from_json(json: &[u8]) -> Result<Self, RequestError> {
        let de = &mut serde_json::Deserializer::from_slice(json);
        serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            let path = if path == "." {
                "payload".to_owned()
            } else {
                path
            };
            field(&path, e.into_inner().to_string())
        })
    }
}

/// Handles rerun-task requests.
pub struct RerunTask<E, L> {
    pub ecs: E,
    pub logs: L,
    pub config: ServiceConfig,
}

/// rerun-task over the real AWS clients.
pub type RerunTaskService = RerunTask<crate::aws::EcsClient, crate::aws::CloudWatchLogs>;

impl RerunTaskService {
    /// The real service: SDK clients for `aws`, built once per process.
    pub fn new(aws: &aws_config::SdkConfig, config: ServiceConfig) -> Self {
        Self {
            ecs: crate::aws::EcsClient::new(aws),
            logs: crate::aws::CloudWatchLogs::new(aws),
            config,
        }
    }
}

impl<E: Ecs, L: Logs> RerunTask<E, L> {
    /// Carries out one request. `invocation_id` (Lambda's request id, the same when Lambda
    /// retries) makes the RunTask clientToken, so a retried invocation launches once.
    pub async fn handle(
        &self,
        request: &RerunRequest,
        invocation_id: &str,
    ) -> Result<RerunResponse, ServiceError> {
        if let Some(planned) = &request.planned_launch {
            return self.planned(request, planned).await;
        }
        let (launch, decision) = match &request.from_task_arn {
            Some(arn) => self.plan_from_stopped_task(request, arn).await?,
            None => (self.manual(request, invocation_id).await?, None),
        };
        let overrides = launch.overrides_len();
        if overrides > ECS_OVERRIDE_LIMIT {
            return Err(field(
                "command",
                format!(
                    "command and environment make {overrides} characters of overrides; ECS takes {ECS_OVERRIDE_LIMIT}"
                ),
            )
            .into());
        }
        let dry_run = request.dry_run || self.config.dry_run;
        let task_arn = if dry_run {
            None
        } else {
            Some(self.ecs.run_task(&launch).await?)
        };
        Ok(RerunResponse {
            task_arn,
            command: launch.command,
            cluster: launch.cluster,
            task_definition: launch.task_definition,
            container: launch.container,
            started_by: launch.started_by,
            dry_run,
            decision,
            note: None,
        })
    }

    /// A delayed re-run's schedule fired: launch exactly what was planned, once.
    async fn planned(
        &self,
        request: &RerunRequest,
        planned: &PlannedLaunch,
    ) -> Result<RerunResponse, ServiceError> {
        let alone = request.select.is_none()
            && request.exclude.is_none()
            && request.command.is_none()
            && request.environment.is_empty()
            && request.cluster.is_none()
            && request.task_definition.is_none()
            && request.container.is_none()
            && request.from_task_arn.is_none();
        if !alone {
            return Err(field(
                "planned_launch",
                "comes alone: it already holds the whole launch",
            )
            .into());
        }
        let dry_run = request.dry_run || self.config.dry_run;
        let (task_arn, note) = if dry_run {
            (None, None)
        } else {
            match launch_once(&self.ecs, &self.config, planned).await? {
                Outcome::Started(arn) => (Some(arn), None),
                Outcome::AlreadyStarted(why) => (None, Some(format!("not started again: {why}"))),
                Outcome::Superseded(arn) => (
                    None,
                    Some(format!(
                        "not started: superseded by task {arn}, a newer run of the same command"
                    )),
                ),
                Outcome::Scheduled { name, .. } => (None, Some(format!("scheduled as {name}"))),
            }
        };
        let launch = &planned.launch;
        Ok(RerunResponse {
            task_arn,
            command: launch.command.clone(),
            cluster: launch.cluster.clone(),
            task_definition: launch.task_definition.clone(),
            container: launch.container.clone(),
            started_by: launch.started_by.clone(),
            dry_run,
            decision: None,
            note,
        })
    }

    async fn plan_from_stopped_task(
        &self,
        request: &RerunRequest,
        arn: &str,
    ) -> Result<(Launch, Option<DecisionRecord>), ServiceError> {
        if request.select.is_some() || request.command.is_some() || request.exclude.is_some() {
            return Err(field(
                "from_task_arn",
                "plans its own command: leave out select, exclude and command",
            )
            .into());
        }
        let cluster = match (
            request.cluster.as_deref(),
            cluster_of_task_arn(arn),
            self.config.decision.cluster.as_deref(),
        ) {
            (Some(c), _, _) | (None, Some(c), _) | (None, None, Some(c)) => c.to_owned(),
            (None, None, None) => {
                return Err(field(
                    "cluster",
                    "not given, not in the task ARN, and DBT_RERUN_CLUSTER is not set",
                )
                .into())
            }
        };
        let task = self.ecs.task(&cluster, arn).await?.ok_or_else(|| {
            field("from_task_arn", format!("ECS does not know task {arn} in cluster {cluster} (it keeps stopped tasks for about an hour)"))
        })?;
        if task.last_status != "STOPPED" {
            return Err(field(
                "from_task_arn",
                format!("task {arn} is {}, not STOPPED", task.last_status),
            )
            .into());
        }
        let record = gather_and_decide(&self.ecs, &self.logs, &self.config, &task).await?;
        let container = record.container.clone().unwrap_or_default();
        let rerun = match (&record.rerun, &record.rerun_command) {
            (Some(rerun), _) => rerun.clone(),
            // A person asked: the policy and budget that stop automatic re-runs do not apply.
            (None, Some(command)) => continue_chain(
                &task,
                &container,
                command.clone(),
                record.command.as_deref(),
            )
            .map_err(|why| field("from_task_arn", why))?,
            (None, None) => {
                return Err(field(
                    "from_task_arn",
                    format!("nothing to re-run: {}", record.reason),
                )
                .into())
            }
        };
        let launch = launch_for(&task, &rerun, &self.config.network, &container);
        Ok((launch, Some(record)))
    }

    async fn manual(
        &self,
        request: &RerunRequest,
        invocation_id: &str,
    ) -> Result<Launch, ServiceError> {
        if request.select.is_none() && request.command.is_none() {
            return Err(RequestError::NothingToRun.into());
        }
        let cluster = request
            .cluster
            .clone()
            .or_else(|| self.config.decision.cluster.clone())
            .ok_or_else(|| field("cluster", "not given and DBT_RERUN_CLUSTER is not set"))?;
        let task_definition = request
            .task_definition
            .clone()
            .or_else(|| self.config.task_definition.clone())
            .ok_or_else(|| {
                field(
                    "task_definition",
                    "not given and DBT_RERUN_TASK_DEFINITION is not set",
                )
            })?;
        let definition = self.ecs.task_definition(&task_definition).await?;
        let container =
            match request
                .container
                .clone()
                .or_else(|| self.config.decision.container.clone())
            {
                Some(name) => {
                    if definition.container(&name).is_none() {
                        return Err(field(
                            "container",
                            format!("task definition {task_definition} has no container `{name}`"),
                        )
                        .into());
                    }
                    name
                }
                None => match definition
                    .containers
                    .iter()
                    .filter(|c| c.essential)
                    .collect::<Vec<_>>()
                    .as_slice()
                {
                    [only] => only.name.clone(),
                    _ => return Err(field(
                        "container",
                        "the task definition has several essential containers: name the dbt one",
                    )
                    .into()),
                },
            };
        let base = match &request.command {
            Some(command) => command.clone(),
            None => definition
                .container(&container)
                .and_then(|c| c.command.clone())
                .ok_or_else(|| field("command", format!("not given, and container `{container}` of {task_definition} has no command")))?,
        };
        let command = with_terms(&base, request.select.as_ref(), request.exclude.as_ref())?;
        let environment = request
            .environment
            .iter()
            .map(|(name, value)| {
                if is_env_name(name) {
                    Ok(KeyValue {
                        name: name.clone(),
                        value: value.clone(),
                    })
                } else {
                    Err(field(
                        "environment",
                        format!("`{name}` is not a valid variable name"),
                    ))
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
        let id: String = invocation_id
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
            .take(40)
            .collect();
        if id.is_empty() {
            return Err(field("invocation id", "empty: cannot make an idempotent launch").into());
        }
        if self.config.network.subnets.is_empty() && !(request.dry_run || self.config.dry_run) {
            return Err(field(
                "network",
                "DBT_RERUN_SUBNETS is not set: a manual launch has no task to take subnets from",
            )
            .into());
        }
        Ok(Launch {
            cluster,
            task_definition: definition.arn.clone(),
            launch_type: Some("FARGATE".to_owned()),
            capacity_provider: None,
            platform_version: None,
            network: Some(Network {
                subnets: self.config.network.subnets.clone(),
                security_groups: self.config.network.security_groups.clone(),
                assign_public_ip: self.config.network.assign_public_ip,
            }),
            container,
            command,
            environment,
            other_overrides: vec![],
            cpu: None,
            memory: None,
            started_by: format!("dbt-rerun/manual/{id}"),
            client_token: format!("dbt-rerun-manual-{id}"),
            tags: vec![("dbt-rerun:manual".to_owned(), "true".to_owned())],
        })
    }
}

/// `command` with its selection replaced by `select` / `exclude`, when given.
fn with_terms(
    command: &[String],
    select: Option<&Terms>,
    exclude: Option<&Terms>,
) -> Result<Vec<String>, RequestError> {
    if select.is_none() && exclude.is_none() {
        return Ok(command.to_vec());
    }
    let parsed = DbtCommand::parse(command).map_err(|e| field("command", e.to_string()))?;
    if !parsed.selects_nodes() {
        return Err(field(
            "select",
            format!("`dbt {}` does not take a selection", parsed.verb),
        ));
    }
    let mut out = parsed.without_flags(select.is_some(), exclude.is_some(), false);
    for (flag, terms, name) in [
        ("--select", select, "select"),
        ("--exclude", exclude, "exclude"),
    ] {
        let Some(terms) = terms else { continue };
        let terms = terms.split();
        if terms.is_empty() {
            return Err(field(name, "is empty"));
        }
        if let Some(bad) = terms.iter().find(|t| !is_selector_term(t)) {
            return Err(field(name, format!("`{bad}` is not a dbt selector")));
        }
        out.args.push(flag.to_owned());
        out.args.extend(terms);
    }
    Ok(out.to_argv())
}

fn is_env_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && name.len() <= 255
}

/// The cluster name in a task ARN of the long format (`...:task/CLUSTER/ID`).
fn cluster_of_task_arn(arn: &str) -> Option<&str> {
    let resource = arn.split(':').nth(5)?;
    let mut parts = resource.split('/');
    match (parts.next(), parts.next(), parts.next()) {
        (Some("task"), Some(cluster), Some(_)) => Some(cluster),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_errors_name_the_field() {
        let err = RerunRequest::from_json(br#"{"select": 5}"#).unwrap_err();
        assert!(err.to_string().starts_with("select:"), "{err}");
        let err = RerunRequest::from_json(br#"{"selct": "a"}"#).unwrap_err();
        assert!(err.to_string().contains("unknown field `selct`"), "{err}");
        let err = RerunRequest::from_json(br#"{"environment": {"A": 1}}"#).unwrap_err();
        assert!(err.to_string().starts_with("environment.A:"), "{err}");
        let err = RerunRequest::from_json(b"42").unwrap_err();
        assert!(err.to_string().starts_with("payload:"), "{err}");
        let ok =
            RerunRequest::from_json(br#"{"select": ["a+", "tag:x b"], "dry_run": true}"#).unwrap();
        assert_eq!(ok.select.unwrap().split(), ["a+", "tag:x", "b"]);
    }

    #[test]
    fn selections_replace_the_commands_and_are_checked() {
        let cmd: Vec<String> = ["dbt", "build", "--select", "old", "--target", "prod"]
            .map(String::from)
            .to_vec();
        let select = Terms::One("fct_sales+".into());
        assert_eq!(
            with_terms(&cmd, Some(&select), None).unwrap().join(" "),
            "dbt build --target prod --select fct_sales+"
        );
        let bad = Terms::One("--full-refresh".into());
        let err = with_terms(&cmd, Some(&bad), None).unwrap_err();
        assert!(err.to_string().starts_with("select:"), "{err}");
        let exclude = Terms::Many(vec!["x".into()]);
        assert_eq!(
            with_terms(&cmd, None, Some(&exclude)).unwrap().join(" "),
            "dbt build --select old --target prod --exclude x"
        );
    }

    #[test]
    fn clusters_come_from_long_task_arns() {
        assert_eq!(
            cluster_of_task_arn("arn:aws:ecs:eu-west-1:1:task/dbt/abc"),
            Some("dbt")
        );
        assert_eq!(
            cluster_of_task_arn("arn:aws:ecs:eu-west-1:1:task/abc"),
            None
        );
        assert!(is_env_name("DBT_TARGET") && !is_env_name("1X") && !is_env_name("A-B"));
    }
}
