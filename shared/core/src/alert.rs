//! Alerts: what a person is told about a decision, composed as plain data (SNS sends it).
//!
//! One message per decision: a subject under 100 characters, a text body a person can act on,
//! and the decision as JSON for machines. It goes out with SNS `MessageStructure: json`, so
//! e-mail, HTTPS and chat subscribers get the text, and SQS and Lambda subscribers get JSON
//! they can parse without scraping text. Message attributes carry `decision`, `failure_kind`
//! and `cluster` for subscription filter policies.

use crate::command::DbtCommand;
use crate::record::{DecisionKind, DecisionRecord};
use serde::Serialize;
use std::collections::BTreeSet;

/// SNS rejects subjects of 100 characters or more.
pub(crate) const MAX_SUBJECT: usize = 99;
/// Failed nodes listed in a message; the rest are counted.
pub(crate) const MAX_NODES_LISTED: usize = 25;
/// Script steps listed in a message.
pub(crate) const MAX_STEPS_LISTED: usize = 30;
/// Characters of each node's message in an alert.
pub(crate) const MAX_NODE_MESSAGE: usize = 240;

/// Where and when to alert (`DBT_RERUN_ALERT_TOPIC_ARN`, `DBT_RERUN_ALERT_ON`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertSettings {
    /// `DBT_RERUN_ALERT_TOPIC_ARN`: the SNS topic; None: no alerts.
    pub topic_arn: Option<String>,
    /// `DBT_RERUN_ALERT_ON`: the decisions that alert (default `give_up`).
    pub on: BTreeSet<DecisionKind>,
}

impl Default for AlertSettings {
    fn default() -> Self {
        Self {
            topic_arn: None,
            on: [DecisionKind::GiveUp].into(),
        }
    }
}

impl AlertSettings {
    /// Parses `give_up,rerun,ignore` (any of them).
    pub fn parse_on(value: &str) -> Result<BTreeSet<DecisionKind>, String> {
        value
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| match s {
                "give_up" => Ok(DecisionKind::GiveUp),
                "rerun" => Ok(DecisionKind::Rerun),
                "ignore" => Ok(DecisionKind::Ignore),
                other => Err(format!(
                    "unknown decision `{other}` (known: give_up, rerun, ignore)"
                )),
            })
            .collect()
    }
}

/// One alert, ready to publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alert {
    /// The SNS subject, under 100 characters.
    pub subject: String,
    /// The body a person reads: what happened and what to do.
    pub text: String,
    /// The SNS message for `MessageStructure: json`: text for `default` and `email`, the
    /// decision as JSON for `sqs` and `lambda`.
    pub message: String,
    /// SNS message attributes (`decision`, `failure_kind`, `cluster`) for filter policies.
    pub attributes: Vec<(String, String)>,
}

/// The alert for `record` when the settings ask for one.
pub fn alert_for(record: &DecisionRecord, settings: &AlertSettings) -> Option<Alert> {
    settings.topic_arn.as_ref()?;
    if !settings.on.contains(&record.decision) {
        return None;
    }
    // An ignore is worth telling only for a stopped task that failed (a person stopped it):
    // not a success, not a task still running, not a repeated event.
    if record.decision == DecisionKind::Ignore
        && (record.failure_kind == crate::classify::FailureKind::None
            || record.exit_code.is_none() && record.stop_code.is_none()
            || record.duplicate)
    {
        return None;
    }
    Some(compose(record))
}

/// Composes the alert for `record` (whatever the settings).
pub fn compose(record: &DecisionRecord) -> Alert {
    let text = text_body(record);
    let machine =
        serde_json::to_string(&MachineView::of(record)).unwrap_or_else(|_| "{}".to_owned());
    let message = serde_json::json!({
        "default": text,
        "email": text,
        "sqs": machine,
        "lambda": machine,
    })
    .to_string();
    Alert {
        subject: subject(record),
        text,
        message,
        attributes: vec![
            (
                "decision".to_owned(),
                decision_word(record.decision).to_owned(),
            ),
            (
                "failure_kind".to_owned(),
                record.failure_kind.as_str().to_owned(),
            ),
            ("cluster".to_owned(), record.cluster.clone()),
        ],
    }
}

fn decision_word(d: DecisionKind) -> &'static str {
    d.as_str()
}

/// `dbt build` from the command, else the task family.
fn what_ran(record: &DecisionRecord) -> String {
    record
        .command
        .as_deref()
        .and_then(|argv| DbtCommand::parse(argv).ok())
        .map(|c| format!("dbt {}", c.verb))
        .unwrap_or_else(|| record.task_family.clone())
}

fn subject(record: &DecisionRecord) -> String {
    let failed = record.failed_nodes.len();
    let count = if failed > 0 {
        format!(" ({failed} failed)")
    } else {
        String::new()
    };
    let what = what_ran(record);
    let head = match record.decision {
        DecisionKind::GiveUp => format!("dbt-rerun: gave up on {what}{count}"),
        DecisionKind::Rerun => {
            let attempt = record
                .rerun
                .as_ref()
                .map(|r| r.attempt)
                .unwrap_or(record.attempt + 1);
            format!(
                "dbt-rerun: re-running {what}{count}, attempt {attempt}/{}",
                record.max_attempts
            )
        }
        DecisionKind::Ignore => format!("dbt-rerun: not re-running {what}{count}"),
    };
    let full = format!("{head} in {}", record.cluster);
    if full.chars().count() <= MAX_SUBJECT {
        return full;
    }
    let cut: String = full.chars().take(MAX_SUBJECT - 3).collect();
    format!("{cut}...")
}

fn text_body(record: &DecisionRecord) -> String {
    use std::fmt::Write;
    let mut t = String::new();
    let headline = match record.decision {
        DecisionKind::GiveUp => {
            "dbt-rerun gave up on a failed dbt run: a person needs to look at it."
        }
        DecisionKind::Rerun => "dbt-rerun is re-running a failed dbt run.",
        DecisionKind::Ignore => "dbt-rerun did not re-run a failed dbt run.",
    };
    let _ = writeln!(t, "{headline}\n");
    let _ = writeln!(
        t,
        "Reason:       {}",
        crate::log::truncate(&record.reason, 1000)
    );
    let _ = writeln!(t, "Cluster:      {}", record.cluster);
    let _ = writeln!(t, "Task family:  {}", record.task_family);
    let _ = writeln!(t, "Task:         {}", record.task_arn);
    let _ = writeln!(
        t,
        "Attempt:      {} of {}",
        record.attempt, record.max_attempts
    );
    let _ = writeln!(t, "Failure kind: {}", record.failure_kind.as_str());
    if let Some(code) = record.exit_code {
        let _ = writeln!(t, "Exit code:    {code}");
    }
    write_nodes(&mut t, record);
    write_steps(&mut t, record);
    write_batches(&mut t, record);
    write_rerun(&mut t, record);
    match &record.rerun_command {
        Some(command) => {
            let _ = writeln!(
                t,
                "\nTo re-run by hand, run this command in the dbt task:\n  {}",
                shell_words(command)
            );
            let _ = writeln!(
                t,
                "or invoke the rerun-task function with:\n  {{\"from_task_arn\": \"{}\"}}",
                record.task_arn
            );
        }
        None => {
            let _ = writeln!(
                t,
                "\nNo re-run can fix this as it is: fix the project, then run it again."
            );
            if let Some(note) = &record.plan_note {
                let _ = writeln!(
                    t,
                    "(No re-run command: {}.)",
                    crate::log::truncate(note, 500)
                );
            }
        }
    }
    if let Some(link) = log_link(record) {
        let _ = writeln!(t, "\nLog: {link}");
    }
    t
}

/// The failed nodes (bounded) and how many were skipped.
fn write_nodes(t: &mut String, record: &DecisionRecord) {
    use std::fmt::Write;
    if !record.failed_nodes.is_empty() {
        let _ = writeln!(t, "\nFailed nodes ({}):", record.failed_nodes.len());
        for node in record.failed_nodes.iter().take(MAX_NODES_LISTED) {
            let _ = writeln!(
                t,
                "  - {} {}: {}",
                node.resource_type.as_str(),
                node.name,
                one_line(&node.message, MAX_NODE_MESSAGE)
            );
        }
        if record.failed_nodes.len() > MAX_NODES_LISTED {
            let _ = writeln!(
                t,
                "  ... and {} more",
                record.failed_nodes.len() - MAX_NODES_LISTED
            );
        }
    }
    if !record.skipped_nodes.is_empty() {
        let _ = writeln!(
            t,
            "Skipped because of them: {} nodes",
            record.skipped_nodes.len()
        );
    }
}

/// A script's steps: what happened to each, what the re-run does with it.
fn write_steps(t: &mut String, record: &DecisionRecord) {
    use std::fmt::Write;
    let Some(steps) = &record.script_steps else {
        return;
    };
    let _ = writeln!(t, "\nScript steps (what happened; in the re-run):");
    for step in steps.iter().take(MAX_STEPS_LISTED) {
        let _ = writeln!(
            t,
            "  {}. {}: {}; {}",
            step.step,
            one_line(&step.command, 100),
            step.outcome.replace('_', " "),
            step.rerun.replace('_', " ")
        );
    }
    if steps.len() > MAX_STEPS_LISTED {
        let _ = writeln!(t, "  ... and {} more", steps.len() - MAX_STEPS_LISTED);
    }
}

/// Microbatch models: which batches were not built, and which run again in what window.
fn write_batches(t: &mut String, record: &DecisionRecord) {
    use std::fmt::Write;
    let Some(batches) = &record.microbatch else {
        return;
    };
    let _ = match batches.window {
        Some(w) => writeln!(
            t,
            "\nMicrobatch batches run again with --event-time-start {} --event-time-end {} (UTC, end exclusive):",
            w.flags()[1],
            w.flags()[3]
        ),
        None => writeln!(
            t,
            "\nMicrobatch batches not built (no window could be known: {}):",
            one_line(&batches.note, 300)
        ),
    };
    for model in batches.models.iter().take(MAX_NODES_LISTED) {
        let labels: Vec<String> = model.not_built.iter().map(|b| b.label()).take(10).collect();
        let more = model.not_built_count.saturating_sub(labels.len() as u64);
        let _ = write!(
            t,
            "  - {}: {} of {} batches not built ({}{})",
            model.model,
            model.not_built_count,
            model.batches,
            labels.join(", "),
            if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            }
        );
        let _ = match (model.rerun_from, model.rerun_to) {
            (Some(from), Some(to)) => writeln!(
                t,
                "; runs again: {} batches, {} to {}",
                model.rerun_batches,
                from.label(),
                to.label()
            ),
            _ => writeln!(t),
        };
    }
}

/// Where the re-run is: its task, its schedule, or not launched (a dry run).
fn write_rerun(t: &mut String, record: &DecisionRecord) {
    use std::fmt::Write;
    if let Some(rerun) = &record.rerun {
        match (&rerun.task_arn, &rerun.scheduled_at) {
            (Some(arn), _) => {
                let _ = writeln!(t, "\nRe-run task: {arn}");
            }
            (None, Some(due)) => {
                let name = rerun.schedule_name.as_deref().unwrap_or_default();
                let _ = writeln!(t, "\nRe-run scheduled for {due} (schedule {name})");
            }
            (None, None) => {
                let _ = writeln!(t, "\nRe-run task: (dry run: not launched)");
            }
        }
    }
}

/// The CloudWatch console page of the task's log stream.
pub(crate) fn log_link(record: &DecisionRecord) -> Option<String> {
    let at = record.log_stream.as_ref()?;
    let region = at
        .region
        .clone()
        .or_else(|| record.task_arn.split(':').nth(3).map(str::to_owned))
        .filter(|r| !r.is_empty())?;
    // The console's fragment escapes `/` as `$252F` (a percent-encoded `%2F` with `$` for `%`).
    let escape = |s: &str| {
        s.chars()
            .map(|c| match c {
                'A'..='Z' | 'a'..='z' | '0'..='9' | '-' | '_' | '.' => c.to_string(),
                other => {
                    let mut buf = [0u8; 4];
                    other
                        .encode_utf8(&mut buf)
                        .bytes()
                        .map(|b| format!("$25{b:02X}"))
                        .collect()
                }
            })
            .collect::<String>()
    };
    Some(format!(
        "https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}#logsV2:log-groups/log-group/{}/log-events/{}",
        escape(&at.group),
        escape(&at.stream)
    ))
}

/// A command as a person would type it in a POSIX shell.
pub fn shell_words(argv: &[String]) -> String {
    argv.iter()
        .map(|a| {
            if !a.is_empty()
                && a.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"_-.,:/+@=".contains(&b))
            {
                a.clone()
            } else {
                format!("'{}'", a.replace('\'', r"'\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn one_line(s: &str, max: usize) -> String {
    let flat = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= max {
        flat
    } else {
        format!("{}...", flat.chars().take(max).collect::<String>())
    }
}

/// The decision for machines, bounded (SNS takes 256 KB).
#[derive(Serialize)]
struct MachineView<'a> {
    decision: DecisionKind,
    reason: &'a str,
    failure_kind: &'static str,
    transient: bool,
    task_arn: &'a str,
    cluster: &'a str,
    task_family: &'a str,
    attempt: u32,
    max_attempts: u32,
    failed_nodes: Vec<MachineNode<'a>>,
    failed_count: usize,
    skipped_count: usize,
    rerun_command: Option<&'a [String]>,
    rerun_task_arn: Option<&'a str>,
    log_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    script_steps: Option<&'a [crate::decision::ScriptStep]>,
    /// Microbatch models: the re-run's window and which batches of which model run again.
    #[serde(skip_serializing_if = "Option::is_none")]
    microbatch: Option<&'a crate::microbatch::BatchRerun>,
}

impl<'a> MachineView<'a> {
    fn of(r: &'a DecisionRecord) -> Self {
        Self {
            decision: r.decision,
            reason: crate::log::truncate(&r.reason, 2000),
            failure_kind: r.failure_kind.as_str(),
            transient: r.transient,
            task_arn: &r.task_arn,
            cluster: &r.cluster,
            task_family: &r.task_family,
            attempt: r.attempt,
            max_attempts: r.max_attempts,
            failed_nodes: r
                .failed_nodes
                .iter()
                .take(MAX_NODES_LISTED)
                .map(|n| MachineNode {
                    name: &n.name,
                    resource_type: n.resource_type.as_str(),
                    unique_id: n.unique_id.as_deref(),
                    status: n.status,
                    message: one_line(&n.message, MAX_NODE_MESSAGE),
                })
                .collect(),
            failed_count: r.failed_nodes.len(),
            skipped_count: r.skipped_nodes.len(),
            rerun_command: r.rerun_command.as_deref(),
            rerun_task_arn: r.rerun.as_ref().and_then(|x| x.task_arn.as_deref()),
            log_url: log_link(r),
            script_steps: r
                .script_steps
                .as_deref()
                .map(|s| &s[..s.len().min(MAX_STEPS_LISTED)]),
            microbatch: r.microbatch.as_ref(),
        }
    }
}

/// A failed node in an alert, its message bounded.
#[derive(Serialize)]
struct MachineNode<'a> {
    name: &'a str,
    resource_type: &'static str,
    unique_id: Option<&'a str>,
    status: crate::node::FailStatus,
    message: String,
}

#[cfg(test)]
mod tests;
