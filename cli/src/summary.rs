//! `dbt-rerun plan`'s text for a person: the decision, why, what failed, and what runs next,
//! in a few lines. The JSON record (`--format json`) has everything; this is what a person
//! reads first.

use crate::text::shorten;
use dbt_rerun_core::alert::shell_words;
use dbt_rerun_core::plan::PlanShape;
use dbt_rerun_core::record::{DecisionKind, DecisionRecord};
use std::fmt::Write;

/// Failed nodes listed; the rest are counted.
const NODES_SHOWN: usize = 5;
/// Characters of a node's message, and of the command shown.
const MESSAGE_CHARS: usize = 110;
const COMMAND_CHARS: usize = 400;
/// Characters of a script step's text.
const STEP_CHARS: usize = 48;
/// The column the values start at.
const INDENT: &str = "          ";

/// The summary of `record`; `colour` paints the decision (for a terminal).
pub fn plan_summary(record: &DecisionRecord, colour: bool) -> String {
    let mut t = String::new();
    let (word, code) = match record.decision {
        DecisionKind::Rerun => ("rerun", "32"),
        DecisionKind::GiveUp => ("give up", "31"),
        DecisionKind::Ignore => ("ignore", "2"),
    };
    let word = if colour {
        format!("\x1b[1;{code}m{word}\x1b[0m")
    } else {
        word.to_owned()
    };
    let _ = writeln!(t, "Decision: {word}{}", attempt_note(record));
    let _ = writeln!(t, "Why:      {}", flat(&record.reason));
    write_nodes(&mut t, record);
    write_next(&mut t, record);
    let _ = writeln!(
        t,
        "\nTask {} ({}, cluster {}). The whole record: --format json.",
        record
            .task_arn
            .rsplit('/')
            .next()
            .unwrap_or(&record.task_arn),
        record.task_family,
        record.cluster
    );
    t
}

fn attempt_note(record: &DecisionRecord) -> String {
    match &record.rerun {
        Some(rerun) => format!(" (attempt {} of {})", rerun.attempt, record.max_attempts),
        None if record.attempt > 1 => {
            format!(
                " (at attempt {} of {})",
                record.attempt, record.max_attempts
            )
        }
        None => String::new(),
    }
}

fn flat(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn write_nodes(t: &mut String, record: &DecisionRecord) {
    let failed = &record.failed_nodes;
    for (i, node) in failed.iter().take(NODES_SHOWN).enumerate() {
        let label = if i == 0 { "Failed:   " } else { INDENT };
        let message = shorten(&flat(&node.message), MESSAGE_CHARS);
        let _ = writeln!(
            t,
            "{label}{} {}: {message}",
            node.resource_type.as_str(),
            node.name
        );
    }
    if failed.len() > NODES_SHOWN {
        let _ = writeln!(t, "{INDENT}... and {} more", failed.len() - NODES_SHOWN);
    }
    match record.skipped_nodes.len() {
        0 => {}
        n => {
            let them = if failed.len() == 1 { "it" } else { "them" };
            let _ = writeln!(t, "Skipped:  {n} nodes, because of {them}");
        }
    }
}

/// What the re-run selects, in words.
fn shape_words(record: &DecisionRecord) -> Option<String> {
    Some(match record.plan_shape? {
        PlanShape::Exact => format!(
            "{} nodes: exactly the failed and the skipped, by name; nothing that succeeded runs again",
            record.failed_nodes.len() + record.skipped_nodes.len()
        ),
        PlanShape::ExactModels => {
            "the failed and skipped models by name (their tests come back with them)".to_owned()
        }
        PlanShape::Descendants => {
            "what failed and what it skipped (`failed+` within the original selection)".to_owned()
        }
        PlanShape::Resume => format!(
            "the original selection minus the {} nodes that finished",
            record.finished_nodes
        ),
        PlanShape::Original => "the original command, whole".to_owned(),
    })
}

fn write_next(t: &mut String, record: &DecisionRecord) {
    let command = record.rerun_command.as_deref();
    match record.decision {
        DecisionKind::Rerun => {
            if let Some(steps) = &record.script_steps {
                let _ = writeln!(t, "Next:     the script again, from its failed step:");
                let texts: Vec<String> = steps
                    .iter()
                    .map(|s| shorten(&flat(&s.command), STEP_CHARS))
                    .collect();
                let pad = texts.iter().map(|s| s.chars().count()).max().unwrap_or(0);
                for (step, text) in steps.iter().zip(&texts) {
                    let _ = writeln!(
                        t,
                        "{INDENT}{}. {text:<pad$}  {}; {}",
                        step.step,
                        step.outcome.replace('_', " "),
                        step_fate(step.rerun)
                    );
                }
            } else if let Some(command) = command {
                let _ = writeln!(
                    t,
                    "Next:     {}",
                    shorten(&shell_words(command), COMMAND_CHARS)
                );
            }
            if let Some(words) = shape_words(record) {
                let _ = writeln!(t, "{INDENT}{words}");
            }
            if let Some(rerun) = &record.rerun {
                if let Some(memory) = &rerun.memory {
                    let _ = writeln!(t, "{INDENT}with {memory} MiB of memory");
                }
            }
        }
        DecisionKind::GiveUp => {
            let _ = writeln!(
                t,
                "Next:     nothing runs by itself: a person needs to look at it."
            );
            if let Some(command) = command {
                let _ = writeln!(
                    t,
                    "By hand:  {}",
                    shorten(&shell_words(command), COMMAND_CHARS)
                );
            }
        }
        DecisionKind::Ignore => {
            let _ = writeln!(t, "Next:     nothing runs.");
        }
    }
}

fn step_fate(rerun: &str) -> &str {
    match rerun {
        "removed" => "removed",
        "as_written" => "runs as written",
        "narrowed" => "narrowed to what did not succeed",
        "resumed" => "resumed after what finished",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dbt_rerun_core::decision::{DecisionConfig, DecisionInput};
    use dbt_rerun_core::log::RunReport;
    use dbt_rerun_core::node::{FailStatus, FailedNode, ResourceType, SkippedNode};
    use dbt_rerun_core::testing::{decide_record, TaskBuilder};

    fn record(exit: i32, stop_code: &str, message: &str) -> DecisionRecord {
        let task = TaskBuilder::exited(Some(exit)).stop_code(stop_code).build();
        let report = RunReport {
            failed: vec![FailedNode {
                name: "fct_orders".into(),
                resource_type: ResourceType::Model,
                unique_id: None,
                status: FailStatus::Error,
                message: message.into(),
                detail: message.into(),
            }],
            skipped: ["agg_daily", "customer_ltv"]
                .map(|n| SkippedNode {
                    name: n.into(),
                    resource_type: ResourceType::Model,
                    unique_id: None,
                })
                .to_vec(),
            stats: Some(dbt_rerun_core::log::RunStats {
                skip: 2,
                ..Default::default()
            }),
            finished: dbt_rerun_core::log::FinishedNodes {
                count: 12,
                ..Default::default()
            },
            end_of_run: true,
            lines: 40,
            ..Default::default()
        };
        let command = ["dbt", "build", "--target", "prod"].map(str::to_owned);
        decide_record(DecisionInput {
            task: &task,
            report: Some(&report),
            log_note: None,
            command: Some(&command),
            entry_point: None,
            invocations: None,
            config: &DecisionConfig::default(),
        })
    }

    #[test]
    fn a_rerun_says_what_failed_and_what_runs_next() {
        let r = record(
            1,
            "EssentialContainerExited",
            "SSL SYSCALL error: EOF detected",
        );
        let text = plan_summary(&r, false);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "Decision: rerun (attempt 2 of 3)", "{text}");
        assert!(
            lines[1].starts_with("Why:      1 failed node (1 transient error)"),
            "{text}"
        );
        assert_eq!(
            lines[2],
            "Failed:   model fct_orders: SSL SYSCALL error: EOF detected"
        );
        assert_eq!(lines[3], "Skipped:  2 nodes, because of it");
        assert!(
            lines[4].starts_with("Next:     dbt build --target prod --select fct_orders"),
            "{text}"
        );
        assert!(
            lines[5].contains("nothing that succeeded runs again"),
            "{text}"
        );
        assert!(text.contains("--format json"), "{text}");
        assert!(!text.contains('\x1b'));
        assert!(text.lines().count() <= 10, "a few lines: {text}");
        assert!(plan_summary(&r, true).contains("\x1b[1;32mrerun\x1b[0m"));
    }

    #[test]
    fn a_give_up_says_a_person_must_look_and_how_to_rerun_by_hand() {
        let r = record(
            1,
            "EssentialContainerExited",
            "Binder Error: column x not found",
        );
        let text = plan_summary(&r, false);
        assert!(text.starts_with("Decision: give up\n"), "{text}");
        assert!(text.contains("Next:     nothing runs by itself"), "{text}");
        assert!(
            text.contains("By hand:  dbt build --target prod --select fct_orders"),
            "{text}"
        );
    }

    #[test]
    fn an_ignore_says_nothing_runs() {
        let r = record(143, "UserInitiated", "");
        let text = plan_summary(&r, false);
        assert!(text.starts_with("Decision: ignore\n"), "{text}");
        assert!(text.contains("Next:     nothing runs."), "{text}");
    }
}
