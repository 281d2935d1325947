//! dbt Fusion's console output (dbt 2.0, the Rust engine), recognised so that it is never
//! read as dbt Core's.
//!
//! Fusion prints no `N of M` lines, no `Completed with` summary and, in its early previews,
//! a `Done.` line whose counts were wrong (dbt-labs/dbt-fusion#416). Its result lines name
//! relations, not nodes (`Succeeded [  2.80s] model dbt_jcohen.my_model (table)`, later
//! `Succeeded model main.stg_users (view) [1 of 47 in 0.45s]`), a skipped line may stand for
//! several nodes and elide their names (`Skipped [-------] test 'a', 'b' and 6 others`), its
//! errors are in a separate `Errors and Warnings` block with codes (`[error] [JinjaError
//! (dbt1501)]: ...`), and its totals may be missing. The samples this module was built from,
//! and where users published them, are in `tests/fixtures/fusion/samples.md`.
//!
//! So a Fusion log is only recognised and summarised ([`FusionLog`]): its version, the
//! failed result lines and what they name, skipped lines, error entries, its closing lines.
//! The decision gives up on a Fusion log wherever it would need its nodes, and says the log is
//! Fusion's.
//!
//! A line is Fusion's when, without colour codes and surrounding blanks, it is
//! - the header every invocation prints first: `dbt-fusion 2.0.0-preview.28`, `dbt-oss 2.0.5`;
//! - a result line: a status word (`Succeeded`, `Failed`, `Passed`, `Warned`, `Skipped`,
//!   `Reused`, `Errored`, `Cancelled`, `No-op`), optionally a `[duration]` bracket, then a
//!   node type (`model`, `test`, `seed`, `snapshot`, `unit_test`, ...);
//! - a banner: `===... Execution Summary ===...`, `===... Errors and Warnings ===...`;
//! - a closing line: `Finished '<command>' ...`, `Summary: N total | ...`;
//! - a diagnostic with a Fusion code: `[error] [JinjaError (dbt1501)]: ...`, `error: dbt1000: ...`.
//!
//! dbt Core prints none of these; a line a model logs that imitates one can only make
//! dbt-rerun give up.

use super::truncate;
use serde::Serialize;

/// Failed result lines kept by name.
const MAX_FAILED_NAMES: usize = 20;

/// What a dbt Fusion log showed, as far as dbt-rerun reads it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct FusionLog {
    /// From the header, `dbt-fusion 2.0.0-preview.28`.
    pub version: Option<String>,
    /// Result lines saying a node failed (`Failed`, `Errored`).
    pub failed: u64,
    /// What the first of them name, as Fusion prints it: `test
    /// dbt_jcohen_dbt_test__audit.unique_my_model_id` (a relation, not a node name).
    pub failed_names: Vec<String>,
    /// Result lines saying nodes were skipped (one may stand for several).
    pub skipped_lines: u64,
    /// `[error]` entries (diagnostics with a Fusion code).
    pub errors: u64,
    /// The closing line, `Finished 'build' with 1 error for target 'dev' [1s]`.
    pub finished: Option<String>,
    /// `Summary: 5 total | 2 success | 1 warn | 1 error | 1 skipped`.
    pub summary: Option<String>,
}

impl FusionLog {
    /// The log shows a failure: a failed result line, an error entry, or errors in its
    /// closing lines.
    pub fn shows_failures(&self) -> bool {
        let says_error = |s: &Option<String>| {
            s.as_deref().is_some_and(|s| {
                s.split(|c: char| !c.is_ascii_alphanumeric())
                    .zip(s.split(|c: char| !c.is_ascii_alphanumeric()).skip(1))
                    .any(|(n, word)| {
                        n.parse::<u64>().is_ok_and(|n| n > 0) && word.starts_with("error")
                    })
            })
        };
        self.failed > 0
            || self.errors > 0
            || says_error(&self.finished)
            || says_error(&self.summary)
    }

    /// One clause for a reason: the version and what failed.
    pub fn describe(&self) -> String {
        let version = self
            .version
            .as_deref()
            .map_or("dbt Fusion".to_owned(), |v| format!("dbt Fusion {v}"));
        let mut parts = vec![version];
        if self.failed > 0 {
            let names = self
                .failed_names
                .iter()
                .take(3)
                .map(String::as_str)
                .collect::<Vec<_>>()
                .join(", ");
            let more = if self.failed > 3 { ", ..." } else { "" };
            parts.push(format!("{} failed: {names}{more}", self.failed));
        }
        if let Some(summary) = &self.summary {
            parts.push(summary.clone());
        } else if let Some(finished) = &self.finished {
            parts.push(finished.clone());
        }
        parts.join("; ")
    }

    pub(super) fn note(&mut self, line: FusionLine<'_>) {
        match line {
            FusionLine::Header(version) => {
                self.version
                    .get_or_insert_with(|| truncate(version, 60).to_owned());
            }
            FusionLine::Result { status, subject } => match status {
                "Failed" | "Errored" => {
                    self.failed += 1;
                    if self.failed_names.len() < MAX_FAILED_NAMES {
                        // Fusion pads its columns (`test  schema.name`).
                        let subject = subject.split_whitespace().collect::<Vec<_>>().join(" ");
                        self.failed_names.push(truncate(&subject, 200).to_owned());
                    }
                }
                "Skipped" => self.skipped_lines += 1,
                _ => {}
            },
            FusionLine::Banner => {}
            FusionLine::Finished(line) => self.finished = Some(truncate(line, 200).to_owned()),
            FusionLine::Summary(line) => self.summary = Some(truncate(line, 200).to_owned()),
            FusionLine::Diagnostic { error } => self.errors += u64::from(error),
        }
    }
}

/// A line of Fusion's output.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum FusionLine<'a> {
    Header(&'a str),
    /// `status`, and the node type and relation it names (without the status bracket).
    Result {
        status: &'a str,
        subject: &'a str,
    },
    Banner,
    Finished(&'a str),
    Summary(&'a str),
    Diagnostic {
        error: bool,
    },
}

const STATUSES: &[&str] = &[
    "Succeeded",
    "Failed",
    "Passed",
    "Warned",
    "Skipped",
    "Reused",
    "Errored",
    "Cancelled",
    "No-op",
    "NoOp",
];

const NODE_TYPES: &[&str] = &[
    "model",
    "test",
    "seed",
    "snapshot",
    "unit_test",
    "source",
    "analysis",
    "function",
    "exposure",
    "hook",
    "operation",
    "semantic_model",
    "saved_query",
    "metric",
];

/// Bytes a Fusion line can start with: a cheap first filter.
#[inline]
pub(super) fn may_be_fusion(line: &str) -> bool {
    matches!(
        line.as_bytes().first(),
        Some(
            b'd' | b'S'
                | b'F'
                | b'P'
                | b'W'
                | b'R'
                | b'E'
                | b'C'
                | b'N'
                | b'='
                | b'['
                | b'e'
                | b'w'
        )
    )
}

/// `line` (trimmed, without colour codes) read as Fusion's, if it is.
pub(super) fn read(line: &str) -> Option<FusionLine<'_>> {
    if !may_be_fusion(line) {
        return None;
    }
    if let Some(version) = ["dbt-fusion ", "dbt-oss "]
        .iter()
        .find_map(|p| line.strip_prefix(p))
    {
        let version = version.split_whitespace().next().unwrap_or_default();
        return version
            .starts_with(|c: char| c.is_ascii_digit())
            .then_some(FusionLine::Header(version));
    }
    if line.starts_with("===")
        && (line.contains(" Execution Summary ") || line.contains(" Errors and Warnings "))
    {
        return Some(FusionLine::Banner);
    }
    if let Some(rest) = line.strip_prefix("Finished '") {
        return rest
            .split_once('\'')
            .filter(|(verb, _)| !verb.is_empty() && !verb.contains(' '))
            .map(|_| FusionLine::Finished(line));
    }
    if let Some(rest) = line.strip_prefix("Summary: ") {
        let n = rest.bytes().take_while(u8::is_ascii_digit).count();
        return (n > 0 && rest[n..].starts_with(" total")).then_some(FusionLine::Summary(line));
    }
    if let Some(diagnostic) = diagnostic(line) {
        return Some(diagnostic);
    }
    result(line)
}

/// `[error] [JinjaError (dbt1501)]: ...`, `[warning] [... (dbt1097)]: ...`, `error: dbt1000: ...`.
fn diagnostic(line: &str) -> Option<FusionLine<'_>> {
    let (error, rest) = if let Some(rest) = line.strip_prefix("[error] ") {
        (true, rest)
    } else if let Some(rest) = line.strip_prefix("[warning] ") {
        (false, rest)
    } else if let Some(rest) = line.strip_prefix("error: ") {
        (true, rest)
    } else if let Some(rest) = line.strip_prefix("warning: ") {
        (false, rest)
    } else {
        return None;
    };
    // Bytes: 120 may fall inside a character (found by fuzzing).
    let head = &rest.as_bytes()[..rest.len().min(120)];
    let coded = head
        .windows(7)
        .any(|w| w.starts_with(b"dbt") && w[3..].iter().all(u8::is_ascii_digit));
    coded.then_some(FusionLine::Diagnostic { error })
}

/// `Failed [  1.74s] test  schema.name (path)`, `Succeeded model main.x (view) [1 of 47 in 0.45s]`.
/// Without a leading `[duration]` bracket, the subject must be one name, followed by nothing
/// but parenthesised notes and a trailing bracket.
fn result(line: &str) -> Option<FusionLine<'_>> {
    let (status, rest) = line.split_once(' ')?;
    if !STATUSES.contains(&status) {
        return None;
    }
    let mut rest = rest.trim_start();
    let mut timed = false;
    if let Some(inner) = rest.strip_prefix('[') {
        let (bracket, after) = inner.split_once(']')?;
        let timing = bracket
            .bytes()
            .all(|b| b.is_ascii_digit() || b" .smh-".contains(&b));
        if !timing {
            return None;
        }
        timed = true;
        rest = after.trim_start();
    }
    let (node_type, _) = rest.split_once(' ')?;
    if !NODE_TYPES.contains(&node_type) {
        return None;
    }
    // The subject without a trailing `[N of M in Xs]`.
    let subject = match rest.rfind(" [") {
        Some(at) if rest.ends_with(']') => {
            timed = true;
            &rest[..at]
        }
        _ => rest,
    }
    .trim_end();
    if !timed && !one_name(subject[node_type.len()..].trim()) {
        return None;
    }
    Some(FusionLine::Result { status, subject })
}

/// `schema.name`, `schema.name (view)`, `name (tests/x.sql)`: one name, then notes in
/// parentheses.
fn one_name(subject: &str) -> bool {
    let (name, mut notes) = subject.split_once(' ').unwrap_or((subject, ""));
    if name.is_empty() {
        return false;
    }
    loop {
        notes = notes.trim_start();
        if notes.is_empty() {
            return true;
        }
        let Some(close) = notes.strip_prefix('(').and_then(|n| n.find(')')) else {
            return false;
        };
        notes = &notes[close + 2..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_diagnostic_with_a_character_across_its_120th_byte_is_read() {
        // Found by fuzzing: the code is looked for in the first 120 bytes, which may end
        // inside a character.
        let line = format!("[error] {}é dbt1501", "x".repeat(119));
        assert_eq!(read(&line), None, "the code is past the head");
        let line = format!("[error] [JinjaError (dbt1501)]: {}é", "x".repeat(87));
        assert_eq!(read(&line), Some(FusionLine::Diagnostic { error: true }));
    }

    #[test]
    fn fusion_lines_of_every_published_shape_are_recognised() {
        assert_eq!(
            read("dbt-fusion 2.0.0-preview.28"),
            Some(FusionLine::Header("2.0.0-preview.28"))
        );
        assert_eq!(read("dbt-oss 2.0.5"), Some(FusionLine::Header("2.0.5")));
        assert_eq!(
            read("Failed [  1.74s] test  dbt_jcohen_dbt_test__audit.unique_my_model_id"),
            Some(FusionLine::Result {
                status: "Failed",
                subject: "test  dbt_jcohen_dbt_test__audit.unique_my_model_id"
            })
        );
        assert_eq!(
            read("Succeeded model main.stg_thelook__users (view) [1 of 47 in 0.45s]"),
            Some(FusionLine::Result {
                status: "Succeeded",
                subject: "model main.stg_thelook__users (view)"
            })
        );
        assert_eq!(
            read(
                "12:00:02 Skipped model analytics.downstream (view)"
                    .split_at(9)
                    .1
            ),
            Some(FusionLine::Result {
                status: "Skipped",
                subject: "model analytics.downstream (view)"
            })
        );
        assert!(matches!(
            read("Skipped [-------] test  'accepted_values_a', 'accepted_values_b' and 6 others"),
            Some(FusionLine::Result {
                status: "Skipped",
                ..
            })
        ));
        assert_eq!(
            read("==================== Execution Summary ====================="),
            Some(FusionLine::Banner)
        );
        assert!(matches!(
            read("Finished 'build' with 1 warning and 1 error for target 'dev' [1s]"),
            Some(FusionLine::Finished(_))
        ));
        assert!(matches!(
            read("Finished 'build' target 'dev' in 5s 829ms"),
            Some(FusionLine::Finished(_))
        ));
        assert!(matches!(
            read("Summary: 5 total | 2 success | 1 warn | 1 error | 1 skipped"),
            Some(FusionLine::Summary(_))
        ));
        assert_eq!(
            read("[error] [JinjaError (dbt1501)]: Failed to render SQL"),
            Some(FusionLine::Diagnostic { error: true })
        );
    }

    #[test]
    fn dbt_core_lines_are_not_fusion_lines() {
        for line in [
            "Finished running 2 table models in 0 hours 0 minutes and 0.21 seconds (0.21s).",
            "Failure in model bar (models/bar.sql)",
            "Done. PASS=1 WARN=0 ERROR=1 SKIP=0 NO-OP=0 TOTAL=2",
            "[ERROR]: in model stg_orders (models\\staging\\stg_orders.sql)",
            "Database Error in model x (models/x.sql)",
            "Completed with 1 error and 0 warnings:",
            "Encountered an error:",
            "Running with dbt=1.10.1",
            "Skipped model because of an upstream error",
            "[WARNING]: Deprecated functionality",
            "error: could not connect",
        ] {
            assert_eq!(read(line), None, "{line}");
        }
    }

    #[test]
    fn a_summary_with_errors_shows_failures() {
        let mut log = FusionLog::default();
        log.note(FusionLine::Summary("Summary: 3 total | 2 success | 1 warn"));
        assert!(!log.shows_failures());
        log.note(FusionLine::Finished(
            "Finished 'build' with 1 warning and 1 error for target 'dev' [1s]",
        ));
        assert!(log.shows_failures());
        let mut zero = FusionLog::default();
        zero.note(FusionLine::Finished(
            "Finished 'build' with 1 warning and 0 errors for target 'dev' [52.0s]",
        ));
        assert!(!zero.shows_failures());
    }
}
