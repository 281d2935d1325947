//! Any script run by `sh -c`, with any log: when a re-run script is planned,
//! 1. it parses again (as a POSIX script, into steps);
//! 2. its steps are the original's minus the dropped ones, in order, each with its `&&`/`||`/
//!    statement structure, its `set -e` and `pipefail` state and whether it is a pipeline;
//!    every step that is not dbt (an `||` handler, a `{ ...; }` group), and every dbt step
//!    kept as written (a whole pipeline), is byte for byte the original's source; a dropped
//!    step is a dbt step that succeeded (not one that runs again), or an `||` handler at the
//!    start of a list whose earlier steps were all dropped; a narrowed one is a dbt step that
//!    selects nodes and failed or was killed, whose text before its first word and after its
//!    last (a redirect, `| tee run.log`) is unchanged;
//! 3. a narrowed step keeps every word it does not remove, byte for byte, removes only
//!    selection words, and ends with the appended words written as ` 'w1' 'w2' ...`
//!    (single-quoted), each a flag the planner writes (`--select`, `--exclude`,
//!    `--indirect-selection` and its `empty` or original mode) or a selector term whose
//!    `,`-parts are the original's own selection terms (with an eager `+N` depth),
//!    `resource_type:test|unit_test`, or validated node names (`name`, or `name+` for a
//!    failed one) that the step's own invocation in the log lists as failed or skipped
//!    (under `--select`) or finished (under `--exclude`);
//! 4. the new script without those appended words is the original with bytes deleted only
//!    (a subsequence): nothing else is inserted, so nothing from the log appears anywhere
//!    but in a single-quoted validated name;
//! 5. only the script element of the argv changes, and the argv fits the budget when the
//!    original did.
#![no_main]

use dbt_rerun_core::command::Strip;
use dbt_rerun_core::log::{split_reader, Invocation, Limits, DEFAULT_MAX_INVOCATIONS};
use dbt_rerun_core::plan::{json_len, ECS_OVERRIDE_LIMIT};
use dbt_rerun_core::script::{
    plan_script, read_script, runs_again, single_quoted, static_value, DbtStep, Joiner, Script,
    ScriptRerun, ScriptRun, ShellCommand, StepAction, StepKind, StepOutcome, TaskCommand,
};
use dbt_rerun_core::NodeName;
use libfuzzer_sys::fuzz_target;
use std::collections::HashSet;
use std::ops::Range;

fuzz_target!(|data: &[u8]| {
    // The script, a NUL byte, then the log (as bytes: the log reader takes any).
    let (script, log) = match data.iter().position(|b| *b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let script = String::from_utf8_lossy(script).into_owned();
    let argv = ["sh".to_owned(), "-c".to_owned(), script];
    let TaskCommand::Script(shell) = TaskCommand::read(&[], &argv) else {
        return;
    };
    // Small limits now and then, so that truncated reports are planned too.
    let limits = if data.len() % 5 == 0 {
        Limits {
            failed: 3,
            skipped: 3,
            finished_names: 3,
            ..Limits::default()
        }
    } else {
        Limits::default()
    };
    let Ok(split) = split_reader(log, limits, DEFAULT_MAX_INVOCATIONS) else {
        return;
    };
    if split.truncated {
        return; // the service does not map a truncated split
    }
    // How the container ended: an exit code, a kill, or none.
    let exit_code = [Some(1), Some(0), Some(137), None, Some(2)][data.len() % 5];
    let Ok(run) = ScriptRun::of(&shell, &split.invocations, exit_code) else {
        return;
    };
    assert_eq!(run.outcomes.len(), shell.script.steps.len());
    // ECS's limit, and a tight one around the script's own length (narrower shapes, and the
    // fallback to the failed step as written).
    let tight = (json_len(&shell.argv) + data.len() % 512).saturating_sub(128);
    // DBT_RERUN_RETRY_THREADS now and then: the failed step's `--threads` edited too.
    let threads = (data.len() % 3 == 0).then_some(2);
    for budget in [ECS_OVERRIDE_LIMIT, tight] {
        if let Ok(plan) = plan_script(&shell, &run, &split.invocations, budget, threads) {
            check(&shell, &run, &split.invocations, &plan, budget);
        }
    }
});

fn check(
    shell: &ShellCommand,
    run: &ScriptRun,
    invocations: &[Invocation],
    plan: &ScriptRerun,
    budget: usize,
) {
    let original = &shell.script;
    let steps = &original.steps;
    assert_eq!(plan.actions.len(), steps.len());

    // 5. Only the script changes; the argv fits when the original did.
    assert_eq!(plan.argv.len(), shell.argv.len());
    for (i, (new, old)) in plan.argv.iter().zip(&shell.argv).enumerate() {
        assert!(i == shell.script_index || new == old, "argv[{i}] changed");
    }
    if json_len(&shell.argv) <= budget {
        assert!(
            json_len(&plan.argv) <= budget,
            "the re-run does not fit {budget}"
        );
    }

    // 1. It parses again.
    let text = plan.argv[shell.script_index].as_str();
    let again = read_script(text, false).unwrap_or_else(|e| {
        panic!(
            "{text:?} (from {:?}) does not read back: {e}",
            original.text
        )
    });

    // Each action is one the step's outcome allows.
    let statement_of =
        |s: &Script, i: usize| s.statements.iter().position(|st| st.steps.contains(&i));
    for (i, ((step, action), outcome)) in steps
        .iter()
        .zip(&plan.actions)
        .zip(&run.outcomes)
        .enumerate()
    {
        match action {
            StepAction::Keep => {}
            StepAction::Drop => match &step.kind {
                StepKind::Dbt(dbt) => {
                    assert!(
                        matches!(outcome, StepOutcome::Succeeded(_)),
                        "{outcome:?} dropped"
                    );
                    assert!(
                        !runs_again(&dbt.command.verb),
                        "a step that runs again dropped"
                    );
                }
                _ => {
                    // An `||` handler whose list's earlier steps are all dropped.
                    let statement = &original.statements[statement_of(original, i).unwrap()];
                    let before = statement.steps.iter().take_while(|&&j| j != i);
                    assert!(
                        matches!(step.joiner, Joiner::Or { .. })
                            && before.clone().count() > 0
                            && before
                                .into_iter()
                                .all(|&j| plan.actions[j] == StepAction::Drop),
                        "a step that is not dbt was dropped: {:?}",
                        &original.text[step.span.clone()]
                    );
                }
            },
            StepAction::Narrow(_) => {
                let StepKind::Dbt(dbt) = &step.kind else {
                    panic!("a step that is not dbt was narrowed")
                };
                assert!(
                    matches!(outcome, StepOutcome::Failed(_) | StepOutcome::Killed(_)),
                    "{outcome:?} narrowed"
                );
                assert!(dbt.unknown.is_none(), "a step with run-time words narrowed");
                assert!(
                    dbt.command.selects_nodes(),
                    "a step that selects nothing narrowed"
                );
            }
        }
    }

    // 2. Non-dbt steps (but the handlers of dropped steps), byte for byte, in order.
    let others = |s: &Script, actions: &[StepAction]| -> Vec<String> {
        s.steps
            .iter()
            .zip(actions)
            .filter(|(st, a)| !matches!(st.kind, StepKind::Dbt(_)) && **a != StepAction::Drop)
            .map(|(st, _)| s.text[st.span.clone()].to_owned())
            .collect()
    };
    assert_eq!(
        others(original, &plan.actions),
        others(&again, &vec![StepAction::Keep; again.steps.len()]),
        "non-dbt steps changed in {text:?}"
    );

    // 2. Every step, with its place in the control flow.
    let kept: Vec<usize> = (0..steps.len())
        .filter(|&i| plan.actions[i] != StepAction::Drop)
        .collect();
    assert_eq!(kept.len(), again.steps.len(), "steps of {text:?}");
    let mut first_kept_of_statement = HashSet::new();
    for st in &original.statements {
        if let Some(&i) = st
            .steps
            .iter()
            .find(|&&i| plan.actions[i] != StepAction::Drop)
        {
            first_kept_of_statement.insert(i);
        }
    }
    let mut insertions: Vec<Range<usize>> = Vec::new();
    for (n, &i) in kept.iter().enumerate() {
        let (old, new) = (&steps[i], &again.steps[n]);
        assert_eq!(
            (old.errexit, old.pipefail, old.piped),
            (new.errexit, new.pipefail, new.piped),
            "set -e, pipefail or pipeline of step {i} in {text:?}"
        );
        let expected = match old.joiner {
            _ if first_kept_of_statement.contains(&i) => "statement",
            Joiner::Or { .. } => "or",
            _ => "and",
        };
        let got = match new.joiner {
            Joiner::Statement => "statement",
            Joiner::And { .. } => "and",
            Joiner::Or { .. } => "or",
        };
        assert_eq!(got, expected, "joiner of step {i} in {text:?}");
        if n > 0 {
            let same_old = statement_of(original, kept[n - 1]) == statement_of(original, i);
            let same_new = statement_of(&again, n - 1) == statement_of(&again, n);
            assert_eq!(same_old, same_new, "statements around step {i} in {text:?}");
        }
        let old_text = &original.text[old.span.clone()];
        let new_text = &again.text[new.span.clone()];
        match (&old.kind, &new.kind, &plan.actions[i]) {
            (StepKind::Dbt(a), StepKind::Dbt(b), StepAction::Narrow(edit)) => {
                let outcome = run.outcomes[i].invocation().expect("narrowed step ran");
                let names = LogNames::of(&invocations[outcome]);
                if let Some(range) = narrowed(original, a, &again, b, edit, &names) {
                    insertions.push(range);
                }
                // Around its words (`X=1 `, ` 2>&1 | tee run.log`), the step is unchanged.
                let around = |s: &Script, step: &dbt_rerun_core::script::Step, d: &DbtStep| {
                    let (first, last) = (d.words.first().unwrap(), d.words.last().unwrap());
                    (
                        s.text[step.span.start..first.span.start].to_owned(),
                        s.text[last.span.end..step.span.end].to_owned(),
                    )
                };
                assert_eq!(
                    around(original, old, a),
                    around(&again, new, b),
                    "around the words of step {i} in {text:?}"
                );
            }
            (StepKind::Dbt(_), StepKind::Dbt(_), _)
            | (StepKind::Exec, StepKind::Exec, _)
            | (StepKind::Exit, StepKind::Exit, _)
            | (StepKind::Other, StepKind::Other, _) => {
                assert_eq!(old_text, new_text, "step {i} changed")
            }
            (a, b, _) => panic!("step {i} changed kind: {a:?} -> {b:?} in {text:?}"),
        }
    }

    // 4. Without the appended words, the new script only deletes from the original.
    let mut residual = Vec::with_capacity(text.len());
    let mut at = 0;
    for r in &insertions {
        assert!(r.start >= at);
        residual.extend_from_slice(&text.as_bytes()[at..r.start]);
        at = r.end;
    }
    residual.extend_from_slice(&text.as_bytes()[at..]);
    assert!(
        is_subsequence(&residual, original.text.as_bytes()),
        "{text:?} inserts into {:?} beyond its appended words",
        original.text
    );
}

/// The names a step's invocation gives: what failed or was skipped, and what finished.
struct LogNames {
    failed: HashSet<String>,
    rerun: HashSet<String>,
    finished: HashSet<String>,
}

impl LogNames {
    fn of(invocation: &Invocation) -> Self {
        let r = &invocation.report;
        let failed: HashSet<String> = r.failed.iter().map(|n| n.name.clone()).collect();
        let mut rerun = failed.clone();
        rerun.extend(r.skipped.iter().map(|n| n.name.clone()));
        Self {
            failed,
            rerun,
            finished: r.finished.nodes.iter().map(|n| n.name.clone()).collect(),
        }
    }
}

/// Checks a narrowed step against its edit; the range of the new script its appended words
/// (with the blanks before them) take.
fn narrowed(
    original: &Script,
    a: &DbtStep,
    again: &Script,
    b: &DbtStep,
    edit: &dbt_rerun_core::plan::ArgvEdit,
    names: &LogNames,
) -> Option<Range<usize>> {
    let argv = a.command.to_argv();
    assert_eq!(
        a.words.len(),
        argv.len(),
        "words and argv of the step differ"
    );
    // Only selection words are removed (a microbatch window is selection in time).
    let selection_words = a.command.flag_positions(Strip {
        select: true,
        exclude: true,
        indirect: true,
        event_time: true,
    });
    // ... and a `--threads` the edit lowers (DBT_RERUN_RETRY_THREADS).
    let threads_words = a
        .command
        .threads_flag()
        .map(|f| f.positions)
        .unwrap_or_default();
    assert!(
        edit.removed.windows(2).all(|w| w[0] < w[1]),
        "removed not ascending"
    );
    for r in &edit.removed {
        assert!(
            selection_words.contains(r) || threads_words.contains(r),
            "word {r} ({:?}) is not a selection word",
            argv[r.to_owned()]
        );
    }
    // Every word not removed is kept, byte for byte, in order; then the appended ones.
    let kept: Vec<&str> = a
        .words
        .iter()
        .enumerate()
        .filter(|(i, _)| !edit.removed.contains(i))
        .map(|(_, w)| &original.text[w.span.clone()])
        .collect();
    let k = edit.appended.len();
    assert_eq!(b.words.len(), kept.len() + k, "words of {:?}", again.text);
    assert!(!kept.is_empty(), "the program was removed");
    for (old, new) in kept.iter().zip(&b.words) {
        assert_eq!(*old, &again.text[new.span.clone()], "a kept word changed");
    }
    // The count the planner writes comes last; the rest is the new selection.
    let selection_appended = match edit.appended.as_slice() {
        [rest @ .., flag, count] if flag == "--threads" && count == "2" => rest,
        all => all,
    };
    check_appended(a, selection_appended, names);
    if k == 0 {
        return None;
    }
    let first = kept.len();
    for (j, value) in edit.appended.iter().enumerate() {
        let word = &b.words[first + j];
        let written = &again.text[word.span.clone()];
        assert_eq!(
            written,
            single_quoted(value),
            "appended word written as {written:?}"
        );
        assert_eq!(word.value.as_deref(), Some(value.as_str()));
        assert_eq!(static_value(written).as_deref(), Some(value.as_str()));
        let gap = &again.text[b.words[first + j - 1].span.end..word.span.start];
        assert_eq!(
            gap, " ",
            "before appended word {value:?} in {:?}",
            again.text
        );
    }
    Some(b.words[first - 1].span.end..b.words[first + k - 1].span.end)
}

/// 3. The appended words: the planner's flags, then terms of the original's selection and
/// of names the log gives, validated.
fn check_appended(a: &DbtStep, appended: &[String], names: &LogNames) {
    let selection = a.command.selection();
    let pieces = |terms: &[String]| -> HashSet<String> {
        let mut out = HashSet::new();
        for t in terms {
            out.insert(t.clone());
            out.extend(t.split(',').map(str::to_owned));
        }
        out
    };
    let select_pieces = pieces(&selection.select);
    let exclude_pieces = pieces(&selection.exclude);
    #[derive(PartialEq, Clone, Copy)]
    enum Under {
        Nothing,
        Select,
        Exclude,
        Indirect,
        Done,
    }
    let mut under = Under::Nothing;
    for w in appended {
        match w.as_str() {
            "--select" if under != Under::Indirect => under = Under::Select,
            "--exclude" if under != Under::Indirect => under = Under::Exclude,
            "--indirect-selection" if under != Under::Indirect => under = Under::Indirect,
            mode if under == Under::Indirect => {
                assert!(
                    mode == "empty" || selection.indirect.as_deref() == Some(mode),
                    "indirect selection {mode:?}"
                );
                under = Under::Done;
            }
            term => {
                assert!(
                    matches!(under, Under::Select | Under::Exclude),
                    "{term:?} appended outside a selection flag: {appended:?}"
                );
                assert!(!term.is_empty() && !term.starts_with('-'), "term {term:?}");
                let (originals, logged) = if under == Under::Select {
                    (&select_pieces, &names.rerun)
                } else {
                    (&exclude_pieces, &names.finished)
                };
                for part in term.split(',') {
                    let allowed = originals.contains(part)
                        || matches!(part, "resource_type:test" | "resource_type:unit_test")
                        // An original part with an eager `+N` depth.
                        || part.rsplit_once('+').is_some_and(|(base, depth)| {
                            !depth.is_empty()
                                && depth.bytes().all(|b| b.is_ascii_digit())
                                && (originals.contains(base)
                                    || originals.iter().any(|o| {
                                        o.rsplit_once('+').is_some_and(|(ob, od)| {
                                            ob == base && od.bytes().all(|b| b.is_ascii_digit())
                                        })
                                    }))
                        })
                        || (logged.contains(part) && NodeName::parse(part).is_ok())
                        || (under == Under::Select
                            && part.strip_suffix('+').is_some_and(|n| {
                                names.failed.contains(n) && NodeName::parse(n).is_ok()
                            }));
                    assert!(
                        allowed,
                        "{part:?} of {term:?} is neither the original's, the log's, nor the planner's: {appended:?}"
                    );
                }
            }
        }
    }
    assert!(
        under != Under::Indirect,
        "--indirect-selection without a mode"
    );
}

fn is_subsequence(needle: &[u8], haystack: &[u8]) -> bool {
    let mut it = haystack.iter();
    needle.iter().all(|b| it.any(|h| h == b))
}
