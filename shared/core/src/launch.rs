//! A RunTask request as plain data, and the one way to build it: where the task runs
//! ([`Placement`]), its network, what the dbt container runs, and how the launch names itself
//! ([`LaunchIdentity`]).
//!
//! A [`Launch`] is part of a delayed re-run's schedule input (see [`crate::schedule`]), so its
//! JSON is an interface: fields are added, never renamed or removed.

use crate::chain::LaunchIdentity;
use crate::decision::PlannedRerun;
use crate::event::{ContainerOverride, EcsTask, KeyValue, LaunchType};
use crate::overrides::overrides_len;
use crate::task_definition::TaskDefinition;
use serde::{Deserialize, Serialize};

/// Where re-runs are launched (the event does not carry a task's security groups).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetworkConfig {
    /// Empty: the subnet the stopped task ran in (from the event).
    pub subnets: Vec<String>,
    /// Security groups of the re-run's network interface (`DBT_RERUN_SECURITY_GROUPS`).
    pub security_groups: Vec<String>,
    /// Whether the re-run's interface gets a public IP (`DBT_RERUN_ASSIGN_PUBLIC_IP`).
    pub assign_public_ip: bool,
}

/// A RunTask request. It carries environment values: never log it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Launch {
    /// The cluster to run in, as an ARN or a name.
    pub cluster: String,
    /// The task definition's ARN: the stopped task's revision, or the one a person named.
    pub task_definition: String,
    /// RunTask's `launchType`; none when a capacity provider places the task, or the cluster's
    /// default strategy does.
    pub launch_type: Option<LaunchType>,
    /// The capacity provider the task goes to (RunTask's strategy, one provider).
    pub capacity_provider: Option<String>,
    /// Fargate's platform version, passed on from the stopped task.
    pub platform_version: Option<String>,
    /// The awsvpc network configuration; none when the task definition's mode needs none.
    pub network: Option<Network>,
    /// The container whose command and environment are overridden: dbt's.
    pub container: String,
    /// The dbt container's command, the re-run's argv.
    pub command: Vec<String>,
    /// The dbt container's environment: the original's plus the chain variables.
    pub environment: Vec<KeyValue>,
    /// Other containers' overrides of the original task, passed on unchanged.
    pub other_overrides: Vec<ContainerOverride>,
    /// Task-level CPU units; none keeps the task definition's (an OOM re-run sets both sizes).
    pub cpu: Option<String>,
    /// Task-level memory in MiB; none keeps the task definition's.
    pub memory: Option<String>,
    /// RunTask's `startedBy`: `dbt-rerun/<origin-task-id>/<attempt>`, or a manual launch's.
    pub started_by: String,
    /// RunTask's `clientToken`: the same for the same chain and attempt, so a retry cannot
    /// launch twice.
    pub client_token: String,
    /// Tags put on the task (origin and attempt, or `manual`).
    pub tags: Vec<(String, String)>,
}

/// awsvpc network configuration of a launch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Network {
    /// Subnets of the task's network interface.
    pub subnets: Vec<String>,
    /// Its security groups.
    pub security_groups: Vec<String>,
    /// Whether it gets a public IP.
    pub assign_public_ip: bool,
}

/// Where a launch runs: cluster, task definition, capacity, and whether it needs a network
/// configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    /// The cluster to run in: the stopped task's ARN, or the name a person gave.
    pub cluster: String,
    /// The task definition's ARN.
    pub task_definition: String,
    /// As [`Launch::launch_type`].
    pub launch_type: Option<LaunchType>,
    /// As [`Launch::capacity_provider`].
    pub capacity_provider: Option<String>,
    /// As [`Launch::platform_version`].
    pub platform_version: Option<String>,
    /// awsvpc mode: the launch takes subnets and security groups.
    pub awsvpc: bool,
    /// Subnets to use when the configuration names none (the stopped task's).
    pub default_subnets: Vec<String>,
}

/// What the dbt container of a launch runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerRun {
    /// The container the overrides are for: dbt's.
    pub container: String,
    /// The argv it runs.
    pub command: Vec<String>,
    /// Its environment overrides.
    pub environment: Vec<KeyValue>,
    /// Other containers' overrides, passed on unchanged.
    pub other_overrides: Vec<ContainerOverride>,
    /// Task-level CPU units; none keeps the task definition's.
    pub cpu: Option<String>,
    /// Task-level memory in MiB; none keeps the task definition's.
    pub memory: Option<String>,
}

impl Placement {
    /// Where `task` ran: its cluster, definition, launch type or capacity provider, platform
    /// version (Fargate only) and subnets.
    pub fn like(task: &EcsTask) -> Self {
        let fargate = task.on_fargate();
        Self {
            cluster: task.cluster_arn.clone(),
            task_definition: task.task_definition_arn.clone(),
            // RunTask takes a launch type or a capacity provider strategy, not both.
            launch_type: task
                .launch_type
                .clone()
                .filter(|_| task.capacity_provider_name.is_none()),
            capacity_provider: task.capacity_provider_name.clone(),
            platform_version: task.platform_version.clone().filter(|_| fargate),
            awsvpc: task.uses_awsvpc(),
            default_subnets: task.subnets(),
        }
    }

    /// A task of `definition` in `cluster` where the definition says it runs, for a launch no
    /// stopped task describes (a person's manual re-run): Fargate when the definition allows
    /// it, else EC2 or EXTERNAL as it requires; with no requirement, no launch type, so that
    /// the cluster's default capacity provider strategy applies (EC2 without one, as ECS
    /// does). A network configuration only in `awsvpc` mode (always on Fargate).
    pub fn of_definition(cluster: String, definition: &TaskDefinition) -> Self {
        let requires = &definition.requires;
        let launch_type = [LaunchType::Fargate, LaunchType::Ec2, LaunchType::External]
            .into_iter()
            .find(|t| requires.contains(t));
        let awsvpc = launch_type == Some(LaunchType::Fargate)
            || definition.network_mode.as_deref() == Some("awsvpc");
        Self {
            cluster,
            task_definition: definition.arn.clone(),
            launch_type,
            capacity_provider: None,
            platform_version: None,
            awsvpc,
            default_subnets: vec![],
        }
    }
}

impl Launch {
    /// The one launch builder: `run` placed by `placement`, on the configured network (the
    /// placement's subnets when none are configured), named by `identity`.
    pub fn new(
        placement: Placement,
        network: &NetworkConfig,
        run: ContainerRun,
        identity: LaunchIdentity,
    ) -> Self {
        let network = placement.awsvpc.then(|| Network {
            subnets: if network.subnets.is_empty() {
                placement.default_subnets.clone()
            } else {
                network.subnets.clone()
            },
            security_groups: network.security_groups.clone(),
            assign_public_ip: network.assign_public_ip,
        });
        Self {
            cluster: placement.cluster,
            task_definition: placement.task_definition,
            launch_type: placement.launch_type,
            capacity_provider: placement.capacity_provider,
            platform_version: placement.platform_version,
            network,
            container: run.container,
            command: run.command,
            environment: run.environment,
            other_overrides: run.other_overrides,
            cpu: run.cpu,
            memory: run.memory,
            started_by: identity.started_by,
            client_token: identity.client_token,
            tags: identity.tags,
        }
    }

    /// The launch of `rerun` (its dbt container, command and the other overrides) for the
    /// stopped `task`, placed as it was.
    pub fn rerun_of(task: &EcsTask, rerun: &PlannedRerun, network: &NetworkConfig) -> Self {
        let run = ContainerRun {
            container: rerun.container.clone(),
            command: rerun.command.clone(),
            environment: rerun.environment.clone(),
            other_overrides: rerun.other_overrides.clone(),
            cpu: rerun.cpu.clone(),
            memory: rerun.memory.clone(),
        };
        Self::new(
            Placement::like(task),
            network,
            run,
            rerun.chain.identity(rerun.attempt),
        )
    }

    /// Characters of this launch's RunTask `overrides`, as ECS counts them.
    pub fn overrides_len(&self) -> usize {
        overrides_len(
            &self.container,
            &self.command,
            &self.environment,
            &self.other_overrides,
            self.cpu.as_deref(),
            self.memory.as_deref(),
        )
    }
}
