//! Reading a shell script into steps, with the POSIX parser of `shuck-parser` (exact byte
//! spans for every word, operator and terminator).
//!
//! What is read: and-or lists (commands joined by `&&` and `||`), `;` and newlines; `set -e`
//! (and `-eu`, `-o errexit`, `-o pipefail`, `+e`); assignments and `export`; `cd`; comments;
//! any quoting and variable references inside words; `exec dbt ...`; `exit`. A **dbt step** is
//! a simple command whose program is `dbt` (any path), `python -m dbt...`, or `uv|poetry|pipenv
//! run dbt`, or a pipeline whose first command is one and whose other commands pass its output
//! on unchanged (`dbt build 2>&1 | tee run.log`). Everything else that is not dbt (`aws s3
//! cp`, an `if` without dbt in it, an `||` handler such as `{ notify; exit 1; }`) is an other
//! step, kept byte for byte. A script where dbt runs inside a construct whose control flow
//! cannot be followed from the text (after `||`, `if`, loops, `case`, subshells, braces,
//! functions, command substitution, `eval`, a nested shell, a redirect to a file, the
//! background, a pipeline through a filter) or that holds a heredoc is refused with the
//! construct named: it is re-run whole or not at all, never guessed at.

use super::words::static_value;
use crate::command::{is_selection_flag, takes_value_flag, DbtCommand};
use shuck_ast::{
    BinaryOp, BuiltinCommand, Command, CompoundCommand, RedirectTarget, SimpleCommand, Stmt,
    StmtTerminator,
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
    /// The script's source, as the shell is given it.
    pub text: String,
    /// Its commands, in source order.
    pub steps: Vec<Step>,
    /// Statements (lines, or commands ended by `;`): each an `&&` list of steps.
    pub statements: Vec<Statement>,
}

/// One and-or list (`a && b || c`): its steps (indices into [`Script::steps`]) and where it
/// ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    /// Its steps, as indices into [`Script::steps`].
    pub steps: Vec<usize>,
    /// From its first step's start to its `;` (included) or its last step's end.
    pub span: Range<usize>,
}

/// How a step follows the one before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Joiner {
    /// First in its statement: it runs when the statement is reached.
    Statement,
    /// After `&&` (whose position is given): it runs only when the last step of its list that
    /// ran succeeded.
    And {
        /// The `&&`'s byte offset in the script.
        operator: usize,
    },
    /// After `||` (whose position is given): it runs only when the last step of its list that
    /// ran failed (an error handler, `|| true`).
    Or {
        /// The `||`'s byte offset in the script.
        operator: usize,
    },
}

/// The shell options that change what a script does after a failure.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ShellOptions {
    /// `set -e`: a failed command ends the script (unless it is followed by `&&` or `||`).
    pub errexit: bool,
    /// `set -o pipefail`: a pipeline fails when any of its commands does, not only its last.
    pub pipefail: bool,
}

/// One command of the script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// Its source, from its first assignment or word to its last word or redirect (a whole
    /// pipeline, group or compound command).
    pub span: Range<usize>,
    /// How it follows the step before it.
    pub joiner: Joiner,
    /// `set -e` is in force when it runs.
    pub errexit: bool,
    /// `set -o pipefail` is in force when it runs.
    pub pipefail: bool,
    /// dbt's output goes through a pipeline (`dbt build | tee run.log`): its span is the whole
    /// pipeline, whose exit status is dbt's only under `pipefail` (else `tee`'s).
    pub piped: bool,
    /// What the command is: dbt, `exec`, `exit` or anything else.
    pub kind: StepKind,
}

impl Step {
    /// Its exit status says nothing of dbt's: a pipeline without `pipefail` has its last
    /// command's status, which the script sees as success.
    pub(crate) fn status_hidden(&self) -> bool {
        self.piped && !self.pipefail
    }
}

/// What a step runs, as far as dbt-rerun needs to know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepKind {
    /// A dbt command (`dbt build ...`, `exec dbt ...`, `uv run dbt ...`).
    Dbt(DbtStep),
    /// `exec` of something else: nothing after it runs.
    Exec,
    /// `exit`, or a `{ ...; }` group whose last command is `exit`: nothing after it runs.
    Exit,
    /// Any other command: it runs again as written.
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
    /// Its byte range in the script's source.
    pub span: Range<usize>,
    /// Its value after quote removal; None when it expands at run time (`$VAR`, `$(...)`).
    pub value: Option<String>,
}

/// Reads `text`, a script for a POSIX shell started with `errexit` (`sh -e -c`) or not.
pub fn read_script(text: &str, errexit: bool) -> Result<Script, Unreadable> {
    read_script_with(
        text,
        ShellOptions {
            errexit,
            pipefail: false,
        },
    )
}

/// Reads `text`, a script for a shell started with `options` (`bash -o pipefail -ec`).
pub fn read_script_with(text: &str, options: ShellOptions) -> Result<Script, Unreadable> {
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
        options,
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
pub(crate) const MAX_SUBSTITUTION_DEPTH: usize = 12;

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
    options: ShellOptions,
    script: Script,
}

fn range(span: shuck_ast::Span) -> Range<usize> {
    span.start.offset()..span.end.offset()
}

impl Reader<'_> {
    fn statement(&mut self, stmt: &Stmt) -> Result<(), Unreadable> {
        let mut elements = Vec::new();
        and_or_list(stmt, Joiner::Statement, &mut elements);
        // The whole list, from its first element to its last: what a refusal shows.
        let list = match (elements.first(), elements.last()) {
            (Some((first, _)), Some((last, _))) => {
                let start = extent(self.text, first).start;
                start..extent(self.text, last).end.max(start)
            }
            _ => extent(self.text, stmt),
        };
        let mut indices = Vec::new();
        for (element, joiner) in &elements {
            indices.push(self.element(element, *joiner, &list)?);
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
            self.refuse_dbt_in(list, "runs in the background (`&`)")?;
        }
        self.script.statements.push(Statement {
            steps: indices,
            span: start..end,
        });
        Ok(())
    }

    /// One element of an and-or list (`list`, for what a refusal shows); its step's index.
    fn element(
        &mut self,
        stmt: &Stmt,
        joiner: Joiner,
        list: &Range<usize>,
    ) -> Result<usize, Unreadable> {
        let whole = extent(self.text, stmt);
        // The options in force when the step runs: a `set` changes them for the next ones.
        let options = self.options;
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
        if matches!(joiner, Joiner::Or { .. }) && self.may_run_dbt(stmt) {
            // What runs after `||` depends on a failure the log may not show (a step that is
            // not dbt): an error handler is kept as written, never a dbt step.
            return Err(self.unreadable(
                list.clone(),
                "runs dbt after `||`, only when the command before it fails",
            ));
        }
        let (kind, span, piped) = self.kind_of(stmt, whole)?;
        self.script.steps.push(Step {
            span,
            joiner,
            errexit: options.errexit,
            pipefail: options.pipefail,
            piped,
            kind,
        });
        Ok(self.script.steps.len() - 1)
    }

    /// What kind of step an element is, its span, and whether it is dbt piped to `tee`.
    fn kind_of(
        &mut self,
        stmt: &Stmt,
        whole: Range<usize>,
    ) -> Result<(StepKind, Range<usize>, bool), Unreadable> {
        Ok(match &stmt.command {
            Command::Simple(simple) => {
                let (kind, span) = self.simple(simple)?;
                if matches!(kind, StepKind::Dbt(_)) {
                    self.dbt_redirects(stmt, &whole)?;
                }
                // The step reaches to its redirects (`dbt run 2>&1`, `echo x >> log`).
                (kind, with_redirects(stmt, span), false)
            }
            Command::Binary(binary) => match binary.op {
                BinaryOp::Pipe | BinaryOp::PipeAll => self.pipeline(stmt, whole)?,
                _ => {
                    self.refuse_dbt_in(whole.clone(), "is a negated or redirected `&&`/`||` list")?;
                    (StepKind::Other, whole, false)
                }
            },
            Command::Compound(compound) => {
                if self.may_run_dbt(stmt) {
                    return Err(self.unreadable(whole, compound_name(compound)));
                }
                if self.text[whole.clone()].contains("set ") {
                    return Err(
                        self.unreadable(whole, "changes shell options inside a compound command")
                    );
                }
                let kind = if self.ends_with_exit(compound) {
                    StepKind::Exit
                } else {
                    StepKind::Other
                };
                (kind, whole, false)
            }
            Command::Function(_) | Command::AnonymousFunction(_) => {
                self.refuse_dbt_in(whole.clone(), "defines a function")?;
                (StepKind::Other, whole, false)
            }
            Command::Decl(_) | Command::Builtin(_) => {
                let text = &self.text[whole.clone()];
                if (text.contains("$(") || text.contains('`')) && mentions_dbt(text) {
                    return Err(self.unreadable(whole, "substitutes a command's output"));
                }
                let kind = match &stmt.command {
                    Command::Builtin(BuiltinCommand::Exit(_)) => StepKind::Exit,
                    _ => StepKind::Other,
                };
                (kind, whole, false)
            }
        })
    }

    /// A pipeline: a dbt step when its first command is dbt and the others only pass dbt's
    /// output on (`tee`, `cat`); refused when dbt is anywhere else in it.
    fn pipeline(
        &mut self,
        stmt: &Stmt,
        whole: Range<usize>,
    ) -> Result<(StepKind, Range<usize>, bool), Unreadable> {
        if !mentions_dbt(&self.text[whole.clone()]) {
            return Ok((StepKind::Other, whole, false));
        }
        let mut commands = Vec::new();
        pipeline_commands(stmt, &mut commands);
        let (first, rest) = commands.split_first().ok_or_else(|| {
            self.unreadable(whole.clone(), "is a pipeline dbt-rerun cannot take apart")
        })?;
        let dbt = match &first.command {
            Command::Simple(simple) if !first.negated => match self.simple(simple)? {
                (StepKind::Dbt(dbt), _) => dbt,
                _ => {
                    return Err(
                        self.unreadable(whole, "runs dbt in a pipeline, not as its first command")
                    )
                }
            },
            _ => {
                return Err(
                    self.unreadable(whole, "runs dbt in a pipeline, not as its first command")
                )
            }
        };
        if dbt.exec {
            return Err(self.unreadable(whole, "runs `exec` inside a pipeline"));
        }
        self.dbt_redirects(first, &whole)?;
        for command in rest {
            let span = extent(self.text, command);
            let program = match &command.command {
                Command::Simple(simple) if !command.negated && command.redirects.is_empty() => {
                    static_value(&self.text[range(simple.name.span)])
                }
                _ => None,
            };
            let passes_on = matches!(program.as_deref(), Some("tee" | "cat"));
            if !passes_on || mentions_dbt(&self.text[span.clone()]) {
                let shown = crate::log::truncate(self.text[span].trim(), 40).to_owned();
                return Err(self.unreadable(
                    whole,
                    &format!("pipes dbt's output through `{shown}`, which may change what reaches the log (only `tee` and `cat` pass it on unchanged)"),
                ));
            }
        }
        Ok((StepKind::Dbt(dbt), whole, true))
    }

    /// dbt's output must reach the log: a redirect may only join stderr and stdout
    /// (`2>&1`, `>&2`).
    fn dbt_redirects(&self, stmt: &Stmt, whole: &Range<usize>) -> Result<(), Unreadable> {
        // As written (the parser gives `2>&1` an empty target word).
        let joins_streams = |r: &shuck_ast::Redirect| {
            let written: String = self.text[range(r.span)]
                .chars()
                .filter(|c| !c.is_whitespace())
                .collect();
            matches!(written.as_str(), "2>&1" | ">&2" | "1>&2")
        };
        if stmt.redirects.iter().all(joins_streams) {
            return Ok(());
        }
        Err(self.unreadable(whole.clone(), "redirects dbt's output away from the log"))
    }

    /// A `{ ...; }` group whose last command is `exit`: the script ends when it runs.
    fn ends_with_exit(&self, compound: &CompoundCommand) -> bool {
        let CompoundCommand::BraceGroup(body) = compound else {
            return false;
        };
        matches!(
            body.stmts.last().map(|s| &s.command),
            Some(Command::Builtin(BuiltinCommand::Exit(_)))
        )
    }

    /// A simple command's words, each with its value when it needs no expansion.
    fn words(&self, simple: &SimpleCommand) -> Vec<ShellWord> {
        std::iter::once(&simple.name)
            .chain(&simple.args)
            .map(|w| range(w.span))
            .filter(|r| !r.is_empty())
            .map(|span| ShellWord {
                value: static_value(&self.text[span.clone()]),
                span,
            })
            .collect()
    }

    /// Whether `stmt` may run dbt: a command whose program is dbt, or one whose command is
    /// known only when the script runs (`eval`, a nested shell, a word or assignment that
    /// substitutes a command) and names dbt; inside a compound command other than `{ ...; }`
    /// and `( ... )`, any mention of dbt. (A message such as `echo "dbt build failed"` runs
    /// no dbt.)
    fn may_run_dbt(&self, stmt: &Stmt) -> bool {
        match &stmt.command {
            Command::Simple(simple) => {
                let words = self.words(simple);
                let program = match words.first().and_then(|w| w.value.as_deref()) {
                    Some("exec") => &words[1..],
                    _ => &words[..],
                };
                let runtime = words.iter().any(|w| w.value.is_none())
                    || !simple.assignments.is_empty()
                    || program
                        .first()
                        .and_then(|w| w.value.as_deref())
                        .is_some_and(|p| p == "eval" || is_shell(p));
                is_dbt_program(program)
                    || (runtime && mentions_dbt(&self.text[extent(self.text, stmt)]))
            }
            Command::Binary(b) => self.may_run_dbt(&b.left) || self.may_run_dbt(&b.right),
            Command::Compound(
                CompoundCommand::BraceGroup(body) | CompoundCommand::Subshell(body),
            ) => body.stmts.iter().any(|s| self.may_run_dbt(s)),
            _ => mentions_dbt(&self.text[extent(self.text, stmt)]),
        }
    }

    fn simple(&mut self, simple: &SimpleCommand) -> Result<(StepKind, Range<usize>), Unreadable> {
        let words = self.words(simple);
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

    /// `set -e`, `set -eu`, `set -o errexit`, `set -eo pipefail`, `set +e`, ...
    fn set(&mut self, args: &[ShellWord]) {
        let mut args = args.iter().filter_map(|w| w.value.as_deref());
        while let Some(arg) = args.next() {
            let (on, letters) = match arg.as_bytes().first() {
                Some(b'-') => (true, &arg[1..]),
                Some(b'+') => (false, &arg[1..]),
                _ => continue,
            };
            if letters.starts_with('-') {
                continue; // `--`: the positional parameters follow
            }
            if letters.contains('e') {
                self.options.errexit = on;
            }
            if letters.contains('o') {
                self.options.set_named(args.next(), on);
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
        let shown = shown(&self.text[span]);
        Unreadable(format!(
            "dbt-rerun cannot follow this script: `{shown}` {what}"
        ))
    }
}

/// A construct as a refusal shows it: trimmed, at most 120 bytes, `…` where it was cut.
fn shown(text: &str) -> String {
    let text = text.trim();
    let cut = crate::log::truncate(text, 120);
    if cut.len() < text.len() {
        format!("{cut}…")
    } else {
        cut.to_owned()
    }
}

/// Where a statement is in the text, from its first byte to its last: the parser's span,
/// corrected where it is not (the span of a `{ ...; }` group or a `( ... )` subshell is its
/// body's, without the braces or parentheses, and an and-or list or pipeline starting with
/// one starts inside it), without the operator after it, and reaching to its redirects.
fn extent(text: &str, stmt: &Stmt) -> Range<usize> {
    let parsed = match &stmt.command {
        Command::Binary(b) => extent(text, &b.left).start..extent(text, &b.right).end,
        Command::Compound(CompoundCommand::BraceGroup(body)) => {
            enclosed(text, range(body.span), b'{', b'}')
        }
        Command::Compound(CompoundCommand::Subshell(body)) => {
            enclosed(text, range(body.span), b'(', b')')
        }
        _ => range(stmt.span),
    };
    let span = trimmed(text, parsed);
    match &stmt.command {
        // A simple command's redirects are its dbt step's concern (`with_redirects`).
        Command::Simple(_) => span,
        _ => with_redirects(stmt, span),
    }
}

/// A body's span widened to the `open` before it and the `close` after it (blanks, `;` and
/// comments between); as it is when they are not there.
fn enclosed(text: &str, body: Range<usize>, open: u8, close: u8) -> Range<usize> {
    let bytes = text.as_bytes();
    let mut start = body.start.min(bytes.len());
    while start > 0 && bytes[start - 1].is_ascii_whitespace() {
        start -= 1;
    }
    let start = match start.checked_sub(1) {
        Some(i) if bytes[i] == open => i,
        _ => body.start,
    };
    let mut end = body.end.min(bytes.len());
    loop {
        match bytes.get(end) {
            Some(b) if b.is_ascii_whitespace() || *b == b';' => end += 1,
            Some(b'#') => {
                while bytes.get(end).is_some_and(|b| *b != b'\n') {
                    end += 1;
                }
            }
            Some(b) if *b == close => return start..end + 1,
            _ => return start..body.end,
        }
    }
}

/// `span` without the blanks and the operator (`&&`, `||`, `|`, `|&`, `;`) the parser may
/// count at its end.
fn trimmed(text: &str, span: Range<usize>) -> Range<usize> {
    let end = span.end.min(text.len());
    let start = span.start.min(end);
    let trim = |end: usize| start + text[start..end].trim_end().len();
    let end = trim(end);
    let body = &text[start..end];
    if body.ends_with(";;") {
        return start..end;
    }
    for tail in ["&&", "||", "|&", ";", "|"] {
        if body.ends_with(tail) {
            return start..trim(end - tail.len());
        }
    }
    start..end
}

/// The elements of an and-or list, each with how it joins the one before it. The shell reads
/// `a && b || c` from left to right, whatever nesting the parser gives it.
fn and_or_list<'s>(stmt: &'s Stmt, joiner: Joiner, out: &mut Vec<(&'s Stmt, Joiner)>) {
    match &stmt.command {
        Command::Binary(b)
            if matches!(b.op, BinaryOp::And | BinaryOp::Or)
                && !stmt.negated
                && stmt.redirects.is_empty() =>
        {
            and_or_list(&b.left, joiner, out);
            let operator = b.op_span.start.offset();
            let next = match b.op {
                BinaryOp::And => Joiner::And { operator },
                _ => Joiner::Or { operator },
            };
            and_or_list(&b.right, next, out);
        }
        _ => out.push((stmt, joiner)),
    }
}

/// The commands of a pipeline, in order.
fn pipeline_commands<'s>(stmt: &'s Stmt, out: &mut Vec<&'s Stmt>) {
    match &stmt.command {
        Command::Binary(b)
            if matches!(b.op, BinaryOp::Pipe | BinaryOp::PipeAll) && !stmt.negated =>
        {
            pipeline_commands(&b.left, out);
            pipeline_commands(&b.right, out);
        }
        _ => out.push(stmt),
    }
}

/// `span` widened to the statement's redirects.
fn with_redirects(stmt: &Stmt, span: Range<usize>) -> Range<usize> {
    stmt.redirects
        .iter()
        .map(|r| range(r.span))
        .fold(span, |s, r| s.start.min(r.start)..s.end.max(r.end))
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

impl ShellOptions {
    /// `-o NAME` / `+o NAME` (`on`: `-o`).
    pub(crate) fn set_named(&mut self, name: Option<&str>, on: bool) {
        match name {
            Some("errexit") => self.errexit = on,
            Some("pipefail") => self.pipefail = on,
            _ => {}
        }
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
