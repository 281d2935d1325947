//! `dbt-rerun history`: the functions' decision lines from their log groups, as chains.

pub mod table;

use crate::commands::CliError;
use dbt_rerun_core::history::{Filter, History};
use std::io::IsTerminal;
use table::{render, Style};

/// The stack name when neither `--stack` nor `DBT_RERUN_STACK` says.
pub const DEFAULT_STACK: &str = "dbt-rerun";

/// `dbt-rerun history`'s flags.
#[derive(clap::Args)]
pub struct HistoryArgs {
    /// How far back: `90m`, `24h`, `7d` (also `s`, `w`), or an RFC 3339 time.
    #[arg(long, default_value = "24h")]
    since: String,
    /// Only chains of this task definition family.
    #[arg(long)]
    family: Option<String>,
    /// Only chains of this cluster (name or ARN).
    #[arg(long)]
    cluster: Option<String>,
    /// Print the chains as a JSON array instead of a table.
    #[arg(long)]
    json: bool,
    /// The SAM stack whose functions' log groups to read:
    /// `/aws/lambda/STACK-on-task-stopped` and `/aws/lambda/STACK-rerun-task`.
    #[arg(long, env = "DBT_RERUN_STACK", default_value = DEFAULT_STACK)]
    stack: String,
    /// A log group to read instead of the stack's (repeatable).
    #[arg(long = "log-group", value_name = "GROUP")]
    log_groups: Vec<String>,
}

/// The log groups of the stack `stack`'s two functions (template.yaml names them).
pub fn stack_log_groups(stack: &str) -> Vec<String> {
    ["on-task-stopped", "rerun-task"]
        .iter()
        .map(|f| format!("/aws/lambda/{stack}-{f}"))
        .collect()
}

/// The start of the window `since` describes, `now_ms` being now.
pub fn since_ms(since: &str, now_ms: i64) -> Result<i64, CliError> {
    let since = since.trim();
    if let Ok(at) = chrono::DateTime::parse_from_rfc3339(since) {
        return Ok(at.timestamp_millis());
    }
    let bad = || {
        CliError::Usage(format!(
            "--since takes a duration such as 90m, 24h or 7d, or an RFC 3339 time; got `{since}`"
        ))
    };
    let split = since.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
    let (number, unit) = since.split_at(split);
    let number: i64 = number.parse().map_err(|_| bad())?;
    let seconds = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => return Err(bad()),
    };
    number
        .checked_mul(seconds * 1000)
        .map(|ms| now_ms.saturating_sub(ms))
        .ok_or_else(bad)
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or_default()
}

/// The terminal's columns: `COLUMNS`, else the terminal's own size, else `fallback`.
fn width(stdout_is_terminal: bool, fallback: usize) -> usize {
    if let Some(n) = std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.trim().parse::<usize>().ok())
        .filter(|n| *n > 0)
    {
        return n;
    }
    if stdout_is_terminal {
        if let Some(n) = terminal_columns() {
            return n;
        }
    }
    fallback
}

/// TIOCGWINSZ on stdout.
fn terminal_columns() -> Option<usize> {
    let mut size = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes one `winsize` through the pointer, which points at a live,
    // properly aligned `winsize` for the duration of the call.
    let ok = unsafe { libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut size) } == 0;
    (ok && size.ws_col > 0).then_some(usize::from(size.ws_col))
}

pub fn history(args: HistoryArgs) -> Result<String, CliError> {
    let start = since_ms(&args.since, now_ms())?;
    let groups = if args.log_groups.is_empty() {
        stack_log_groups(&args.stack)
    } else {
        args.log_groups.clone()
    };
    let filter = Filter {
        family: args.family.clone(),
        cluster: args.cluster.clone(),
    };
    let runtime = crate::commands::runtime()?;
    let found: History = runtime
        .block_on(async {
            let aws = dbt_rerun_aws::load_config().await;
            let logs = dbt_rerun_aws::CloudWatchLogs::new(&aws);
            dbt_rerun_service::history::history(&logs, &groups, start, &filter).await
        })
        .map_err(|e| {
            if e.is_not_found() && args.log_groups.is_empty() {
                CliError::Usage(format!(
                    "{e}: is `{}` the stack's name? Pass --stack NAME (or DBT_RERUN_STACK), or --log-group",
                    args.stack
                ))
            } else {
                CliError::from(dbt_rerun_service::ServiceError::from(e))
            }
        })?;
    if found.unreadable > 0 {
        eprintln!(
            "dbt-rerun: {} line(s) looked like dbt-rerun's but could not be read",
            found.unreadable
        );
    }
    if args.json {
        return Ok(serde_json::to_string_pretty(&found.chains)?);
    }
    if found.chains.is_empty() {
        return Ok(format!(
            "No dbt-rerun decisions since {} in {}.",
            dbt_rerun_core::history::rfc3339_ms(start),
            groups.join(", ")
        ));
    }
    let terminal = std::io::stdout().is_terminal();
    let style = Style {
        width: width(terminal, 120).max(40),
        colour: terminal && std::env::var_os("NO_COLOR").is_none(),
    };
    Ok(render(&found.chains, style).trim_end().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_takes_durations_and_times() {
        let now = 1_800_000_000_000;
        assert_eq!(since_ms("24h", now).unwrap(), now - 86_400_000);
        assert_eq!(since_ms("90m", now).unwrap(), now - 5_400_000);
        assert_eq!(since_ms("7d", now).unwrap(), now - 7 * 86_400_000);
        assert_eq!(
            since_ms("2026-11-27T02:00:00Z", now).unwrap(),
            1_795_744_800_000
        );
        for bad in ["", "h", "24", "24x", "-1h", "99999999999999999999d"] {
            assert!(since_ms(bad, now).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_stack_names_both_log_groups() {
        assert_eq!(
            stack_log_groups("dbt-rerun"),
            [
                "/aws/lambda/dbt-rerun-on-task-stopped",
                "/aws/lambda/dbt-rerun-rerun-task"
            ]
        );
    }
}
