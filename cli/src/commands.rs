//! The sub-commands: read inputs, call the library, return JSON or a one-line error.

use dbt_rerun::config;
use dbt_rerun::event::{parse_task_event, EcsTask};
use dbt_rerun::service::{OnTaskStopped, RerunRequest, RerunTask, Terms};
use dbt_rerun::{log, DecisionInput};
use std::path::Path;

/// `dbt-rerun invoke`: the rerun-task payload as flags.
#[derive(clap::Args)]
pub struct InvokeArgs {
    /// dbt selector terms replacing the command's selection (`fct_sales+ tag:daily`).
    #[arg(long)]
    select: Option<String>,
    #[arg(long)]
    exclude: Option<String>,
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

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))
}

pub fn parse_log(path: &Path) -> Result<String, String> {
    pretty(&read_log(path)?)
}

pub fn plan(
    event: &Path,
    log_file: Option<&Path>,
    command: Option<&str>,
    alert_preview: bool,
) -> Result<String, String> {
    let record = decide(event, log_file, command)?;
    if alert_preview {
        let alert = dbt_rerun::alert::compose(&record);
        return Ok(format!(
            "Subject: {}\n\n{}",
            alert.subject,
            alert.text.trim_end()
        ));
    }
    pretty(&record)
}

/// The decision record for the event: the log from `log_file`, else from AWS.
fn decide(
    event: &Path,
    log_file: Option<&Path>,
    command: Option<&str>,
) -> Result<dbt_rerun::DecisionRecord, String> {
    let bytes =
        std::fs::read(event).map_err(|e| format!("cannot read {}: {e}", event.display()))?;
    let parsed = parse_task_event(&bytes).map_err(|e| format!("{}: {e}", event.display()))?;
    let mut task = parsed.detail;
    if let Some(json) = command {
        let argv: Vec<String> = serde_json::from_str(json).map_err(|e| {
            format!("--command must be a JSON array of strings, like [\"dbt\",\"build\"]: {e}")
        })?;
        set_command(&mut task, argv)?;
    }
    let Some(log_file) = log_file else {
        // Read the log (and the task definition) from AWS, exactly as the function does.
        let config = config::planning_config(env).map_err(|e| e.to_string())?;
        let runtime = runtime()?;
        let record = runtime.block_on(async {
            let aws = dbt_rerun::aws::load_config().await;
            OnTaskStopped::new(&aws, config).decide(&task).await
        });
        return record.map_err(|e| e.to_string());
    };
    let config = config::decision_config(env).map_err(|e| e.to_string())?;
    let report = read_log(log_file)?;
    let outcome =
        dbt_rerun::classify::TaskOutcome::from_task(&task, config.container.as_deref()).ok();
    let argv = outcome.and_then(|o| {
        task.container_override(&o.container)
            .and_then(|c| c.command.clone())
    });
    Ok(dbt_rerun::decide(DecisionInput {
        task: &task,
        report: Some(&report),
        log_note: None,
        command: argv.as_deref(),
        config: &config,
    }))
}

/// Puts `argv` in the dbt container's override, as if the event had carried it.
fn set_command(task: &mut EcsTask, argv: Vec<String>) -> Result<(), String> {
    let container =
        dbt_rerun::classify::TaskOutcome::from_task(task, env("DBT_RERUN_CONTAINER").as_deref())
            .map_err(|e| e.to_string())?
            .container;
    let overrides = &mut task.overrides.container_overrides;
    match overrides.iter_mut().find(|o| o.name == container) {
        Some(o) => o.command = Some(argv),
        None => overrides.push(dbt_rerun::event::ContainerOverride {
            name: container,
            command: Some(argv),
            environment: vec![],
        }),
    }
    Ok(())
}

pub fn invoke(args: InvokeArgs) -> Result<String, String> {
    let mut environment = std::collections::BTreeMap::new();
    for pair in &args.environment {
        let (name, value) = pair
            .split_once('=')
            .ok_or_else(|| format!("--env takes NAME=VALUE, got `{pair}`"))?;
        environment.insert(name.to_owned(), value.to_owned());
    }
    let command = args
        .command
        .map(|json| serde_json::from_str::<Vec<String>>(&json))
        .transpose()
        .map_err(|e| format!("--command must be a JSON array of strings: {e}"))?;
    let request = RerunRequest {
        select: args.select.map(Terms::One),
        exclude: args.exclude.map(Terms::One),
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
    }
    .map_err(|e| e.to_string())?;
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
        let aws = dbt_rerun::aws::load_config().await;
        RerunTask::new(&aws, config).handle(&request, &id).await
    });
    pretty(&response.map_err(|e| e.to_string())?)
}

fn read_log(path: &Path) -> Result<dbt_rerun::RunReport, String> {
    let file =
        std::fs::File::open(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    log::parse_reader(file, log::Limits::default())
        .map_err(|e| format!("cannot read {}: {e}", path.display()))
}

fn pretty(value: &impl serde::Serialize) -> Result<String, String> {
    serde_json::to_string_pretty(value).map_err(|e| format!("cannot write JSON: {e}"))
}
