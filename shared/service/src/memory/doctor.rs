//! The doctor's ports in memory: ECS's inventory over [`MemoryEcs`]'s definitions and tasks,
//! and stacks, rules, role policies and the network as a test sets them.

use super::{lock, MemoryEcs};
use crate::ports::{AwsError, EcsInventory, Network, Roles, Rules, Stacks};
use dbt_rerun_core::doctor::{DefinitionFacts, Policy, RuleFacts, StackFacts};
use dbt_rerun_core::event::EcsTask;
use std::collections::HashMap;
use std::sync::Mutex;

/// The revision of a task definition ARN (`...:task-definition/family:7` -> 7).
fn revision(arn: &str) -> u64 {
    arn.rsplit(':')
        .next()
        .and_then(|r| r.parse().ok())
        .unwrap_or(0)
}

impl EcsInventory for MemoryEcs {
    async fn families(&self, prefix: &str) -> Result<Vec<String>, AwsError> {
        let mut families: Vec<String> = lock(&self.definitions)
            .values()
            .map(|d| d.family.clone())
            .filter(|f| f.starts_with(prefix))
            .collect();
        families.sort();
        families.dedup();
        Ok(families)
    }

    async fn latest_definition(&self, family: &str) -> Result<Option<DefinitionFacts>, AwsError> {
        Ok(lock(&self.definitions)
            .values()
            .filter(|d| d.family == family)
            .max_by_key(|d| revision(&d.arn))
            .map(|d| DefinitionFacts {
                definition: d.clone(),
                task_role_arn: None,
                execution_role_arn: None,
            }))
    }

    async fn stopped_tasks(
        &self,
        cluster: &str,
        family: &str,
        max: usize,
    ) -> Result<Vec<EcsTask>, AwsError> {
        Ok(lock(&self.tasks)
            .iter()
            .rev()
            .filter(|t| t.is_stopped() && t.cluster_name() == cluster && t.family() == family)
            .take(max)
            .cloned()
            .collect())
    }
}

/// CloudFormation in memory: the stacks a test deployed.
#[derive(Debug, Default)]
pub struct MemoryStacks(pub Mutex<Vec<StackFacts>>);

impl Stacks for MemoryStacks {
    async fn stack(&self, name: &str) -> Result<Option<StackFacts>, AwsError> {
        Ok(lock(&self.0).iter().find(|s| s.name == name).cloned())
    }
}

/// EventBridge in memory: its rules.
#[derive(Debug, Default)]
pub struct MemoryRules(pub Mutex<Vec<RuleFacts>>);

impl Rules for MemoryRules {
    async fn rule(&self, name: &str) -> Result<Option<RuleFacts>, AwsError> {
        Ok(lock(&self.0).iter().find(|r| r.name == name).cloned())
    }
}

/// IAM in memory: each role's policies.
#[derive(Debug, Default)]
pub struct MemoryRoles(pub Mutex<HashMap<String, Vec<Policy>>>);

impl Roles for MemoryRoles {
    async fn policies(&self, role_name: &str) -> Result<Vec<Policy>, AwsError> {
        lock(&self.0).get(role_name).cloned().ok_or_else(|| {
            AwsError::coded(
                "iam:ListAttachedRolePolicies",
                "NoSuchEntity",
                format!("The role with name {role_name} cannot be found."),
            )
        })
    }
}

/// EC2 in memory: the subnets and security groups that exist.
#[derive(Debug, Default)]
pub struct MemoryNetwork {
    pub subnets: Vec<String>,
    pub security_groups: Vec<String>,
}

impl Network for MemoryNetwork {
    async fn existing_subnets(&self, ids: &[String]) -> Result<Vec<String>, AwsError> {
        Ok(ids
            .iter()
            .filter(|i| self.subnets.contains(i))
            .cloned()
            .collect())
    }

    async fn existing_security_groups(&self, ids: &[String]) -> Result<Vec<String>, AwsError> {
        Ok(ids
            .iter()
            .filter(|i| self.security_groups.contains(i))
            .cloned()
            .collect())
    }
}
