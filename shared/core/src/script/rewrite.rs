//! Writing the re-run script: the original text with dbt steps that succeeded removed and
//! the narrowed steps' selection words (and a lowered `--threads`) replaced; every other byte
//! stays as written.

use super::shell::{Joiner, Script, Statement, StepKind};
use super::words::single_quoted;
use super::Unreadable;
use crate::plan::ArgvEdit;
use std::ops::Range;

/// What the re-run does with a step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepAction {
    /// Kept as written: it runs again.
    Keep,
    /// Removed: a dbt step that succeeded.
    Drop,
    /// Its selection replaced (a failed step narrowed, a killed one resumed).
    Narrow(ArgvEdit),
}

/// The script with `actions` (one per step) applied.
pub(crate) fn rewrite(script: &Script, actions: &[StepAction]) -> Result<String, Unreadable> {
    let text = script.text.as_str();
    let mut edits: Vec<(Range<usize>, String)> = Vec::new();
    for statement in &script.statements {
        drops(text, script, statement, actions, &mut edits);
    }
    for (step, action) in script.steps.iter().zip(actions) {
        let (StepAction::Narrow(edit), StepKind::Dbt(dbt)) = (action, &step.kind) else {
            continue;
        };
        for &position in &edit.removed {
            let word = dbt.words.get(position).ok_or_else(|| {
                Unreadable("the planned edit names a word the step does not have".to_owned())
            })?;
            edits.push((
                blank_before(text, word.span.start)..word.span.end,
                String::new(),
            ));
        }
        if !edit.appended.is_empty() {
            let end = dbt.words.last().map_or(step.span.end, |w| w.span.end);
            let words: Vec<String> = edit.appended.iter().map(|w| single_quoted(w)).collect();
            edits.push((end..end, format!(" {}", words.join(" "))));
        }
    }
    apply(text, edits)
}

/// The removals of `statement`'s dropped steps.
fn drops(
    text: &str,
    script: &Script,
    statement: &Statement,
    actions: &[StepAction],
    edits: &mut Vec<(Range<usize>, String)>,
) {
    let dropped = |i: usize| actions.get(i) == Some(&StepAction::Drop);
    let Some(first_kept) = statement.steps.iter().position(|&i| !dropped(i)) else {
        if !statement.steps.is_empty() {
            edits.push((whole_statement(text, &statement.span), String::new()));
        }
        return;
    };
    let span = |k: usize| &script.steps[statement.steps[k]].span;
    if first_kept > 0 {
        // The dropped steps before the first kept one, with the `&&`s after them.
        edits.push((span(0).start..span(first_kept).start, String::new()));
    }
    for k in first_kept + 1..statement.steps.len() {
        let step = &script.steps[statement.steps[k]];
        if let (true, Joiner::And { operator }) = (dropped(statement.steps[k]), step.joiner) {
            edits.push((blank_before(text, operator)..step.span.end, String::new()));
        }
    }
}

/// A statement's text with its line, when nothing else is on it; else with the blanks before
/// and after it.
fn whole_statement(text: &str, span: &Range<usize>) -> Range<usize> {
    let bytes = text.as_bytes();
    let mut end = span.end;
    while end < bytes.len() && matches!(bytes[end], b' ' | b'\t') {
        end += 1;
    }
    let line_start = text[..span.start].rfind('\n').map_or(0, |i| i + 1);
    let alone = text[line_start..span.start].trim().is_empty();
    match bytes.get(end) {
        Some(b'\n') if alone => line_start..end + 1,
        None if alone => line_start..end,
        // Last on its line: the blanks before it go too.
        Some(b'\n') | None => blank_before(text, span.start)..end,
        // More follows on the line: the blanks after it went.
        _ => span.start..end,
    }
}

/// Where the blanks (spaces, tabs, line continuations) before `at` start.
fn blank_before(text: &str, at: usize) -> usize {
    let bytes = text.as_bytes();
    let mut i = at;
    loop {
        if i > 0 && matches!(bytes[i - 1], b' ' | b'\t') {
            i -= 1;
        } else if i > 1 && bytes[i - 1] == b'\n' && bytes[i - 2] == b'\\' {
            i -= 2;
        } else {
            return i;
        }
    }
}

/// `text` with `edits` (ranges of the original, none overlapping) replaced.
fn apply(text: &str, mut edits: Vec<(Range<usize>, String)>) -> Result<String, Unreadable> {
    edits.sort_by_key(|(r, _)| (r.start, r.end));
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for (range, replacement) in edits {
        if range.start < at || range.end > text.len() {
            return Err(Unreadable(
                "the planned changes to the script overlap".to_owned(),
            ));
        }
        out.push_str(&text[at..range.start]);
        out.push_str(&replacement);
        at = range.end;
    }
    out.push_str(&text[at..]);
    Ok(out)
}
