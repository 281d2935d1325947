//! The sub-commands: read inputs, call the service, return JSON or a one-line error.

use crate::offline::EventOnlyEcs;
use dbt_rerun_core::config::{self, ConfigError, ServiceConfig};
use dbt_rerun_core::event::{parse_task_event, ContainerOverride, EcsTask, EventError};
use dbt_rerun_core::record::DecisionRecord;
use dbt_rerun_core::{classify::TaskOutcome, log};
use dbt_rerun_service::{
    gather_and_decide, Ecs, FileLog, Gathered, Logs, RerunRequest, ServiceError, Terms,
};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

/// Why a command produced no result; the message names the input and the problem.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Event { path: PathBuf, source: EventError },
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Service(#[from] ServiceError),
    #[error("{0}")]
    Usage(String),
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
    #[error("cannot write JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error(transparent)]
    Doctor(#[from] dbt_rerun_service::DoctorError),
}

/// `dbt-rerun invoke`: the rerun-task payload as flags.
#[derive(clap::Args)]
pub struct InvokeArgs {
    /// dbt selector terms replacing the command's selection (`fct_sales+ tag:daily`).
    #[arg(long)]
    select: Option<String>,
    #[arg(long)]
    exclude: Option<String>,
    /// For a command that runs a shell script: the step `--select`/`--exclude` apply to
    /// (1-based, as the decision record's `script_steps` number them).
    #[arg(long)]
    step: Option<usize>,
    /// The dbt command as a JSON array; default: the task definition's.
    #[arg(long)]
    command: Option<String>,
    /// Extra environment variable for the dbt container, NAME=VALUE (repeatable).
    #[arg(long = "env", value_name = "NAME=VALUE")]
    environment: Vec<String>,
    #[arg(long)]
    cluster: Option<String>,
    #[arg(long)]
    task_definition: Option<String>,
    #[arg(long)]
    container: Option<String>,
    /// Re-plan a stopped task from its log, as on-task-stopped would, and launch that.
    #[arg(long)]
    from_task_arn: Option<String>,
    /// Show what would be launched, launch nothing.
    #[arg(long)]
    dry_run: bool,
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

pub(crate) fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(CliError::Runtime)
}

pub fn parse_log(path: &Path) -> Result<String, CliError> {
    let file = std::fs::File::open(path).map_err(|source| read_error(path, source))?;
    let report = log::parse_reader(file, log::Limits::default())
        .map_err(|source| read_error(path, source))?;
    pretty(&report)
}

fn read_error(path: &Path, source: std::io::Error) -> CliError {
    CliError::Read {
        path: path.to_owned(),
        source,
    }
}

/// How `plan` prints the record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// A short summary for a person: decision, reason, failed nodes, what runs next.
    Text,
    /// The decision record (what on-task-stopped answers and logs).
    Json,
}

pub fn plan(
    event: &Path,
    log_file: Option<&Path>,
    command: Option<&str>,
    alert_preview: bool,
    format: Option<Format>,
) -> Result<String, CliError> {
    let record = decide(event, log_file, command)?;
    if alert_preview {
        let alert = dbt_rerun_core::alert::compose(&record);
        return Ok(format!(
            "Subject: {}\n\n{}",
            alert.subject,
            alert.text.trim_end()
        ));
    }
    // On a terminal a person reads it; a pipe or a file gets the record, as scripts expect.
    let terminal = std::io::stdout().is_terminal();
    match format.unwrap_or(if terminal { Format::Text } else { Format::Json }) {
        Format::Text => {
            let colour = terminal && std::env::var_os("NO_COLOR").is_none();
            Ok(crate::summary::plan_summary(&record, colour)
                .trim_end()
                .to_owned())
        }
        Format::Json => pretty(&record),
    }
}

/// The decision record for the event, its inputs gathered as on-task-stopped gathers them:
/// the log from `log_file`, else (with the task definition) from AWS.
fn decide(
    event: &Path,
    log_file: Option<&Path>,
    command: Option<&str>,
) -> Result<DecisionRecord, CliError> {
    let bytes = std::fs::read(event).map_err(|source| read_error(event, source))?;
    let mut task = parse_task_event(&bytes)
        .map_err(|source| CliError::Event {
            path: event.to_owned(),
            source,
        })?
        .detail;
    let config = config::planning_config(env)?;
    if let Some(json) = command {
        let argv: Vec<String> = serde_json::from_str(json).map_err(|e| {
            CliError::Usage(format!(
                "--command must be a JSON array of strings, like [\"dbt\",\"build\"]: {e}"
            ))
        })?;
        set_command(&mut task, argv, &config)?;
    }
    let runtime = runtime()?;
    match log_file {
        Some(path) => runtime.block_on(gathered(
            &EventOnlyEcs::new(&task),
            &FileLog::new(path),
            &config,
            &task,
        )),
        None => runtime.block_on(async {
            let aws = dbt_rerun_aws::load_config().await;
            let ecs = dbt_rerun_aws::EcsClient::new(&aws);
            let logs = dbt_rerun_aws::CloudWatchLogs::new(&aws);
            gathered(&ecs, &logs, &config, &task).await
        }),
    }
}

async fn gathered<E: Ecs, L: Logs>(
    ecs: &E,
    logs: &L,
    config: &ServiceConfig,
    task: &EcsTask,
) -> Result<DecisionRecord, CliError> {
    let Gathered { decided, log } = gather_and_decide(ecs, logs, config, task).await?;
    Ok(DecisionRecord::assemble(&decided, &log, None))
}

/// Puts `argv` in the dbt container's override, as if the event had carried it. A task that
/// has not stopped is ignored whatever it ran (a Spot notice lists no containers): nothing
/// to put.
fn set_command(
    task: &mut EcsTask,
    argv: Vec<String>,
    config: &ServiceConfig,
) -> Result<(), CliError> {
    if !task.is_stopped() {
        return Ok(());
    }
    let container = TaskOutcome::from_task(task, config.decision.container.as_deref())
        .map_err(|e| CliError::Usage(e.to_string()))?
        .container;
    let overrides = &mut task.overrides.container_overrides;
    match overrides.iter_mut().find(|o| o.name == container) {
        Some(o) => o.command = Some(argv),
        None => overrides.push(ContainerOverride {
            name: container,
            command: Some(argv),
            environment: vec![],
        }),
    }
    Ok(())
}

pub fn invoke(args: InvokeArgs) -> Result<String, CliError> {
    let mut environment = std::collections::BTreeMap::new();
    for pair in &args.environment {
        let (name, value) = pair
            .split_once('=')
            .ok_or_else(|| CliError::Usage(format!("--env takes NAME=VALUE, got `{pair}`")))?;
        environment.insert(name.to_owned(), value.to_owned());
    }
    let command = args
        .command
        .map(|json| serde_json::from_str::<Vec<String>>(&json))
        .transpose()
        .map_err(|e| CliError::Usage(format!("--command must be a JSON array of strings: {e}")))?;
    let request = RerunRequest {
        select: args.select.map(Terms::One),
        exclude: args.exclude.map(Terms::One),
        step: args.step,
        command,
        environment,
        cluster: args.cluster,
        task_definition: args.task_definition,
        container: args.container,
        from_task_arn: args.from_task_arn,
        dry_run: args.dry_run,
        planned_launch: None,
    };
    let config = if args.dry_run {
        config::planning_config(env)
    } else {
        config::service_config(env)
    }?;
    // Unique per invocation of the command: it becomes the RunTask clientToken.
    let id = format!(
        "cli-{}-{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or_default(),
        std::process::id()
    );
    let response = runtime()?.block_on(async {
        let aws = dbt_rerun_aws::load_config().await;
        dbt_rerun_aws::rerun_task(&aws, config)
            .handle(&request, &id)
            .await
    })?;
    pretty(&response)
}

fn pretty(value: &impl serde::Serialize) -> Result<String, CliError> {
    Ok(serde_json::to_string_pretty(value)?)
}
