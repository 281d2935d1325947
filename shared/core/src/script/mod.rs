//! Tasks that run dbt through a shell script: `sh -c "dbt deps && dbt build"`, `entryPoint
//! ["sh", "-c"]` with the script as the command, `set -e` scripts with several dbt steps and
//! an upload at the end.
//!
//! A key design decision: the script is re-run from its failed step, and inside that step
//! only what did not succeed, by editing the script's text, never by regenerating it. The
//! log is split by dbt invocation ([`crate::log::InvocationSplitter`]) and mapped onto the
//! script's dbt steps (`steps`); dbt steps that succeeded are removed, the failed step's
//! selection words are replaced exactly as a bare command's would be (a killed step is
//! resumed), steps that never ran and everything that is not dbt stay byte for byte (an `||`
//! handler of a removed step goes with it: it could not run). The new script is read back and
//! compared with the plan before it is used.
//!
//! Which dbt steps run again (`RUN_AGAIN_VERBS`): those whose work stays in the container
//! or is a check (`deps`, `clean`, `debug`, `parse`, `compile`, `ls`/`list`, `docs generate`,
//! `source freshness`, `show`) run again as written, whatever they did: a fresh container has
//! no `dbt_packages/` or `target/`, later steps (an upload of the docs) need their files, and
//! they build nothing. Those whose work is in the warehouse (`build`, `run`, `test`, `seed`,
//! `snapshot`, `run-operation`, `clone`, any other) are removed when they succeeded, and when
//! they failed are narrowed (the verbs that select nodes) or run as written (`run-operation`:
//! a macro cannot be narrowed). A `run-operation` that succeeded is not run again: what it did
//! (staging external sources, grants) is in the warehouse, and a macro need not be safe to run
//! twice. How a step's outcome is read when dbt prints no end-of-run marker for it is in
//! `steps`. Anything that cannot be read safely is [`TaskCommand::Opaque`], with the reason.

mod narrowing;
mod rewrite;
mod shell;
mod steps;
mod words;

pub use narrowing::narrows;
pub use rewrite::StepAction;
pub use shell::{
    is_shell, mentions_dbt, read_script, read_script_with, DbtStep, Joiner, Script, ShellOptions,
    ShellWord, Statement, Step, StepKind, Unreadable,
};
pub use steps::{map_invocations, prints_no_marker, StepOutcome, MARKERLESS_VERBS};
pub use words::{single_quoted, static_value};

use crate::command::DbtCommand;
use crate::log::{Invocation, RunReport};
use crate::plan::{json_len, plan_rerun, plan_resume, PlanShape, RerunCommand, Work};

/// dbt verbs (first words) run again as written whatever they did: they prepare the container
/// or check something, and build nothing in the warehouse (see the module docs).
pub(crate) const RUN_AGAIN_VERBS: &[&str] = &[
    "deps", "clean", "debug", "parse", "compile", "ls", "list", "docs", "source", "show",
];

/// Whether a dbt step of `verb` runs again as written whatever it did (`RUN_AGAIN_VERBS`).
pub fn runs_again(verb: &str) -> bool {
    RUN_AGAIN_VERBS.contains(&verb)
}

/// What the dbt container runs, as dbt-rerun reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskCommand {
    /// A dbt command line.
    Dbt(DbtCommand),
    /// A shell script dbt-rerun can follow.
    Script(ShellCommand),
    /// Something dbt-rerun cannot see into: the reason.
    Opaque(Unreadable),
}

/// A shell started with a script: `sh -ec SCRIPT`, `bash -o pipefail -c SCRIPT`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShellCommand {
    /// The whole argv ECS runs: the task definition's `entryPoint`, then the command.
    pub argv: Vec<String>,
    /// How many of its words are the entry point (RunTask can override only the rest).
    pub entry_point_len: usize,
    /// Where the script is in `argv`.
    pub script_index: usize,
    /// The script the shell runs, read into steps.
    pub script: Script,
}

impl TaskCommand {
    /// Reads what ECS runs: `entry_point` (the task definition's, empty when none) followed by
    /// `command` (the override's, else the task definition's).
    pub fn read(entry_point: &[String], command: &[String]) -> Self {
        let argv: Vec<String> = entry_point.iter().chain(command).cloned().collect();
        let Some(program) = argv.first() else {
            return Self::Opaque(Unreadable("the command is empty".to_owned()));
        };
        if is_shell(program) {
            return match shell_script(&argv) {
                Ok((script_index, options)) => match read_script_with(&argv[script_index], options)
                {
                    Ok(script) => Self::Script(ShellCommand {
                        entry_point_len: entry_point.len(),
                        script_index,
                        script,
                        argv,
                    }),
                    Err(why) => Self::Opaque(why),
                },
                Err(why) => Self::Opaque(why),
            };
        }
        match DbtCommand::parse(&argv) {
            Ok(command) => Self::Dbt(command),
            Err(e) => Self::Opaque(Unreadable(format!(
                "{e}: dbt-rerun cannot see which dbt commands it runs"
            ))),
        }
    }
}

/// Where the script of a shell argv is (the first operand after options that include `-c`),
/// and the options it starts with (`-e`, `-o errexit`, `-o pipefail`).
fn shell_script(argv: &[String]) -> Result<(usize, ShellOptions), Unreadable> {
    let (mut command_string, mut options) = (false, ShellOptions::default());
    let mut i = 1;
    while let Some(arg) = argv.get(i) {
        match arg.as_str() {
            "--" => {
                i += 1;
                break;
            }
            long if long.starts_with("--") => {}
            cluster if cluster.starts_with('-') || cluster.starts_with('+') => {
                let on = cluster.starts_with('-');
                let letters = &cluster[1..];
                command_string |= on && letters.contains('c');
                if letters.contains('e') {
                    options.errexit = on;
                }
                if letters.contains('o') {
                    // `-o NAME`, also inside a cluster (`-eo pipefail`).
                    options.set_named(argv.get(i + 1).map(String::as_str), on);
                    i += 1;
                }
            }
            _ => break,
        }
        i += 1;
    }
    match (command_string, argv.get(i)) {
        (true, Some(_)) => Ok((i, options)),
        (false, Some(file)) => Err(Unreadable(format!(
            "the shell runs the script file `{}`, whose steps dbt-rerun cannot read",
            crate::log::truncate(file, 80)
        ))),
        _ => Err(Unreadable(
            "the shell is given no script (`-c SCRIPT`)".to_owned(),
        )),
    }
}

/// A shell script's run, as the log shows it: every step's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptRun {
    /// Each step's outcome, in source order.
    pub outcomes: Vec<StepOutcome>,
    /// The step whose failure or kill the re-run is about: the first that failed or was
    /// killed.
    pub root: Option<usize>,
}

impl ScriptRun {
    /// The run of `shell` from its log's `invocations` and the dbt container's `exit_code`
    /// (None when it has none).
    pub fn of(
        shell: &ShellCommand,
        invocations: &[Invocation],
        exit_code: Option<i32>,
    ) -> Result<Self, Unreadable> {
        let outcomes = map_invocations(&shell.script, invocations, exit_code)?;
        let root = outcomes
            .iter()
            .position(|o| matches!(o, StepOutcome::Failed(_) | StepOutcome::Killed(_)));
        Ok(Self { outcomes, root })
    }

    /// The invocation of the root step.
    pub(crate) fn root_report<'a>(&self, invocations: &'a [Invocation]) -> Option<&'a RunReport> {
        let index = self.outcomes.get(self.root?)?.invocation()?;
        invocations.get(index).map(|i| &i.report)
    }
}

/// The re-run of a script, and what it does with each step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptRerun {
    /// The whole argv with the new script.
    pub argv: Vec<String>,
    /// What the re-run does with each step, in source order.
    pub actions: Vec<StepAction>,
    /// The plan shape of each narrowed step.
    pub shapes: Vec<Option<PlanShape>>,
    /// Why a failed step is re-run as written, when it is.
    pub notes: Vec<String>,
    /// The nodes the new script runs again and the finished ones it leaves out (see
    /// `script_work`).
    pub work: Work,
    /// The microbatch window of the failed (or killed) step, and what it builds again.
    pub microbatch: Option<crate::microbatch::BatchRerun>,
}

/// Plans the re-run of `shell` after `run`, its argv at most `budget` long as JSON.
pub fn plan_script(
    shell: &ShellCommand,
    run: &ScriptRun,
    invocations: &[Invocation],
    budget: usize,
    threads: Option<u32>,
) -> Result<ScriptRerun, Unreadable> {
    if shell.script_index < shell.entry_point_len {
        return Err(Unreadable(
            "the script is in the task definition's entryPoint, which RunTask cannot override"
                .to_owned(),
        ));
    }
    let step_budget = |dbt: &DbtStep| {
        budget.saturating_sub(json_len(&shell.argv)) + json_len(&dbt.command.to_argv())
    };
    let mut plan = ScriptRerun {
        argv: vec![],
        actions: vec![],
        shapes: vec![],
        notes: vec![],
        work: Work::default(),
        microbatch: None,
    };
    // The plan's work of each narrowed step, in step order.
    let mut narrowed_work = Vec::new();
    for (step, outcome) in shell.script.steps.iter().zip(&run.outcomes) {
        let (action, shape, work) = match (&step.kind, *outcome) {
            (StepKind::Dbt(dbt), StepOutcome::Succeeded(_)) if !runs_again(&dbt.command.verb) => {
                (StepAction::Drop, None, None)
            }
            (StepKind::Dbt(dbt), StepOutcome::Failed(_) | StepOutcome::Killed(_))
                if !dbt.command.selects_nodes() =>
            {
                let verb = &dbt.command.verb;
                plan.notes.push(format!(
                    "`dbt {verb}` runs as written: it selects no nodes to narrow"
                ));
                (StepAction::Keep, Some(PlanShape::Original), None)
            }
            (StepKind::Dbt(dbt), StepOutcome::Failed(i) | StepOutcome::Killed(i)) => {
                let report = &invocations[i].report;
                let planned = match outcome {
                    StepOutcome::Killed(_) => {
                        Ok(plan_resume(&dbt.command, report, step_budget(dbt)))
                    }
                    _ => plan_rerun(&dbt.command, report, step_budget(dbt)),
                };
                let work = planned.as_ref().ok().map(|p| p.work);
                if plan.microbatch.is_none() {
                    plan.microbatch = planned.as_ref().ok().and_then(|p| p.microbatch.clone());
                }
                let (mut action, shape) = narrowed(dbt, planned, &mut plan.notes);
                if let (StepOutcome::Failed(_), Some(threads)) = (outcome, threads) {
                    action = with_fewer_threads(dbt, action, threads, &mut plan.notes);
                }
                (action, shape, work)
            }
            _ => (StepAction::Keep, None, None),
        };
        narrowed_work.push(work);
        plan.actions.push(action);
        plan.shapes.push(shape);
    }
    drop_orphan_handlers(&shell.script, &mut plan.actions);
    plan.argv = written(shell, &plan.actions)?;
    if json_len(&plan.argv) > budget {
        plan.narrowed_steps_as_written();
        plan.argv = written(shell, &plan.actions)?;
    }
    plan.work = script_work(shell, run, invocations, &plan.actions, &narrowed_work);
    Ok(plan)
}

impl ScriptRerun {
    /// The narrowed script is too long for ECS's overrides: the failed steps run as written,
    /// still without what succeeded (and a microbatch step without its window).
    fn narrowed_steps_as_written(&mut self) {
        for action in &mut self.actions {
            if matches!(action, StepAction::Narrow(_)) {
                *action = StepAction::Keep;
            }
        }
        self.shapes
            .iter_mut()
            .for_each(|s| *s = s.map(|_| PlanShape::Original));
        self.notes.push("the narrowed script does not fit ECS's override limit: the failed step runs as written".to_owned());
        if let Some(batches) = self.microbatch.as_mut().filter(|m| m.window.is_some()) {
            batches.window = None;
            batches.note = format!(
                "{}; but the narrowed script does not fit ECS's override limit, so the step runs \
                 as written, its own batches only",
                batches.note
            );
        }
    }
}

/// The work of a script's re-run, step by step: a removed step saves the nodes it finished; a
/// narrowed step counts as its plan does; a dbt step that ran and runs again as written runs
/// all its nodes (dbt's total, when its run ended) and saves none; setup verbs,
/// `run-operation` and steps that are not dbt run no node. Steps the stopped run never reached are not counted: they run for
/// the first time, not again, and their nodes are not in the log.
fn script_work(
    shell: &ShellCommand,
    run: &ScriptRun,
    invocations: &[Invocation],
    actions: &[StepAction],
    narrowed: &[Option<Work>],
) -> Work {
    let report = |outcome: &StepOutcome| {
        outcome
            .invocation()
            .and_then(|i| invocations.get(i))
            .map(|i| &i.report)
    };
    let steps = shell.script.steps.iter().zip(&run.outcomes).zip(actions);
    steps
        .enumerate()
        .map(|(i, ((step, outcome), action))| {
            let StepKind::Dbt(dbt) = &step.kind else {
                return Work::NONE;
            };
            // Setup verbs and `run-operation` (a macro) build no node.
            if runs_again(&dbt.command.verb) || !dbt.command.selects_nodes() {
                return Work::NONE;
            }
            match (action, report(outcome)) {
                (_, None) => Work::NONE,
                (StepAction::Drop, Some(report)) => Work {
                    rerun_nodes: Some(0),
                    nodes_saved: report.finished.count,
                },
                (StepAction::Narrow(_), Some(report)) => narrowed
                    .get(i)
                    .copied()
                    .flatten()
                    .unwrap_or(Work::whole(Some(report))),
                (StepAction::Keep, Some(report)) => Work::whole(Some(report)),
            }
        })
        .fold(Work::NONE, Work::and)
}

/// The script with the selection of one dbt step replaced (a person's request): `select` and
/// `exclude` terms (checked by the caller) replace that step's own, every other byte stays.
/// `step` is 1-based over all the script's steps, as the decision record numbers them; None
/// picks the only step that selects nodes. The error says which steps there are.
pub fn with_step_selection(
    shell: &ShellCommand,
    step: Option<usize>,
    select: Option<&[String]>,
    exclude: Option<&[String]>,
) -> Result<Vec<String>, Unreadable> {
    let selecting: Vec<(usize, &DbtStep)> = shell
        .script
        .steps
        .iter()
        .enumerate()
        .filter_map(|(i, s)| match &s.kind {
            StepKind::Dbt(dbt) if dbt.command.selects_nodes() => Some((i, dbt)),
            _ => None,
        })
        .collect();
    let listed = || {
        selecting
            .iter()
            .map(|(i, d)| format!("step {} (`dbt {}`)", i + 1, d.command.verb))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let (index, dbt) = match (step, selecting.as_slice()) {
        (None, [only]) => *only,
        (None, []) => {
            return Err(Unreadable(
                "the script has no dbt step that selects nodes".to_owned(),
            ))
        }
        (None, _) => {
            return Err(Unreadable(format!(
                "the script has several dbt steps that select nodes, {}: name one with `step`",
                listed()
            )))
        }
        (Some(n), _) => *selecting.iter().find(|(i, _)| i + 1 == n).ok_or_else(|| {
            Unreadable(format!(
                "step {n} is not a dbt step that selects nodes; those are {}",
                listed()
            ))
        })?,
    };
    if let Some(why) = &dbt.unknown {
        return Err(Unreadable(format!("step {}: {why}", index + 1)));
    }
    let removed = dbt.command.flag_positions(crate::command::Strip {
        select: select.is_some(),
        exclude: exclude.is_some(),
        indirect: false,
        event_time: false,
    });
    let mut appended = Vec::new();
    for (flag, terms) in [("--select", select), ("--exclude", exclude)] {
        if let Some(terms) = terms {
            appended.push(flag.to_owned());
            appended.extend(terms.iter().cloned());
        }
    }
    let mut actions = vec![StepAction::Keep; shell.script.steps.len()];
    actions[index] = StepAction::Narrow(crate::plan::ArgvEdit { removed, appended });
    written(shell, &actions)
}

/// The `||` handlers of removed steps: the elements after `||` at the start of a list whose
/// steps before them are all removed. A removed step succeeded, so its handler could not run,
/// and nothing is left for it to follow: `dbt seed || exit 1` goes whole, and `dbt seed ||
/// true && dbt run` becomes `dbt run`.
fn drop_orphan_handlers(script: &Script, actions: &mut [StepAction]) {
    for statement in &script.statements {
        for (k, &i) in statement.steps.iter().enumerate() {
            if actions[i] == StepAction::Drop {
                continue;
            }
            if k > 0 && matches!(script.steps[i].joiner, Joiner::Or { .. }) {
                actions[i] = StepAction::Drop;
                continue;
            }
            break;
        }
    }
}

/// A failed or killed step's action from its plan.
fn narrowed(
    dbt: &DbtStep,
    planned: Result<RerunCommand, crate::plan::PlanError>,
    notes: &mut Vec<String>,
) -> (StepAction, Option<PlanShape>) {
    let verb = &dbt.command.verb;
    let plan = match planned {
        Ok(plan) => plan,
        Err(e) => {
            notes.push(format!("`dbt {verb}` runs as written: {e}"));
            return (StepAction::Keep, Some(PlanShape::Original));
        }
    };
    if let Some(why) = &dbt.unknown {
        notes.push(format!("`dbt {verb}` runs as written: {why}"));
        return (StepAction::Keep, Some(PlanShape::Original));
    }
    if let Some(note) = &plan.note {
        notes.push(format!("`dbt {verb}`: {note}"));
    }
    match (plan.shape, plan.edit_of(&dbt.command)) {
        // The whole step, with a microbatch window in place of its own.
        (PlanShape::Original, Some(edit)) if plan.window().is_some() => {
            (StepAction::Narrow(edit), Some(PlanShape::Original))
        }
        (PlanShape::Original, _) | (_, None) => (StepAction::Keep, Some(PlanShape::Original)),
        (shape, Some(edit)) => (StepAction::Narrow(edit), Some(shape)),
    }
}

/// A failed step's action running it with at most `threads` dbt threads
/// (`DBT_RERUN_RETRY_THREADS`): its `--threads` replaced, or `--threads N` added after its
/// words. A step with a word that expands at run time keeps its action.
fn with_fewer_threads(
    dbt: &DbtStep,
    action: StepAction,
    threads: u32,
    notes: &mut Vec<String>,
) -> StepAction {
    let flag = dbt.command.threads_flag();
    if dbt.unknown.is_some() || flag.as_ref().is_some_and(|f| f.at_most(threads)) {
        return action;
    }
    let mut edit = match action {
        StepAction::Narrow(edit) => edit,
        StepAction::Keep => crate::plan::ArgvEdit::default(),
        StepAction::Drop => return action,
    };
    if let Some(flag) = flag {
        edit.removed.extend(flag.positions);
        edit.removed.sort_unstable();
        edit.removed.dedup();
    }
    edit.appended.push("--threads".to_owned());
    edit.appended.push(threads.to_string());
    notes.push(format!(
        "`dbt {}`: {}",
        dbt.command.verb,
        DbtCommand::fewer_threads_note(threads)
    ));
    StepAction::Narrow(edit)
}

/// The argv with the script rewritten by `actions`, after checking that the new script reads
/// back as planned.
fn written(shell: &ShellCommand, actions: &[StepAction]) -> Result<Vec<String>, Unreadable> {
    let text = rewrite::rewrite(&shell.script, actions)?;
    let options = shell_script(&shell.argv)
        .map(|(_, o)| o)
        .unwrap_or_default();
    let again = read_script_with(&text, options)
        .map_err(|e| Unreadable(format!("the re-run script would not read back ({e})")))?;
    check_read_back(&shell.script, actions, &again)?;
    let mut argv = shell.argv.clone();
    argv[shell.script_index] = text;
    Ok(argv)
}

/// The new script has the original's steps minus the dropped ones, each as written or with
/// exactly its planned edit.
fn check_read_back(
    original: &Script,
    actions: &[StepAction],
    again: &Script,
) -> Result<(), Unreadable> {
    let kept: Vec<(&Step, &StepAction)> = original
        .steps
        .iter()
        .zip(actions)
        .filter(|(_, a)| **a != StepAction::Drop)
        .collect();
    let differs = kept.len() != again.steps.len()
        || joiners(original, actions) != joiners_of(again)
        || kept.iter().zip(&again.steps).any(|((old, action), new)| {
            let old_text = &original.text[old.span.clone()];
            let new_text = &again.text[new.span.clone()];
            match (action, &old.kind, &new.kind) {
                (StepAction::Narrow(edit), StepKind::Dbt(a), StepKind::Dbt(b)) => {
                    expected_words(original, a, edit) != words_of(again, b)
                }
                _ => old_text != new_text,
            }
        });
    if differs {
        return Err(Unreadable(
            "the re-run script does not read back as planned".to_owned(),
        ));
    }
    Ok(())
}

/// How each kept step joins the one before it, as the new script should read: the first kept
/// step of a list starts it, the others keep their `&&` or `||`.
fn joiners(script: &Script, actions: &[StepAction]) -> Vec<JoinerKind> {
    let mut kinds = Vec::new();
    for statement in &script.statements {
        let mut first = true;
        for &i in &statement.steps {
            if actions[i] == StepAction::Drop {
                continue;
            }
            kinds.push(match script.steps[i].joiner {
                _ if first => JoinerKind::Statement,
                Joiner::Or { .. } => JoinerKind::Or,
                _ => JoinerKind::And,
            });
            first = false;
        }
    }
    kinds
}

fn joiners_of(script: &Script) -> Vec<JoinerKind> {
    joiners(script, &vec![StepAction::Keep; script.steps.len()])
}

#[derive(Debug, PartialEq, Eq)]
enum JoinerKind {
    Statement,
    And,
    Or,
}

/// A word as the check compares it: its value, or its text when it expands at run time.
fn word_key(script: &Script, word: &ShellWord) -> String {
    word.value
        .clone()
        .unwrap_or_else(|| script.text[word.span.clone()].to_owned())
}

fn words_of(script: &Script, dbt: &DbtStep) -> Vec<String> {
    dbt.words.iter().map(|w| word_key(script, w)).collect()
}

fn expected_words(script: &Script, dbt: &DbtStep, edit: &crate::plan::ArgvEdit) -> Vec<String> {
    let mut words: Vec<String> = dbt
        .words
        .iter()
        .enumerate()
        .filter(|(i, _)| !edit.removed.contains(i))
        .map(|(_, w)| word_key(script, w))
        .collect();
    words.extend(edit.appended.iter().cloned());
    words
}

#[cfg(test)]
mod tests;
