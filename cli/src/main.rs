//! `dbt-rerun`: the planning of the Lambda functions, offline and on demand.

use clap::{Parser, Subcommand};
use dbt_rerun::{config, event, log, DecisionInput};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "dbt-rerun",
    version,
    about = "Plan exact re-runs of failed dbt ECS tasks"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the decision record for an ECS task state change event. Launches nothing.
    Plan {
        /// The EventBridge event (JSON), as on-task-stopped receives it.
        #[arg(long)]
        event: PathBuf,
        /// The dbt container's log (the CloudWatch stream's lines) as a file.
        #[arg(long)]
        log_file: Option<PathBuf>,
        /// The dbt command as a JSON array, when the event carries no command override
        /// (the task definition's command).
        #[arg(long)]
        command: Option<String>,
    },
    /// Print what a dbt log says (failed, skipped, stats) as JSON.
    ParseLog {
        /// dbt's console output, text or JSON lines.
        file: PathBuf,
    },
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(json) => {
            println!("{json}");
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("dbt-rerun: error: {message}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> Result<String, String> {
    match cli.command {
        Command::ParseLog { file } => pretty(&parse_log(&file)?),
        Command::Plan {
            event,
            log_file,
            command,
        } => {
            let config = config::decision_config(|name| std::env::var(name).ok())
                .map_err(|e| e.to_string())?;
            let bytes = read(&event)?;
            let event =
                event::parse_task_event(&bytes).map_err(|e| format!("{}: {e}", event.display()))?;
            let report = log_file.as_deref().map(parse_log).transpose()?;
            let needs_log = event
                .detail
                .containers
                .iter()
                .any(|c| matches!(c.exit_code, Some(1 | 2)));
            if report.is_none() && needs_log {
                return Err(
                    "dbt exited 1 or 2, so the decision needs its log: pass --log-file FILE".into(),
                );
            }
            let command = match command {
                Some(json) => Some(serde_json::from_str::<Vec<String>>(&json).map_err(|e| {
                    format!(
                        "--command must be a JSON array of strings, like [\"dbt\",\"build\"]: {e}"
                    )
                })?),
                None => dbt_command_of(&event.detail, config.container.as_deref()),
            };
            let record = dbt_rerun::decide(DecisionInput {
                task: &event.detail,
                report: report.as_ref(),
                log_note: None,
                command: command.as_deref(),
                config: &config,
            });
            pretty(&record)
        }
    }
}

/// The command override of the dbt container, as the event carries it.
fn dbt_command_of(task: &event::EcsTask, container: Option<&str>) -> Option<Vec<String>> {
    let outcome = dbt_rerun::classify::TaskOutcome::from_task(task, container).ok()?;
    task.container_override(&outcome.container)?.command.clone()
}

fn parse_log(path: &Path) -> Result<dbt_rerun::RunReport, String> {
    let file =
        std::fs::File::open(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    log::parse_reader(file, log::Limits::default())
        .map_err(|e| format!("cannot read {}: {e}", path.display()))
}

fn read(path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

fn pretty(value: &impl serde::Serialize) -> Result<String, String> {
    serde_json::to_string_pretty(value).map_err(|e| format!("cannot write JSON: {e}"))
}
