//! What a deployment's parameters say (the template's parameter names): the clusters,
//! families, log groups, roles and network the doctor checks against, and the functions'
//! environment those parameters make (for the dry run of a plan).

use crate::decision::ScriptFallback;
use crate::scope::NameSet;
use std::collections::BTreeMap;

/// A parameter that cannot be used; the message names it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("parameter {parameter}: {problem}")]
pub struct SetupError {
    /// The template's parameter name (`Subnets`, `TaskRoleArn`, ...).
    pub parameter: String,
    /// What is wrong with its value.
    pub problem: String,
}

fn error(parameter: &str, problem: impl ToString) -> SetupError {
    SetupError {
        parameter: parameter.to_owned(),
        problem: problem.to_string(),
    }
}

/// Log groups: names, or every group whose name starts with a prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogGroups {
    /// Groups named one by one (`a,b`).
    Listed(Vec<String>),
    /// Every group whose name starts with this (`/ecs/dbt-*`, the `*` dropped).
    Prefix(String),
}

impl LogGroups {
    /// `a,b` or `/ecs/dbt-*`.
    pub fn parse(value: &str) -> Result<LogGroups, String> {
        let value = value.trim();
        if value.is_empty() {
            return Err("is empty: the functions may read no log".to_owned());
        }
        if let Some(prefix) = value.strip_suffix('*') {
            return if prefix.contains([',', '*']) {
                Err(format!("`{value}`: a prefix is one name followed by *"))
            } else {
                Ok(LogGroups::Prefix(prefix.to_owned()))
            };
        }
        Ok(LogGroups::Listed(
            value.split(',').map(|g| g.trim().to_owned()).collect(),
        ))
    }

    pub(crate) fn admits(&self, group: &str) -> bool {
        match self {
            LogGroups::Listed(groups) => groups.iter().any(|g| g == group),
            LogGroups::Prefix(prefix) => group.starts_with(prefix.as_str()),
        }
    }
}

impl std::fmt::Display for LogGroups {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LogGroups::Listed(groups) => f.write_str(&groups.join(", ")),
            LogGroups::Prefix(prefix) => write!(f, "{prefix}*"),
        }
    }
}

/// The deployment as its parameters describe it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setup {
    /// `ClusterNames`, else `ClusterName`.
    pub clusters: NameSet,
    /// `TaskDefinitionFamilies`, else `TaskDefinitionFamily`.
    pub families: NameSet,
    /// `DbtLogGroupName`.
    pub log_groups: LogGroups,
    /// `DbtLogRegion` (None: the stack's region).
    pub log_region: Option<String>,
    /// `TaskRoleArn`'s roles, split at commas.
    pub task_roles: Vec<String>,
    /// `ExecutionRoleArn`'s roles, split at commas.
    pub execution_roles: Vec<String>,
    /// `Subnets`.
    pub subnets: Vec<String>,
    /// `SecurityGroups`.
    pub security_groups: Vec<String>,
    /// `ContainerName` (None: found from the task).
    pub container: Option<String>,
    /// `ScriptFallback`.
    pub script_fallback: ScriptFallback,
}

/// A comma-separated parameter's items, blanks dropped.
fn items(value: Option<&String>) -> Vec<String> {
    value
        .map(|v| {
            v.split(',')
                .map(|i| i.trim().to_owned())
                .filter(|i| !i.is_empty())
                .collect()
        })
        .unwrap_or_default()
}

impl Setup {
    /// Reads `parameters` (name -> value, as DescribeStacks lists them or as given).
    pub fn from_parameters(parameters: &BTreeMap<String, String>) -> Result<Setup, SetupError> {
        let get = |name: &str| parameters.get(name).filter(|v| !v.trim().is_empty());
        let set = |plural: &str, singular: &str| -> Result<NameSet, SetupError> {
            let (name, value) = match (get(plural), get(singular)) {
                (Some(v), _) => (plural, v),
                (None, Some(v)) => (singular, v),
                (None, None) => {
                    return Err(error(
                        singular,
                        format!("neither {singular} nor {plural} is set"),
                    ))
                }
            };
            NameSet::parse(value).map_err(|e| error(name, e))
        };
        // The families first: with no parameters at all, they are what is missing.
        let families = set("TaskDefinitionFamilies", "TaskDefinitionFamily")?;
        let clusters = set("ClusterNames", "ClusterName")?;
        let log_groups = LogGroups::parse(get("DbtLogGroupName").map_or("", String::as_str))
            .map_err(|e| error("DbtLogGroupName", e))?;
        let script_fallback = match get("ScriptFallback").map(|v| v.trim()) {
            None | Some("whole") => ScriptFallback::Whole,
            Some("give_up") => ScriptFallback::GiveUp,
            Some(other) => {
                return Err(error(
                    "ScriptFallback",
                    format!("expected whole or give_up, got `{other}`"),
                ))
            }
        };
        Ok(Setup {
            clusters,
            families,
            log_groups,
            log_region: get("DbtLogRegion").map(|r| r.trim().to_owned()),
            task_roles: items(get("TaskRoleArn")),
            execution_roles: items(get("ExecutionRoleArn")),
            subnets: items(get("Subnets")),
            security_groups: items(get("SecurityGroups")),
            container: get("ContainerName").map(|c| c.trim().to_owned()),
            script_fallback,
        })
    }
}

/// The template's function variables and the parameter each comes from (its Globals).
const FROM_PARAMETERS: &[(&str, &str)] = &[
    ("DBT_RERUN_CONTAINER", "ContainerName"),
    ("DBT_RERUN_SUBNETS", "Subnets"),
    ("DBT_RERUN_SECURITY_GROUPS", "SecurityGroups"),
    ("DBT_RERUN_ASSIGN_PUBLIC_IP", "AssignPublicIp"),
    ("DBT_RERUN_RETRY_ON", "RetryOn"),
    ("DBT_RERUN_MAX_ATTEMPTS", "MaxAttempts"),
    ("DBT_RERUN_TRANSIENT_PATTERNS", "TransientPatterns"),
    ("DBT_RERUN_MAX_MEMORY_MIB", "MaxMemoryMiB"),
    ("DBT_RERUN_RETRY_THREADS", "RetryThreads"),
    ("DBT_RERUN_LOG_WAIT_SECONDS", "LogWaitSeconds"),
    ("DBT_RERUN_DRY_RUN", "DryRun"),
    ("DBT_RERUN_CLUSTER", "ClusterName"),
    ("DBT_RERUN_TASK_DEFINITION", "TaskDefinitionFamily"),
    ("DBT_RERUN_METRICS_NAMESPACE", "MetricsNamespace"),
    ("DBT_RERUN_ON_OVERLAP", "OnOverlap"),
    ("DBT_RERUN_SCRIPT_FALLBACK", "ScriptFallback"),
    ("DBT_RERUN_INSPECT_SUCCESS", "InspectSuccessfulRuns"),
];

/// The environment the template gives on-task-stopped from `parameters` (the variables a
/// decision reads), so a dry run decides as the deployed function would.
pub fn function_environment(parameters: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    let mut env: BTreeMap<String, String> = FROM_PARAMETERS
        .iter()
        .filter_map(|(var, param)| Some(((*var).to_owned(), parameters.get(*param)?.clone())))
        .collect();
    let either = |plural: &str, singular: &str| {
        parameters
            .get(plural)
            .filter(|v| !v.is_empty())
            .or_else(|| parameters.get(singular))
            .cloned()
    };
    if let Some(clusters) = either("ClusterNames", "ClusterName") {
        env.insert("DBT_RERUN_CLUSTERS".to_owned(), clusters);
    }
    if let Some(families) = either("TaskDefinitionFamilies", "TaskDefinitionFamily") {
        env.insert("DBT_RERUN_TASK_FAMILIES".to_owned(), families);
    }
    env
}
