//! `dbt-rerun`: the planning of the Lambda functions, offline and on demand.

mod commands;
mod doctor;
mod history;
mod offline;
mod summary;
mod text;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
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
    /// Decide on an ECS task state change event, as on-task-stopped would. Launches nothing.
    /// On a terminal it prints a short summary; piped, the decision record as JSON.
    Plan {
        /// The EventBridge event (JSON), as on-task-stopped receives it.
        #[arg(long)]
        event: PathBuf,
        /// The dbt container's log as a file; without it, the log is read from CloudWatch
        /// (standard AWS environment) like on-task-stopped reads it.
        #[arg(long)]
        log_file: Option<PathBuf>,
        /// The dbt command as a JSON array, when the event carries no command override
        /// (it is the task definition's command).
        #[arg(long)]
        command: Option<String>,
        /// Print the alert this decision would send (subject and text) instead of the record.
        #[arg(long)]
        alert_preview: bool,
        /// `text` (a summary for a person) or `json` (the decision record). Default: text on
        /// a terminal, json otherwise.
        #[arg(long, value_enum)]
        format: Option<commands::Format>,
    },
    /// What dbt-rerun decided: one row per chain of runs (the original and its re-runs),
    /// read from the functions' log groups (standard AWS environment).
    History(history::HistoryArgs),
    /// Print what a dbt log says (failed, skipped, stats) as JSON.
    ParseLog {
        /// dbt's console output, text or JSON lines.
        file: PathBuf,
    },
    /// Launch a re-run like the rerun-task function does (standard AWS environment).
    Invoke(commands::InvokeArgs),
    /// Check a deployed setup before its first failure: the stack, its families' task
    /// definitions and logs, the rule, the roles, the network, and what each family's latest
    /// stopped task would get. Exit status 1 when something will stop a re-run.
    Doctor(doctor::DoctorArgs),
}

fn main() -> ExitCode {
    match run(Cli::parse().command) {
        Ok((out, passed)) => match print(&out) {
            // The doctor's checklist printed: 1 when it found what will stop a re-run.
            ExitCode::SUCCESS if !passed => ExitCode::from(1),
            code => code,
        },
        Err(error) => {
            // One line, whatever the cause's text holds.
            let message = error.to_string();
            let message = message.split_whitespace().collect::<Vec<_>>().join(" ");
            eprintln!("dbt-rerun: error: {message}");
            ExitCode::from(2)
        }
    }
}

/// The command's output, and whether it passed (only the doctor can say no).
fn run(command: Command) -> Result<(String, bool), commands::CliError> {
    let out = match command {
        Command::ParseLog { file } => commands::parse_log(&file),
        Command::Plan {
            event,
            log_file,
            command,
            alert_preview,
            format,
        } => commands::plan(
            &event,
            log_file.as_deref(),
            command.as_deref(),
            alert_preview,
            format,
        ),
        Command::History(args) => history::history(args),
        Command::Invoke(args) => commands::invoke(args),
        Command::Doctor(args) => return doctor::doctor(args),
    };
    out.map(|out| (out, true))
}

fn print(out: &str) -> ExitCode {
    use std::io::Write;
    match writeln!(std::io::stdout().lock(), "{out}") {
        Ok(()) => ExitCode::SUCCESS,
        // `| head` closed the pipe: the reader has what it wanted.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("dbt-rerun: error: cannot write the result: {e}");
            ExitCode::from(2)
        }
    }
}
