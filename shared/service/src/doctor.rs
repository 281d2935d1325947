//! `dbt-rerun doctor`: a deployment read through the ports into the core's
//! [`Survey`](dbt_rerun_core::doctor::Survey), then checked by the core's
//! [`diagnose`](dbt_rerun_core::doctor::diagnose). It only reads. A read that fails and that a check
//! can do without (the rule, the policies, a family's stopped tasks) becomes that check's
//! warning; the stack itself must be readable.

use crate::gather::gather_and_decide;
use crate::ports::{AwsError, Ecs, EcsInventory, Logs, Network, Roles, Rules, Stacks};
use dbt_rerun_core::config::{self, ConfigError, ServiceConfig};
use dbt_rerun_core::doctor::{
    diagnose, function_environment, DoctorReport, FamilyFacts, NetworkFacts, Setup, SetupError,
    StackFacts, Survey,
};
use dbt_rerun_core::record::DecisionRecord;
use dbt_rerun_core::scope::NameSet;
use std::collections::BTreeMap;

/// Why the doctor could not examine a deployment at all.
#[derive(Debug, thiserror::Error)]
pub enum DoctorError {
    #[error("stack {stack} does not exist in {region} (check the name and AWS_REGION)")]
    NoStack { stack: String, region: String },
    #[error("{0} (give it with --param, or --stack NAME)")]
    Setup(#[from] SetupError),
    #[error("the functions' configuration these parameters make is not valid: {0}")]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Aws(#[from] AwsError),
}

/// What to examine.
#[derive(Debug, Clone, Default)]
pub struct DoctorRequest {
    /// The deployed stack; None: `parameters` describe the setup alone.
    pub stack: Option<String>,
    /// Template parameters, over the stack's.
    pub parameters: BTreeMap<String, String>,
    /// The stack's region (the CLI's AWS region).
    pub region: String,
    /// Stopped tasks planned per family and cluster (the newest first).
    pub stopped_per_family: usize,
}

/// The ports the doctor reads through.
pub struct Doctor<S, R, I, N, E, L> {
    pub stacks: S,
    pub rules: R,
    pub roles: I,
    pub network: N,
    pub ecs: E,
    pub logs: L,
}

impl<S, R, I, N, E, L> Doctor<S, R, I, N, E, L>
where
    S: Stacks,
    R: Rules,
    I: Roles,
    N: Network,
    E: Ecs + EcsInventory + Sync,
    L: Logs + Sync,
{
    /// The checklist for `request`.
    pub async fn examine(&self, request: &DoctorRequest) -> Result<DoctorReport, DoctorError> {
        Ok(diagnose(&self.survey(request).await?))
    }

    /// Everything the checks need, read.
    pub async fn survey(&self, request: &DoctorRequest) -> Result<Survey, DoctorError> {
        let stack = match &request.stack {
            Some(name) => {
                Some(
                    self.stacks
                        .stack(name)
                        .await?
                        .ok_or_else(|| DoctorError::NoStack {
                            stack: name.clone(),
                            region: request.region.clone(),
                        })?,
                )
            }
            None => None,
        };
        let mut parameters = stack
            .as_ref()
            .map(|s| s.parameters.clone())
            .unwrap_or_default();
        parameters.extend(request.parameters.clone());
        let setup = Setup::from_parameters(&parameters)?;
        let config = planning_config(&parameters)?;
        let account_families = self.ecs.families("").await.unwrap_or_default();
        let names = match &setup.families {
            NameSet::Listed(names) => names.clone(),
            NameSet::Prefix(prefix) => account_families
                .iter()
                .filter(|f| f.starts_with(prefix.as_str()))
                .cloned()
                .collect(),
            NameSet::Any => vec![],
        };
        let mut families = Vec::new();
        for family in names {
            families.push(self.family(&setup, &config, family, request).await);
        }
        let (rule, policies) = match &stack {
            Some(stack) => (
                Some(self.rule(stack).await),
                Some(self.policies(stack).await),
            ),
            None => (None, None),
        };
        let network = NetworkFacts {
            subnets: self
                .network
                .existing_subnets(&setup.subnets)
                .await
                .map_err(|e| e.to_string()),
            security_groups: self
                .network
                .existing_security_groups(&setup.security_groups)
                .await
                .map_err(|e| e.to_string()),
        };
        Ok(Survey {
            region: request.region.clone(),
            stack,
            setup,
            families,
            account_families,
            rule,
            policies,
            network,
        })
    }

    async fn family(
        &self,
        setup: &Setup,
        config: &ServiceConfig,
        family: String,
        request: &DoctorRequest,
    ) -> FamilyFacts {
        let definition = self
            .ecs
            .latest_definition(&family)
            .await
            .map_err(|e| e.to_string());
        let stopped = match &definition {
            Ok(Some(_)) => self.plans(setup, config, &family, request).await,
            _ => Ok(vec![]),
        };
        FamilyFacts {
            family,
            definition,
            stopped,
        }
    }

    /// The decision each of the family's newest stopped tasks would get, as `dbt-rerun plan`
    /// makes it (the same gather and decide as on-task-stopped; nothing launched).
    async fn plans(
        &self,
        setup: &Setup,
        config: &ServiceConfig,
        family: &str,
        request: &DoctorRequest,
    ) -> Result<Vec<DecisionRecord>, String> {
        let NameSet::Listed(clusters) = &setup.clusters else {
            return Ok(vec![]);
        };
        let mut records = Vec::new();
        for cluster in clusters {
            let tasks = self
                .ecs
                .stopped_tasks(cluster, family, request.stopped_per_family)
                .await
                .map_err(|e| e.to_string())?;
            for task in tasks {
                let gathered = gather_and_decide(&self.ecs, &self.logs, config, &task)
                    .await
                    .map_err(|e| format!("task {}: {e}", task.task_id()))?;
                records.push(DecisionRecord::assemble(
                    &gathered.decided,
                    &gathered.log,
                    None,
                ));
            }
        }
        Ok(records)
    }

    async fn rule(&self, stack: &StackFacts) -> Result<dbt_rerun_core::doctor::RuleFacts, String> {
        let name = stack
            .physical("OnTaskStoppedFunctionDbtTaskFailed")
            .ok_or("the stack has no rule OnTaskStoppedFunctionDbtTaskFailed")?;
        self.rules
            .rule(name)
            .await
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("rule {name} does not exist"))
    }

    async fn policies(
        &self,
        stack: &StackFacts,
    ) -> Result<Vec<dbt_rerun_core::doctor::Policy>, String> {
        let role = stack
            .physical("OnTaskStoppedFunctionRole")
            .ok_or("the stack has no role OnTaskStoppedFunctionRole")?;
        self.roles.policies(role).await.map_err(|e| e.to_string())
    }
}

/// The configuration on-task-stopped has with `parameters`, deciding only (no log wait: a
/// stopped task listed has long written its log).
fn planning_config(parameters: &BTreeMap<String, String>) -> Result<ServiceConfig, ConfigError> {
    let env = function_environment(parameters);
    config::planning_config(|name| match name {
        "DBT_RERUN_LOG_WAIT_SECONDS" => Some("0".to_owned()),
        _ => env.get(name).cloned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::{
        MemoryEcs, MemoryLogs, MemoryNetwork, MemoryRoles, MemoryRules, MemoryStacks,
    };
    use dbt_rerun_core::doctor::{Policy, RuleFacts, Status};
    use dbt_rerun_core::task_definition::{
        AwsLogsOptions, ContainerDefinition, LogDriver, LogLocation, TaskDefinition,
    };
    use dbt_rerun_core::testing::TaskBuilder;

    type MemoryDoctor =
        Doctor<MemoryStacks, MemoryRules, MemoryRoles, MemoryNetwork, MemoryEcs, MemoryLogs>;

    const DEFINITION: &str = "arn:aws:ecs:eu-west-1:123456789012:task-definition/dbt-build:7";

    fn doctor() -> MemoryDoctor {
        let parameters: BTreeMap<String, String> = [
            ("ClusterName", "dbt"),
            ("TaskDefinitionFamilies", "dbt-build,dbt-hourlly"),
            ("DbtLogGroupName", "/ecs/dbt"),
            ("ExecutionRoleArn", "arn:aws:iam::123456789012:role/exec"),
            ("Subnets", "subnet-1"),
            ("SecurityGroups", "sg-1"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let stack = StackFacts {
            name: "dbt-rerun".into(),
            status: "CREATE_COMPLETE".into(),
            parameters,
            resources: [
                (
                    "OnTaskStoppedFunctionDbtTaskFailed",
                    "AWS::Events::Rule",
                    "dbt-rerun-rule",
                ),
                (
                    "OnTaskStoppedFunctionRole",
                    "AWS::IAM::Role",
                    "dbt-rerun-role",
                ),
            ]
            .into_iter()
            .map(|(l, t, p)| (l.to_owned(), (t.to_owned(), Some(p.to_owned()))))
            .collect(),
            ..StackFacts::default()
        };
        let definition = TaskDefinition {
            arn: DEFINITION.into(),
            family: "dbt-build".into(),
            containers: vec![ContainerDefinition {
                name: "dbt".into(),
                entry_point: None,
                command: Some(vec!["dbt".into(), "build".into()]),
                essential: true,
                environment_names: vec![],
                log: Some(LogDriver::AwsLogs(AwsLogsOptions {
                    group: "/ecs/dbt".into(),
                    stream_prefix: Some("dbt".into()),
                    ..AwsLogsOptions::default()
                })),
            }],
            ..TaskDefinition::default()
        };
        let policy = Policy::parse(
            "permissions",
            r#"{"Statement": [{"Sid": "ReadTheDbtLog", "Effect": "Allow", "Action": "logs:GetLogEvents",
                "Resource": "arn:aws:logs:eu-west-1:123456789012:log-group:/ecs/dbt:log-stream:*"},
                {"Sid": "Run", "Effect": "Allow", "Action": "ecs:RunTask", "Resource": "*"}]}"#,
        )
        .unwrap();
        Doctor {
            stacks: MemoryStacks(vec![stack].into()),
            rules: MemoryRules(
                vec![RuleFacts {
                    name: "dbt-rerun-rule".into(),
                    state: "ENABLED".into(),
                    pattern: Some(serde_json::json!({"detail": {"group": ["family:dbt-build", "family:dbt-hourlly"]}})),
                    targets: vec!["arn:aws:lambda:eu-west-1:123456789012:function:on-task-stopped".into()],
                }]
                .into(),
            ),
            roles: MemoryRoles([("dbt-rerun-role".to_owned(), vec![policy])].into_iter().collect::<std::collections::HashMap<_, _>>().into()),
            network: MemoryNetwork {
                subnets: vec!["subnet-1".into()],
                security_groups: vec![],
            },
            ecs: MemoryEcs::default().with_definition(definition),
            logs: MemoryLogs::default(),
        }
    }

    fn request() -> DoctorRequest {
        DoctorRequest {
            stack: Some("dbt-rerun".into()),
            region: "eu-west-1".into(),
            stopped_per_family: 1,
            ..DoctorRequest::default()
        }
    }

    #[tokio::test(start_paused = true)]
    async fn the_stack_is_read_and_a_stopped_task_of_a_family_is_planned_as_on_task_stopped_would()
    {
        let doctor = doctor();
        let task = TaskBuilder::exited(Some(137)).build();
        assert_eq!((task.cluster_name(), task.family()), ("dbt", "dbt-build"));
        doctor.ecs.add_task(task.clone());
        doctor.logs.write(
            &LogLocation::text("/ecs/dbt", format!("dbt/dbt/{}", task.task_id()), None),
            &["Running with dbt=1.10.4".to_owned()],
        );
        let report = doctor.examine(&request()).await.unwrap();
        let failed: Vec<(&str, Option<&str>)> = report
            .checks
            .iter()
            .filter(|c| c.status == Status::Fail)
            .map(|c| (c.kind, c.family.as_deref()))
            .collect();
        assert_eq!(
            failed,
            [
                ("security_groups", None),
                ("task_definition", Some("dbt-hourlly"))
            ],
            "{}",
            report.text()
        );
        let plan = report.checks.iter().find(|c| c.kind == "plan").unwrap();
        assert!(
            plan.summary.starts_with(&format!(
                "stopped task {} would get rerun: ",
                task.task_id()
            )),
            "{}",
            plan.summary
        );
        assert!(doctor.ecs.launches().is_empty(), "a dry run");
    }

    #[tokio::test(start_paused = true)]
    async fn a_stack_that_does_not_exist_or_parameters_that_say_nothing_are_errors() {
        let doctor = doctor();
        let missing = DoctorRequest {
            stack: Some("dbt-rerun-typo".into()),
            ..request()
        };
        let err = doctor.examine(&missing).await.unwrap_err();
        assert_eq!(
            err.to_string(),
            "stack dbt-rerun-typo does not exist in eu-west-1 (check the name and AWS_REGION)"
        );
        let nothing = DoctorRequest {
            stack: None,
            ..request()
        };
        let err = doctor.examine(&nothing).await.unwrap_err();
        assert!(
            err.to_string()
                .starts_with("parameter TaskDefinitionFamily:"),
            "{err}"
        );
    }
}
