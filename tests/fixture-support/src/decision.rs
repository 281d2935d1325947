//! What dbt-rerun decides on a recorded run, as on-task-stopped decides from the stopped task
//! and its log, and what a script scenario's re-run must do: the tests that check the decision
//! on the recorded runs (the core's) and the ones that execute or judge the planned re-run for
//! real (the integration tests) decide and expect alike.

use crate::{entry_and_command, ScriptFixture};
use dbt_rerun_core::command::DbtCommand;
use dbt_rerun_core::config::decision_config;
use dbt_rerun_core::decision::{decide, DecisionConfig, DecisionInput};
use dbt_rerun_core::event::EcsTask;
use dbt_rerun_core::log::RunReport;
use dbt_rerun_core::log::{parse_reader, split_reader, Limits, DEFAULT_MAX_INVOCATIONS};
use dbt_rerun_core::plan::{json_len, plan_rerun, PlanShape, RerunCommand, ECS_OVERRIDE_LIMIT};
use dbt_rerun_core::record::{DecisionRecord, LogFacts};
use dbt_rerun_core::testing::TaskBuilder;
use std::path::Path;

/// The stopped task of a recorded run whose dbt container override was `argv` and which
/// exited `exit_code`; a killed run (`killed`) stopped for a Spot interruption.
pub fn recorded_task(argv: &[String], exit_code: i32, killed: bool) -> EcsTask {
    let words: Vec<&str> = argv.iter().map(String::as_str).collect();
    let stop_code = if killed {
        "SpotInterruption"
    } else {
        "EssentialContainerExited"
    };
    TaskBuilder::exited(Some(exit_code))
        .stop_code(stop_code)
        .overrides(Some(&words), &[])
        .build()
}

/// The decision on a stopped task that ran `argv` and exited `exit_code` (137: killed by a
/// Spot interruption), from its log at `log` alone, with the default configuration.
pub fn decision_on(argv: &[String], exit_code: i32, log: &std::path::Path) -> DecisionRecord {
    let task = recorded_task(argv, exit_code, exit_code == 137);
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

/// The decision on the stopped `task` whose dbt container ran `command` (after
/// `entry_point`, if any), from its log at `log` read whole and split by dbt invocation, as
/// on-task-stopped reads a script's log, with `config`.
pub fn script_log_decision(
    task: &EcsTask,
    command: &[String],
    entry_point: Option<&[String]>,
    log: &Path,
    config: &DecisionConfig,
) -> DecisionRecord {
    let whole = parse_reader(std::fs::File::open(log).unwrap(), Limits::default()).unwrap();
    let split = split_reader(
        std::fs::File::open(log).unwrap(),
        Limits::default(),
        DEFAULT_MAX_INVOCATIONS,
    )
    .unwrap();
    let decided = decide(DecisionInput {
        task,
        report: Some(&whole),
        log_note: None,
        command: Some(command),
        entry_point,
        invocations: Some(&split.invocations),
        config,
    });
    DecisionRecord::assemble(&decided, &LogFacts::default(), None)
}

/// Every distinct plan for a failed run of `command`, from ECS's full override budget down
/// to the original command.
pub fn every_plan(command: &DbtCommand, report: &RunReport) -> Vec<RerunCommand> {
    let mut out: Vec<RerunCommand> = Vec::new();
    let mut budget = ECS_OVERRIDE_LIMIT;
    loop {
        let plan = plan_rerun(command, report, budget).expect("a plan for a failed run");
        let len = json_len(&plan.argv);
        let done = plan.shape == PlanShape::Original;
        if !out.iter().any(|p| p.argv == plan.argv) {
            out.push(plan);
        }
        if done || len == 0 {
            return out;
        }
        budget = len - 1;
    }
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
    let task = recorded_task(&command, f.meta.exit_code, f.meta.signal.is_some());
    let entry_point = (!entry.is_empty()).then_some(&entry[..]);
    script_log_decision(&task, &command, entry_point, &f.log_path(), &config)
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
