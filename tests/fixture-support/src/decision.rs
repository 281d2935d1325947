//! What dbt-rerun decides on a recorded run, as on-task-stopped decides from the stopped task
//! and its log, and what a script scenario's re-run must do: the tests that check the decision
//! on the recorded runs (the core's) and the ones that execute or judge the planned re-run for
//! real (the integration tests) decide and expect alike.

use crate::{entry_and_command, ScriptFixture};
use dbt_rerun_core::config::decision_config;
use dbt_rerun_core::decision::{decide, DecisionConfig, DecisionInput};
use dbt_rerun_core::log::{parse_reader, split_reader, Limits, DEFAULT_MAX_INVOCATIONS};
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

/// The decision on fixture `f` with `extra` settings, as on-task-stopped makes it.
pub fn script_decision(f: &ScriptFixture, extra: &[(&str, &str)]) -> DecisionRecord {
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
    let split = split_reader(
        std::fs::File::open(f.log_path()).unwrap(),
        Limits::default(),
        DEFAULT_MAX_INVOCATIONS,
    )
    .unwrap();
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

/// What the re-run does with each step of scenario `name` (verb, or `-` for a step that is
/// not dbt); None for a script dbt-rerun refuses or a real success.
pub fn expected_rerun(name: &str) -> Option<&'static [(&'static str, &'static str)]> {
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
