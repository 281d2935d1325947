//! rerun-task: a person's request to re-run (or a delayed re-run's schedule firing) in, at
//! most one launch out.

use crate::gather::gather_and_decide;
use crate::once::launch_once;
use crate::ports::{Ecs, Logs};
use crate::request::{cluster_of_task_arn, field, with_terms, Manual, Mode};
use crate::request::{RequestError, RerunRequest};
use crate::ServiceError;
use dbt_rerun_core::chain::LaunchIdentity;
use dbt_rerun_core::config::ServiceConfig;
use dbt_rerun_core::decision::PlannedRerun;
use dbt_rerun_core::event::KeyValue;
use dbt_rerun_core::launch::{ContainerRun, Launch, Placement};
use dbt_rerun_core::launch_rules::{is_variable_name, OwnLaunch};
use dbt_rerun_core::plan::ECS_OVERRIDE_LIMIT;
use dbt_rerun_core::record::{DecisionRecord, Launched};
use dbt_rerun_core::schedule::PlannedLaunch;
use dbt_rerun_core::task_definition::TaskDefinition;
use serde::Serialize;

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

impl RerunResponse {
    fn of(launch: &Launch, task_arn: Option<String>, dry_run: bool) -> Self {
        Self {
            task_arn,
            command: launch.command.clone(),
            cluster: launch.cluster.clone(),
            task_definition: launch.task_definition.clone(),
            container: launch.container.clone(),
            started_by: launch.started_by.clone(),
            dry_run,
            decision: None,
            note: None,
        }
    }
}

/// Handles rerun-task requests.
pub struct RerunTask<E, L> {
    pub ecs: E,
    pub logs: L,
    pub config: ServiceConfig,
}

impl<E: Ecs, L: Logs> RerunTask<E, L> {
    /// Carries out one request. `invocation_id` (Lambda's request id, the same when Lambda
    /// retries) makes a manual launch's clientToken, so a retried invocation launches once.
    pub async fn handle(
        &self,
        request: &RerunRequest,
        invocation_id: &str,
    ) -> Result<RerunResponse, ServiceError> {
        let dry_run = request.dry_run || self.config.dry_run;
        let (launch, decision) = match request.mode()? {
            Mode::Planned(planned) => return self.planned(planned, dry_run).await,
            Mode::FromTask { task_arn, cluster } => {
                let (launch, record) = self.plan_from_stopped_task(task_arn, cluster).await?;
                (launch, Some(record))
            }
            Mode::Manual(manual) => (self.manual(&manual, invocation_id, dry_run).await?, None),
        };
        in_scope(&self.config, &launch)?;
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
        let task_arn = if dry_run {
            None
        } else {
            Some(self.ecs.run_task(&launch).await?)
        };
        Ok(RerunResponse {
            decision,
            ..RerunResponse::of(&launch, task_arn, dry_run)
        })
    }

    /// A delayed re-run's schedule fired: launch exactly what was planned, once.
    async fn planned(
        &self,
        planned: &PlannedLaunch,
        dry_run: bool,
    ) -> Result<RerunResponse, ServiceError> {
        in_scope(&self.config, &planned.launch)?;
        self.check_planned(planned).await?;
        let (task_arn, note) = if dry_run {
            (None, None)
        } else {
            match launch_once(&self.ecs, &self.config, planned).await? {
                Launched::Started { task_arn } => (Some(task_arn), None),
                Launched::AlreadyStarted { why } => {
                    (None, Some(format!("not started again: {why}")))
                }
                Launched::Superseded { by } => (
                    None,
                    Some(format!(
                        "not started: superseded by task {by}, a newer run of the same command"
                    )),
                ),
                Launched::Scheduled { name, .. } | Launched::AlreadyScheduled { name } => {
                    (None, Some(format!("scheduled as {name}")))
                }
            }
        };
        Ok(RerunResponse {
            note,
            ..RerunResponse::of(&planned.launch, task_arn, dry_run)
        })
    }

    /// Whoever may invoke rerun-task can hand it a planned launch: it must be one
    /// on-task-stopped could have planned (see `LaunchRules::check_planned`). The task
    /// definition alone usually shows it; else what the origin task ran, while ECS lists it.
    async fn check_planned(&self, planned: &PlannedLaunch) -> Result<(), ServiceError> {
        let rules = &self.config.launch_rules;
        if rules.custom_commands {
            return Ok(());
        }
        let launch = &planned.launch;
        let definition = self.ecs.task_definition(&launch.task_definition).await?;
        let container = definition.container(&launch.container).ok_or_else(|| {
            field(
                "planned_launch.launch.container",
                format!(
                    "task definition {} has no container `{}`",
                    definition.arn, launch.container
                ),
            )
        })?;
        let own = OwnLaunch::of(container);
        let Err(refusal) = rules.check_planned(planned, &own) else {
            return Ok(());
        };
        let cluster = cluster_of_task_arn(&planned.origin_task_arn).unwrap_or(&launch.cluster);
        match self.ecs.task(cluster, &planned.origin_task_arn).await? {
            Some(origin) => {
                let own = own.with_origin(&origin, &launch.container);
                rules
                    .check_planned(planned, &own)
                    .map_err(|r| RequestError::from(r).into())
            }
            None => Err(RequestError::RefusedWithoutOrigin {
                refusal,
                origin: planned.origin_task_arn.clone(),
            }
            .into()),
        }
    }

    async fn plan_from_stopped_task(
        &self,
        arn: &str,
        cluster: Option<&str>,
    ) -> Result<(Launch, DecisionRecord), ServiceError> {
        let cluster = match (
            cluster,
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
        if !task.is_stopped() {
            return Err(field(
                "from_task_arn",
                format!("task {arn} is {}, not STOPPED", task.last_status),
            )
            .into());
        }
        let gathered = gather_and_decide(&self.ecs, &self.logs, &self.config, &task).await?;
        let record = DecisionRecord::assemble(&gathered.decided, &gathered.log, None);
        let container = record.container.clone().unwrap_or_default();
        let rerun = match (gathered.decided.decision.rerun(), &record.rerun_command) {
            (Some(rerun), _) => rerun.clone(),
            // A person asked: the policy and budget that stop automatic re-runs do not apply.
            (None, Some(command)) => PlannedRerun::continuing(
                &task,
                &container,
                command.clone(),
                record.command.as_deref(),
            )
            .map_err(|why| field("from_task_arn", why.to_string()))?,
            (None, None) => {
                return Err(field(
                    "from_task_arn",
                    format!("nothing to re-run: {}", record.reason),
                )
                .into())
            }
        };
        let launch = Launch::rerun_of(&task, &rerun, &self.config.network);
        Ok((launch, record))
    }

    async fn manual(
        &self,
        request: &Manual<'_>,
        invocation_id: &str,
        dry_run: bool,
    ) -> Result<Launch, ServiceError> {
        let cluster = request
            .cluster
            .or(self.config.decision.cluster.as_deref())
            .ok_or_else(|| field("cluster", "not given and DBT_RERUN_CLUSTER is not set"))?;
        let task_definition = request
            .task_definition
            .or(self.config.task_definition.as_deref())
            .ok_or_else(|| {
                field(
                    "task_definition",
                    "not given and DBT_RERUN_TASK_DEFINITION is not set",
                )
            })?;
        let definition = self.ecs.task_definition(task_definition).await?;
        let wanted = request
            .container
            .or(self.config.decision.container.as_deref());
        let container = dbt_container(&definition, wanted)?;
        let own = definition
            .container(&container)
            .map(OwnLaunch::of)
            .unwrap_or_default();
        let rules = &self.config.launch_rules;
        let base = match request.command {
            Some(command) => {
                rules
                    .check_command("command", command, &own)
                    .map_err(RequestError::from)?;
                command.to_vec()
            }
            None => own.commands.first().cloned().ok_or_else(|| {
                field(
                    "command",
                    format!("not given, and container `{container}` of {task_definition} has no command"),
                )
            })?,
        };
        let environment = environment(request)?;
        rules
            .check_environment("environment", &environment, &own)
            .map_err(RequestError::from)?;
        let run = ContainerRun {
            command: with_terms(
                &own.entry_point,
                &base,
                request.select,
                request.exclude,
                request.step,
            )?,
            environment,
            container,
            other_overrides: vec![],
            cpu: None,
            memory: None,
        };
        let identity = LaunchIdentity::manual(invocation_id)
            .map_err(|e| field("invocation id", e.to_string()))?;
        let placement = Placement::of_definition(cluster.to_owned(), &definition);
        if placement.awsvpc && self.config.network.subnets.is_empty() && !dry_run {
            return Err(field(
                "network",
                "DBT_RERUN_SUBNETS is not set: a manual launch of an awsvpc task has no task to \
                 take subnets from",
            )
            .into());
        }
        Ok(Launch::new(placement, &self.config.network, run, identity))
    }
}

/// A launch in a cluster or of a family this deployment does not serve is refused by name
/// (its IAM would refuse it too, less clearly).
fn in_scope(config: &ServiceConfig, launch: &Launch) -> Result<(), RequestError> {
    let scope = &config.decision.scope;
    if let Some(why) = scope.refuses_cluster(&launch.cluster) {
        return Err(field("cluster", why));
    }
    match scope.refuses_family(&launch.task_definition) {
        Some(why) => Err(field("task_definition", why)),
        None => Ok(()),
    }
}

/// The dbt container of `definition`: the one named, else its only essential container.
fn dbt_container(
    definition: &TaskDefinition,
    wanted: Option<&str>,
) -> Result<String, RequestError> {
    if let Some(name) = wanted {
        if definition.container(name).is_none() {
            return Err(field(
                "container",
                format!(
                    "task definition {} has no container `{name}`",
                    definition.arn
                ),
            ));
        }
        return Ok(name.to_owned());
    }
    match definition
        .containers
        .iter()
        .filter(|c| c.essential)
        .collect::<Vec<_>>()
        .as_slice()
    {
        [only] => Ok(only.name.clone()),
        _ => Err(field(
            "container",
            "the task definition has several essential containers: name the dbt one",
        )),
    }
}

/// A manual request's extra environment, its names checked.
fn environment(request: &Manual<'_>) -> Result<Vec<KeyValue>, RequestError> {
    request
        .environment
        .iter()
        .map(|(name, value)| {
            if is_variable_name(name) {
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
        .collect()
}
