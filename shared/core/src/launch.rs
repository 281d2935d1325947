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
    pub security_groups: Vec<String>,
    pub assign_public_ip: bool,
}

/// A RunTask request. It carries environment values: never log it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Launch {
    pub cluster: String,
    pub task_definition: String,
    pub launch_type: Option<LaunchType>,
    pub capacity_provider: Option<String>,
    pub platform_version: Option<String>,
    pub network: Option<Network>,
    pub container: String,
    pub command: Vec<String>,
    pub environment: Vec<KeyValue>,
    /// Other containers' overrides of the original task, passed on unchanged.
    pub other_overrides: Vec<ContainerOverride>,
    pub cpu: Option<String>,
    pub memory: Option<String>,
    pub started_by: String,
    pub client_token: String,
    pub tags: Vec<(String, String)>,
}

/// awsvpc network configuration of a launch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Network {
    pub subnets: Vec<String>,
    pub security_groups: Vec<String>,
    pub assign_public_ip: bool,
}

/// Where a launch runs: cluster, task definition, capacity, and whether it needs a network
/// configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    pub cluster: String,
    pub task_definition: String,
    pub launch_type: Option<LaunchType>,
    pub capacity_provider: Option<String>,
    pub platform_version: Option<String>,
    /// awsvpc mode: the launch takes subnets and security groups.
    pub awsvpc: bool,
    /// Subnets to use when the configuration names none (the stopped task's).
    pub default_subnets: Vec<String>,
}

/// What the dbt container of a launch runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerRun {
    pub container: String,
    pub command: Vec<String>,
    pub environment: Vec<KeyValue>,
    pub other_overrides: Vec<ContainerOverride>,
    pub cpu: Option<String>,
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
