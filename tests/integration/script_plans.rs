//! Every narrowed step of a script's re-run, its new selection expanded by real `dbt ls`
//! (`tests/fixtures/scripts`): exactly what did not succeed in that step. How the scripts are
//! read and what each scenario's decision is are checked in the core's tests
//! (`shared/core/tests/oracles/script_plans.rs`).

use dbt_rerun_core::command::DbtCommand;
use dbt_rerun_core::script::{StepKind, TaskCommand};
use dbt_rerun_tests::{
    dbt_ls, entry_and_command, executed_types, script_decision, script_fixtures, selection_flags,
    Mismatches,
};
use std::collections::{BTreeMap, BTreeSet};

#[test]
fn every_narrowed_step_selects_exactly_what_did_not_succeed_in_it() {
    let mut bad = Mismatches::default();
    let mut requests: BTreeMap<String, Vec<(String, Vec<String>)>> = BTreeMap::new();
    let mut expectations = Vec::new();
    for f in script_fixtures() {
        let record = script_decision(&f, &[("DBT_RERUN_INSPECT_SUCCESS", "true")]);
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
