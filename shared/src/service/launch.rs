//! The RunTask request for a planned re-run: the stopped task's cluster, definition, launch
//! type or capacity provider and platform version, the configured network, and the plan's
//! command, environment and size.

use crate::aws::{Launch, Network};
use crate::config::NetworkConfig;
use crate::decision::PlannedRerun;
use crate::event::EcsTask;

/// Tag keys put on every re-run, so a person can find a chain in the console.
pub const ORIGIN_TAG: &str = "dbt-rerun:origin-task";
pub const ATTEMPT_TAG: &str = "dbt-rerun:attempt";

/// Builds the launch of `rerun` for the stopped `task`, whose dbt container is `container`.
pub fn launch_for(
    task: &EcsTask,
    rerun: &PlannedRerun,
    network: &NetworkConfig,
    container: &str,
) -> Launch {
    let fargate = task.launch_type.as_deref() == Some("FARGATE")
        || task
            .capacity_provider_name
            .as_deref()
            .is_some_and(|c| c.starts_with("FARGATE"));
    // awsvpc tasks (all Fargate tasks) have an ENI attachment.
    let awsvpc = fargate
        || task
            .attachments
            .iter()
            .any(|a| a.kind == "eni" || a.kind == "ElasticNetworkInterface");
    let origin_id = rerun
        .origin_task_arn
        .rsplit('/')
        .next()
        .unwrap_or(&rerun.origin_task_arn);
    Launch {
        cluster: task.cluster_arn.clone(),
        task_definition: task.task_definition_arn.clone(),
        launch_type: task
            .launch_type
            .clone()
            .filter(|_| task.capacity_provider_name.is_none()),
        capacity_provider: task.capacity_provider_name.clone(),
        platform_version: task.platform_version.clone().filter(|_| fargate),
        network: awsvpc.then(|| Network {
            subnets: if network.subnets.is_empty() {
                task.subnets()
            } else {
                network.subnets.clone()
            },
            security_groups: network.security_groups.clone(),
            assign_public_ip: network.assign_public_ip,
        }),
        container: container.to_owned(),
        command: rerun.command.clone(),
        environment: rerun.environment.clone(),
        other_overrides: task
            .overrides
            .container_overrides
            .iter()
            .filter(|o| o.name != container)
            .cloned()
            .collect(),
        cpu: rerun.cpu.clone(),
        memory: rerun.memory.clone(),
        started_by: rerun.started_by.clone(),
        client_token: rerun.client_token.clone(),
        tags: vec![
            (ORIGIN_TAG.to_owned(), origin_id.to_owned()),
            (ATTEMPT_TAG.to_owned(), rerun.attempt.to_string()),
        ],
    }
}
