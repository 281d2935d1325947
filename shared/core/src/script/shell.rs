//! Reading a shell script into steps, with the POSIX parser of `shuck-parser` (exact byte
//! spans for every word, operator and terminator).
//!
//! What is read: simple commands joined by `&&`, `;` and newlines; `set -e` (and `-eu`,
//! `-o errexit`, `-o pipefail`, `+e`); assignments and `export`; `cd`; comments; any quoting
//! and variable references inside words; `exec dbt ...`. A **dbt step** is a simple command
//! whose program is `dbt` (any path), `python -m dbt...`, or `uv|poetry|pipenv run dbt`.
//! Everything else that is not dbt (`aws s3 cp`, an `if` without dbt in it, a pipeline of
//! other tools) is an other step, kept byte for byte. A script where dbt runs inside a
//! construct whose control flow cannot be followed from the text (a pipeline, `||`, `if`,
//! loops, `case`, subshells, braces, functions, command substitution, `eval`, a nested shell,
//! a redirect, the background) or that holds a heredoc is refused with the construct named:
//! it is re-run whole or not at all, never guessed at.

use super::words::static_value;
use crate::command::{is_selection_flag, takes_value_flag, DbtCommand};
use shuck_ast::{
    BinaryOp, Command, CompoundCommand, RedirectTarget, SimpleCommand, Stmt, StmtTerminator,
};
use shuck_parser::{parser::Parser, ShellDialect};
use std::ops::Range;

/// A script dbt-rerun cannot read safely; the message names the construct.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Unreadable(pub String);

/// A script read into steps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Script {
    pub text: String,
    pub steps: Vec<Step>,
    /// Statements (lines, or commands ended by `;`): each an `&&` list of steps.
    pub statements: Vec<Statement>,
}

/// One `&&` list: its steps (indices into [`Script::steps`]) and where it ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    pub steps: Vec<usize>,
    /// From its first step's start to its `;` (included) or its last step's end.
    pub span: Range<usize>,
}

/// How a step follows the one before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Joiner {
    /// First in its statement: it runs when the statement is reached.
    Statement,
    /// After `&&` (whose position is given): it runs only when the step before succeeded.
    And { operator: usize },
}

/// One command of the script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// Its source, from its first assignment or word to its last word.
    pub span: Range<usize>,
    pub joiner: Joiner,
    /// `set -e` is in force when it runs.
    pub errexit: bool,
    pub kind: StepKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepKind {
    Dbt(DbtStep),
    /// `exec` of something else: nothing after it runs.
    Exec,
    Other,
}

/// A dbt invocation of the script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DbtStep {
    /// The words of the dbt command (after `exec` and assignments), in argv order.
    pub words: Vec<ShellWord>,
    /// The command as dbt will see it; words known only at run time stand as placeholders.
    pub command: DbtCommand,
    /// Why this step cannot be narrowed, when a word dbt-rerun would need to know expands
    /// at run time (a selection in a variable, say).
    pub unknown: Option<String>,
    /// `exec dbt ...`: the shell is replaced; nothing after it runs.
    pub exec: bool,
}

/// A word of a dbt step: where it is and, when it needs no expansion, its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShellWord {
    pub span: Range<usize>,
    pub value: Option<String>,
}

/// Reads `text`, a script for a POSIX shell started with `errexit` (`sh -e -c`) or not.
pub fn read_script(text: &str, errexit: bool) -> Result<Script, Unreadable> {
    if substitutions_too_deep(text) {
        return Err(Unreadable(format!(
            "the script nests more than {MAX_SUBSTITUTION_DEPTH} `$(`/`${{` substitutions (or leaves as many open), which the shell parser cannot read in bounded time"
        )));
    }
    let copy = ascii_copy(text);
    // The parser is young (0.x): should it ever panic on a script, the script is one
    // dbt-rerun cannot read, not a failed invocation.
    let parsed =
        std::panic::catch_unwind(|| Parser::with_dialect(&copy, ShellDialect::Posix).parse())
            .map_err(|_| Unreadable("the shell parser could not read the script".to_owned()))?;
    if !parsed.is_ok() {
        let why = parsed
            .terminal_error
            .map(|e| e.to_string())
            .unwrap_or_else(|| "it needed error recovery".to_owned());
        return Err(Unreadable(format!(
            "the script does not parse as a POSIX shell script ({why})"
        )));
    }
    let mut reader = Reader {
        text,
        errexit,
        script: Script {
            text: text.to_owned(),
            steps: vec![],
            statements: vec![],
        },
    };
    for stmt in &parsed.file.body.stmts {
        reader.statement(stmt)?;
    }
    Ok(reader.script)
}

/// The deepest nesting of `$(` and `${` (and the most left open) a script may have.
/// shuck-parser 0.2.8 rescans unclosed nested substitutions: its time grows about 1.5× per
/// opener (found by fuzzing: 15 s at 32). Real scripts nest two or three.
pub const MAX_SUBSTITUTION_DEPTH: usize = 12;

/// Whether `text` nests (or leaves open) more `$(`/`${` than [`MAX_SUBSTITUTION_DEPTH`],
/// counted without regard to quoting: a cheap bound checked before parsing.
fn substitutions_too_deep(text: &str) -> bool {
    let bytes = text.as_bytes();
    let (mut open, mut deepest) = (Vec::new(), 0);
    let mut i = 0;
    while i < bytes.len() {
        match (bytes[i], bytes.get(i + 1)) {
            (b'$', Some(&c @ (b'(' | b'{'))) => {
                open.push(if c == b'(' { b')' } else { b'}' });
                deepest = deepest.max(open.len());
                i += 1;
            }
            (c @ (b')' | b'}'), _) if open.last() == Some(&c) => {
                open.pop();
            }
            _ => {}
        }
        i += 1;
    }
    deepest > MAX_SUBSTITUTION_DEPTH || open.len() > MAX_SUBSTITUTION_DEPTH
}

/// What the parser reads: `text` with every byte outside ASCII replaced by `.`. shuck-parser
/// 0.2.8 can slice its input inside a multi-byte character and panic (a backquote
/// substitution inside double quotes after a line continuation, found by fuzzing); the copy
/// has the same byte offsets, and `.` is, like any character outside ASCII to a POSIX shell,
/// an ordinary word character: not blank, not an operator, not part of a name (so `é=1` stays
/// a command word, not an assignment), and no run of it is a reserved word. Every value is
/// still read from the original text.
fn ascii_copy(text: &str) -> std::borrow::Cow<'_, str> {
    if text.is_ascii() {
        return text.into();
    }
    text.bytes()
        .map(|b| if b.is_ascii() { char::from(b) } else { '.' })
        .collect::<String>()
        .into()
}

struct Reader<'a> {
    text: &'a str,
    errexit: bool,
    script: Script,
}

fn range(span: shuck_ast::Span) -> Range<usize> {
    span.start.offset()..span.end.offset()
}

impl Reader<'_> {
    fn statement(&mut self, stmt: &Stmt) -> Result<(), Unreadable> {
        let mut elements = Vec::new();
        and_list(stmt, None, &mut elements);
        let mut indices = Vec::new();
        for (element, operator) in &elements {
            let joiner = match operator {
                None => Joiner::Statement,
                Some(at) => Joiner::And { operator: *at },
            };
            indices.push(self.element(element, joiner)?);
        }
        let start = indices
            .first()
            .map(|&i| self.script.steps[i].span.start)
            .unwrap_or_default();
        let end = match (stmt.terminator, stmt.terminator_span) {
            (Some(StmtTerminator::Semicolon), Some(at)) => at.end.offset(),
            _ => indices
                .last()
                .map(|&i| self.script.steps[i].span.end)
                .unwrap_or_default(),
        };
        if matches!(stmt.terminator, Some(StmtTerminator::Background(_))) {
            self.refuse_dbt_in(range(stmt.span), "runs in the background (`&`)")?;
        }
        self.script.statements.push(Statement {
            steps: indices,
            span: start..end,
        });
        Ok(())
    }

    /// One element of an `&&` list; its step's index.
    fn element(&mut self, stmt: &Stmt, joiner: Joiner) -> Result<usize, Unreadable> {
        let whole = trimmed(self.text, range(stmt.span));
        // The options in force when the step runs: a `set` changes them for the next ones.
        let errexit = self.errexit;
        if stmt
            .redirects
            .iter()
            .any(|r| matches!(r.target, RedirectTarget::Heredoc(_)))
        {
            return Err(self.unreadable(whole, "holds a heredoc"));
        }
        if stmt.negated {
            self.refuse_dbt_in(whole.clone(), "is negated with `!`")?;
        }
        let (kind, span) = match &stmt.command {
            Command::Simple(simple) => {
                let (kind, span) = self.simple(simple)?;
                if !stmt.redirects.is_empty() && matches!(kind, StepKind::Dbt(_)) {
                    return Err(self.unreadable(whole, "redirects dbt's output"));
                }
                (kind, span)
            }
            Command::Binary(binary) => {
                let what = match binary.op {
                    BinaryOp::Or => "is an `||` list",
                    _ => "is a pipeline",
                };
                self.refuse_dbt_in(whole.clone(), what)?;
                (StepKind::Other, whole)
            }
            Command::Compound(compound) => {
                self.refuse_dbt_in(whole.clone(), compound_name(compound))?;
                if self.text[whole.clone()].contains("set ") {
                    return Err(
                        self.unreadable(whole, "changes shell options inside a compound command")
                    );
                }
                (StepKind::Other, whole)
            }
            Command::Function(_) | Command::AnonymousFunction(_) => {
                self.refuse_dbt_in(whole.clone(), "defines a function")?;
                (StepKind::Other, whole)
            }
            Command::Decl(_) | Command::Builtin(_) => {
                let text = &self.text[whole.clone()];
                if (text.contains("$(") || text.contains('`')) && mentions_dbt(text) {
                    return Err(self.unreadable(whole, "substitutes a command's output"));
                }
                (StepKind::Other, whole)
            }
        };
        self.script.steps.push(Step {
            span,
            joiner,
            errexit,
            kind,
        });
        Ok(self.script.steps.len() - 1)
    }

    fn simple(&mut self, simple: &SimpleCommand) -> Result<(StepKind, Range<usize>), Unreadable> {
        let words: Vec<ShellWord> = std::iter::once(&simple.name)
            .chain(&simple.args)
            .map(|w| range(w.span))
            .filter(|r| !r.is_empty())
            .map(|span| ShellWord {
                value: static_value(&self.text[span.clone()]),
                span,
            })
            .collect();
        let start = simple
            .assignments
            .first()
            .map(|a| a.span.start.offset())
            .or_else(|| words.first().map(|w| w.span.start))
            .unwrap_or_default();
        let end = words
            .last()
            .map(|w| w.span.end)
            .or_else(|| simple.assignments.last().map(|a| a.span.end.offset()))
            .unwrap_or(start);
        let span = start..end;
        self.refuse_dbt_in_substitutions(simple, &words)?;
        let name = words.first().and_then(|w| w.value.as_deref());
        match name {
            // What `eval` or a nested shell runs is only known when the script runs.
            Some("eval") => return Err(self.unreadable(span, "is run by `eval`")),
            Some("set") => self.set(&words[1..]),
            Some(shell) if is_shell(shell) && words.iter().any(|w| w.value.is_none()) => {
                return Err(self.unreadable(span, "runs in a nested shell"))
            }
            Some(shell) if is_shell(shell) => {
                self.refuse_dbt_in(span.clone(), "runs in a nested shell")?
            }
            _ => {}
        }
        let exec = name == Some("exec");
        let dbt_words = if exec { &words[1..] } else { &words[..] };
        if is_dbt_program(dbt_words) {
            let step = dbt_step(dbt_words.to_vec(), exec, self.text, &span)?;
            return Ok((StepKind::Dbt(step), span));
        }
        if mentions_dbt(&self.text[span.clone()]) && exec {
            return Err(self.unreadable(span, "runs dbt through a program dbt-rerun does not know"));
        }
        Ok((
            if exec {
                StepKind::Exec
            } else {
                StepKind::Other
            },
            span,
        ))
    }

    /// `set -e`, `set -eu`, `set -o errexit`, `set +e`, ...
    fn set(&mut self, args: &[ShellWord]) {
        let mut args = args.iter().filter_map(|w| w.value.as_deref());
        while let Some(arg) = args.next() {
            let (on, letters) = match arg.as_bytes().first() {
                Some(b'-') => (true, &arg[1..]),
                Some(b'+') => (false, &arg[1..]),
                _ => continue,
            };
            if letters == "o" {
                if args.next() == Some("errexit") {
                    self.errexit = on;
                }
            } else if letters.contains('e') {
                self.errexit = on;
            }
        }
    }

    /// Command substitutions in the words of a simple command must not run dbt.
    fn refuse_dbt_in_substitutions(
        &self,
        simple: &SimpleCommand,
        words: &[ShellWord],
    ) -> Result<(), Unreadable> {
        let dynamic = words
            .iter()
            .filter(|w| w.value.is_none())
            .map(|w| w.span.clone())
            .chain(simple.assignments.iter().map(|a| range(a.span)));
        for span in dynamic {
            let text = &self.text[span.clone()];
            if (text.contains("$(") || text.contains('`')) && mentions_dbt(text) {
                return Err(self.unreadable(span, "substitutes a command's output"));
            }
        }
        Ok(())
    }

    /// Err when the text at `span` runs dbt: `what` says how.
    fn refuse_dbt_in(&self, span: Range<usize>, what: &str) -> Result<(), Unreadable> {
        if mentions_dbt(&self.text[span.clone()]) {
            return Err(self.unreadable(span, what));
        }
        Ok(())
    }

    fn unreadable(&self, span: Range<usize>, what: &str) -> Unreadable {
        let shown = crate::log::truncate(self.text[span].trim(), 80);
        Unreadable(format!(
            "dbt-rerun cannot follow this script: `{shown}` {what}"
        ))
    }
}

/// `span` without the blanks, `&&` or `;` the parser may count at its end.
fn trimmed(text: &str, span: Range<usize>) -> Range<usize> {
    let mut end = span.end.min(text.len());
    let trim = |end: usize| span.start + text[span.start..end].trim_end().len();
    end = trim(end);
    for tail in ["&&", ";"] {
        if text[span.start..end].ends_with(tail) && !text[span.start..end].ends_with(";;") {
            end = trim(end - tail.len());
        }
    }
    span.start..end
}

/// The elements of an `&&` list, each with the position of the `&&` before it.
fn and_list<'s>(stmt: &'s Stmt, operator: Option<usize>, out: &mut Vec<(&'s Stmt, Option<usize>)>) {
    match &stmt.command {
        Command::Binary(b)
            if b.op == BinaryOp::And && !stmt.negated && stmt.redirects.is_empty() =>
        {
            and_list(&b.left, operator, out);
            and_list(&b.right, Some(b.op_span.start.offset()), out);
        }
        _ => out.push((stmt, operator)),
    }
}

fn compound_name(compound: &CompoundCommand) -> &'static str {
    match compound {
        CompoundCommand::If(_) => "is an `if` block",
        CompoundCommand::For(_) => "is a `for` loop",
        CompoundCommand::While(_) | CompoundCommand::Until(_) => "is a loop",
        CompoundCommand::Case(_) => "is a `case` block",
        CompoundCommand::Subshell(_) => "is a subshell",
        CompoundCommand::BraceGroup(_) => "is a `{ ...; }` group",
        _ => "is a compound command",
    }
}

/// The shells whose `-c` scripts dbt-rerun reads.
pub fn is_shell(program: &str) -> bool {
    let base = program.rsplit('/').next().unwrap_or(program);
    matches!(base, "sh" | "bash" | "dash" | "ash")
}

/// `dbt` (any path), `python -m dbt...`, `uv|poetry|pipenv run dbt`.
fn is_dbt_program(words: &[ShellWord]) -> bool {
    let value = |i: usize| words.get(i).and_then(|w| w.value.as_deref());
    let base = |v: &str| v.rsplit('/').next().unwrap_or(v).to_owned();
    match value(0).map(base).as_deref() {
        Some("dbt") => true,
        Some(p) if p.starts_with("python") => {
            value(1) == Some("-m") && value(2).is_some_and(|m| m.starts_with("dbt"))
        }
        Some("uv" | "poetry" | "pipenv") => {
            value(1) == Some("run") && value(2).map(base).as_deref() == Some("dbt")
        }
        _ => false,
    }
}

/// Whether `text` runs dbt anywhere: a word `dbt`, a path ending in `/dbt`, or `dbt.` (a
/// module). Deliberately generous: a false alarm only makes a script be re-run whole.
pub fn mentions_dbt(text: &str) -> bool {
    let bytes = text.as_bytes();
    let boundary_before = |i: usize| i == 0 || !is_word_byte(bytes[i - 1]) || bytes[i - 1] == b'/';
    let boundary_after = |i: usize| i >= bytes.len() || !is_word_byte(bytes[i]) || bytes[i] == b'.';
    text.match_indices("dbt")
        .any(|(i, _)| boundary_before(i) && boundary_after(i + 3))
}

fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'/' || b == b'.'
}

/// A dbt step from its words; placeholders stand for words known only at run time.
fn dbt_step(
    words: Vec<ShellWord>,
    exec: bool,
    text: &str,
    span: &Range<usize>,
) -> Result<DbtStep, Unreadable> {
    let source = &text[span.clone()];
    let argv: Vec<String> = words
        .iter()
        .enumerate()
        .map(|(i, w)| w.value.clone().unwrap_or_else(|| placeholder(i)))
        .collect();
    let command = DbtCommand::parse(&argv).map_err(|e| {
        Unreadable(format!(
            "dbt-rerun cannot read the dbt step `{}`: {e}",
            crate::log::truncate(source.trim(), 80)
        ))
    })?;
    let unknown = words.iter().enumerate().find_map(|(i, w)| {
        let needed = w.value.is_none() && !is_flag_value(&argv, i);
        needed.then(|| {
            format!(
                "its word `{}` expands when the script runs, and the step's selection must be known to narrow it",
                crate::log::truncate(&text[w.span.clone()], 60)
            )
        })
    });
    Ok(DbtStep {
        words,
        command,
        unknown,
        exec,
    })
}

/// Whether `argv[i]` is the value of a flag that takes one and is not part of the selection
/// (`--target "$DBT_TARGET"`, `--vars "$VARS"`).
fn is_flag_value(argv: &[String], i: usize) -> bool {
    i > 0 && takes_value_flag(&argv[i - 1]) && !is_selection_flag(&argv[i - 1])
}

/// A stand-in for a word whose value is known only at run time: no flag, verb or selector
/// can look like it.
fn placeholder(i: usize) -> String {
    format!("\u{1}word-{i}")
}
