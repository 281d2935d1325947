//! The decision for one stopped task: re-run, ignore or give up, with the record that explains
//! it. A pure function of the event, the parsed log, the original command and the
//! configuration.

use crate::classify::{classify, node_class, Classification, FailureKind, TaskOutcome};
use crate::command::DbtCommand;
use crate::event::{EcsTask, KeyValue};
use crate::fargate::{next_size, TaskSize};
use crate::log::RunReport;
use crate::node::{FailedNode, SkippedNode};
use crate::plan::{
    json_len, overrides_len, plan_rerun, plan_resume, PlanShape, ECS_OVERRIDE_LIMIT,
};
use crate::policy::{RetryClass, RetryPolicy};
use crate::transient::TransientPatterns;
use serde::{Serialize, Serializer};

/// The record names finished nodes when there are at most this many.
pub const MAX_FINISHED_NAMES: usize = 20;

/// Environment variable carrying a task's attempt number in its chain (1 = the original).
pub const ATTEMPT_VAR: &str = "DBT_RERUN_ATTEMPT";
/// Environment variable carrying the ARN of the chain's original task.
pub const ORIGIN_VAR: &str = "DBT_RERUN_ORIGIN_TASK";
/// Environment variable carrying the chain's original command (a JSON array), so a re-run can
/// tell a newer run of the same command from other work of the family.
pub const ORIGIN_COMMAND_VAR: &str = "DBT_RERUN_ORIGIN_COMMAND";

/// The variables of a chain, which the record shows (they hold no secret).
fn is_chain_var(name: &str) -> bool {
    name == ATTEMPT_VAR || name == ORIGIN_VAR || name == ORIGIN_COMMAND_VAR
}

/// What to do about a stopped task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Rerun,
    Ignore,
    GiveUp,
}

/// The settings decisions depend on.
#[derive(Debug, Clone)]
pub struct DecisionConfig {
    /// The dbt container's name (`DBT_RERUN_CONTAINER`), else found from the event.
    pub container: Option<String>,
    pub policy: RetryPolicy,
    pub transient: TransientPatterns,
    /// The most memory an OOM re-run may get, MiB (`DBT_RERUN_MAX_MEMORY_MIB`).
    pub max_memory_mib: u32,
    /// The dbt cluster (`DBT_RERUN_CLUSTER`): tasks of other clusters are not handled.
    pub cluster: Option<String>,
}

impl Default for DecisionConfig {
    fn default() -> Self {
        Self {
            container: None,
            policy: RetryPolicy::default(),
            transient: TransientPatterns::default(),
            max_memory_mib: 30720,
            cluster: None,
        }
    }
}

/// Everything a decision is made from.
#[derive(Debug, Clone, Copy)]
pub struct DecisionInput<'a> {
    pub task: &'a EcsTask,
    /// The parsed log; None when it could not be read.
    pub report: Option<&'a RunReport>,
    /// Why the log is missing or partial, for the reason (e.g. "no log stream").
    pub log_note: Option<&'a str>,
    /// The command the dbt container ran: the event's override, else the task definition's.
    /// None when neither is known.
    pub command: Option<&'a [String]>,
    pub config: &'a DecisionConfig,
}

/// The response of on-task-stopped and the output of `dbt-rerun plan`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DecisionRecord {
    pub decision: Decision,
    /// One sentence a person understands.
    pub reason: String,
    pub failure_kind: FailureKind,
    pub transient: bool,
    pub task_arn: String,
    /// The cluster's name and the task definition family, for people and metrics.
    pub cluster: String,
    pub task_family: String,
    /// The command the dbt container ran, when known.
    pub command: Option<Vec<String>>,
    /// Where the dbt container's log is, when it was read.
    pub log_stream: Option<crate::aws::LogLocation>,
    /// The stopped task's attempt in its chain (1 = the original run).
    pub attempt: u32,
    pub max_attempts: u32,
    pub container: Option<String>,
    pub exit_code: Option<i32>,
    pub stop_code: Option<String>,
    pub failed_nodes: Vec<FailedNode>,
    pub skipped_nodes: Vec<SkippedNode>,
    /// The command that re-runs what can be re-run, for a person too; null when nothing can.
    pub rerun_command: Option<Vec<String>>,
    pub plan_shape: Option<PlanShape>,
    /// The re-run resumes a run cut off part-way rather than listing failed nodes.
    pub resume: bool,
    /// Nodes the log shows as finished.
    pub finished_nodes: u64,
    /// Their names, when there are at most [`MAX_FINISHED_NAMES`].
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub finished_node_names: Vec<String>,
    /// dbt's end-of-run marker was in the log.
    pub log_complete: bool,
    /// How long the function waited for the log to be complete; null when it read none.
    pub log_wait_seconds: Option<f64>,
    /// Present only when the decision is `rerun`.
    pub rerun: Option<PlannedRerun>,
    /// The event repeated one already handled: its re-run was launched before.
    pub duplicate: bool,
}

/// The launch a `rerun` decision asks for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlannedRerun {
    pub command: Vec<String>,
    /// The re-run's environment: the original's plus the chain variables. Values are not
    /// serialised (they may hold secrets); names are.
    #[serde(serialize_with = "names_only")]
    pub environment: Vec<KeyValue>,
    /// Task-level size for an OOM re-run.
    pub cpu: Option<String>,
    pub memory: Option<String>,
    /// The attempt number the re-run will be.
    pub attempt: u32,
    pub origin_task_arn: String,
    /// `dbt-rerun/<origin-task-id>/<attempt>`.
    pub started_by: String,
    /// Deterministic, so a retried invocation cannot start a second task.
    pub client_token: String,
    /// The launched task, once launched; null on a dry run or while it is scheduled.
    pub task_arn: Option<String>,
    /// The chain's first command (a newer run of it makes this re-run unnecessary).
    pub original_command: Option<Vec<String>>,
    /// For a delayed re-run: when it is due (RFC 3339, UTC) and its schedule's name.
    pub scheduled_at: Option<String>,
    pub schedule_name: Option<String>,
}

fn names_only<S: Serializer>(env: &[KeyValue], s: S) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap;
    let mut map = s.serialize_map(Some(env.len()))?;
    for kv in env {
        // Our own chain variables are not secret and help whoever reads the record.
        let value = if is_chain_var(&kv.name) {
            kv.value.as_str()
        } else {
            "(redacted)"
        };
        map.serialize_entry(&kv.name, value)?;
    }
    map.end()
}

/// Where a task sits in its chain of re-runs, from its environment.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Chain {
    attempt: u32,
    origin_arn: String,
    /// The command the chain's first run ran, when known.
    original_command: Option<Vec<String>>,
}

fn chain_of(task: &EcsTask, env: &[KeyValue], command: Option<&[String]>) -> Result<Chain, String> {
    let get = |name| {
        env.iter()
            .rev()
            .find(|kv| kv.name == name)
            .map(|kv| kv.value.trim())
    };
    let attempt = match get(ATTEMPT_VAR) {
        None => 1,
        Some(v) => match v.parse::<u32>() {
            Ok(n) if n >= 1 => n,
            _ => {
                return Err(format!(
                    "{ATTEMPT_VAR} is `{}`, not an attempt number: refusing to re-run a chain whose attempt is unknown",
                    crate::log::truncate(v, 40)
                ))
            }
        },
    };
    let origin_arn = get(ORIGIN_VAR)
        .filter(|v| !v.is_empty())
        .unwrap_or(&task.task_arn)
        .to_owned();
    let original_command = match get(ORIGIN_COMMAND_VAR) {
        Some(json) => serde_json::from_str(json).ok(),
        // The first run of a chain: its own command is the original.
        None if attempt == 1 => command.map(<[String]>::to_vec),
        None => None,
    };
    Ok(Chain {
        attempt,
        origin_arn,
        original_command,
    })
}

/// Decides what to do about a stopped task.
pub fn decide(input: DecisionInput<'_>) -> DecisionRecord {
    let task = input.task;
    let config = input.config;
    let mut record = DecisionRecord {
        decision: Decision::Ignore,
        reason: String::new(),
        failure_kind: FailureKind::Unknown,
        transient: false,
        task_arn: task.task_arn.clone(),
        cluster: task.cluster_name().to_owned(),
        task_family: task.family().to_owned(),
        command: input.command.map(<[String]>::to_vec),
        log_stream: None,
        attempt: 1,
        max_attempts: config.policy.max_attempts,
        container: None,
        exit_code: None,
        stop_code: task.stop_code.clone(),
        failed_nodes: vec![],
        skipped_nodes: vec![],
        rerun_command: None,
        plan_shape: None,
        resume: false,
        finished_nodes: 0,
        finished_node_names: vec![],
        log_complete: false,
        log_wait_seconds: None,
        rerun: None,
        duplicate: false,
    };
    if let Some(report) = input.report {
        record.failed_nodes = report.failed.clone();
        record.skipped_nodes = report.skipped.clone();
        record.finished_nodes = report.finished.count;
        if report.finished.count <= MAX_FINISHED_NAMES as u64 {
            record.finished_node_names = report
                .finished
                .nodes
                .iter()
                .map(|n| n.name.clone())
                .collect();
        }
        record.log_complete = report.end_of_run;
    }
    if task.last_status != "STOPPED" {
        record.reason = format!(
            "the task is {}, not STOPPED: nothing to do yet",
            shown_status(&task.last_status)
        );
        return record;
    }
    if let Some(cluster) = config.cluster.as_deref() {
        let ours = cluster.rsplit('/').next().unwrap_or(cluster);
        if task.cluster_name() != ours {
            record.reason = format!(
                "the task ran in cluster {}, not in {ours} (DBT_RERUN_CLUSTER): not handled",
                crate::log::truncate(task.cluster_name(), 255)
            );
            return record;
        }
    }
    let outcome = match TaskOutcome::from_task(task, config.container.as_deref()) {
        Ok(outcome) => outcome,
        Err(e) => return give_up(record, e.to_string()),
    };
    record.container = Some(outcome.container.clone());
    record.exit_code = outcome.exit_code;

    let classification = classify(&outcome, input.report, &config.transient);
    record.failure_kind = classification.kind;
    record.transient = classification.transient;

    let env = task
        .container_override(&outcome.container)
        .map(|o| o.environment.clone())
        .unwrap_or_default();
    let chain = match chain_of(task, &env, input.command) {
        Ok(chain) => chain,
        Err(why) => return give_up(record, why),
    };
    record.attempt = chain.attempt;

    // The command a person (or we) would re-run, whatever the decision.
    let mut plan_note = None;
    // What the overrides hold besides the command (the environment with the chain's
    // variables, other containers, the largest size), so the plan gets the rest.
    let others = other_overrides(task, &outcome.container);
    let chain_env = chain_environment(&chain, env.clone());
    let budget = ECS_OVERRIDE_LIMIT
        .saturating_sub(overrides_len(
            &outcome.container,
            &[],
            &chain_env,
            &others,
            Some("16384"),
            Some("122880"),
        ))
        .saturating_add(json_len(&[]));
    // A run dbt started and that ended without its end-of-run marker was cut off part-way.
    let cut_off = input.report.filter(|r| r.lines > 0 && !r.end_of_run);
    let rerun_command = match (classification.kind, input.command) {
        (FailureKind::None, _) | (_, None) => None,
        (FailureKind::DbtNodes, Some(argv)) => match (DbtCommand::parse(argv), input.report) {
            (Ok(cmd), Some(report)) => match plan_rerun(&cmd, report, budget) {
                Ok(plan) => {
                    record.plan_shape = Some(plan.shape);
                    record.resume = plan.shape == PlanShape::Resume;
                    plan_note = plan.note;
                    Some(plan.argv)
                }
                Err(e) => {
                    plan_note = Some(e.to_string());
                    None
                }
            },
            (Err(e), _) => {
                plan_note = Some(e.to_string());
                None
            }
            (Ok(_), None) => None,
        },
        (FailureKind::DbtRuntime, Some(_)) if !classification.transient => None,
        // Killed part-way (out of memory, Spot, any kill): resume from the log when dbt had
        // started and the log shows where it stopped.
        (FailureKind::Infra | FailureKind::Oom, Some(argv)) if cut_off.is_some() => {
            let plan = match (DbtCommand::parse(argv), cut_off) {
                (Ok(cmd), Some(report)) => plan_resume(&cmd, report, budget),
                (Ok(cmd), None) => plan_resume(&cmd, &RunReport::default(), budget),
                (Err(e), _) => crate::plan::RerunCommand {
                    argv: argv.to_vec(),
                    shape: PlanShape::Original,
                    note: Some(format!("{e}: re-running it as it was")),
                },
            };
            record.plan_shape = Some(plan.shape);
            record.resume = plan.shape == PlanShape::Resume;
            plan_note = plan.note;
            Some(plan.argv)
        }
        (_, Some(argv)) => {
            record.plan_shape = Some(PlanShape::Original);
            Some(argv.to_vec())
        }
    };
    record.rerun_command = rerun_command.clone();

    let what = with_log_note(&classification.summary, input.log_note);
    if classification.kind == FailureKind::None {
        record.reason = format!("{what}: nothing to re-run");
        return record;
    }
    if classification.stopped_by_user {
        record.reason = format!("{what}: not re-run");
        return record;
    }
    if let Some(why) = policy_refusal(&classification, input.report, config) {
        return give_up(record, format!("{what}; {why}"));
    }
    if !config.policy.budget_left(chain.attempt) {
        return give_up(
            record,
            format!(
                "{what}; attempt {} of {} was the last the budget allows (DBT_RERUN_MAX_ATTEMPTS)",
                chain.attempt, config.policy.max_attempts
            ),
        );
    }
    let Some(command) = rerun_command else {
        let why = match (input.command, plan_note) {
            (None, _) => "the original command is not known (no override in the event and no task definition command)".to_owned(),
            (_, Some(note)) => note,
            (_, None) => "no re-run command could be planned".to_owned(),
        };
        return give_up(record, format!("{what}; {why}"));
    };
    let mut size = None;
    if classification.kind == FailureKind::Oom {
        match oom_size(task, config) {
            Ok(s) => size = Some(s),
            Err(why) => return give_up(record, format!("{what}; {why}")),
        }
    }

    let rerun = planned_rerun(&chain, env, command, size);
    let length = overrides_len(
        &outcome.container,
        &rerun.command,
        &rerun.environment,
        &others,
        rerun.cpu.as_deref(),
        rerun.memory.as_deref(),
    );
    if length > ECS_OVERRIDE_LIMIT {
        return give_up(
            record,
            format!(
                "{what}; the re-run's RunTask overrides would be {length} characters and ECS takes \
                 {ECS_OVERRIDE_LIMIT}: the task's own overrides (environment) leave no room for the command"
            ),
        );
    }
    record.decision = Decision::Rerun;
    record.reason = format!(
        "{what}; re-running as attempt {} of {}{}{}",
        rerun.attempt,
        config.policy.max_attempts,
        size.map(|s| format!(" with {} MiB", s.memory))
            .unwrap_or_default(),
        plan_note.map(|n| format!(" ({n})")).unwrap_or_default(),
    );
    record.rerun = Some(rerun);
    record
}

/// The environment of the next run of `chain`: the original's with the chain variables
/// advanced.
fn chain_environment(chain: &Chain, env: Vec<KeyValue>) -> Vec<KeyValue> {
    let mut environment: Vec<KeyValue> = env
        .into_iter()
        .filter(|kv| !is_chain_var(&kv.name))
        .collect();
    environment.push(KeyValue {
        name: ATTEMPT_VAR.into(),
        value: (chain.attempt + 1).to_string(),
    });
    environment.push(KeyValue {
        name: ORIGIN_VAR.into(),
        value: chain.origin_arn.clone(),
    });
    if let Some(original) = &chain.original_command {
        environment.push(KeyValue {
            name: ORIGIN_COMMAND_VAR.into(),
            value: serde_json::to_string(original).unwrap_or_default(),
        });
    }
    environment
}

/// The next run of `chain`: the original environment with the chain variables advanced.
fn planned_rerun(
    chain: &Chain,
    env: Vec<KeyValue>,
    command: Vec<String>,
    size: Option<TaskSize>,
) -> PlannedRerun {
    let next = chain.attempt + 1;
    let origin_id = chain
        .origin_arn
        .rsplit('/')
        .next()
        .unwrap_or(&chain.origin_arn);
    let environment = chain_environment(chain, env);
    PlannedRerun {
        original_command: chain.original_command.clone(),
        scheduled_at: None,
        schedule_name: None,
        command,
        environment,
        cpu: size.map(|s| s.cpu.to_string()),
        memory: size.map(|s| s.memory.to_string()),
        attempt: next,
        started_by: started_by(origin_id, next),
        client_token: client_token(origin_id, next),
        origin_task_arn: chain.origin_arn.clone(),
        task_arn: None,
    }
}

/// The next run of the chain `task` belongs to, with `command`, whatever the policy says:
/// for a person who asked for it. `task_command` is what `task` itself ran. Err when the
/// task's attempt number is unreadable.
pub fn continue_chain(
    task: &EcsTask,
    container: &str,
    command: Vec<String>,
    task_command: Option<&[String]>,
) -> Result<PlannedRerun, String> {
    let env = task
        .container_override(container)
        .map(|o| o.environment.clone())
        .unwrap_or_default();
    let chain = chain_of(task, &env, task_command)?;
    Ok(planned_rerun(&chain, env, command, None))
}

fn give_up(mut record: DecisionRecord, reason: String) -> DecisionRecord {
    record.decision = Decision::GiveUp;
    record.reason = reason;
    record
}

fn shown_status(status: &str) -> &str {
    if status.is_empty() {
        "in an unknown state"
    } else {
        crate::log::truncate(status, 40)
    }
}

fn with_log_note(summary: &str, note: Option<&str>) -> String {
    match note {
        Some(note) => format!("{summary} ({note})"),
        None => summary.to_owned(),
    }
}

/// Why the policy does not allow re-running this failure, if it does not.
fn policy_refusal(
    classification: &Classification,
    report: Option<&RunReport>,
    config: &DecisionConfig,
) -> Option<String> {
    if classification.classes.is_empty() {
        return Some(match classification.kind {
            FailureKind::DbtRuntime => "a re-run cannot fix it".to_owned(),
            FailureKind::Unknown => "dbt-rerun does not re-run unknown failures".to_owned(),
            _ => "nothing is known that a re-run could fix".to_owned(),
        });
    }
    let policy = &config.policy;
    let refused: Vec<RetryClass> = classification
        .classes
        .iter()
        .copied()
        .filter(|c| !policy.allows(*c))
        .collect();
    if refused.is_empty() {
        return None;
    }
    let allowed: Vec<&str> = policy.retry_on.iter().map(|c| c.as_str()).collect();
    let mut why = format!(
        "DBT_RERUN_RETRY_ON={} does not re-run {}",
        allowed.join(","),
        unique(refused.iter().map(|c| c.as_str())).join(" or ")
    );
    // Name the nodes that stand in the way: one deterministic failure among transient ones
    // blocks the re-run, since it would fail again and spend an attempt.
    if let Some(report) = report {
        let blocking: Vec<String> = report
            .failed
            .iter()
            .filter(|n| !policy.allows(node_class(n, &config.transient).0))
            .take(3)
            .map(|n| {
                format!(
                    "{} {}: {}",
                    n.resource_type.as_str(),
                    n.name,
                    crate::log::truncate(&n.message, 120)
                )
            })
            .collect();
        if !blocking.is_empty() {
            why.push_str(&format!(" ({})", blocking.join("; ")));
        }
    }
    Some(why)
}

fn unique<'a>(items: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
    let mut out: Vec<&str> = Vec::new();
    for item in items {
        if !out.contains(&item) {
            out.push(item);
        }
    }
    out
}

fn oom_size(task: &EcsTask, config: &DecisionConfig) -> Result<TaskSize, String> {
    let parse = |v: &Option<String>| v.as_deref().and_then(|s| s.trim().parse::<u32>().ok());
    let cpu = parse(&task.overrides.cpu).or(parse(&task.cpu));
    let memory = parse(&task.overrides.memory).or(parse(&task.memory));
    let (Some(cpu), Some(memory)) = (cpu, memory) else {
        return Err(
            "the event does not give the task's cpu and memory, so no larger size can be chosen"
                .to_owned(),
        );
    };
    let fargate = task.launch_type.as_deref() == Some("FARGATE")
        || task
            .capacity_provider_name
            .as_deref()
            .is_some_and(|c| c.starts_with("FARGATE"));
    next_size(TaskSize { cpu, memory }, config.max_memory_mib, fargate).ok_or_else(|| {
        format!(
            "the task already has {memory} MiB and DBT_RERUN_MAX_MEMORY_MIB is {}",
            config.max_memory_mib
        )
    })
}

/// `startedBy` of a re-run: names the chain and the attempt, within ECS's 128 characters of
/// letters, digits, `-`, `/`, `_`.
pub fn started_by(origin_task_id: &str, attempt: u32) -> String {
    let id: String = origin_task_id
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .take(100)
        .collect();
    format!("dbt-rerun/{id}/{attempt}")
}

/// RunTask `clientToken` of a re-run: the same for the same chain and attempt, so a retried
/// invocation cannot launch twice (at most 64 ASCII characters).
pub fn client_token(origin_task_id: &str, attempt: u32) -> String {
    let id: String = origin_task_id
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .take(40)
        .collect();
    format!("dbt-rerun-{id}-{attempt}")
}

/// The other containers' overrides of `task`, which a re-run passes on unchanged.
fn other_overrides(task: &EcsTask, container: &str) -> Vec<crate::event::ContainerOverride> {
    task.overrides
        .container_overrides
        .iter()
        .filter(|o| o.name != container)
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests;
