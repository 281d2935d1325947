//! Configuration from environment variables, read once at start-up. A bad value is an error
//! that names the variable, never a guess.

use crate::alert::AlertSettings;
use crate::decision::{DecisionConfig, ScriptFallback};
use crate::delay::{DelaySettings, Jitter};
pub use crate::launch::NetworkConfig;
use crate::launch_rules::{never_allowed, LaunchRules};
use crate::policy::{PolicyError, RetryPolicy};
use crate::scope::{cluster_name, family_name, NameSet, Scope};
use crate::transient::TransientPatterns;
use std::time::Duration;

/// A variable with a value that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{var}: {problem}")]
pub struct ConfigError {
    /// The variable's name.
    pub var: &'static str,
    /// What is wrong with its value, and what it takes.
    pub problem: String,
}

impl ConfigError {
    fn new(var: &'static str, problem: impl ToString) -> Self {
        Self {
            var,
            problem: problem.to_string(),
        }
    }
}

/// Reads the decision settings through `lookup` (the process environment in production,
/// a map in tests). Unset and empty variables take their defaults.
pub fn decision_config(
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<DecisionConfig, ConfigError> {
    let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
    let mut config = DecisionConfig::default();
    if let Some(v) = get("DBT_RERUN_RETRY_ON") {
        config.policy.retry_on = RetryPolicy::parse_retry_on(&v)
            .map_err(|e: PolicyError| ConfigError::new("DBT_RERUN_RETRY_ON", e))?;
    }
    if let Some(v) = get("DBT_RERUN_MAX_ATTEMPTS") {
        config.policy.max_attempts = RetryPolicy::parse_max_attempts(&v)
            .map_err(|e| ConfigError::new("DBT_RERUN_MAX_ATTEMPTS", e))?;
    }
    if let Some(v) = get("DBT_RERUN_TRANSIENT_PATTERNS") {
        config.transient = TransientPatterns::with_extra(
            parse_patterns(&v).map_err(|e| ConfigError::new("DBT_RERUN_TRANSIENT_PATTERNS", e))?,
        );
    }
    config.script_fallback = match get("DBT_RERUN_SCRIPT_FALLBACK").as_deref().map(str::trim) {
        None | Some("whole") => ScriptFallback::Whole,
        Some("give_up") => ScriptFallback::GiveUp,
        Some(other) => {
            return Err(ConfigError::new(
                "DBT_RERUN_SCRIPT_FALLBACK",
                format!("expected whole or give_up, got `{other}`"),
            ))
        }
    };
    if let Some(v) = get("DBT_RERUN_INSPECT_SUCCESS") {
        config.inspect_success = parse_bool("DBT_RERUN_INSPECT_SUCCESS", &v)?;
    }
    if let Some(v) = get("DBT_RERUN_RETRY_THREADS") {
        config.retry_threads = match v.trim().parse::<u32>() {
            Ok(n) if (1..=256).contains(&n) => Some(n),
            _ => {
                return Err(ConfigError::new(
                    "DBT_RERUN_RETRY_THREADS",
                    format!("expected a number of dbt threads from 1 to 256, got `{v}`"),
                ))
            }
        };
    }
    config.container = get("DBT_RERUN_CONTAINER").map(|v| v.trim().to_owned());
    config.cluster = get("DBT_RERUN_CLUSTER").map(|v| v.trim().to_owned());
    config.scope = scope(&get, config.cluster.as_deref())?;
    if let Some(v) = get("DBT_RERUN_MAX_MEMORY_MIB") {
        config.max_memory_mib = match v.trim().parse::<u32>() {
            Ok(n) if (512..=122_880).contains(&n) => n,
            _ => {
                return Err(ConfigError::new(
                    "DBT_RERUN_MAX_MEMORY_MIB",
                    format!("expected MiB from 512 to 122880, got `{v}`"),
                ))
            }
        };
    }
    Ok(config)
}

/// `DBT_RERUN_CLUSTERS` (else the one `DBT_RERUN_CLUSTER`) and `DBT_RERUN_TASK_FAMILIES`.
/// The default cluster must be one of the clusters.
fn scope(
    get: &impl Fn(&str) -> Option<String>,
    cluster: Option<&str>,
) -> Result<Scope, ConfigError> {
    let set = |var: &'static str| -> Result<NameSet, ConfigError> {
        get(var).map_or(Ok(NameSet::Any), |v| {
            NameSet::parse(&v).map_err(|e| ConfigError::new(var, e))
        })
    };
    let mut scope = Scope {
        families: set("DBT_RERUN_TASK_FAMILIES")?,
        ..Scope::default()
    };
    match (set("DBT_RERUN_CLUSTERS")?, cluster.map(cluster_name)) {
        (NameSet::Any, Some(one)) => {
            scope.clusters = NameSet::Listed(vec![one.to_owned()]);
            scope.clusters_var = "DBT_RERUN_CLUSTER";
        }
        (clusters, Some(one)) if !clusters.admits(one) => {
            return Err(ConfigError::new(
                "DBT_RERUN_CLUSTER",
                format!("`{one}` (rerun-task's default cluster) is not one of DBT_RERUN_CLUSTERS ({clusters})"),
            ))
        }
        (clusters, _) => scope.clusters = clusters,
    }
    Ok(scope)
}

/// Everything the Lambda functions (and `dbt-rerun invoke`) are configured with.
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    /// What decisions depend on (container, policy, transient patterns, scope, ...).
    pub decision: DecisionConfig,
    /// Where re-runs are launched (`DBT_RERUN_SUBNETS`, `DBT_RERUN_SECURITY_GROUPS`, ...).
    pub network: NetworkConfig,
    /// How long to wait for dbt's end-of-run marker to reach CloudWatch.
    pub log_wait: Duration,
    /// Decide and report, launch nothing.
    pub dry_run: bool,
    /// rerun-task's default task definition (its default cluster is `decision.cluster`).
    pub task_definition: Option<String>,
    /// `DBT_RERUN_ALERT_TOPIC_ARN`, `DBT_RERUN_ALERT_ON`.
    pub alerts: AlertSettings,
    /// `DBT_RERUN_METRICS_NAMESPACE`.
    pub metrics_namespace: String,
    /// How long to wait before a re-run (zero: launch at once).
    pub delay: DelaySettings,
    /// Where delayed re-runs are scheduled; set whenever the delay is above zero.
    pub schedule: Option<ScheduleTarget>,
    /// `DBT_RERUN_ON_OVERLAP`: what to do when a newer run of the same command is running.
    pub on_overlap: OnOverlap,
    /// `DBT_RERUN_ALLOW_CUSTOM_COMMANDS`, `DBT_RERUN_ALLOWED_ENVIRONMENT`: what rerun-task may
    /// launch for whoever invokes it.
    pub launch_rules: LaunchRules,
}

/// Where a delayed re-run's one-time schedule goes and what it invokes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleTarget {
    /// `DBT_RERUN_SCHEDULE_GROUP` (default `default`).
    pub group: String,
    /// `DBT_RERUN_SCHEDULER_TARGET_ARN`: the rerun-task function.
    pub target_arn: String,
    /// `DBT_RERUN_SCHEDULER_ROLE_ARN`: the role EventBridge Scheduler assumes to invoke it.
    pub role_arn: String,
}

/// A re-run of a chain while a newer run of the same command is pending or running.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnOverlap {
    /// Do not launch: the newer run does the work (default).
    Skip,
    /// Launch anyway.
    Allow,
}

/// The longest log wait accepted: it must fit in the function's timeout (at most 900 s).
pub(crate) const MAX_LOG_WAIT_SECONDS: u64 = 600;

/// Reads the whole service configuration through `lookup`.
pub fn service_config(
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<ServiceConfig, ConfigError> {
    let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
    let decision = decision_config(&lookup)?;
    let dry_run = match get("DBT_RERUN_DRY_RUN") {
        Some(v) => parse_bool("DBT_RERUN_DRY_RUN", &v)?,
        None => false,
    };
    let (delay, schedule) = delay_config(&get)?;
    let task_definition = get("DBT_RERUN_TASK_DEFINITION").map(|v| v.trim().to_owned());
    if let Some(definition) = task_definition.as_deref() {
        let families = &decision.scope.families;
        if !families.admits(family_name(definition)) {
            return Err(ConfigError::new(
                "DBT_RERUN_TASK_DEFINITION",
                format!(
                    "`{definition}` (rerun-task's default) is not of one of DBT_RERUN_TASK_FAMILIES ({families})"
                ),
            ));
        }
    }
    Ok(ServiceConfig {
        delay,
        schedule,
        on_overlap: on_overlap(&get)?,
        alerts: alert_settings(&get)?,
        metrics_namespace: metrics_namespace(&get)?,
        decision,
        network: network_config(&get, dry_run)?,
        log_wait: log_wait(&get)?,
        dry_run,
        task_definition,
        launch_rules: launch_rules(&get)?,
    })
}

/// `DBT_RERUN_ALLOW_CUSTOM_COMMANDS` (default false) and `DBT_RERUN_ALLOWED_ENVIRONMENT`
/// (variable names, comma-separated; none that changes what a process loads or runs, none of
/// dbt-rerun's own).
fn launch_rules(get: &impl Fn(&str) -> Option<String>) -> Result<LaunchRules, ConfigError> {
    const VAR: &str = "DBT_RERUN_ALLOWED_ENVIRONMENT";
    let custom_commands = match get("DBT_RERUN_ALLOW_CUSTOM_COMMANDS") {
        Some(v) => parse_bool("DBT_RERUN_ALLOW_CUSTOM_COMMANDS", &v)?,
        None => false,
    };
    let mut allowed_environment = Vec::new();
    for name in get(VAR).iter().flat_map(|v| v.split(',')).map(str::trim) {
        let problem = if name.is_empty() {
            continue;
        } else if !crate::launch_rules::is_variable_name(name) {
            "is not a variable name"
        } else if never_allowed(name) {
            "changes what a process loads or runs, and can never be allowed"
        } else if name.starts_with("DBT_RERUN_") {
            "is dbt-rerun's own and set by dbt-rerun only"
        } else {
            allowed_environment.push(name.to_owned());
            continue;
        };
        return Err(ConfigError::new(VAR, format!("`{name}` {problem}")));
    }
    Ok(LaunchRules {
        custom_commands,
        allowed_environment,
    })
}

/// `DBT_RERUN_SUBNETS`, `DBT_RERUN_SECURITY_GROUPS` (required unless a dry run),
/// `DBT_RERUN_ASSIGN_PUBLIC_IP`.
fn network_config(
    get: &impl Fn(&str) -> Option<String>,
    dry_run: bool,
) -> Result<NetworkConfig, ConfigError> {
    let subnets = id_list("DBT_RERUN_SUBNETS", get("DBT_RERUN_SUBNETS"), "subnet-")?;
    let security_groups = id_list(
        "DBT_RERUN_SECURITY_GROUPS",
        get("DBT_RERUN_SECURITY_GROUPS"),
        "sg-",
    )?;
    if security_groups.is_empty() && !dry_run {
        return Err(ConfigError::new(
            "DBT_RERUN_SECURITY_GROUPS",
            "is not set: re-runs need the dbt task's security groups (the ECS event does not carry them)",
        ));
    }
    let assign_public_ip = match get("DBT_RERUN_ASSIGN_PUBLIC_IP") {
        None => false,
        Some(v) => match v.trim().to_ascii_uppercase().as_str() {
            "ENABLED" | "TRUE" => true,
            "DISABLED" | "FALSE" => false,
            _ => {
                return Err(ConfigError::new(
                    "DBT_RERUN_ASSIGN_PUBLIC_IP",
                    format!("expected ENABLED or DISABLED, got `{v}`"),
                ))
            }
        },
    };
    Ok(NetworkConfig {
        subnets,
        security_groups,
        assign_public_ip,
    })
}

fn log_wait(get: &impl Fn(&str) -> Option<String>) -> Result<Duration, ConfigError> {
    match get("DBT_RERUN_LOG_WAIT_SECONDS") {
        None => Ok(Duration::from_secs(60)),
        Some(v) => match v.trim().parse::<u64>() {
            Ok(n) if n <= MAX_LOG_WAIT_SECONDS => Ok(Duration::from_secs(n)),
            _ => Err(ConfigError::new(
                "DBT_RERUN_LOG_WAIT_SECONDS",
                format!("expected whole seconds from 0 to {MAX_LOG_WAIT_SECONDS}, got `{v}`"),
            )),
        },
    }
}

fn alert_settings(get: &impl Fn(&str) -> Option<String>) -> Result<AlertSettings, ConfigError> {
    let mut alerts = AlertSettings::default();
    if let Some(arn) = get("DBT_RERUN_ALERT_TOPIC_ARN") {
        let arn = arn.trim();
        let parts: Vec<&str> = arn.split(':').collect();
        if parts.len() != 6 || parts[0] != "arn" || parts[2] != "sns" || parts[5].is_empty() {
            return Err(ConfigError::new(
                "DBT_RERUN_ALERT_TOPIC_ARN",
                format!("`{arn}` is not an SNS topic ARN like arn:aws:sns:eu-west-1:123456789012:dbt-alerts"),
            ));
        }
        alerts.topic_arn = Some(arn.to_owned());
    }
    if let Some(on) = get("DBT_RERUN_ALERT_ON") {
        alerts.on =
            AlertSettings::parse_on(&on).map_err(|e| ConfigError::new("DBT_RERUN_ALERT_ON", e))?;
    }
    Ok(alerts)
}

fn metrics_namespace(get: &impl Fn(&str) -> Option<String>) -> Result<String, ConfigError> {
    let namespace = get("DBT_RERUN_METRICS_NAMESPACE")
        .map(|v| v.trim().to_owned())
        .unwrap_or_else(|| crate::metrics::DEFAULT_NAMESPACE.to_owned());
    if namespace.len() > 255
        || !namespace
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-/#:".contains(&b))
    {
        return Err(ConfigError::new(
            "DBT_RERUN_METRICS_NAMESPACE",
            format!("`{namespace}` is not a CloudWatch namespace (letters, digits, . _ - / # :)"),
        ));
    }
    Ok(namespace)
}

fn on_overlap(get: &impl Fn(&str) -> Option<String>) -> Result<OnOverlap, ConfigError> {
    match get("DBT_RERUN_ON_OVERLAP").as_deref().map(str::trim) {
        None | Some("skip") => Ok(OnOverlap::Skip),
        Some("allow") => Ok(OnOverlap::Allow),
        Some(other) => Err(ConfigError::new(
            "DBT_RERUN_ON_OVERLAP",
            format!("expected skip or allow, got `{other}`"),
        )),
    }
}

/// The longest delay accepted, and the longest maximum delay: a day.
pub(crate) const MAX_DELAY_SECONDS: u64 = 86_400;

fn delay_config(
    get: &impl Fn(&str) -> Option<String>,
) -> Result<(DelaySettings, Option<ScheduleTarget>), ConfigError> {
    let seconds = |var: &'static str, default: u64| -> Result<u64, ConfigError> {
        match get(var) {
            None => Ok(default),
            Some(v) => match v.trim().parse::<u64>() {
                Ok(n) if n <= MAX_DELAY_SECONDS => Ok(n),
                _ => Err(ConfigError::new(
                    var,
                    format!("expected whole seconds from 0 to {MAX_DELAY_SECONDS}, got `{v}`"),
                )),
            },
        }
    };
    let mut delay = DelaySettings {
        delay_seconds: seconds("DBT_RERUN_DELAY_SECONDS", 0)?,
        max_delay_seconds: seconds("DBT_RERUN_MAX_DELAY_SECONDS", 3600)?,
        ..DelaySettings::default()
    };
    if let Some(v) = get("DBT_RERUN_BACKOFF_RATE") {
        delay.backoff_rate = match v.trim().parse::<f64>() {
            Ok(r) if (1.0..=10.0).contains(&r) => r,
            _ => {
                return Err(ConfigError::new(
                    "DBT_RERUN_BACKOFF_RATE",
                    format!("expected a number from 1 to 10, got `{v}`"),
                ))
            }
        };
    }
    delay.jitter = match get("DBT_RERUN_JITTER").as_deref().map(str::trim) {
        None | Some("none") => Jitter::None,
        Some("full") => Jitter::Full,
        Some(other) => {
            return Err(ConfigError::new(
                "DBT_RERUN_JITTER",
                format!("expected none or full, got `{other}`"),
            ))
        }
    };
    if delay.delay_seconds == 0 {
        return Ok((delay, None));
    }
    let arn = |var: &'static str, service: &str, example: &str| -> Result<String, ConfigError> {
        let value = get(var).ok_or_else(|| {
            ConfigError::new(
                var,
                format!("is not set, and DBT_RERUN_DELAY_SECONDS > 0 needs it ({example})"),
            )
        })?;
        let value = value.trim().to_owned();
        if value.split(':').nth(2) != Some(service) || !value.starts_with("arn:") {
            return Err(ConfigError::new(
                var,
                format!("`{value}` is not an ARN like {example}"),
            ));
        }
        Ok(value)
    };
    let schedule = ScheduleTarget {
        group: get("DBT_RERUN_SCHEDULE_GROUP")
            .map(|g| g.trim().to_owned())
            .unwrap_or_else(|| "default".to_owned()),
        target_arn: arn(
            "DBT_RERUN_SCHEDULER_TARGET_ARN",
            "lambda",
            "arn:aws:lambda:eu-west-1:123456789012:function:dbt-rerun-rerun-task",
        )?,
        role_arn: arn(
            "DBT_RERUN_SCHEDULER_ROLE_ARN",
            "iam",
            "arn:aws:iam::123456789012:role/dbt-rerun-scheduler",
        )?,
    };
    Ok((delay, Some(schedule)))
}

/// The configuration for deciding only (`dbt-rerun plan` reading CloudWatch): the decision
/// settings and the log wait; no network, launches nothing.
pub fn planning_config(
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<ServiceConfig, ConfigError> {
    service_config(|name| match name {
        "DBT_RERUN_DRY_RUN" => Some("true".to_owned()),
        _ => lookup(name),
    })
}

/// A comma-separated list of AWS ids that all start with `prefix` (`subnet-`, `sg-`).
fn id_list(
    var: &'static str,
    value: Option<String>,
    prefix: &str,
) -> Result<Vec<String>, ConfigError> {
    let Some(value) = value else {
        return Ok(vec![]);
    };
    value
        .split(',')
        .map(str::trim)
        .filter(|id| !id.is_empty())
        .map(|id| {
            let rest = id.strip_prefix(prefix).unwrap_or_default();
            if !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_alphanumeric()) {
                Ok(id.to_owned())
            } else {
                Err(ConfigError::new(
                    var,
                    format!("`{id}` is not an id like {prefix}0123abcd"),
                ))
            }
        })
        .collect()
}

/// Extra transient patterns: a JSON array of strings (`["quota exceeded", "HTTP 429"]`) or,
/// for the common case, a comma-separated list.
fn parse_patterns(value: &str) -> Result<Vec<String>, String> {
    let value = value.trim();
    if value.starts_with('[') {
        serde_json::from_str::<Vec<String>>(value)
            .map_err(|e| format!("not a JSON array of strings: {e}"))
    } else {
        Ok(value.split(',').map(|p| p.trim().to_owned()).collect())
    }
}

/// Parses a boolean variable: `true`/`false`, `1`/`0`, `yes`/`no`.
pub(crate) fn parse_bool(var: &'static str, value: &str) -> Result<bool, ConfigError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Ok(true),
        "false" | "0" | "no" | "" => Ok(false),
        _ => Err(ConfigError::new(
            var,
            format!("expected true or false, got `{value}`"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::RetryClass;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<DecisionConfig, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        decision_config(|name| map.get(name).cloned())
    }

    #[test]
    fn unset_variables_take_the_defaults() {
        let c = config(&[]).unwrap();
        assert_eq!(c.policy, RetryPolicy::default());
        assert_eq!(c.container, None);
        assert_eq!(c.max_memory_mib, 30720);
        assert_eq!(c.retry_threads, None);
    }

    #[test]
    fn every_variable_is_read() {
        let c = config(&[
            ("DBT_RERUN_RETRY_ON", "transient,test_failure"),
            ("DBT_RERUN_MAX_ATTEMPTS", "5"),
            ("DBT_RERUN_TRANSIENT_PATTERNS", r#"["Quota, exceeded"]"#),
            ("DBT_RERUN_CONTAINER", "dbt"),
            ("DBT_RERUN_MAX_MEMORY_MIB", "16384"),
            ("DBT_RERUN_RETRY_THREADS", "2"),
        ])
        .unwrap();
        assert_eq!(c.retry_threads, Some(2));
        assert_eq!(
            c.policy.retry_on.into_iter().collect::<Vec<_>>(),
            [RetryClass::Transient, RetryClass::TestFailure]
        );
        assert_eq!(c.policy.max_attempts, 5);
        assert!(c.transient.find("QUOTA, EXCEEDED today").is_some());
        assert_eq!(c.container.as_deref(), Some("dbt"));
        assert_eq!(c.max_memory_mib, 16384);
        let c = config(&[("DBT_RERUN_TRANSIENT_PATTERNS", "http 429, quota")]).unwrap();
        assert!(c.transient.find("got HTTP 429").is_some());
        let c = config(&[
            ("DBT_RERUN_SCRIPT_FALLBACK", "give_up"),
            ("DBT_RERUN_INSPECT_SUCCESS", "true"),
        ])
        .unwrap();
        assert_eq!(c.script_fallback, ScriptFallback::GiveUp);
        assert!(c.inspect_success);
    }

    #[test]
    fn clusters_and_families_are_read_and_checked_against_the_defaults() {
        let c = config(&[]).unwrap();
        assert_eq!(c.scope, Scope::default());
        let c = config(&[("DBT_RERUN_CLUSTER", "arn:aws:ecs:eu-west-1:1:cluster/dbt")]).unwrap();
        assert_eq!(c.scope.clusters, NameSet::Listed(vec!["dbt".into()]));
        assert_eq!(c.scope.clusters_var, "DBT_RERUN_CLUSTER");
        let c = config(&[
            ("DBT_RERUN_CLUSTER", "dbt-prod"),
            ("DBT_RERUN_CLUSTERS", "dbt-*"),
            ("DBT_RERUN_TASK_FAMILIES", "dbt-hourly,dbt-nightly"),
        ])
        .unwrap();
        assert_eq!(c.scope.clusters, NameSet::Prefix("dbt-".into()));
        assert_eq!(
            c.scope.families,
            NameSet::Listed(vec!["dbt-hourly".into(), "dbt-nightly".into()])
        );
        let err = config(&[
            ("DBT_RERUN_CLUSTER", "analytics"),
            ("DBT_RERUN_CLUSTERS", "dbt-prod,dbt-dev"),
        ])
        .unwrap_err();
        assert_eq!(err.var, "DBT_RERUN_CLUSTER");
        assert!(err.problem.contains("dbt-prod, dbt-dev"), "{err}");
        let err = config(&[("DBT_RERUN_TASK_FAMILIES", "dbt-hourly,dbt nightly")]).unwrap_err();
        assert_eq!(err.var, "DBT_RERUN_TASK_FAMILIES");
        let service = |vars: &[(&str, &str)]| {
            let map: HashMap<String, String> = vars
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            service_config(|name| map.get(name).cloned())
        };
        let err = service(&[
            ("DBT_RERUN_DRY_RUN", "true"),
            ("DBT_RERUN_TASK_FAMILIES", "dbt-hourly,dbt-nightly"),
            ("DBT_RERUN_TASK_DEFINITION", "dbt-docs:4"),
        ])
        .unwrap_err();
        assert_eq!(err.var, "DBT_RERUN_TASK_DEFINITION");
        assert!(err.problem.contains("`dbt-docs:4`"), "{err}");
        assert!(service(&[
            ("DBT_RERUN_DRY_RUN", "true"),
            ("DBT_RERUN_TASK_FAMILIES", "dbt-*"),
            (
                "DBT_RERUN_TASK_DEFINITION",
                "arn:aws:ecs:r:1:task-definition/dbt-docs:4"
            ),
        ])
        .is_ok());
    }

    #[test]
    fn timeouts_are_re_run_only_when_retry_on_names_them() {
        let timeout = "000630 (57014): Statement reached its statement or warehouse timeout";
        let c = config(&[]).unwrap();
        assert_eq!(
            c.transient.find(timeout).unwrap().class,
            RetryClass::Timeout
        );
        assert!(!c.policy.allows(RetryClass::Timeout));
        let c = config(&[("DBT_RERUN_RETRY_ON", "infra,oom,transient,timeout")]).unwrap();
        assert!(c.policy.allows(RetryClass::Timeout));
        let err = config(&[("DBT_RERUN_RETRY_ON", "transient,timeouts")]).unwrap_err();
        assert_eq!(err.var, "DBT_RERUN_RETRY_ON");
        assert!(
            err.to_string().contains("`timeouts`") && err.to_string().contains("timeout,"),
            "{err}"
        );
    }

    #[test]
    fn bad_values_name_their_variable() {
        for (var, value) in [
            ("DBT_RERUN_RETRY_ON", "infra,sometimes"),
            ("DBT_RERUN_MAX_ATTEMPTS", "0"),
            ("DBT_RERUN_TRANSIENT_PATTERNS", "[1, 2"),
            ("DBT_RERUN_MAX_MEMORY_MIB", "lots"),
            ("DBT_RERUN_SCRIPT_FALLBACK", "sometimes"),
            ("DBT_RERUN_INSPECT_SUCCESS", "maybe"),
            ("DBT_RERUN_RETRY_THREADS", "0"),
            ("DBT_RERUN_RETRY_THREADS", "four"),
        ] {
            let err = config(&[(var, value)]).unwrap_err();
            assert_eq!(err.var, var);
            assert!(err.to_string().starts_with(var), "{err}");
        }
        assert!(parse_bool("DBT_RERUN_DRY_RUN", "maybe").is_err());
        let service = |vars: &[(&str, &str)]| {
            let map: HashMap<String, String> = vars
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            service_config(|name| map.get(name).cloned())
        };
        for (var, value) in [
            ("DBT_RERUN_SUBNETS", "subnet-1,vpc-2"),
            ("DBT_RERUN_SECURITY_GROUPS", "sg-1 sg-2"),
            ("DBT_RERUN_ASSIGN_PUBLIC_IP", "sometimes"),
            ("DBT_RERUN_LOG_WAIT_SECONDS", "3600"),
            ("DBT_RERUN_DRY_RUN", "perhaps"),
            ("DBT_RERUN_ALERT_TOPIC_ARN", "dbt-alerts"),
            ("DBT_RERUN_ALERT_ON", "give_up,panic"),
            ("DBT_RERUN_METRICS_NAMESPACE", "Dbt Rerun"),
            ("DBT_RERUN_DELAY_SECONDS", "soon"),
            ("DBT_RERUN_BACKOFF_RATE", "0.5"),
            ("DBT_RERUN_MAX_DELAY_SECONDS", "999999"),
            ("DBT_RERUN_JITTER", "some"),
            ("DBT_RERUN_ON_OVERLAP", "maybe"),
            ("DBT_RERUN_ALLOW_CUSTOM_COMMANDS", "sometimes"),
            ("DBT_RERUN_ALLOWED_ENVIRONMENT", "RUN_DATE,LD_PRELOAD"),
            ("DBT_RERUN_ALLOWED_ENVIRONMENT", "PYTHONPATH"),
            ("DBT_RERUN_ALLOWED_ENVIRONMENT", "DBT_RERUN_ATTEMPT"),
            ("DBT_RERUN_ALLOWED_ENVIRONMENT", "RUN-DATE"),
        ] {
            let mut vars = vec![("DBT_RERUN_SECURITY_GROUPS", "sg-1")];
            vars.retain(|(k, _)| *k != var);
            vars.push((var, value));
            let err = service(&vars).unwrap_err();
            assert_eq!(err.var, var, "{err}");
        }
        let err = service(&[]).unwrap_err();
        assert_eq!(err.var, "DBT_RERUN_SECURITY_GROUPS");
        assert!(
            service(&[("DBT_RERUN_DRY_RUN", "true")]).is_ok(),
            "a dry run launches nothing"
        );
        let ok = service(&[
            ("DBT_RERUN_SECURITY_GROUPS", "sg-0a1b, sg-2c3d"),
            ("DBT_RERUN_SUBNETS", "subnet-9f"),
            ("DBT_RERUN_ASSIGN_PUBLIC_IP", "ENABLED"),
            ("DBT_RERUN_LOG_WAIT_SECONDS", "5"),
        ])
        .unwrap();
        assert_eq!(ok.network.security_groups, ["sg-0a1b", "sg-2c3d"]);
        assert_eq!(ok.network.subnets, ["subnet-9f"]);
        assert!(ok.network.assign_public_ip);
        assert_eq!(ok.log_wait, Duration::from_secs(5));
        assert_eq!(
            ok.launch_rules,
            LaunchRules::default(),
            "dbt only by default"
        );
        let open = service(&[
            ("DBT_RERUN_SECURITY_GROUPS", "sg-1"),
            ("DBT_RERUN_ALLOW_CUSTOM_COMMANDS", "true"),
            ("DBT_RERUN_ALLOWED_ENVIRONMENT", " RUN_DATE, ,DBT_HOST "),
        ])
        .unwrap();
        assert!(open.launch_rules.custom_commands);
        assert_eq!(
            open.launch_rules.allowed_environment,
            ["RUN_DATE", "DBT_HOST"]
        );
        assert_eq!(
            (ok.delay.delay_seconds, ok.schedule.clone(), ok.on_overlap),
            (0, None, OnOverlap::Skip)
        );

        // A delay needs where to schedule it.
        let err = service(&[
            ("DBT_RERUN_SECURITY_GROUPS", "sg-1"),
            ("DBT_RERUN_DELAY_SECONDS", "300"),
        ])
        .unwrap_err();
        assert_eq!(err.var, "DBT_RERUN_SCHEDULER_TARGET_ARN");
        let delayed = service(&[
            ("DBT_RERUN_SECURITY_GROUPS", "sg-1"),
            ("DBT_RERUN_DELAY_SECONDS", "300"),
            ("DBT_RERUN_JITTER", "full"),
            (
                "DBT_RERUN_SCHEDULER_TARGET_ARN",
                "arn:aws:lambda:eu-west-1:1:function:rerun-task",
            ),
            (
                "DBT_RERUN_SCHEDULER_ROLE_ARN",
                "arn:aws:iam::1:role/scheduler",
            ),
            ("DBT_RERUN_SCHEDULE_GROUP", "dbt-rerun"),
        ])
        .unwrap();
        assert_eq!(delayed.delay.delay_seconds, 300);
        assert_eq!(delayed.delay.jitter, Jitter::Full);
        assert_eq!(delayed.schedule.unwrap().group, "dbt-rerun");
        assert_eq!(parse_bool("DBT_RERUN_DRY_RUN", "TRUE"), Ok(true));
    }
}
