//! Chains from real decision lines: records of real decisions (the core's `decide`), written
//! by `decision_log_line` as on-task-stopped writes them.

use super::*;
use crate::decision::DecisionConfig;
use crate::record::{DecisionKind, Launched};
use crate::testing::history::{
    all, decided, decided_with, event, recovered, run, started, transient, MINUTE, NIGHT, T1, T2,
    T3,
};
use crate::testing::TaskBuilder;

/// The line as the version before `origin_task_arn` wrote it.
fn without_origin(mut e: LogEvent) -> LogEvent {
    let mut v: Value = serde_json::from_str(&e.message).unwrap();
    v["record"]
        .as_object_mut()
        .unwrap()
        .remove("origin_task_arn");
    e.message = v.to_string();
    e
}

fn launch_line(task_arn: &str, started_by: &str) -> LogEvent {
    LogEvent {
        timestamp_ms: NIGHT,
        message: serde_json::json!({
            "message": "dbt-rerun launch",
            "response": {"task_arn": task_arn, "command": ["dbt", "build"], "cluster": "dbt",
                         "task_definition": "dbt-build:7", "container": "dbt",
                         "started_by": started_by, "dry_run": false}
        })
        .to_string(),
    }
}

fn only(events: &[LogEvent]) -> ChainHistory {
    let history = all(events);
    assert_eq!(history.chains.len(), 1, "{:#?}", history.chains);
    history.chains.into_iter().next().unwrap()
}

fn decisions(chain: &ChainHistory) -> Vec<(u32, &str, bool)> {
    chain
        .attempts
        .iter()
        .map(|a| (a.attempt, a.decision.as_str(), a.recovered))
        .collect()
}

#[test]
fn a_rerun_that_succeeded_is_recovered_at_its_attempt() {
    let first = decided(&run(T1, 1).build(), started(T2));
    assert_eq!(first.decision, DecisionKind::Rerun, "{}", first.reason);
    let chain = only(&[event(&first, NIGHT), recovered(T2, 2, NIGHT + 20 * MINUTE)]);
    assert_eq!(chain.origin_task.as_deref(), Some(T1));
    assert_eq!(
        decisions(&chain),
        [(1, "rerun", false), (2, "ignore", true)]
    );
    assert_eq!(
        (chain.outcome, chain.outcome_attempt),
        (Outcome::Recovered, 2)
    );
    assert_eq!(chain.started_at, rfc3339_ms(NIGHT));
    assert_eq!(
        (chain.cluster.as_str(), chain.family.as_str()),
        ("dbt", "dbt-build")
    );
    assert_eq!(
        chain.command.as_deref().map(|c| c.join(" ")),
        Some("dbt build --target prod".to_owned())
    );
    let a = &chain.attempts[0];
    assert_eq!(a.failed_nodes, ["fct_orders"]);
    assert_eq!((a.skipped_nodes, a.task_arn.as_str()), (1, T1));
    assert!(
        a.reason.contains("re-running as attempt 2 of 3"),
        "{}",
        a.reason
    );
    // Every decision line carries the work saved: none here (no node finished before the
    // failure in this run).
    assert_eq!(chain.nodes_saved, Some(0));
}

#[test]
fn a_recovered_line_that_did_not_locate_its_chain_is_linked_by_its_task() {
    // Older lines (no origin_task_arn), and a recovered line that says attempt 1: the task
    // was launched as attempt 2 of T1's chain, so it is that.
    let first = without_origin(event(&decided(&run(T1, 1).build(), started(T2)), NIGHT));
    let mut late = recovered(T2, 2, NIGHT + MINUTE);
    let mut v: Value = serde_json::from_str(&late.message).unwrap();
    v["record"]["attempt"] = 1.into();
    v["record"]
        .as_object_mut()
        .unwrap()
        .remove("origin_task_arn");
    late.message = v.to_string();
    let chain = only(&[late, first]);
    assert_eq!(
        decisions(&chain),
        [(1, "rerun", false), (2, "ignore", true)]
    );
    assert_eq!(chain.outcome, Outcome::Recovered);
}

#[test]
fn a_chain_that_spends_its_budget_gave_up_and_lists_every_attempt() {
    let lines = [
        event(&decided(&run(T1, 1).build(), started(T2)), NIGHT),
        event(
            &decided(&run(T2, 2).build(), started(T3)),
            NIGHT + 10 * MINUTE,
        ),
        event(&decided(&run(T3, 3).build(), None), NIGHT + 20 * MINUTE),
    ];
    let chain = only(&lines);
    assert_eq!(
        decisions(&chain),
        [
            (1, "rerun", false),
            (2, "rerun", false),
            (3, "give_up", false)
        ]
    );
    assert_eq!((chain.outcome, chain.outcome_attempt), (Outcome::GaveUp, 3));
    assert_eq!(
        chain
            .attempts
            .iter()
            .map(|a| a.task_arn.as_str())
            .collect::<Vec<_>>(),
        [T1, T2, T3]
    );
    // The same from lines without origin_task_arn: linked through rerun.task_arn.
    let old: Vec<LogEvent> = lines.into_iter().map(without_origin).collect();
    let chain = only(&old);
    assert_eq!(decisions(&chain).len(), 3);
    assert_eq!(chain.origin_task.as_deref(), Some(T1));
    assert_eq!(chain.outcome, Outcome::GaveUp);
}

#[test]
fn a_started_rerun_without_a_later_line_is_running() {
    let chain = only(&[event(&decided(&run(T1, 1).build(), started(T2)), NIGHT)]);
    assert_eq!(
        (chain.outcome, chain.outcome_attempt),
        (Outcome::Running, 2)
    );
    assert_eq!(chain.running_task.as_deref(), Some(T2));
}

#[test]
fn a_delayed_rerun_is_scheduled_until_its_schedule_fires() {
    let due = "2026-11-19T03:10:00Z";
    let scheduled = decided(
        &run(T1, 1).build(),
        Some(Launched::Scheduled {
            name: "dbt-rerun-1111-2".into(),
            due: due.into(),
            seconds: 300,
        }),
    );
    let first = without_origin(event(&scheduled, NIGHT));
    let chain = only(std::slice::from_ref(&first));
    assert_eq!(
        (chain.outcome, chain.outcome_attempt),
        (Outcome::Scheduled, 2)
    );
    assert_eq!(chain.scheduled_at.as_deref(), Some(due));

    // The schedule fired: rerun-task's launch line names the chain in its startedBy.
    let fired = launch_line(T2, "dbt-rerun/11111111111111111111111111111111/2");
    let chain = only(&[first.clone(), fired.clone()]);
    assert_eq!(
        (chain.outcome, chain.outcome_attempt),
        (Outcome::Running, 2)
    );
    assert_eq!(chain.running_task.as_deref(), Some(T2));

    // And the re-run failed for good (a budget of 2 runs); an old line without origin is
    // linked by the launch.
    let mut two = DecisionConfig::default();
    two.policy.max_attempts = 2;
    let record = decided_with(&run(T2, 2).build(), None, Some(&transient()), &two);
    assert_eq!(record.decision, DecisionKind::GiveUp, "{}", record.reason);
    let last = without_origin(event(&record, NIGHT + 30 * MINUTE));
    let chain = only(&[first, fired, last]);
    assert_eq!(
        decisions(&chain),
        [(1, "rerun", false), (2, "give_up", false)]
    );
    assert_eq!(chain.attempts[1].task_arn, T2);
    assert_eq!((chain.outcome, chain.outcome_attempt), (Outcome::GaveUp, 2));
}

#[test]
fn a_task_a_person_stopped_is_ignored() {
    let task = TaskBuilder::exited(Some(143))
        .stop_code("UserInitiated")
        .arn(T1)
        .build();
    let record = decided(&task, None);
    assert_eq!(record.decision, DecisionKind::Ignore, "{}", record.reason);
    let chain = only(&[event(&record, NIGHT)]);
    assert_eq!(
        (chain.outcome, chain.outcome_attempt),
        (Outcome::Ignored, 1)
    );
    assert_eq!(chain.attempts[0].reason, record.reason);
}

#[test]
fn a_dry_run_was_not_launched() {
    let chain = only(&[event(&decided(&run(T1, 1).build(), None), NIGHT)]);
    assert_eq!(
        (chain.outcome, chain.outcome_attempt),
        (Outcome::NotLaunched, 2)
    );
}

#[test]
fn repeated_events_add_nothing() {
    let first = decided(&run(T1, 1).build(), started(T2));
    let again = decided(
        &run(T1, 1).build(),
        Some(Launched::AlreadyStarted {
            why: "a task with its startedBy is running".into(),
        }),
    );
    assert!(again.duplicate);
    let chain = only(&[
        event(&first, NIGHT),
        event(&again, NIGHT + 1000),
        event(&first, NIGHT + 2000),
    ]);
    assert_eq!(decisions(&chain), [(1, "rerun", false)]);
    assert_eq!(chain.outcome, Outcome::Running);
}

#[test]
fn chains_are_newest_first_and_filtered_by_family_and_cluster() {
    let other = "arn:aws:ecs:eu-west-1:123456789012:task/dbt/99999999999999999999999999999999";
    let mut v: Value = serde_json::from_str(
        &event(&decided(&run(other, 1).build(), None), NIGHT + MINUTE).message,
    )
    .unwrap();
    v["record"]["task_family"] = "dbt-hourly".into();
    v["record"]["cluster"] = "analytics".into();
    let hourly = LogEvent {
        timestamp_ms: NIGHT + MINUTE,
        message: v.to_string(),
    };
    let nightly = event(&decided(&run(T1, 1).build(), started(T2)), NIGHT);
    let events = [nightly, hourly];
    let history = all(&events);
    let families: Vec<&str> = history.chains.iter().map(|c| c.family.as_str()).collect();
    assert_eq!(families, ["dbt-hourly", "dbt-build"]);
    let filtered = |family: Option<&str>, cluster: Option<&str>| {
        chains(
            &events,
            &Filter {
                family: family.map(Into::into),
                cluster: cluster.map(Into::into),
            },
        )
        .chains
        .iter()
        .map(|c| c.family.clone())
        .collect::<Vec<_>>()
    };
    assert_eq!(filtered(Some("dbt-build"), None), ["dbt-build"]);
    assert_eq!(filtered(None, Some("analytics")), ["dbt-hourly"]);
    assert_eq!(
        filtered(
            None,
            Some("arn:aws:ecs:eu-west-1:123456789012:cluster/analytics")
        ),
        ["dbt-hourly"]
    );
    assert!(filtered(Some("dbt-build"), Some("analytics")).is_empty());
}

#[test]
fn other_lines_are_skipped_and_broken_ones_counted() {
    let line = event(&decided(&run(T1, 1).build(), started(T2)), NIGHT);
    let noise = |m: &str| LogEvent {
        timestamp_ms: NIGHT,
        message: m.into(),
    };
    let history = all(&[
        noise("START RequestId: 8f5 Version: $LATEST"),
        noise(r#"{"level":"ERROR","message":"no decision","error":"ecs:RunTask failed"}"#),
        noise(r#"{"message": "dbt-rerun decision", "record": {"#),
        noise(r#"{"message": "dbt-rerun decision", "record": {"attempt": "two"}}"#),
        line.clone(),
    ]);
    assert_eq!(history.chains.len(), 1);
    assert_eq!(history.unreadable, 2);
    // A line inside Lambda's JSON envelope, should it ever be wrapped, and one after a
    // text prefix, read the same.
    let wrapped = noise(
        &serde_json::json!({"timestamp": "2026-11-27T02:14:31Z", "level": "INFO",
                            "message": line.message})
        .to_string(),
    );
    let prefixed = noise(&format!("2026-11-27T02:14:31Z 8f5 INFO {}", line.message));
    assert_eq!(only(&[wrapped]).origin_task.as_deref(), Some(T1));
    assert_eq!(only(&[prefixed]).origin_task.as_deref(), Some(T1));
}

#[test]
fn the_work_saved_is_summed_when_the_lines_carry_it() {
    let with = |e: LogEvent, saved: u64, from_record: bool| {
        let mut v: Value = serde_json::from_str(&e.message).unwrap();
        if from_record {
            v["record"]["nodes_saved"] = saved.into();
            v["record"]["rerun_nodes"] = 2.into();
        } else {
            // A line that carries the count as its EMF metric only.
            if let Some(record) = v["record"].as_object_mut() {
                record.remove("nodes_saved");
            }
            v["NodesSaved"] = saved.into();
        }
        LogEvent {
            message: v.to_string(),
            ..e
        }
    };
    let chain = only(&[
        with(
            event(&decided(&run(T1, 1).build(), started(T2)), NIGHT),
            30,
            true,
        ),
        with(
            event(&decided(&run(T2, 2).build(), started(T3)), NIGHT + MINUTE),
            28,
            false,
        ),
    ]);
    assert_eq!(chain.nodes_saved, Some(58));
    assert_eq!(chain.attempts[0].rerun_nodes, Some(2));
    let json = serde_json::to_value(&chain).unwrap();
    assert_eq!(json["nodes_saved"], 58);
    assert_eq!(json["attempts"][0]["nodes_saved"], 30);
}

#[test]
fn the_json_has_the_documented_fields() {
    let chain = only(&[event(&decided(&run(T1, 1).build(), started(T2)), NIGHT)]);
    let json = serde_json::to_value(&chain).unwrap();
    for key in [
        "origin_task",
        "started_at",
        "cluster",
        "family",
        "command",
        "attempts",
        "outcome",
        "outcome_attempt",
        "running_task",
        "nodes_saved",
    ] {
        assert!(json.get(key).is_some(), "{key} in {json}");
    }
    assert_eq!(json["outcome"], "running");
    for key in [
        "attempt",
        "decision",
        "reason",
        "task_arn",
        "failed_nodes",
        "decided_at",
    ] {
        assert!(json["attempts"][0].get(key).is_some(), "{key}");
    }
    assert_eq!(json["attempts"][0]["failed_nodes"][0], "fct_orders");
}

#[test]
fn a_rerun_whose_container_exited_0_recovered_even_without_the_metric() {
    let first = decided(&run(T1, 1).build(), started(T2));
    let success = decided_with(
        &run(T2, 2).exit_code(Some(0)).build(),
        None,
        None,
        &DecisionConfig::default(),
    );
    let chain = only(&[event(&first, NIGHT), event(&success, NIGHT + MINUTE)]);
    assert_eq!(
        (chain.outcome, chain.outcome_attempt),
        (Outcome::Recovered, 2)
    );
    // The original's own success is no recovery: nothing was re-run.
    let plain = decided_with(
        &run(T3, 1).exit_code(Some(0)).build(),
        None,
        None,
        &DecisionConfig::default(),
    );
    assert_eq!(only(&[event(&plain, NIGHT)]).outcome, Outcome::Ignored);
}
