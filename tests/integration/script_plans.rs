//! Scripts against real dbt runs: every script fixture of every version read into steps,
//! its log mapped onto them as dbt's own file log says they ran, the decision and re-run
//! script each scenario calls for, and every narrowed step's new selection expanded by real
//! `dbt ls` to exactly what did not succeed in that step.

use dbt_rerun_core::command::DbtCommand;
use dbt_rerun_core::config::decision_config;
use dbt_rerun_core::decision::{decide, DecisionConfig, DecisionInput, ScriptStep};
use dbt_rerun_core::launch_rules::{LaunchRules, OwnLaunch};
use dbt_rerun_core::log::{parse_reader, split_reader, Limits, SplitLog, DEFAULT_MAX_INVOCATIONS};
use dbt_rerun_core::record::{DecisionKind, DecisionRecord, LogFacts};
use dbt_rerun_core::script::{
    read_script, runs_again, ScriptRun, StepKind, StepOutcome, TaskCommand,
};
use dbt_rerun_core::testing::TaskBuilder;
use dbt_rerun_tests::{
    dbt_ls, executed_types, script_fixtures, selection_flags, Mismatches, ScriptFixture,
};
use std::collections::{BTreeMap, BTreeSet};

fn split(f: &ScriptFixture) -> SplitLog {
    let file = std::fs::File::open(f.log_path()).unwrap();
    split_reader(file, Limits::default(), DEFAULT_MAX_INVOCATIONS).unwrap()
}

/// The entry point and the command, as the task definition and the override give them.
fn entry_and_command(f: &ScriptFixture) -> (Vec<String>, Vec<String>) {
    match (&f.meta.entry_point, &f.meta.command) {
        (Some(entry), Some(command)) => (entry.clone(), command.clone()),
        _ => (vec![], f.meta.argv.clone()),
    }
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

/// The decision on fixture `f` with `extra` settings, as on-task-stopped makes it.
fn decided(f: &ScriptFixture, extra: &[(&str, &str)]) -> DecisionRecord {
    let config: DecisionConfig = decision_config(|name| {
        extra
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| (*v).to_owned())
    })
    .unwrap();
    let (entry, command) = entry_and_command(f);
    let words: Vec<&str> = command.iter().map(String::as_str).collect();
    let stop_code = if f.meta.signal.is_some() {
        "SpotInterruption"
    } else {
        "EssentialContainerExited"
    };
    let task = TaskBuilder::exited(Some(f.meta.exit_code))
        .stop_code(stop_code)
        .overrides(Some(&words), &[])
        .build();
    let whole = parse_reader(
        std::fs::File::open(f.log_path()).unwrap(),
        Limits::default(),
    )
    .unwrap();
    let split = split(f);
    let decided = decide(DecisionInput {
        task: &task,
        report: Some(&whole),
        log_note: None,
        command: Some(&command),
        entry_point: (!entry.is_empty()).then_some(&entry[..]),
        invocations: Some(&split.invocations),
        config: &config,
    });
    DecisionRecord::assemble(&decided, &LogFacts::default(), None)
}

fn rerun_of(steps: &[ScriptStep]) -> Vec<(&str, &str)> {
    steps
        .iter()
        .map(|s| (s.dbt_verb.as_deref().unwrap_or("-"), s.rerun))
        .collect()
}

/// What the re-run does with each step of scenario `name` (verb, or `-` for a step that is
/// not dbt); None for a script dbt-rerun refuses or a real success.
pub(crate) fn expected_rerun(name: &str) -> Option<&'static [(&'static str, &'static str)]> {
    const KEEP: &str = "as_written";
    Some(match name {
        "deps_and_build_transient" | "json_deps_and_build" | "exec_last_step" => {
            &[("deps", KEEP), ("build", "narrowed")]
        }
        "set_e_seed_run_test_upload" => &[
            ("-", KEEP),
            ("-", KEEP),
            ("-", KEEP),
            ("-", KEEP),
            ("seed", "removed"),
            ("run", "narrowed"),
            ("test", KEEP),
            ("-", KEEP),
        ],
        "and_chain_second_step_fails" => {
            &[("seed", "removed"), ("run", "narrowed"), ("test", KEEP)]
        }
        "variable_in_argument" => &[("build", "narrowed")],
        "bash_pipefail" => &[("deps", KEEP), ("build", "narrowed"), ("-", KEEP)],
        "killed_second_step_sigkill" | "killed_second_step_sigterm" => {
            &[("seed", "removed"), ("build", "resumed")]
        }
        // Exit 0: decided with DBT_RERUN_INSPECT_SUCCESS.
        "semicolon_list_later_step_runs" => {
            &[("run", "narrowed"), ("test", "narrowed"), ("-", KEEP)]
        }
        "pipeline_tee_masked" => &[("seed", "removed"), ("run", "narrowed")],
        "exit0_masked" => &[("run", "narrowed"), ("-", KEEP), ("-", KEEP)],
        "seed_pipeline_run_operation" => &[
            ("deps", KEEP),
            ("run-operation", "removed"),
            ("run", "narrowed"),
            ("test", KEEP),
        ],
        "set_e_markerless_steps" => &[
            ("-", KEEP),
            ("deps", KEEP),
            ("debug", KEEP),
            ("parse", KEEP),
            ("ls", KEEP),
            ("compile", KEEP),
            ("run-operation", "removed"),
            ("seed", "removed"),
            ("run", "narrowed"),
            ("test", KEEP),
            ("source", KEEP),
            ("-", KEEP),
            ("docs", KEEP),
            ("-", KEEP),
        ],
        "tolerant_steps_after_failure" => &[
            ("-", KEEP),
            ("seed", "removed"),
            ("run", "narrowed"),
            ("test", KEEP),
            ("-", KEEP),
            ("source", KEEP),
            ("-", KEEP),
            ("-", KEEP),
        ],
        "handler_group_exit" => &[
            ("-", KEEP),
            ("seed", "removed"),
            ("build", "narrowed"),
            ("-", KEEP),
            ("-", KEEP),
        ],
        "handler_exit" => &[
            ("deps", KEEP),
            ("build", "narrowed"),
            ("-", KEEP),
            ("-", KEEP),
        ],
        "handler_echo_exit_status" => &[
            ("seed", "removed"),
            ("build", "narrowed"),
            ("-", KEEP),
            ("-", KEEP),
        ],
        "run_operation_transient" | "json_run_operation_transient" => {
            &[("deps", KEEP), ("run-operation", KEEP), ("run", KEEP)]
        }
        "pipe_tee_pipestatus" => &[("deps", KEEP), ("build", "narrowed"), ("-", KEEP)],
        "pipe_pipefail_set_e" => &[
            ("-", KEEP),
            ("seed", "removed"),
            ("run", "narrowed"),
            ("test", KEEP),
            ("-", KEEP),
        ],
        _ => return None,
    })
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
            let record = decided(&f, &[]);
            bad.check(record.decision == DecisionKind::Ignore, || {
                format!("{}: without inspection: {}", f.id, record.reason)
            });
        }
        let record = decided(&f, if exit0 { &inspect[..] } else { &[] });
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
fn every_narrowed_step_selects_exactly_what_did_not_succeed_in_it() {
    let mut bad = Mismatches::default();
    let mut requests: BTreeMap<String, Vec<(String, Vec<String>)>> = BTreeMap::new();
    let mut expectations = Vec::new();
    for f in script_fixtures() {
        let record = decided(&f, &[("DBT_RERUN_INSPECT_SUCCESS", "true")]);
        let (Some(steps), Some(command)) = (&record.script_steps, &record.rerun_command) else {
            continue;
        };
        let (entry, original_command) = entry_and_command(&f);
        let full: Vec<String> = entry.iter().chain(command).cloned().collect();
        let (TaskCommand::Script(old), TaskCommand::Script(new)) = (
            TaskCommand::read(&entry, &original_command),
            TaskCommand::read(&[], &full),
        ) else {
            continue;
        };
        let dbt_steps = |s: &dbt_rerun_core::script::Script| -> Vec<DbtCommand> {
            s.steps
                .iter()
                .filter_map(|st| match &st.kind {
                    StepKind::Dbt(d) => Some(d.command.clone()),
                    _ => None,
                })
                .collect()
        };
        let (old_steps, new_steps) = (dbt_steps(&old.script), dbt_steps(&new.script));
        let truth = f.invocations();
        let mut new_index = 0;
        let mut invocation = 0;
        for (old_step, step) in old_steps
            .iter()
            .zip(steps.iter().filter(|s| s.dbt_verb.is_some()))
        {
            let ran = matches!(step.outcome, "succeeded" | "failed" | "killed");
            if step.rerun == "removed" {
                invocation += usize::from(ran);
                continue;
            }
            let new_step = &new_steps[new_index];
            new_index += 1;
            if matches!(step.rerun, "narrowed" | "resumed") {
                let id = format!("{}#{}", f.id, step.step);
                let version = f.version.clone();
                let reqs = requests.entry(version).or_default();
                reqs.push((format!("{id}#old"), selection_flags(&old_step.to_argv())));
                reqs.push((format!("{id}#new"), selection_flags(&new_step.to_argv())));
                expectations.push((
                    f.version.clone(),
                    id,
                    old_step.verb.clone(),
                    truth[invocation].ids_with_status(&["success", "pass", "warn"]),
                ));
            }
            invocation += usize::from(ran);
        }
    }
    let mut answers = BTreeMap::new();
    for (version, reqs) in &requests {
        answers.insert(version.clone(), dbt_ls(version, reqs));
    }
    assert!(
        expectations.len() >= 20,
        "narrowed steps checked: {}",
        expectations.len()
    );
    for (version, id, verb, succeeded) in &expectations {
        let selected = |which: &str| -> BTreeSet<String> {
            answers[version][&format!("{id}#{which}")]
                .clone()
                .unwrap_or_else(|e| panic!("{id}: dbt ls {which}: {e}"))
                .into_iter()
                .filter(|(_, t)| executed_types(verb).contains(&t.as_str()))
                .map(|(u, _)| u)
                .collect()
        };
        let not_succeeded: BTreeSet<String> =
            selected("old").difference(succeeded).cloned().collect();
        let new = selected("new");
        bad.check(new == not_succeeded, || {
            format!(
                "{id}: selects extra {:?}, misses {:?}",
                new.difference(&not_succeeded).collect::<Vec<_>>(),
                not_succeeded.difference(&new).collect::<Vec<_>>()
            )
        });
    }
    bad.assert_none();
}

#[test]
fn a_script_rerun_saves_what_finished_in_the_steps_it_removes_and_narrows() {
    let mut bad = Mismatches::default();
    let mut checked = 0;
    for f in script_fixtures() {
        let record = decided(&f, &[("DBT_RERUN_INSPECT_SUCCESS", "true")]);
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
