//! Scripts against real dbt runs (`tests/fixtures/scripts`): every script fixture of every
//! version read into steps, its log mapped onto them as dbt's own file log says they ran, and
//! the decision and re-run script each scenario calls for. Every narrowed step's new selection
//! is expanded by real `dbt ls` in the integration tests (`tests/integration/script_plans.rs`).

use dbt_rerun_core::decision::ScriptStep;
use dbt_rerun_core::launch_rules::{LaunchRules, OwnLaunch};
use dbt_rerun_core::log::{split_reader, Limits, SplitLog, DEFAULT_MAX_INVOCATIONS};
use dbt_rerun_core::record::{DecisionKind, DecisionRecord};
use dbt_rerun_core::script::{
    read_script, runs_again, ScriptRun, StepKind, StepOutcome, TaskCommand,
};
use dbt_rerun_fixtures::{
    entry_and_command, expected_rerun, script_decision, script_fixtures, Mismatches, ScriptFixture,
};

fn split(f: &ScriptFixture) -> SplitLog {
    let file = std::fs::File::open(f.log_path()).unwrap();
    split_reader(file, Limits::default(), DEFAULT_MAX_INVOCATIONS).unwrap()
}

fn scenario(f: &ScriptFixture) -> &str {
    f.id.split('/').nth(1).unwrap_or_default()
}

/// Scenarios whose script dbt-rerun refuses to follow (re-run whole).
fn unreadable(f: &ScriptFixture) -> bool {
    scenario(f).starts_with("unsupported_")
}

#[test]
fn every_script_is_read_and_its_steps_mapped_as_dbt_ran_them() {
    let mut bad = Mismatches::default();
    for f in script_fixtures() {
        let (entry, command) = entry_and_command(&f);
        let shell = match TaskCommand::read(&entry, &command) {
            TaskCommand::Script(shell) => shell,
            TaskCommand::Opaque(why) => {
                bad.check(unreadable(&f), || format!("{}: not read: {why}", f.id));
                continue;
            }
            TaskCommand::Dbt(_) => panic!("{}: a script read as a dbt command", f.id),
        };
        bad.check(!unreadable(&f), || {
            format!("{}: read, expected refused", f.id)
        });
        let split = split(&f);
        let run = match ScriptRun::of(&shell, &split.invocations, Some(f.meta.exit_code)) {
            Ok(run) => run,
            Err(e) => {
                bad.check(false, || format!("{}: steps not mapped: {e}", f.id));
                continue;
            }
        };
        let truth = f.invocations();
        let ran: Vec<(&StepKind, StepOutcome)> = shell
            .script
            .steps
            .iter()
            .map(|s| &s.kind)
            .zip(run.outcomes.iter().copied())
            .filter(|(_, o)| o.invocation().is_some())
            .collect();
        bad.check(ran.len() == truth.len(), || {
            format!(
                "{}: {} dbt steps ran, dbt says {}",
                f.id,
                ran.len(),
                truth.len()
            )
        });
        for ((kind, outcome), t) in ran.iter().zip(&truth) {
            let StepKind::Dbt(dbt) = kind else {
                unreachable!()
            };
            let expected = match (t.completed, t.success) {
                (false, _) => "killed",
                (true, Some(true)) => "succeeded",
                _ => "failed",
            };
            bad.check(
                dbt.command.verb == t.verb.split(' ').next().unwrap_or_default()
                    && outcome.as_str() == expected,
                || {
                    format!(
                        "{}: step {} {outcome:?}, dbt: {} {expected}",
                        f.id, dbt.command.verb, t.verb
                    )
                },
            );
        }
        // Steps after the script stopped never ran; non-dbt steps the fixture says ran did.
        for (step, outcome) in shell.script.steps.iter().zip(&run.outcomes) {
            let text = &shell.script.text[step.span.clone()];
            if f.meta.non_dbt_steps_ran.iter().any(|s| s == text) {
                bad.check(*outcome == StepOutcome::Reached, || {
                    format!("{}: `{text}` ran", f.id)
                });
            }
            if f.meta.non_dbt_steps_not_run.iter().any(|s| s == text) {
                bad.check(*outcome == StepOutcome::NeverRan, || {
                    format!("{}: `{text}` did not run", f.id)
                });
            }
        }
    }
    bad.assert_none();
}

fn rerun_of(steps: &[ScriptStep]) -> Vec<(&str, &str)> {
    steps
        .iter()
        .map(|s| (s.dbt_verb.as_deref().unwrap_or("-"), s.rerun))
        .collect()
}

#[test]
fn each_script_scenario_gets_the_decision_and_rerun_script_it_calls_for() {
    let mut bad = Mismatches::default();
    let inspect = [("DBT_RERUN_INSPECT_SUCCESS", "true")];
    let mut planned = 0;
    for f in script_fixtures() {
        let exit0 = f.meta.exit_code == 0;
        // A task that exits 0 is a success, whatever its log says, unless inspected.
        if exit0 {
            let record = script_decision(&f, &[]);
            bad.check(record.decision == DecisionKind::Ignore, || {
                format!("{}: without inspection: {}", f.id, record.reason)
            });
        }
        let record = script_decision(&f, if exit0 { &inspect[..] } else { &[] });
        let why = || {
            format!(
                "{}: {} ({})",
                f.id,
                record.reason,
                serde_json::to_string(&record.script_steps).unwrap()
            )
        };
        match expected_rerun(scenario(&f)) {
            Some(expected) => {
                bad.check(record.decision == DecisionKind::Rerun, why);
                let steps = record.script_steps.clone().unwrap_or_default();
                bad.check(rerun_of(&steps) == expected, why);
                check_rerun_script(&f, &record, &mut bad);
                planned += 1;
            }
            // A real success is ignored; a script dbt-rerun cannot follow is re-run whole.
            None if scenario(&f) == "exit0_success" => {
                bad.check(record.decision == DecisionKind::Ignore, why)
            }
            None => bad.check(
                unreadable(&f)
                    && record.decision == DecisionKind::Rerun
                    && record.rerun_command.as_deref() == Some(&entry_and_command(&f).1[..]),
                why,
            ),
        }
    }
    bad.assert_none();
    assert!(planned >= 30, "script re-runs planned: {planned}");
}

/// The re-run script keeps every step that is not dbt byte for byte and reads back.
fn check_rerun_script(f: &ScriptFixture, record: &DecisionRecord, bad: &mut Mismatches) {
    let (entry, _) = entry_and_command(f);
    let Some(command) = &record.rerun_command else {
        return bad.check(false, || format!("{}: no rerun_command", f.id));
    };
    let full: Vec<String> = entry.iter().chain(command).cloned().collect();
    let TaskCommand::Script(original) = TaskCommand::read(&entry, &entry_and_command(f).1) else {
        unreachable!()
    };
    let TaskCommand::Script(rerun) = TaskCommand::read(&[], &full) else {
        return bad.check(false, || {
            format!("{}: the re-run is not a readable script", f.id)
        });
    };
    let others = |s: &dbt_rerun_core::script::Script| -> Vec<String> {
        s.steps
            .iter()
            .filter(|st| !matches!(st.kind, StepKind::Dbt(_)))
            .map(|st| s.text[st.span.clone()].to_owned())
            .collect()
    };
    bad.check(others(&original.script) == others(&rerun.script), || {
        format!("{}: non-dbt steps changed:\n{}", f.id, rerun.script.text)
    });
    // A pipeline keeps what follows dbt's words (` 2>&1 | tee run.log`) as written.
    let tails = |s: &dbt_rerun_core::script::Script, removed: &[bool]| -> Vec<String> {
        s.steps
            .iter()
            .filter_map(|st| match &st.kind {
                StepKind::Dbt(d) => Some((st, d)),
                _ => None,
            })
            .zip(removed.iter().chain(std::iter::repeat(&false)))
            .filter(|(_, r)| !**r)
            .map(|((st, d), _)| {
                let end = d.words.last().map_or(st.span.end, |w| w.span.end);
                s.text[end..st.span.end].to_owned()
            })
            .collect()
    };
    let removed: Vec<bool> = record
        .script_steps
        .iter()
        .flatten()
        .filter(|s| s.dbt_verb.is_some())
        .map(|s| s.rerun == "removed")
        .collect();
    bad.check(
        tails(&original.script, &removed) == tails(&rerun.script, &[]),
        || format!("{}: a pipeline changed:\n{}", f.id, rerun.script.text),
    );
    bad.check(read_script(&rerun.script.text, false).is_ok(), || {
        format!("{}: does not parse", f.id)
    });
    // Handed back to rerun-task as a delayed re-run's planned launch, it is the task's own
    // script narrowed: rerun-task's default rules launch it.
    let own = OwnLaunch {
        entry_point: entry.clone(),
        commands: vec![entry_and_command(f).1],
        ..OwnLaunch::default()
    };
    if let Err(refusal) = LaunchRules::default().check_command("command", command, &own) {
        bad.check(false, || {
            format!("{}: rerun-task would refuse it: {refusal}", f.id)
        });
    }
}

#[test]
fn a_script_rerun_saves_what_finished_in_the_steps_it_removes_and_narrows() {
    let mut bad = Mismatches::default();
    let mut checked = 0;
    for f in script_fixtures() {
        let record = script_decision(&f, &[("DBT_RERUN_INSPECT_SUCCESS", "true")]);
        let Some(steps) = record
            .script_steps
            .as_ref()
            .filter(|_| record.decision == DecisionKind::Rerun)
        else {
            continue;
        };
        // dbt's own file log, per invocation of the steps that ran, in order.
        let truth = f.invocations();
        let mut ran = truth.iter();
        let (mut saved, mut rerun) = (0u64, Some(0u64));
        for step in steps.iter().filter(|s| s.dbt_verb.is_some()) {
            if !matches!(step.outcome, "succeeded" | "failed" | "killed") {
                continue; // never reached: runs for the first time, not counted
            }
            let Some(t) = ran.next() else {
                bad.check(false, || format!("{}: more steps ran than dbt says", f.id));
                break;
            };
            // A verb that runs again (compile, docs generate) finishes nodes but builds none.
            if runs_again(t.verb.split(' ').next().unwrap_or_default()) {
                continue;
            }
            let finished = t.ids_with_status(&["success", "pass", "warn"]).len() as u64;
            let others = t.finished.len() as u64 - finished;
            match step.rerun {
                "removed" => saved += finished,
                "narrowed" => {
                    saved += finished;
                    rerun = rerun.map(|r| r + others);
                }
                // What never started in a killed step is not in any log.
                "resumed" => {
                    saved += finished;
                    rerun = None;
                }
                _ => rerun = rerun.map(|r| r + t.finished.len() as u64),
            }
        }
        checked += 1;
        bad.check(
            (record.nodes_saved, record.rerun_nodes) == (saved, rerun),
            || {
                format!(
                    "{}: saved {} runs {:?}, dbt's file log says {saved} and {rerun:?} ({})",
                    f.id,
                    record.nodes_saved,
                    record.rerun_nodes,
                    serde_json::to_string(steps).unwrap()
                )
            },
        );
    }
    assert!(checked >= 20, "script re-runs checked: {checked}");
    bad.assert_none();
}
