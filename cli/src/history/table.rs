//! The history as a table for a terminal: a row per chain (when it started, family, cluster
//! when there are several, outcome, command), under it a line per attempt (decision, task,
//! failed nodes, reason) and one for a re-run still running or scheduled. Every line is cut
//! to the width (a cut ends in `…`); colour only when asked.

use crate::text::shorten;
use dbt_rerun_core::history::{AttemptHistory, ChainHistory, Outcome};

/// How to draw the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Style {
    /// Characters per line.
    pub width: usize,
    /// ANSI colours (for a terminal).
    pub colour: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Paint {
    Plain,
    Bold,
    Green,
    Red,
    Yellow,
    Dim,
}

impl Paint {
    fn code(self) -> Option<&'static str> {
        match self {
            Self::Plain => None,
            Self::Bold => Some("1"),
            Self::Green => Some("32"),
            Self::Red => Some("31"),
            Self::Yellow => Some("33"),
            Self::Dim => Some("2"),
        }
    }
}

/// A piece of a line: its text, its colour, and the width it is padded to.
struct Cell {
    text: String,
    paint: Paint,
    pad: usize,
}

fn cell(text: impl Into<String>, paint: Paint, pad: usize) -> Cell {
    Cell {
        text: text.into(),
        paint,
        pad,
    }
}

/// The cells as one line of at most `style.width` characters, without trailing blanks.
fn line(cells: &[Cell], style: Style) -> String {
    let mut out = String::new();
    let mut used = 0;
    for c in cells {
        let room = style.width.saturating_sub(used);
        if room == 0 {
            break;
        }
        let text = shorten(&c.text, room);
        let n = text.chars().count();
        match c.paint.code().filter(|_| style.colour && !text.is_empty()) {
            Some(code) => out.push_str(&format!("\x1b[{code}m{text}\x1b[0m")),
            None => out.push_str(&text),
        }
        used += n;
        let pad = c
            .pad
            .saturating_sub(n)
            .min(style.width.saturating_sub(used));
        out.extend(std::iter::repeat_n(' ', pad));
        used += pad;
    }
    out.truncate(out.trim_end().len());
    out
}

/// `2026-11-27 02:14` of an RFC 3339 time.
fn minute(rfc3339: &str) -> String {
    match (rfc3339.get(..10), rfc3339.get(11..16)) {
        (Some(day), Some(time)) => format!("{day} {time}"),
        _ => rfc3339.to_owned(),
    }
}

/// The outcome as the table shows it (`#n` is attempt n), and its colour.
fn outcome_label(chain: &ChainHistory) -> (String, Paint) {
    let n = chain.outcome_attempt;
    match chain.outcome {
        Outcome::Recovered => (format!("recovered #{n}"), Paint::Green),
        Outcome::GaveUp => (format!("gave up #{n}"), Paint::Red),
        Outcome::Running => (format!("running #{n}"), Paint::Yellow),
        Outcome::Scheduled => {
            let due = chain
                .scheduled_at
                .as_deref()
                .map(minute)
                .unwrap_or_default();
            let same_day = due.get(..10) == chain.started_at.get(..10);
            let due = if same_day {
                due.get(11..).unwrap_or_default().to_owned()
            } else {
                due
            };
            (format!("scheduled #{n} {due}"), Paint::Yellow)
        }
        Outcome::Ignored => (format!("ignored #{n}"), Paint::Dim),
        Outcome::NotLaunched => (format!("not launched #{n}"), Paint::Dim),
    }
}

/// The first 8 characters of a task's id.
fn short_task(arn: &str) -> String {
    arn.rsplit('/')
        .next()
        .unwrap_or(arn)
        .chars()
        .take(8)
        .collect()
}

/// The command a person would type, on one line.
fn command_text(chain: &ChainHistory) -> String {
    chain
        .command
        .as_deref()
        .map(|argv| {
            dbt_rerun_core::alert::shell_words(argv)
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_else(|| "(command not known)".to_owned())
}

fn nodes_text(a: &AttemptHistory) -> String {
    let mut text = String::new();
    if !a.failed_nodes.is_empty() {
        let shown: Vec<&str> = a.failed_nodes.iter().take(2).map(String::as_str).collect();
        text = format!("failed: {}", shown.join(", "));
        if a.failed_nodes.len() > shown.len() {
            text.push_str(&format!(" +{}", a.failed_nodes.len() - shown.len()));
        }
    }
    if a.skipped_nodes > 0 {
        if !text.is_empty() {
            text.push(' ');
        }
        text.push_str(&format!("({} skipped)", a.skipped_nodes));
    }
    text
}

fn decision_cell(a: &AttemptHistory) -> Cell {
    let (word, paint) = match a.decision.as_str() {
        _ if a.recovered => ("recovered", Paint::Green),
        "rerun" => ("rerun", Paint::Yellow),
        "give_up" => ("give up", Paint::Red),
        "ignore" => ("ignore", Paint::Dim),
        other => (other, Paint::Plain),
    };
    cell(word, paint, 11)
}

fn attempt_line(a: &AttemptHistory, style: Style) -> String {
    let nodes = nodes_text(a);
    let mut cells = vec![
        cell("", Paint::Plain, 2),
        cell(format!("#{}", a.attempt), Paint::Plain, 4),
        decision_cell(a),
        cell(short_task(&a.task_arn), Paint::Dim, 10),
    ];
    if !nodes.is_empty() {
        cells.push(cell(nodes, Paint::Plain, 0));
        cells.push(cell("", Paint::Plain, 2));
    }
    cells.push(cell(
        a.reason.split_whitespace().collect::<Vec<_>>().join(" "),
        Paint::Plain,
        0,
    ));
    line(&cells, style)
}

/// The line of the attempt still to come (running, scheduled, not launched).
fn pending_line(chain: &ChainHistory, style: Style) -> Option<String> {
    let n = chain.outcome_attempt;
    let (word, paint, rest) = match chain.outcome {
        Outcome::Running => (
            "running",
            Paint::Yellow,
            chain
                .running_task
                .as_deref()
                .map(short_task)
                .unwrap_or_default(),
        ),
        Outcome::Scheduled => (
            "scheduled",
            Paint::Yellow,
            format!("due {}", chain.scheduled_at.as_deref().unwrap_or("?")),
        ),
        Outcome::NotLaunched => ("-", Paint::Dim, "not launched (a dry run)".to_owned()),
        _ => return None,
    };
    Some(line(
        &[
            cell("", Paint::Plain, 2),
            cell(format!("#{n}"), Paint::Plain, 4),
            cell(word, paint, 11),
            cell(rest, Paint::Dim, 0),
        ],
        style,
    ))
}

/// The table of `chains` (empty for none).
pub fn render(chains: &[ChainHistory], style: Style) -> String {
    if chains.is_empty() {
        return String::new();
    }
    let widest = |f: &dyn Fn(&ChainHistory) -> usize, title: &str, max: usize| {
        chains
            .iter()
            .map(f)
            .max()
            .unwrap_or(0)
            .max(title.len())
            .min(max)
            + 2
    };
    let family_w = widest(&|c| c.family.chars().count(), "FAMILY", 30);
    let mut clusters: Vec<&str> = chains.iter().map(|c| c.cluster.as_str()).collect();
    clusters.sort_unstable();
    clusters.dedup();
    let cluster_w =
        (clusters.len() > 1).then(|| widest(&|c| c.cluster.chars().count(), "CLUSTER", 24));
    let outcome_w = widest(&|c| outcome_label(c).0.chars().count(), "OUTCOME", 40);
    let mut head = vec![
        cell("STARTED (UTC)", Paint::Bold, 18),
        cell("FAMILY", Paint::Bold, family_w),
    ];
    if let Some(w) = cluster_w {
        head.push(cell("CLUSTER", Paint::Bold, w));
    }
    head.push(cell("OUTCOME", Paint::Bold, outcome_w));
    head.push(cell("COMMAND", Paint::Bold, 0));
    let mut out = vec![line(&head, style)];
    for chain in chains {
        let (label, paint) = outcome_label(chain);
        let mut row = vec![
            cell(minute(&chain.started_at), Paint::Plain, 18),
            cell(shorten(&chain.family, family_w - 2), Paint::Plain, family_w),
        ];
        if let Some(w) = cluster_w {
            row.push(cell(shorten(&chain.cluster, w - 2), Paint::Plain, w));
        }
        row.push(cell(label, paint, outcome_w));
        row.push(cell(command_text(chain), Paint::Plain, 0));
        out.push(line(&row, style));
        out.extend(chain.attempts.iter().map(|a| attempt_line(a, style)));
        out.extend(pending_line(chain, style));
    }
    let mut text = out.join("\n");
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    //! The table of chains read from real decision lines: records of real decisions (the
    //! core's `decide`), written by `decision_log_line` as on-task-stopped writes them.

    use super::*;

    use dbt_rerun_core::testing::history::*;

    fn sample() -> Vec<ChainHistory> {
        let mut long = decided(&run(T3, 1).build(), None);
        let script = format!(
            "set -e\ndbt deps\ndbt build --target prod {}",
            "--vars '{a: 1}' ".repeat(20)
        );
        long.command = Some(vec!["sh".into(), "-c".into(), script]);
        all(&[
            event(&decided(&run(T1, 1).build(), started(T2)), NIGHT),
            recovered(T2, 2, NIGHT + MINUTE),
            event(&long, NIGHT + 2 * MINUTE),
        ])
        .chains
    }

    #[test]
    fn the_table_fits_the_width_and_shortens_long_commands() {
        let chains = sample();
        for width in [60, 80, 120, 200] {
            let text = render(
                &chains,
                Style {
                    width,
                    colour: false,
                },
            );
            for line in text.lines() {
                assert!(line.chars().count() <= width, "{width}: {line}");
            }
            assert!(!text.contains('\x1b'), "no colour unless asked");
            assert!(text.starts_with("STARTED (UTC)"), "{text}");
        }
        let text = render(
            &chains,
            Style {
                width: 100,
                colour: false,
            },
        );
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[1].contains("not launched #2"), "{text}");
        assert!(
            lines[1].contains("sh -c 'set -e dbt deps dbt build"),
            "{text}"
        );
        assert!(lines[1].ends_with('…'), "{text}");
        assert!(text.contains("recovered #2"), "{text}");
        assert!(
            text.contains(
                "  #1  rerun      11111111  failed: fct_orders (1 skipped)  1 failed node"
            ),
            "{text}"
        );
        assert!(
            text.contains("  #2  recovered  22222222  recovered: attempt 2 succeeded"),
            "{text}"
        );
        let coloured = render(
            &chains,
            Style {
                width: 100,
                colour: true,
            },
        );
        assert!(
            coloured.contains("\x1b[32mrecovered #2\x1b[0m"),
            "{coloured}"
        );
        assert!(render(
            &[],
            Style {
                width: 80,
                colour: false
            }
        )
        .is_empty());
    }
}
