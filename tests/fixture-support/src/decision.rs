//! What dbt-rerun decides on a recorded run, as on-task-stopped decides from the stopped task
//! and its log: the tests that check the decision on the recorded runs (the core's) and the
//! ones that execute the planned re-run for real (the integration tests) decide alike.

use dbt_rerun_core::config::decision_config;
use dbt_rerun_core::decision::{decide, DecisionInput};
use dbt_rerun_core::log::{parse_reader, Limits};
use dbt_rerun_core::record::{DecisionRecord, LogFacts};
use dbt_rerun_core::testing::TaskBuilder;

/// The decision on a stopped task that ran `argv` and exited `exit_code` (137: killed by a
/// Spot interruption), from its log at `log` alone, with the default configuration.
pub fn decision_on(argv: &[String], exit_code: i32, log: &std::path::Path) -> DecisionRecord {
    let words: Vec<&str> = argv.iter().map(String::as_str).collect();
    let stop_code = if exit_code == 137 {
        "SpotInterruption"
    } else {
        "EssentialContainerExited"
    };
    let task = TaskBuilder::exited(Some(exit_code))
        .stop_code(stop_code)
        .overrides(Some(&words), &[])
        .build();
    let report = parse_reader(std::fs::File::open(log).unwrap(), Limits::default()).unwrap();
    let config = decision_config(|_| None).unwrap();
    let decided = decide(DecisionInput {
        task: &task,
        report: Some(&report),
        log_note: None,
        command: Some(argv),
        entry_point: None,
        invocations: None,
        config: &config,
    });
    DecisionRecord::assemble(&decided, &LogFacts::default(), None)
}
