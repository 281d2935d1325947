//! [`Ecs`] over `aws-sdk-ecs`.

use aws_sdk_ecs::types;
use dbt_rerun_core::doctor::DefinitionFacts;
use dbt_rerun_core::event::{
    Attachment, ContainerOverride, EcsContainer, EcsTask, KeyValue, TaskOverrides,
};
use dbt_rerun_core::launch::{Launch, Network};
use dbt_rerun_core::task_definition::{ContainerDefinition, LogDriver, TaskDefinition};
use dbt_rerun_service::{AwsError, Ecs, EcsInventory};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// The real ECS. Task definitions are cached for the life of the (warm) process: a
/// revision's ARN always names the same definition. So are the descriptions of the family's
/// running tasks: what the checks before a launch read of them (startedBy, the container
/// overrides, the task definition, the ARN) is fixed when a task starts, and which tasks run is
/// asked of ListTasks every time; only tasks this process has not seen yet are described.
#[derive(Clone)]
pub struct EcsClient {
    client: aws_sdk_ecs::Client,
    definitions: Arc<Mutex<HashMap<String, TaskDefinition>>>,
    fetched: Arc<std::sync::atomic::AtomicUsize>,
    running: Arc<Mutex<HashMap<String, EcsTask>>>,
}

/// Most running tasks' descriptions kept; past it the cache starts again.
const MAX_CACHED_TASKS: usize = 10_000;
/// Tasks per DescribeTasks call (the API's limit), and per ListTasks page (its maximum).
const PAGE: usize = 100;

impl EcsClient {
    /// A client for the configuration's region and endpoint (`AWS_ENDPOINT_URL` reaches moto).
    pub fn new(config: &aws_config::SdkConfig) -> Self {
        Self {
            client: aws_sdk_ecs::Client::new(config),
            definitions: Arc::default(),
            fetched: Arc::default(),
            running: Arc::default(),
        }
    }

    /// How many DescribeTaskDefinition calls this client made (the cache answers the rest).
    pub fn definitions_fetched(&self) -> usize {
        self.fetched.load(std::sync::atomic::Ordering::Relaxed)
    }
}

fn kv(pairs: &[types::KeyValuePair]) -> Vec<KeyValue> {
    pairs
        .iter()
        .map(|p| KeyValue {
            name: p.name().unwrap_or_default().to_owned(),
            value: p.value().unwrap_or_default().to_owned(),
        })
        .collect()
}

fn definition_of(def: &types::TaskDefinition) -> TaskDefinition {
    TaskDefinition {
        arn: def.task_definition_arn().unwrap_or_default().to_owned(),
        family: def.family().unwrap_or_default().to_owned(),
        containers: def
            .container_definitions()
            .iter()
            .map(|c| ContainerDefinition {
                name: c.name().unwrap_or_default().to_owned(),
                entry_point: (!c.entry_point().is_empty()).then(|| c.entry_point().to_vec()),
                command: (!c.command().is_empty()).then(|| c.command().to_vec()),
                essential: c.essential().unwrap_or(true),
                log: c.log_configuration().map(|l| {
                    let options = l.options().into_iter().flatten();
                    LogDriver::from_config(
                        l.log_driver().as_str(),
                        options.map(|(k, v)| (k.as_str(), v.as_str())),
                    )
                }),
                environment_names: c
                    .environment()
                    .iter()
                    .filter_map(|kv| kv.name())
                    .chain(c.secrets().iter().map(|s| s.name()))
                    .map(str::to_owned)
                    .collect(),
            })
            .collect(),
        requires: def
            .requires_compatibilities()
            .iter()
            .map(|c| c.as_str().to_owned().into())
            .collect(),
        network_mode: def.network_mode().map(|m| m.as_str().to_owned()),
    }
}

/// An SDK task as the state-change event would describe it.
fn task_of(t: &types::Task) -> EcsTask {
    let overrides = t.overrides();
    EcsTask {
        cluster_arn: t.cluster_arn().unwrap_or_default().to_owned(),
        task_arn: t.task_arn().unwrap_or_default().to_owned(),
        task_definition_arn: t.task_definition_arn().unwrap_or_default().to_owned(),
        last_status: t.last_status().unwrap_or_default().to_owned(),
        desired_status: t.desired_status().map(str::to_owned),
        stop_code: t.stop_code().map(|c| c.as_str().to_owned().into()),
        stopped_reason: t.stopped_reason().map(str::to_owned),
        containers: t
            .containers()
            .iter()
            .map(|c| EcsContainer {
                name: c.name().unwrap_or_default().to_owned(),
                container_arn: c.container_arn().map(str::to_owned),
                last_status: c.last_status().map(str::to_owned),
                exit_code: c.exit_code(),
                reason: c.reason().map(str::to_owned),
                image: c.image().map(str::to_owned),
            })
            .collect(),
        overrides: TaskOverrides {
            container_overrides: overrides
                .map(|o| o.container_overrides())
                .unwrap_or_default()
                .iter()
                .map(|c| ContainerOverride {
                    name: c.name().unwrap_or_default().to_owned(),
                    command: (!c.command().is_empty()).then(|| c.command().to_vec()),
                    environment: kv(c.environment()),
                })
                .collect(),
            cpu: overrides.and_then(|o| o.cpu()).map(str::to_owned),
            memory: overrides.and_then(|o| o.memory()).map(str::to_owned),
        },
        cpu: t.cpu().map(str::to_owned),
        memory: t.memory().map(str::to_owned),
        launch_type: t.launch_type().map(|l| l.as_str().to_owned().into()),
        capacity_provider_name: t.capacity_provider_name().map(str::to_owned),
        platform_version: t.platform_version().map(str::to_owned),
        group: t.group().map(str::to_owned),
        started_by: t.started_by().map(str::to_owned),
        version: u64::try_from(t.version()).ok(),
        attachments: t
            .attachments()
            .iter()
            .map(|a| Attachment {
                kind: a.r#type().unwrap_or_default().to_owned(),
                details: kv(a.details()),
            })
            .collect(),
    }
}

fn network_configuration(network: &Network) -> Result<types::NetworkConfiguration, AwsError> {
    let vpc = types::AwsVpcConfiguration::builder()
        .set_subnets(Some(network.subnets.clone()))
        .set_security_groups(Some(network.security_groups.clone()))
        .assign_public_ip(if network.assign_public_ip {
            types::AssignPublicIp::Enabled
        } else {
            types::AssignPublicIp::Disabled
        })
        .build()
        .map_err(|e| AwsError::local("ecs:RunTask", e))?;
    Ok(types::NetworkConfiguration::builder()
        .awsvpc_configuration(vpc)
        .build())
}

fn pairs(env: &[KeyValue]) -> Vec<types::KeyValuePair> {
    env.iter()
        .map(|kv| {
            types::KeyValuePair::builder()
                .name(&kv.name)
                .value(&kv.value)
                .build()
        })
        .collect()
}

fn container_override(
    name: &str,
    command: Option<&[String]>,
    env: &[KeyValue],
) -> types::ContainerOverride {
    types::ContainerOverride::builder()
        .name(name)
        .set_command(command.map(<[String]>::to_vec))
        .set_environment((!env.is_empty()).then(|| pairs(env)))
        .build()
}

impl Ecs for EcsClient {
    async fn task_definition(&self, arn: &str) -> Result<TaskDefinition, AwsError> {
        if let Some(def) = self
            .definitions
            .lock()
            .ok()
            .and_then(|c| c.get(arn).cloned())
        {
            return Ok(def);
        }
        self.fetched
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let request = self.client.describe_task_definition().task_definition(arn);
        let out = send_patiently!(request, "ecs:DescribeTaskDefinition")?;
        let def = out.task_definition().map(definition_of).ok_or_else(|| {
            AwsError::local(
                "ecs:DescribeTaskDefinition",
                format!("no task definition in the answer for {arn}"),
            )
        })?;
        if let Ok(mut cache) = self.definitions.lock() {
            cache.insert(arn.to_owned(), def.clone());
        }
        Ok(def)
    }

    async fn task(&self, cluster: &str, task_arn: &str) -> Result<Option<EcsTask>, AwsError> {
        let request = self
            .client
            .describe_tasks()
            .cluster(cluster)
            .tasks(task_arn);
        let out = send_patiently!(request, "ecs:DescribeTasks")?;
        Ok(out.tasks().first().map(task_of))
    }

    async fn running_tasks(&self, cluster: &str, family: &str) -> Result<Vec<EcsTask>, AwsError> {
        // Every page: with more than a page of running tasks, the first page alone would
        // hide a re-run already running, or a newer run, from the checks before a launch.
        let mut arns: Vec<String> = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let request = self
                .client
                .list_tasks()
                .cluster(cluster)
                .family(family)
                .desired_status(types::DesiredStatus::Running)
                .max_results(PAGE as i32)
                .set_next_token(token.take());
            let page = send_patiently!(request, "ecs:ListTasks")?;
            arns.extend(page.task_arns().iter().cloned());
            match page.next_token() {
                Some(next) if !next.is_empty() => token = Some(next.to_owned()),
                _ => break,
            }
        }
        let mut found: HashMap<String, EcsTask> = match self.running.lock() {
            Ok(cache) => arns
                .iter()
                .filter_map(|a| cache.get(a).map(|t| (a.clone(), t.clone())))
                .collect(),
            Err(_) => HashMap::new(),
        };
        let unknown: Vec<String> = arns
            .iter()
            .filter(|a| !found.contains_key(*a))
            .cloned()
            .collect();
        for batch in unknown.chunks(PAGE) {
            let request = self
                .client
                .describe_tasks()
                .cluster(cluster)
                .set_tasks(Some(batch.to_vec()));
            let described = send_patiently!(request, "ecs:DescribeTasks")?;
            let tasks: Vec<EcsTask> = described.tasks().iter().map(task_of).collect();
            if let Ok(mut cache) = self.running.lock() {
                if cache.len() + tasks.len() > MAX_CACHED_TASKS {
                    cache.clear();
                }
                cache.extend(tasks.iter().map(|t| (t.task_arn.clone(), t.clone())));
            }
            found.extend(tasks.into_iter().map(|t| (t.task_arn.clone(), t)));
        }
        // A task ECS no longer describes (gone between the two calls) is left out.
        Ok(arns.iter().filter_map(|a| found.remove(a)).collect())
    }

    async fn run_task(&self, launch: &Launch) -> Result<String, AwsError> {
        let mut overrides = types::TaskOverride::builder()
            .container_overrides(container_override(
                &launch.container,
                Some(&launch.command),
                &launch.environment,
            ))
            .set_cpu(launch.cpu.clone())
            .set_memory(launch.memory.clone());
        for other in &launch.other_overrides {
            overrides = overrides.container_overrides(container_override(
                &other.name,
                other.command.as_deref(),
                &other.environment,
            ));
        }
        let mut request = self
            .client
            .run_task()
            .cluster(&launch.cluster)
            .task_definition(&launch.task_definition)
            .overrides(overrides.build())
            .started_by(&launch.started_by)
            .client_token(&launch.client_token)
            .count(1)
            .set_platform_version(launch.platform_version.clone());
        match (&launch.capacity_provider, &launch.launch_type) {
            (Some(provider), _) => {
                request = request.capacity_provider_strategy(
                    types::CapacityProviderStrategyItem::builder()
                        .capacity_provider(provider)
                        .weight(1)
                        .build()
                        .map_err(|e| AwsError::local("ecs:RunTask", e))?,
                )
            }
            (None, Some(launch_type)) => {
                request = request.launch_type(types::LaunchType::from(launch_type.as_str()))
            }
            (None, None) => {}
        }
        if let Some(network) = &launch.network {
            request = request.network_configuration(network_configuration(network)?);
        }
        for (key, value) in &launch.tags {
            request = request.tags(types::Tag::builder().key(key).value(value).build());
        }
        // A throttled RunTask started nothing; the next try carries the same clientToken.
        let out = send_patiently!(request, "ecs:RunTask")?;
        if let Some(failure) = out.failures().first() {
            return Err(AwsError {
                operation: "ecs:RunTask",
                code: failure.reason().map(str::to_owned),
                message: format!(
                    "ECS could not start the task: {} {}",
                    failure.reason().unwrap_or("no reason"),
                    failure.detail().unwrap_or_default()
                ),
            });
        }
        out.tasks()
            .first()
            .and_then(|t| t.task_arn())
            .map(str::to_owned)
            .ok_or_else(|| AwsError::local("ecs:RunTask", "the answer names no started task"))
    }
}

/// ECS answers DescribeTaskDefinition of a family it has no ACTIVE revision of so.
fn no_such_definition(error: &AwsError) -> bool {
    error.code.as_deref() == Some("ClientException")
        && error.message.contains("Unable to describe task definition")
}

impl EcsInventory for EcsClient {
    async fn families(&self, prefix: &str) -> Result<Vec<String>, AwsError> {
        let mut families = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let request = self
                .client
                .list_task_definition_families()
                .set_family_prefix((!prefix.is_empty()).then(|| prefix.to_owned()))
                .status(types::TaskDefinitionFamilyStatus::Active)
                .set_next_token(token.take());
            let page = send_patiently!(request, "ecs:ListTaskDefinitionFamilies")?;
            families.extend(page.families().iter().cloned());
            match page.next_token() {
                Some(next) if !next.is_empty() => token = Some(next.to_owned()),
                _ => break,
            }
        }
        Ok(families)
    }

    async fn latest_definition(&self, family: &str) -> Result<Option<DefinitionFacts>, AwsError> {
        // The family alone names its latest ACTIVE revision.
        let request = self
            .client
            .describe_task_definition()
            .task_definition(family);
        let out = match send_patiently!(request, "ecs:DescribeTaskDefinition") {
            Ok(out) => out,
            Err(e) if no_such_definition(&e) => return Ok(None),
            Err(e) => return Err(e),
        };
        Ok(out.task_definition().map(|def| DefinitionFacts {
            definition: definition_of(def),
            task_role_arn: def.task_role_arn().map(str::to_owned),
            execution_role_arn: def.execution_role_arn().map(str::to_owned),
        }))
    }

    async fn stopped_tasks(
        &self,
        cluster: &str,
        family: &str,
        max: usize,
    ) -> Result<Vec<EcsTask>, AwsError> {
        let request = self
            .client
            .list_tasks()
            .cluster(cluster)
            .family(family)
            .desired_status(types::DesiredStatus::Stopped)
            .max_results(PAGE as i32);
        let page = send_patiently!(request, "ecs:ListTasks")?;
        if page.task_arns().is_empty() || max == 0 {
            return Ok(vec![]);
        }
        let request = self
            .client
            .describe_tasks()
            .cluster(cluster)
            .set_tasks(Some(page.task_arns().to_vec()));
        let described = send_patiently!(request, "ecs:DescribeTasks")?;
        let mut tasks: Vec<&types::Task> = described
            .tasks()
            .iter()
            .filter(|t| t.last_status() == Some("STOPPED"))
            .collect();
        tasks.sort_by_key(|t| std::cmp::Reverse(t.stopped_at().map(|s| s.as_nanos())));
        Ok(tasks.into_iter().take(max).map(task_of).collect())
    }
}
