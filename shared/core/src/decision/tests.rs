use super::*;
use crate::classify::LogNeed;
use crate::log::{FinishedNodes, RunStats};
use crate::node::{FailStatus, ResourceType};
use crate::plan::PlanShape;
use crate::policy::RetryClass;
use crate::record::{DecisionKind, DecisionRecord};
use crate::scope::{NameSet, Scope};
use crate::testing::{decide_record, TaskBuilder};

const ARN: &str = crate::testing::TASK_ARN;

fn task(exit: Option<i32>, stop_code: &str, reason: Option<&str>, env: &[(&str, &str)]) -> EcsTask {
    let mut builder = TaskBuilder::exited(exit)
        .stop_code(stop_code)
        .overrides(None, env);
    if let Some(reason) = reason {
        builder = builder.reason(reason);
    }
    builder.build()
}

fn failed(name: &str, status: FailStatus, message: &str) -> FailedNode {
    FailedNode {
        name: name.into(),
        resource_type: if status == FailStatus::Fail {
            ResourceType::Test
        } else {
            ResourceType::Model
        },
        unique_id: None,
        status,
        message: message.into(),
        detail: message.into(),
    }
}

fn report(nodes: Vec<FailedNode>, skipped: &[&str]) -> RunReport {
    RunReport {
        failed: nodes,
        skipped: skipped
            .iter()
            .map(|n| SkippedNode {
                name: (*n).into(),
                resource_type: ResourceType::Model,
                unique_id: None,
            })
            .collect(),
        stats: Some(RunStats {
            skip: skipped.len() as u64,
            ..Default::default()
        }),
        finished: FinishedNodes {
            count: 12,
            ..Default::default()
        },
        end_of_run: true,
        lines: 40,
        ..Default::default()
    }
}

fn argv(s: &str) -> Vec<String> {
    s.split(' ').map(str::to_owned).collect()
}

fn decide_with(
    task: &EcsTask,
    report: Option<&RunReport>,
    command: &str,
    config: &DecisionConfig,
) -> DecisionRecord {
    let command = argv(command);
    decide_record(DecisionInput {
        task,
        report,
        log_note: None,
        command: Some(&command),
        entry_point: None,
        invocations: None,
        config,
    })
}

fn transient_report() -> RunReport {
    report(
        vec![failed(
            "fct_orders",
            FailStatus::Error,
            "SSL SYSCALL error: EOF detected",
        )],
        &["agg_daily"],
    )
}

#[test]
fn a_transient_failure_is_rerun_exactly_with_the_chain_in_the_environment() {
    let t = task(
        Some(1),
        "EssentialContainerExited",
        None,
        &[("DBT_TARGET", "prod"), ("DB_PASSWORD", "hunter2")],
    );
    let r = transient_report();
    let record = decide_with(
        &t,
        Some(&r),
        "dbt build --target prod",
        &DecisionConfig::default(),
    );
    assert_eq!(record.decision, DecisionKind::Rerun, "{}", record.reason);
    assert_eq!(
        (record.failure_kind, record.transient, record.attempt),
        (FailureKind::DbtNodes, true, 1)
    );
    let expected =
        argv("dbt build --target prod --select fct_orders agg_daily --indirect-selection empty");
    assert_eq!(record.rerun_command.as_deref(), Some(&expected[..]));
    let rerun = record.rerun.as_ref().unwrap();
    assert_eq!(rerun.command, expected);
    assert_eq!(rerun.attempt, 2);
    assert_eq!(
        rerun.started_by,
        "dbt-rerun/0123456789abcdef0123456789abcdef/2"
    );
    assert_eq!(
        rerun.client_token,
        "dbt-rerun-0123456789abcdef0123456789abcdef-2"
    );
    assert!(rerun.client_token.len() <= 64);
    let env: Vec<(&str, &str)> = rerun
        .environment
        .iter()
        .map(|kv| (kv.name.as_str(), kv.value.as_str()))
        .collect();
    assert_eq!(
        env,
        [
            ("DBT_TARGET", "prod"),
            ("DB_PASSWORD", "hunter2"),
            (ATTEMPT_VAR, "2"),
            (ORIGIN_VAR, ARN),
            (ORIGIN_COMMAND_VAR, r#"["dbt","build","--target","prod"]"#)
        ]
    );
    assert!(
        record.reason.contains("attempt 2 of 3"),
        "{}",
        record.reason
    );
}

#[test]
fn environment_values_never_appear_in_the_serialised_record() {
    let t = task(
        Some(1),
        "EssentialContainerExited",
        None,
        &[("DB_PASSWORD", "hunter2")],
    );
    let record = decide_with(
        &t,
        Some(&transient_report()),
        "dbt build",
        &DecisionConfig::default(),
    );
    let json = serde_json::to_string(&record).unwrap();
    assert!(!json.contains("hunter2"), "{json}");
    assert!(json.contains("DB_PASSWORD"), "names stay visible: {json}");
}

#[test]
fn the_chain_keeps_its_origin_and_counts_attempts_to_the_budget() {
    let origin = "arn:aws:ecs:eu-west-1:123456789012:task/dbt/ffffffffffffffffffffffffffffffff";
    let second = task(
        Some(1),
        "EssentialContainerExited",
        None,
        &[(ATTEMPT_VAR, "2"), (ORIGIN_VAR, origin)],
    );
    let record = decide_with(
        &second,
        Some(&transient_report()),
        "dbt build",
        &DecisionConfig::default(),
    );
    assert_eq!(record.decision, DecisionKind::Rerun);
    let rerun = record.rerun.unwrap();
    assert_eq!((rerun.attempt, rerun.origin_task_arn.as_str()), (3, origin));
    assert_eq!(
        rerun.started_by,
        "dbt-rerun/ffffffffffffffffffffffffffffffff/3"
    );

    let third = task(
        Some(1),
        "EssentialContainerExited",
        None,
        &[(ATTEMPT_VAR, "3"), (ORIGIN_VAR, origin)],
    );
    let record = decide_with(
        &third,
        Some(&transient_report()),
        "dbt build",
        &DecisionConfig::default(),
    );
    assert_eq!(record.decision, DecisionKind::GiveUp);
    assert!(
        record.reason.contains("attempt 3 of 3"),
        "{}",
        record.reason
    );
    assert!(record.rerun.is_none());
    assert!(
        record.rerun_command.is_some(),
        "a person can still re-run by hand"
    );
}

#[test]
fn an_unreadable_attempt_number_gives_up_instead_of_looping() {
    let t = task(
        Some(1),
        "EssentialContainerExited",
        None,
        &[(ATTEMPT_VAR, "two")],
    );
    let record = decide_with(
        &t,
        Some(&transient_report()),
        "dbt build",
        &DecisionConfig::default(),
    );
    assert_eq!(record.decision, DecisionKind::GiveUp);
    assert!(record.reason.contains("`two`"), "{}", record.reason);
}

#[test]
fn a_deterministic_error_gives_up_under_the_default_policy_and_names_the_node() {
    let t = task(Some(1), "EssentialContainerExited", None, &[]);
    let r = report(
        vec![failed(
            "fct_orders",
            FailStatus::Error,
            "Binder Error: no column x",
        )],
        &[],
    );
    let record = decide_with(&t, Some(&r), "dbt build", &DecisionConfig::default());
    assert_eq!(record.decision, DecisionKind::GiveUp);
    assert!(
        record.reason.contains("does not re-run model_error"),
        "{}",
        record.reason
    );
    assert!(
        record.reason.contains("model fct_orders: Binder Error"),
        "{}",
        record.reason
    );
    assert_eq!(
        record.rerun_command.unwrap().join(" "),
        "dbt build --select fct_orders --indirect-selection empty"
    );

    let mut config = DecisionConfig::default();
    config.policy.retry_on.insert(RetryClass::ModelError);
    assert_eq!(
        decide_with(&t, Some(&r), "dbt build", &config).decision,
        DecisionKind::Rerun
    );
}

#[test]
fn a_statement_timeout_is_rerun_only_when_the_policy_names_timeout() {
    let t = task(Some(1), "EssentialContainerExited", None, &[]);
    let r = report(
        vec![failed(
            "fct_orders",
            FailStatus::Error,
            "000630 (57014): Statement reached its statement or warehouse timeout of 3600 second(s) and was canceled.",
        )],
        &[],
    );
    let record = decide_with(&t, Some(&r), "dbt build", &DecisionConfig::default());
    assert_eq!(record.decision, DecisionKind::GiveUp, "{}", record.reason);
    assert!(!record.transient);
    assert!(
        record.reason.contains("1 failed node (1 timeout)")
            && record.reason.contains("does not re-run timeout"),
        "{}",
        record.reason
    );
    assert_eq!(
        record
            .rerun_command
            .as_deref()
            .map(|c| c.join(" "))
            .as_deref(),
        Some("dbt build --select fct_orders --indirect-selection empty"),
        "the command to re-run by hand is still given"
    );

    let mut config = DecisionConfig::default();
    config.policy.retry_on.insert(RetryClass::Timeout);
    assert_eq!(
        decide_with(&t, Some(&r), "dbt build", &config).decision,
        DecisionKind::Rerun
    );

    // dbt's own error (exit 2) likewise.
    let t2 = task(Some(2), "EssentialContainerExited", None, &[]);
    let r2 = RunReport {
        error: Some("Database Error\n  canceling statement due to statement timeout".into()),
        lines: 3,
        ..RunReport::default()
    };
    let record = decide_with(&t2, Some(&r2), "dbt build", &DecisionConfig::default());
    assert_eq!(record.decision, DecisionKind::GiveUp, "{}", record.reason);
    assert!(record.reason.contains("a timeout"), "{}", record.reason);
    let record = decide_with(&t2, Some(&r2), "dbt build", &config);
    assert_eq!(record.decision, DecisionKind::Rerun, "{}", record.reason);
    assert_eq!(record.rerun_command.unwrap().join(" "), "dbt build");
}

#[test]
fn one_deterministic_failure_among_transient_ones_blocks_the_rerun() {
    let t = task(Some(1), "EssentialContainerExited", None, &[]);
    let r = report(
        vec![
            failed("fct_orders", FailStatus::Error, "connection reset by peer"),
            failed(
                "unique_dim_id",
                FailStatus::Fail,
                "Got 2 results, configured to fail if != 0",
            ),
        ],
        &[],
    );
    let record = decide_with(&t, Some(&r), "dbt build", &DecisionConfig::default());
    assert_eq!(record.decision, DecisionKind::GiveUp);
    assert!(!record.transient);
    assert!(record.reason.contains("test_failure"), "{}", record.reason);
    assert!(record.reason.contains("unique_dim_id"), "{}", record.reason);
    assert!(
        !record.reason.contains("test fct_orders"),
        "{}",
        record.reason
    );
}

#[test]
fn success_and_a_person_stopping_the_task_are_ignored() {
    let ok = task(Some(0), "EssentialContainerExited", None, &[]);
    let record = decide_with(&ok, None, "dbt build", &DecisionConfig::default());
    assert_eq!(
        (record.decision, record.failure_kind),
        (DecisionKind::Ignore, FailureKind::None)
    );
    assert_eq!(record.rerun_command, None);

    let stopped = task(Some(143), "UserInitiated", None, &[]);
    let record = decide_with(&stopped, None, "dbt build", &DecisionConfig::default());
    assert_eq!(record.decision, DecisionKind::Ignore);
    assert!(
        record.reason.contains("a person stopped"),
        "{}",
        record.reason
    );
    assert!(record.rerun.is_none());
}

#[test]
fn tasks_that_have_not_stopped_are_ignored() {
    let mut running = task(None, "", None, &[]);
    running.last_status = "RUNNING".into();
    let record = decide_with(&running, None, "dbt build", &DecisionConfig::default());
    assert_eq!(record.decision, DecisionKind::Ignore);
    assert!(record.reason.contains("RUNNING"), "{}", record.reason);
}

#[test]
fn a_task_that_has_not_stopped_is_ignored_before_its_containers_are_needed() {
    // A Fargate Spot notice: RUNNING, desiredStatus STOPPED, no containers.
    let mut notice = TaskBuilder::default()
        .status("RUNNING")
        .stop_code("SpotInterruption")
        .build();
    notice.containers.clear();
    notice.stopped_reason = Some("Your Spot Task was interrupted.".into());
    let record = decide_with(&notice, None, "dbt build", &DecisionConfig::default());
    assert_eq!(record.decision, DecisionKind::Ignore, "{}", record.reason);
    assert!(
        record.reason.contains("RUNNING, not STOPPED")
            && record.reason.contains("stopCode SpotInterruption")
            && record.reason.contains("STOPPED event decides"),
        "{}",
        record.reason
    );
    // A configured container that is not there is not asked for either.
    let config = DecisionConfig {
        container: Some("dbt-core".into()),
        ..Default::default()
    };
    let mut deactivating = TaskBuilder::default().status("DEACTIVATING").build();
    deactivating.containers.clear();
    deactivating.stop_code = None;
    deactivating.desired_status = None;
    let record = decide_with(&deactivating, None, "dbt build", &config);
    assert_eq!(record.decision, DecisionKind::Ignore, "{}", record.reason);
    assert_eq!(
        record.reason,
        "the task is DEACTIVATING, not STOPPED: nothing to do yet"
    );
    // Once stopped, a task without containers is given up on, by name.
    let mut empty = TaskBuilder::default().build();
    empty.containers.clear();
    let record = decide_with(&empty, None, "dbt build", &DecisionConfig::default());
    assert_eq!(record.decision, DecisionKind::GiveUp);
    assert!(
        record.reason.contains("lists no containers"),
        "{}",
        record.reason
    );
}

#[test]
fn a_stop_by_the_service_scheduler_is_ignored_and_gets_no_memory() {
    for (exit, reason) in [
        (137, "Scaling activity initiated by (deployment ecs-svc/8646900195280463695)"),
        (143, "Task failed ELB health checks in (target-group arn:aws:elasticloadbalancing:eu-west-1:1:targetgroup/web/c)"),
    ] {
        let mut t = task(Some(exit), "ServiceSchedulerInitiated", None, &[]);
        t.stopped_reason = Some(reason.into());
        let record = decide_with(&t, None, "dbt build", &DecisionConfig::default());
        assert_eq!(
            (record.decision, record.failure_kind),
            (DecisionKind::Ignore, FailureKind::Infra),
            "{}",
            record.reason
        );
        assert!(record.rerun.is_none(), "{record:?}");
        assert!(
            record.reason.contains("service scheduler") && record.reason.ends_with("not re-run"),
            "{}",
            record.reason
        );
    }
    // The same exit 137 with nothing else stopping the task is an OOM.
    let t = task(Some(137), "EssentialContainerExited", None, &[]);
    let record = decide_with(&t, None, "dbt build", &DecisionConfig::default());
    assert_eq!(record.failure_kind, FailureKind::Oom);
    assert!(record.reason.contains("4096 MiB"), "{}", record.reason);
}

#[test]
fn a_spot_reclaim_killed_after_the_stop_timeout_gets_no_memory() {
    let t = task(Some(137), "TerminationNotice", None, &[]);
    let record = decide_with(&t, None, "dbt build", &DecisionConfig::default());
    assert_eq!(
        (record.decision, record.failure_kind),
        (DecisionKind::Rerun, FailureKind::Infra),
        "{}",
        record.reason
    );
    let rerun = record.rerun.unwrap();
    assert_eq!((rerun.cpu, rerun.memory), (None, None));
}

#[test]
fn a_compile_error_cannot_be_rerun() {
    let t = task(Some(2), "EssentialContainerExited", None, &[]);
    let r = RunReport {
        error: Some("Compilation Error\n  depends on a node named 'x'".into()),
        end_of_run: true,
        ..Default::default()
    };
    let record = decide_with(&t, Some(&r), "dbt build", &DecisionConfig::default());
    assert_eq!(
        (record.decision, record.failure_kind),
        (DecisionKind::GiveUp, FailureKind::DbtRuntime)
    );
    assert_eq!(record.rerun_command, None);
}

#[test]
fn infra_failures_rerun_the_original_command() {
    let t = task(
        None,
        "TaskFailedToStart",
        Some("CannotPullContainerError: timeout"),
        &[],
    );
    let record = decide_with(
        &t,
        None,
        "dbt build --select stg+",
        &DecisionConfig::default(),
    );
    assert_eq!(
        (record.decision, record.failure_kind),
        (DecisionKind::Rerun, FailureKind::Infra)
    );
    assert_eq!(
        record.rerun.unwrap().command,
        argv("dbt build --select stg+")
    );
}

#[test]
fn oom_reruns_with_more_memory_up_to_the_ceiling() {
    let t = task(
        Some(137),
        "EssentialContainerExited",
        Some("OutOfMemoryError: Container killed due to memory usage"),
        &[],
    );
    let record = decide_with(&t, None, "dbt build", &DecisionConfig::default());
    assert_eq!(
        (record.decision, record.failure_kind),
        (DecisionKind::Rerun, FailureKind::Oom)
    );
    let rerun = record.rerun.unwrap();
    assert_eq!(
        (rerun.cpu.as_deref(), rerun.memory.as_deref()),
        (Some("1024"), Some("4096"))
    );
    assert!(record.reason.contains("4096 MiB"), "{}", record.reason);

    let config = DecisionConfig {
        max_memory_mib: 2048,
        ..Default::default()
    };
    let record = decide_with(&t, None, "dbt build", &config);
    assert_eq!(record.decision, DecisionKind::GiveUp);
    assert!(
        record.reason.contains("DBT_RERUN_MAX_MEMORY_MIB"),
        "{}",
        record.reason
    );
}

#[test]
fn an_unknown_command_gives_up_and_says_so() {
    let t = task(Some(1), "EssentialContainerExited", None, &[]);
    let r = transient_report();
    let record = decide_record(DecisionInput {
        task: &t,
        report: Some(&r),
        log_note: None,
        command: None,
        entry_point: None,
        invocations: None,
        config: &DecisionConfig::default(),
    });
    assert_eq!(record.decision, DecisionKind::GiveUp);
    assert!(
        record.reason.contains("original command is not known"),
        "{}",
        record.reason
    );
}

/// Issue 13 replaced the old refusal of every shell command: a script whose log was not
/// read step by step is re-run whole (the default fallback), or given up on, and says why.
#[test]
fn a_script_without_its_steps_read_falls_back_and_says_why() {
    let t = task(Some(1), "EssentialContainerExited", None, &[]);
    let command = vec![
        "sh".to_owned(),
        "-c".to_owned(),
        "dbt deps && dbt build".to_owned(),
    ];
    let input = |config| DecisionInput {
        task: &t,
        report: Some(&*REPORT),
        log_note: None,
        command: Some(&command),
        entry_point: None,
        invocations: None,
        config,
    };
    static REPORT: std::sync::LazyLock<RunReport> = std::sync::LazyLock::new(transient_report);
    let default = DecisionConfig::default();
    let record = decide_record(input(&default));
    assert_eq!(record.decision, DecisionKind::Rerun, "{}", record.reason);
    assert_eq!(record.rerun_command.as_deref(), Some(&command[..]));
    assert!(
        record
            .reason
            .contains("not read step by step: re-running the whole command"),
        "{}",
        record.reason
    );
    let give_up = DecisionConfig {
        script_fallback: ScriptFallback::GiveUp,
        ..Default::default()
    };
    let record = decide_record(input(&give_up));
    assert_eq!(record.decision, DecisionKind::GiveUp);
    assert!(
        record.reason.contains("DBT_RERUN_SCRIPT_FALLBACK=give_up"),
        "{}",
        record.reason
    );
}

#[test]
fn a_missing_log_gives_up_with_the_logs_story() {
    let t = task(Some(1), "EssentialContainerExited", None, &[]);
    let command = argv("dbt build");
    let record = decide_record(DecisionInput {
        task: &t,
        report: None,
        log_note: Some("log stream dbt/dbt/0123 does not exist"),
        command: Some(&command),
        entry_point: None,
        invocations: None,
        config: &DecisionConfig::default(),
    });
    assert_eq!(record.decision, DecisionKind::GiveUp);
    assert!(
        record.reason.contains("does not exist"),
        "{}",
        record.reason
    );
}

#[test]
fn a_run_killed_part_way_resumes_without_what_finished() {
    let t = task(
        Some(137),
        "EssentialContainerExited",
        Some("OutOfMemoryError: Container killed due to memory usage"),
        &[],
    );
    let finished = |name: &str, t| SkippedNode {
        name: name.into(),
        resource_type: t,
        unique_id: None,
    };
    let killed = RunReport {
        lines: 30,
        end_of_run: false,
        dbt_version: Some("1.11.2".into()),
        finished: FinishedNodes {
            count: 2,
            nodes: vec![
                finished("stg_orders", ResourceType::Model),
                finished("not_null_stg_orders_id", ResourceType::Test),
            ],
            before_first_failure: 2,
        },
        ..Default::default()
    };
    let record = decide_with(
        &t,
        Some(&killed),
        "dbt build --target prod",
        &DecisionConfig::default(),
    );
    assert_eq!(record.decision, DecisionKind::Rerun, "{}", record.reason);
    assert!(record.resume);
    assert_eq!(record.finished_nodes, 2);
    assert_eq!(
        record.finished_node_names,
        ["stg_orders", "not_null_stg_orders_id"]
    );
    assert_eq!(
        record.rerun.as_ref().unwrap().command.join(" "),
        "dbt build --target prod --exclude stg_orders not_null_stg_orders_id --indirect-selection empty"
    );
    assert_eq!(record.rerun.unwrap().memory.as_deref(), Some("4096"));

    // A log with nothing finished, or no log at all: the original command.
    let nothing = RunReport {
        lines: 5,
        ..Default::default()
    };
    let record = decide_with(
        &t,
        Some(&nothing),
        "dbt build --target prod",
        &DecisionConfig::default(),
    );
    assert_eq!(
        (record.resume, record.rerun.unwrap().command.join(" ")),
        (false, "dbt build --target prod".to_owned())
    );
}

#[test]
fn a_task_of_another_cluster_is_not_handled() {
    let t = task(Some(1), "EssentialContainerExited", None, &[]);
    let scoped = |clusters: &str, families: &str| DecisionConfig {
        scope: Scope {
            clusters: NameSet::parse(clusters).unwrap(),
            families: NameSet::parse(families).unwrap(),
            ..Scope::default()
        },
        ..Default::default()
    };
    let record = decide_with(
        &t,
        Some(&transient_report()),
        "dbt build",
        &scoped("other-cluster", ""),
    );
    assert_eq!(record.decision, DecisionKind::Ignore);
    assert!(
        record
            .reason
            .starts_with("cluster dbt is not one of this deployment's")
            && record
                .reason
                .contains("(DBT_RERUN_CLUSTERS: other-cluster): not handled"),
        "{}",
        record.reason
    );
    let config = scoped("dbt", "");
    assert_eq!(
        decide_with(&t, Some(&transient_report()), "dbt build", &config).decision,
        DecisionKind::Rerun
    );
}

#[test]
fn a_task_of_a_family_not_listed_is_not_handled_and_each_listed_one_is() {
    let t = task(Some(1), "EssentialContainerExited", None, &[]);
    assert_eq!(t.family(), "dbt-build");
    for (families, expected) in [
        ("dbt-hourly,dbt-build,dbt-weekly", DecisionKind::Rerun),
        ("dbt-*", DecisionKind::Rerun),
        ("dbt-hourly,dbt-weekly", DecisionKind::Ignore),
        ("dbt-build-*", DecisionKind::Ignore),
    ] {
        let config = DecisionConfig {
            scope: Scope {
                families: NameSet::parse(families).unwrap(),
                ..Scope::default()
            },
            ..Default::default()
        };
        let record = decide_with(&t, Some(&transient_report()), "dbt build", &config);
        assert_eq!(record.decision, expected, "{families}: {}", record.reason);
        if expected == DecisionKind::Ignore {
            assert!(
                record
                    .reason
                    .starts_with("task family dbt-build is not one of this deployment's"),
                "{}",
                record.reason
            );
            assert_eq!(record.rerun_command, None);
        }
    }
}

#[test]
fn overrides_already_at_the_limit_give_up_with_the_reason() {
    let big = "x".repeat(8000);
    let t = task(
        Some(1),
        "EssentialContainerExited",
        None,
        &[("DBT_VARS_BLOB", big.as_str())],
    );
    let record = decide_with(
        &t,
        Some(&transient_report()),
        "dbt build",
        &DecisionConfig::default(),
    );
    assert_eq!(record.decision, DecisionKind::GiveUp, "{}", record.reason);
    assert!(
        record.reason.contains("ECS takes 8192"),
        "{}",
        record.reason
    );
    assert!(!record.reason.contains(&big));
}

/// A task dbt-rerun launched as attempt `attempt` of the chain of [`ARN`], stopped with
/// `exit` (and `stop_code`).
fn rerun_task(attempt: u32, exit: Option<i32>, stop_code: &str) -> EcsTask {
    let attempt_text = attempt.to_string();
    TaskBuilder::exited(exit)
        .stop_code(stop_code)
        .arn("arn:aws:ecs:eu-west-1:123456789012:task/dbt/feedfacefeedfacefeedfacefeedface")
        .started_by(&format!(
            "dbt-rerun/0123456789abcdef0123456789abcdef/{attempt}"
        ))
        .overrides(
            Some(&["dbt", "build", "--select", "fct_orders"]),
            &[
                ("DBT_TARGET", "prod"),
                (ATTEMPT_VAR, &attempt_text),
                (ORIGIN_VAR, ARN),
            ],
        )
        .build()
}

#[test]
fn a_successful_stop_of_a_chains_rerun_is_its_recovery() {
    let t = rerun_task(2, Some(0), "EssentialContainerExited");
    let recovered = recovery(&t, None).expect("a recovery");
    assert_eq!(
        recovered,
        Recovery {
            origin_task_arn: ARN.into(),
            attempt: 2
        }
    );
    let record = decide_with(
        &t,
        None,
        "dbt build --select fct_orders",
        &DecisionConfig::default(),
    );
    assert_eq!(record.decision, DecisionKind::Ignore, "{}", record.reason);
    assert_eq!(
        record.reason,
        "recovered: attempt 2 of chain 0123456789abcdef0123456789abcdef succeeded (dbt exited 0): \
         nothing to re-run"
    );
    assert_eq!(record.recovered, Some(recovered));
    assert_eq!(
        (
            record.attempt,
            record.failure_kind,
            record.rerun_command.clone()
        ),
        (2, FailureKind::None, None)
    );
    assert!(record.rerun.is_none());
    let json = serde_json::to_value(&record).unwrap();
    assert_eq!(json["recovered"]["attempt"], 2);
    assert_eq!(json["recovered"]["origin_task_arn"], ARN);

    // The last attempt the budget allows recovers the same way.
    let last = rerun_task(3, Some(0), "EssentialContainerExited");
    let record = decide_with(&last, None, "dbt build", &DecisionConfig::default());
    assert!(
        record.reason.starts_with("recovered: attempt 3 of chain"),
        "{}",
        record.reason
    );
}

#[test]
fn failed_nodes_without_a_rerun_command_always_say_why() {
    // A name the parser kept but that cannot enter a command, under a policy that would not
    // re-run the failure anyway: the reason still says why there is no command.
    let t = task(Some(1), "EssentialContainerExited", None, &[]);
    let r = report(
        vec![failed("fct_orders", FailStatus::Error, "Binder Error: x")],
        &["'skipped'"],
    );
    let record = decide_with(&t, Some(&r), "dbt build", &DecisionConfig::default());
    assert_eq!(record.decision, DecisionKind::GiveUp);
    assert_eq!(record.rerun_command, None);
    assert!(
        record.reason.contains("does not re-run model_error")
            && record
                .reason
                .contains("no re-run command: refusing to put a name"),
        "{}",
        record.reason
    );
    assert!(record
        .plan_note
        .unwrap()
        .contains("is not a valid dbt node name"));

    // The same failure classified transient: the give-up reason names it once.
    let r = report(
        vec![failed(
            "fct_orders",
            FailStatus::Error,
            "SSL SYSCALL error: EOF detected",
        )],
        &["'skipped'"],
    );
    let record = decide_with(&t, Some(&r), "dbt build", &DecisionConfig::default());
    assert_eq!(record.decision, DecisionKind::GiveUp);
    assert_eq!(
        record
            .reason
            .matches("is not a valid dbt node name")
            .count(),
        1,
        "{}",
        record.reason
    );

    // A wrapper hid dbt's failures (exit 0): no command, and the reason says so.
    let ok = task(Some(0), "EssentialContainerExited", None, &[]);
    let r = transient_report();
    let record = decide_with(&ok, Some(&r), "dbt build", &DecisionConfig::default());
    assert_eq!(record.decision, DecisionKind::Ignore);
    assert!(
        record
            .reason
            .contains("no re-run command: the task exited 0"),
        "{}",
        record.reason
    );

    // Without the original command.
    let record = decide_record(DecisionInput {
        task: &t,
        report: Some(&transient_report()),
        log_note: None,
        command: None,
        entry_point: None,
        invocations: None,
        config: &DecisionConfig::default(),
    });
    assert_eq!(record.rerun_command, None);
    assert!(
        record.reason.contains("the original command is not known"),
        "{}",
        record.reason
    );
}

#[test]
fn only_a_chains_own_rerun_that_succeeded_is_a_recovery() {
    let config = DecisionConfig::default();
    let not_recovered = |t: &EcsTask| {
        assert_eq!(recovery(t, None), None, "{t:?}");
        let record = decide_with(t, None, "dbt build", &config);
        assert_eq!(record.recovered, None, "{}", record.reason);
        assert!(!record.reason.contains("recovered"), "{}", record.reason);
        record
    };
    // The chain's first run, and a run nobody started through dbt-rerun.
    let record = not_recovered(&task(Some(0), "EssentialContainerExited", None, &[]));
    assert_eq!(record.reason, "dbt exited 0: nothing to re-run");
    // A launch a person asked for that is not an attempt of a chain.
    not_recovered(
        &TaskBuilder::exited(Some(0))
            .started_by("dbt-rerun/manual/request-1")
            .build(),
    );
    // A re-run that failed again is decided as a failure.
    let record = not_recovered(&rerun_task(2, Some(1), "EssentialContainerExited"));
    assert_eq!(record.decision, DecisionKind::GiveUp, "{}", record.reason);
    // A person stopped the re-run.
    not_recovered(&rerun_task(2, Some(0), "UserInitiated"));
    // Not stopped yet.
    let mut running = rerun_task(2, None, "");
    running.last_status = "RUNNING".into();
    not_recovered(&running);
    // startedBy says attempt 2, the chain's variables say 3: not what dbt-rerun launched.
    let mut odd = rerun_task(3, Some(0), "EssentialContainerExited");
    odd.started_by = Some("dbt-rerun/0123456789abcdef0123456789abcdef/2".into());
    not_recovered(&odd);
}

#[test]
fn failures_a_wrapper_hid_in_a_recovered_rerun_win_over_the_recovery() {
    let t = rerun_task(2, Some(0), "EssentialContainerExited");
    let inspect = DecisionConfig {
        inspect_success: true,
        ..Default::default()
    };
    let r = transient_report();
    let record = decide_with(&t, Some(&r), "dbt build --select fct_orders", &inspect);
    assert_eq!(record.decision, DecisionKind::Rerun, "{}", record.reason);
    assert_eq!(record.recovered, None);
    assert_eq!(record.rerun.unwrap().attempt, 3);
    // Its log shows no failure: recovered.
    let clean = RunReport {
        end_of_run: true,
        lines: 10,
        ..Default::default()
    };
    let record = decide_with(&t, Some(&clean), "dbt build --select fct_orders", &inspect);
    assert_eq!(record.decision, DecisionKind::Ignore, "{}", record.reason);
    assert!(record.recovered.is_some(), "{}", record.reason);
}

#[test]
fn a_rerun_counts_the_nodes_it_runs_and_the_finished_ones_it_leaves_out() {
    let t = task(Some(1), "EssentialContainerExited", None, &[]);
    // 1 failed and 1 skipped again; the 12 that finished are left out.
    let mut r = transient_report();
    r.stats = Some(RunStats {
        pass: 12,
        error: 1,
        skip: 1,
        total: 14,
        ..Default::default()
    });
    let record = decide_with(&t, Some(&r), "dbt build", &DecisionConfig::default());
    assert_eq!(record.plan_shape, Some(PlanShape::Exact));
    assert_eq!((record.rerun_nodes, record.nodes_saved), (Some(2), 12));

    // The same failure, which the policy does not re-run: no re-run, no work.
    let strict = DecisionConfig {
        policy: RetryPolicy {
            retry_on: RetryPolicy::parse_retry_on("infra").unwrap(),
            max_attempts: 3,
        },
        ..Default::default()
    };
    let record = decide_with(&t, Some(&r), "dbt build", &strict);
    assert_eq!(record.decision, DecisionKind::GiveUp);
    assert!(record.rerun_command.is_some(), "a person may still run it");
    assert_eq!((record.rerun_nodes, record.nodes_saved), (Some(0), 0));

    // An infra failure re-runs the whole command: nothing saved, the node count unknown.
    let infra = task(
        None,
        "TaskFailedToStart",
        Some("CannotPullContainerError: pull access denied"),
        &[],
    );
    let record = decide_with(&infra, None, "dbt build", &DecisionConfig::default());
    assert_eq!(record.plan_shape, Some(PlanShape::Original));
    assert_eq!((record.rerun_nodes, record.nodes_saved), (None, 0));
}

#[test]
fn a_resume_saves_what_it_excludes_and_does_not_know_what_remains() {
    let t = task(Some(143), "SpotInterruption", None, &[]);
    let node = |name: &str| SkippedNode {
        name: name.into(),
        resource_type: ResourceType::Model,
        unique_id: None,
    };
    let killed = RunReport {
        lines: 30,
        dbt_version: Some("1.11.2".into()),
        finished: FinishedNodes {
            count: 3,
            nodes: vec![node("stg_a"), node("stg_b"), node("stg_c")],
            before_first_failure: 3,
        },
        ..Default::default()
    };
    let record = decide_with(&t, Some(&killed), "dbt run", &DecisionConfig::default());
    assert_eq!(record.decision, DecisionKind::Rerun, "{}", record.reason);
    assert!(record.resume);
    assert_eq!((record.rerun_nodes, record.nodes_saved), (None, 3));
}

#[test]
fn retry_threads_lowers_the_threads_of_a_rerun_after_a_warehouse_error_only() {
    let config = DecisionConfig {
        retry_threads: Some(2),
        ..Default::default()
    };
    let t = task(Some(1), "EssentialContainerExited", None, &[]);
    let transient = report(
        vec![failed(
            "fct_orders",
            FailStatus::Error,
            "FATAL: remaining connection slots are reserved for non-replication superuser connections",
        )],
        &[],
    );
    let record = decide_with(&t, Some(&transient), "dbt build --threads 8", &config);
    assert_eq!(record.decision, DecisionKind::Rerun, "{}", record.reason);
    let command = record.rerun.as_ref().unwrap().command.join(" ");
    assert_eq!(
        command,
        "dbt build --threads 2 --select fct_orders --indirect-selection empty"
    );
    assert_eq!(record.rerun_command.unwrap().join(" "), command);
    let note = record.plan_note.unwrap_or_default();
    assert!(note.contains("at most 2 dbt threads"), "{note}");
    assert!(
        record.reason.contains("DBT_RERUN_RETRY_THREADS"),
        "{}",
        record.reason
    );
    // No --threads in the command (the profile's count): it is added.
    let record = decide_with(&t, Some(&transient), "dbt build", &config);
    assert_eq!(
        record.rerun.unwrap().command.join(" "),
        "dbt build --select fct_orders --indirect-selection empty --threads 2"
    );
    // Already at most 2: as it ran, and no note says otherwise.
    let record = decide_with(&t, Some(&transient), "dbt build --threads 1", &config);
    assert!(!record
        .plan_note
        .unwrap_or_default()
        .contains("DBT_RERUN_RETRY_THREADS"));
    assert_eq!(
        record.rerun.unwrap().command.join(" "),
        "dbt build --threads 1 --select fct_orders --indirect-selection empty"
    );
    // Unset: as it ran.
    let record = decide_with(
        &t,
        Some(&transient),
        "dbt build --threads 8",
        &DecisionConfig::default(),
    );
    assert!(record.rerun.unwrap().command.contains(&"8".to_owned()));

    // dbt's own timeout (exit 2), when timeouts are re-run.
    let mut timeouts = config.clone();
    timeouts.policy.retry_on.insert(RetryClass::Timeout);
    let t2 = task(Some(2), "EssentialContainerExited", None, &[]);
    let r2 = RunReport {
        error: Some("Database Error\n  canceling statement due to statement timeout".into()),
        lines: 3,
        ..RunReport::default()
    };
    let record = decide_with(&t2, Some(&r2), "dbt build", &timeouts);
    assert_eq!(
        record.rerun.unwrap().command.join(" "),
        "dbt build --threads 2"
    );

    // Not a warehouse error: a kill for memory re-runs as it ran (with more memory).
    let oom = task(
        Some(137),
        "EssentialContainerExited",
        Some("OutOfMemoryError: Container killed due to memory usage"),
        &[],
    );
    let record = decide_with(&oom, None, "dbt build --threads 8", &config);
    assert_eq!(record.decision, DecisionKind::Rerun, "{}", record.reason);
    assert_eq!(
        record.rerun.unwrap().command.join(" "),
        "dbt build --threads 8"
    );
}

/// The decision itself (not its record), as the two phases give it.
fn decision_of(task: &EcsTask, report: Option<&RunReport>, config: &DecisionConfig) -> Decision {
    let command = argv("dbt build");
    decide(DecisionInput {
        task,
        report,
        log_note: None,
        command: Some(&command),
        entry_point: None,
        invocations: None,
        config,
    })
    .decision
}

#[test]
fn each_way_a_decision_ends_is_its_own_reason_variant() {
    use GiveUpReason as G;
    use IgnoreReason as I;
    let default = DecisionConfig::default();
    let ignored = |d: Decision| match d {
        Decision::Ignore(why) => why.reason,
        other => panic!("not ignored: {other:?}"),
    };
    let given_up = |d: Decision| match d {
        Decision::GiveUp(why) => why.reason,
        other => panic!("not given up: {other:?}"),
    };

    let mut running = task(None, "", None, &[]);
    running.last_status = "RUNNING".into();
    assert!(matches!(
        ignored(decision_of(&running, None, &default)),
        I::NotStopped { .. }
    ));
    let elsewhere = DecisionConfig {
        scope: Scope {
            clusters: NameSet::parse("etl").unwrap(),
            ..Scope::default()
        },
        ..DecisionConfig::default()
    };
    let failed_task = task(Some(1), "EssentialContainerExited", None, &[]);
    assert!(matches!(
        ignored(decision_of(
            &failed_task,
            Some(&transient_report()),
            &elsewhere
        )),
        I::NotServed { .. }
    ));
    let recovered = rerun_task(2, Some(0), "EssentialContainerExited");
    assert!(matches!(
        ignored(decision_of(&recovered, None, &default)),
        I::Recovered(Recovery { attempt: 2, .. })
    ));
    let ok = task(Some(0), "EssentialContainerExited", None, &[]);
    assert!(matches!(
        ignored(decision_of(&ok, None, &default)),
        I::Succeeded { .. }
    ));
    let stopped = task(Some(143), "UserInitiated", None, &[]);
    assert!(matches!(
        ignored(decision_of(&stopped, None, &default)),
        I::StoppedFromOutside { .. }
    ));

    let mut empty = TaskBuilder::default().build();
    empty.containers.clear();
    assert!(matches!(
        given_up(decision_of(&empty, None, &default)),
        G::NoDbtContainer(_)
    ));
    let bad_attempt = task(
        Some(1),
        "EssentialContainerExited",
        None,
        &[(ATTEMPT_VAR, "x")],
    );
    assert!(matches!(
        given_up(decision_of(
            &bad_attempt,
            Some(&transient_report()),
            &default
        )),
        G::BadChain(_)
    ));
    let compile = report(
        vec![failed(
            "stg",
            FailStatus::Error,
            "Compilation Error in model stg",
        )],
        &[],
    );
    assert!(matches!(
        given_up(decision_of(&failed_task, Some(&compile), &default)),
        G::NotRerunnable { .. }
    ));
    let last = rerun_task(3, Some(1), "EssentialContainerExited");
    assert!(matches!(
        given_up(decision_of(&last, Some(&transient_report()), &default)),
        G::BudgetSpent {
            attempt: 3,
            max_attempts: 3,
            ..
        }
    ));
    let big = "x".repeat(8000);
    let crowded = task(Some(1), "EssentialContainerExited", None, &[("BLOB", &big)]);
    assert!(matches!(
        given_up(decision_of(&crowded, Some(&transient_report()), &default)),
        G::OverridesTooLong { .. }
    ));
    let oom_at_ceiling = DecisionConfig {
        max_memory_mib: 2048,
        ..DecisionConfig::default()
    };
    let oom = task(
        Some(137),
        "EssentialContainerExited",
        Some("OutOfMemoryError: Container killed due to memory usage"),
        &[],
    );
    assert!(matches!(
        given_up(decision_of(&oom, None, &oom_at_ceiling)),
        G::NoLargerSize { .. }
    ));

    let rerun = decision_of(&failed_task, Some(&transient_report()), &default);
    let Decision::Rerun { reason, .. } = rerun else {
        panic!("not re-run: {rerun:?}");
    };
    assert_eq!(
        (reason.attempt, reason.max_attempts, reason.memory),
        (2, 3, None)
    );
}

#[test]
fn assess_answers_from_the_event_alone_or_says_what_it_needs() {
    let config = DecisionConfig::default();
    let mut running = task(None, "", None, &[]);
    running.last_status = "RUNNING".into();
    assert!(matches!(assess(&running, &config), Assessed::Decided(_)));
    // A chain's re-run that succeeded: decided unread, and the record shows its command.
    let recovered = rerun_task(2, Some(0), "EssentialContainerExited");
    let Assessed::Decided(decided) = assess(&recovered, &config) else {
        panic!("a recovery needs nothing");
    };
    assert!(decided.findings.recovered.is_some());
    assert_eq!(
        decided.findings.shown.command,
        Some(argv("dbt build --select fct_orders"))
    );
    // ... unless DBT_RERUN_INSPECT_SUCCESS wants its whole log.
    let inspecting = DecisionConfig {
        inspect_success: true,
        ..DecisionConfig::default()
    };
    let Assessed::Needs(_, needs) = assess(&recovered, &inspecting) else {
        panic!("its log is needed");
    };
    assert_eq!(
        (needs.log, needs.task_definition),
        (LogNeed::ToTheEnd, true)
    );
    // A failure with the command in the event needs the log, hence the definition (where
    // the log is); a success with it needs nothing more; a kill reads until the log is quiet.
    let with_command = |exit| {
        TaskBuilder::exited(Some(exit))
            .overrides(Some(&["dbt", "build"]), &[])
            .build()
    };
    let failed = with_command(1);
    let Assessed::Needs(stopped, needs) = assess(&failed, &config) else {
        panic!("a failure needs its log");
    };
    assert_eq!(
        (needs.container.as_str(), needs.log, needs.task_definition),
        ("dbt", LogNeed::ToTheEnd, true)
    );
    assert_eq!(stopped.container(), "dbt");
    let ran = stopped.command(None);
    assert_eq!(ran.command, Some(argv("dbt build")));
    assert!(!ran.reads_log_by_invocation());
    let killed = with_command(137);
    let Assessed::Needs(_, needs) = assess(&killed, &config) else {
        panic!("a kill needs its log");
    };
    assert_eq!(needs.log, LogNeed::UntilQuiet);
    let ok = with_command(0);
    let Assessed::Needs(_, needs) = assess(&ok, &config) else {
        panic!("a first run's success is decided with what the event gives");
    };
    assert_eq!((needs.log, needs.task_definition), (LogNeed::None, false));
    // Without a command in the event, the definition gives it, and a script's log is read
    // step by step.
    let bare = TaskBuilder::exited(Some(1)).build();
    let Assessed::Needs(stopped, needs) = assess(&bare, &config) else {
        panic!("a failure needs its log");
    };
    assert!(needs.task_definition);
    let definition = crate::task_definition::TaskDefinition {
        containers: vec![crate::task_definition::ContainerDefinition {
            name: "dbt".into(),
            command: Some(vec![
                "sh".into(),
                "-c".into(),
                "dbt seed && dbt build".into(),
            ]),
            ..Default::default()
        }],
        ..Default::default()
    };
    let ran = stopped.command(Some(&definition));
    assert_eq!(ran.command.as_ref().map(Vec::len), Some(3));
    assert!(ran.reads_log_by_invocation());
}
