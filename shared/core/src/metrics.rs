//! The decision log line: one JSON object per decision that is also a CloudWatch Embedded
//! Metric Format record, so CloudWatch extracts metrics from the log with no API call.
//!
//! The `_aws` object sits at the top level, as EMF requires; dimensions `Cluster` and
//! `TaskFamily`; metrics `Reruns`, `GiveUps`, `Ignored`, `Recovered` (0 or 1 each),
//! `FailedNodes`, `SkippedNodes`, `RerunNodes` (left out when the log cannot tell, as for a
//! resume), `NodesSaved` and `LogWaitSeconds`. The custom runtime writes the line to stdout as
//! is, so it stays valid EMF whatever `AWS_LAMBDA_LOG_FORMAT` says.

use crate::record::{DecisionKind, DecisionRecord};

/// The metrics namespace when `DBT_RERUN_METRICS_NAMESPACE` is not set.
pub(crate) const DEFAULT_NAMESPACE: &str = "DbtRerun";

/// The log line of `record`, stamped `timestamp_ms` (milliseconds since the Unix epoch).
/// The record serialises environment variable names only, never their values.
pub fn decision_log_line(record: &DecisionRecord, namespace: &str, timestamp_ms: u64) -> String {
    let count = |d: DecisionKind| u8::from(record.decision == d);
    let mut metrics = vec![
        serde_json::json!({"Name": "Reruns", "Unit": "Count"}),
        serde_json::json!({"Name": "GiveUps", "Unit": "Count"}),
        serde_json::json!({"Name": "Ignored", "Unit": "Count"}),
        serde_json::json!({"Name": "FailedNodes", "Unit": "Count"}),
        serde_json::json!({"Name": "SkippedNodes", "Unit": "Count"}),
        serde_json::json!({"Name": "LogWaitSeconds", "Unit": "Seconds"}),
        serde_json::json!({"Name": "Recovered", "Unit": "Count"}),
        serde_json::json!({"Name": "NodesSaved", "Unit": "Count"}),
    ];
    // An unknown count is no data point, rather than a 0 that would pull averages down.
    if record.rerun_nodes.is_some() {
        metrics.push(serde_json::json!({"Name": "RerunNodes", "Unit": "Count"}));
    }
    let mut line = serde_json::json!({
        "_aws": {
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": namespace,
                "Dimensions": [["Cluster", "TaskFamily"]],
                "Metrics": metrics,
            }]
        },
        "Cluster": record.cluster,
        "TaskFamily": record.task_family,
        "Reruns": count(DecisionKind::Rerun),
        "GiveUps": count(DecisionKind::GiveUp),
        "Ignored": count(DecisionKind::Ignore),
        "FailedNodes": record.failed_nodes.len(),
        "SkippedNodes": record.skipped_nodes.len(),
        "LogWaitSeconds": record.log_wait_seconds.unwrap_or(0.0),
        "Recovered": u8::from(record.recovered.is_some()),
        "NodesSaved": record.nodes_saved,
        "level": "INFO",
        "message": "dbt-rerun decision",
        "decision": record.decision,
        "reason": record.reason,
        "task_arn": record.task_arn,
        "record": record,
    });
    if let (Some(nodes), Some(object)) = (record.rerun_nodes, line.as_object_mut()) {
        object.insert("RerunNodes".to_owned(), nodes.into());
    }
    line.to_string()
}

/// Checks that `line` is a valid EMF record with every metric a number and every dimension
/// a string; the error says what is wrong. Used by the tests and the benchmark.
pub fn check_emf(line: &str) -> Result<(), String> {
    let v: serde_json::Value = serde_json::from_str(line).map_err(|e| format!("not JSON: {e}"))?;
    let aws = v.get("_aws").ok_or("no top-level _aws")?;
    aws.get("Timestamp")
        .and_then(|t| t.as_u64())
        .ok_or("_aws.Timestamp is not a number")?;
    let directives = aws
        .get("CloudWatchMetrics")
        .and_then(|d| d.as_array())
        .ok_or("no CloudWatchMetrics array")?;
    for d in directives {
        let ns = d
            .get("Namespace")
            .and_then(|n| n.as_str())
            .ok_or("no Namespace")?;
        if ns.is_empty() {
            return Err("empty Namespace".into());
        }
        for set in d
            .get("Dimensions")
            .and_then(|x| x.as_array())
            .ok_or("no Dimensions")?
        {
            for name in set.as_array().ok_or("a dimension set is not an array")? {
                let name = name.as_str().ok_or("a dimension name is not a string")?;
                if !v.get(name).is_some_and(|x| x.is_string()) {
                    return Err(format!("dimension {name} is not a string at the top level"));
                }
            }
        }
        for m in d
            .get("Metrics")
            .and_then(|x| x.as_array())
            .ok_or("no Metrics")?
        {
            let name = m
                .get("Name")
                .and_then(|n| n.as_str())
                .ok_or("a metric has no Name")?;
            if !v.get(name).is_some_and(|x| x.is_number()) {
                return Err(format!("metric {name} is not a number at the top level"));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decision::{DecisionConfig, DecisionInput};
    use crate::testing::{decide_record, TaskBuilder};
    use crate::RunReport;

    #[test]
    fn every_decision_line_is_valid_emf_with_one_count_set() {
        for (exit, status, decision) in [
            (Some(0), "STOPPED", "Ignored"),
            (None, "RUNNING", "Ignored"),
            (Some(127), "STOPPED", "GiveUps"),
            (Some(137), "STOPPED", "Reruns"),
        ] {
            let task = TaskBuilder::exited(exit).status(status).build();
            let command = vec!["dbt".to_owned(), "build".to_owned()];
            let record = decide_record(DecisionInput {
                task: &task,
                report: None,
                log_note: None,
                command: Some(&command),
                entry_point: None,
                invocations: None,
                config: &DecisionConfig::default(),
            });
            let line = decision_log_line(&record, "DbtRerun", 1_764_000_000_000);
            assert!(!line.contains('\n'));
            check_emf(&line).unwrap();
            let v: serde_json::Value = serde_json::from_str(&line).unwrap();
            assert_eq!(v["_aws"]["Timestamp"], 1_764_000_000_000u64);
            assert_eq!(v["_aws"]["CloudWatchMetrics"][0]["Namespace"], "DbtRerun");
            assert_eq!(
                (v["Cluster"].as_str(), v["TaskFamily"].as_str()),
                (Some("dbt"), Some("dbt-build"))
            );
            for metric in ["Reruns", "GiveUps", "Ignored"] {
                assert_eq!(
                    v[metric],
                    u8::from(metric == decision),
                    "{metric} for exit {exit:?} {status}"
                );
            }
        }
    }

    /// The line of the decision on `task` after the run `report`, parsed, and the names of
    /// the metrics its EMF directive declares.
    fn line_of(
        task: &crate::event::EcsTask,
        report: Option<&RunReport>,
        command: &str,
    ) -> (serde_json::Value, Vec<String>) {
        let command: Vec<String> = command.split(' ').map(str::to_owned).collect();
        let record = decide_record(DecisionInput {
            task,
            report,
            log_note: None,
            command: Some(&command),
            entry_point: None,
            invocations: None,
            config: &DecisionConfig::default(),
        });
        let line = decision_log_line(&record, "DbtRerun", 1);
        check_emf(&line).unwrap();
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        let names = v["_aws"]["CloudWatchMetrics"][0]["Metrics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["Name"].as_str().unwrap().to_owned())
            .collect();
        (v, names)
    }

    #[test]
    fn a_recovered_chain_counts_once_and_only_its_line_does() {
        let recovered = TaskBuilder::exited(Some(0))
            .started_by("dbt-rerun/0123456789abcdef0123456789abcdef/2")
            .overrides(
                Some(&["dbt", "build"]),
                &[
                    (crate::chain::ATTEMPT_VAR, "2"),
                    (crate::chain::ORIGIN_VAR, crate::testing::TASK_ARN),
                ],
            )
            .build();
        let (v, names) = line_of(&recovered, None, "dbt build");
        assert!(names.contains(&"Recovered".to_owned()), "{names:?}");
        assert_eq!(
            (&v["Recovered"], &v["Ignored"], &v["decision"]),
            (&1.into(), &1.into(), &"ignore".into())
        );
        assert_eq!(v["record"]["recovered"]["attempt"], 2);
        for other in [Some(0), Some(1), Some(137), None] {
            let (v, _) = line_of(&TaskBuilder::exited(other).build(), None, "dbt build");
            assert_eq!(v["Recovered"], 0, "exit {other:?}");
            assert!(v["record"].get("recovered").is_none(), "exit {other:?}");
        }
    }

    #[test]
    fn the_work_a_rerun_does_and_saves_is_counted() {
        use crate::log::{FinishedNodes, RunStats};
        use crate::node::{FailStatus, FailedNode, ResourceType, SkippedNode};
        let node = |name: &str| SkippedNode {
            name: name.into(),
            resource_type: ResourceType::Model,
            unique_id: None,
        };
        let failed = RunReport {
            failed: vec![FailedNode {
                name: "fct_orders".into(),
                resource_type: ResourceType::Model,
                unique_id: None,
                status: FailStatus::Error,
                message: "SSL SYSCALL error: EOF detected".into(),
                detail: "SSL SYSCALL error: EOF detected".into(),
            }],
            skipped: vec![node("agg_daily"), node("customer_ltv")],
            finished: FinishedNodes {
                count: 9,
                ..Default::default()
            },
            stats: Some(RunStats {
                pass: 9,
                error: 1,
                skip: 2,
                total: 12,
                ..Default::default()
            }),
            end_of_run: true,
            lines: 50,
            ..Default::default()
        };
        // Narrowed: the failed and skipped nodes run, the 9 finished ones do not.
        let (v, names) = line_of(
            &TaskBuilder::exited(Some(1)).build(),
            Some(&failed),
            "dbt build",
        );
        assert_eq!(v["Reruns"], 1);
        assert_eq!((&v["RerunNodes"], &v["NodesSaved"]), (&3.into(), &9.into()));
        assert!(
            names.contains(&"RerunNodes".to_owned()) && names.contains(&"NodesSaved".to_owned())
        );
        assert_eq!(
            (&v["record"]["rerun_nodes"], &v["record"]["nodes_saved"]),
            (&3.into(), &9.into())
        );

        // A resume: what never started is unknown, so no RerunNodes data point at all.
        let killed = RunReport {
            finished: FinishedNodes {
                count: 2,
                nodes: vec![node("stg_a"), node("stg_b")],
                before_first_failure: 2,
            },
            dbt_version: Some("1.11.2".into()),
            lines: 20,
            ..Default::default()
        };
        let oom = TaskBuilder::exited(Some(137))
            .reason("OutOfMemoryError: Container killed due to memory usage")
            .build();
        let (v, names) = line_of(&oom, Some(&killed), "dbt run");
        assert_eq!(
            (v["Reruns"].clone(), v["NodesSaved"].clone()),
            (1.into(), 2.into())
        );
        assert!(v.get("RerunNodes").is_none(), "{v}");
        assert!(!names.contains(&"RerunNodes".to_owned()), "{names:?}");
        assert!(v["record"]["rerun_nodes"].is_null());

        // A give-up and an ignore plan no re-run: 0 and 0.
        for task in [
            TaskBuilder::exited(Some(2)).build(),
            TaskBuilder::exited(Some(0)).build(),
        ] {
            let (v, names) = line_of(&task, None, "dbt build");
            assert_eq!((&v["RerunNodes"], &v["NodesSaved"]), (&0.into(), &0.into()));
            assert!(names.contains(&"RerunNodes".to_owned()));
        }
    }

    #[test]
    fn broken_emf_is_named() {
        assert!(check_emf("{}").unwrap_err().contains("_aws"));
        let line = r#"{"_aws": {"Timestamp": 1, "CloudWatchMetrics": [{"Namespace": "N", "Dimensions": [["Cluster"]], "Metrics": [{"Name": "Reruns"}]}]}, "Cluster": 5, "Reruns": 1}"#;
        assert!(check_emf(line).unwrap_err().contains("Cluster"));
        let line = r#"{"_aws": {"Timestamp": 1, "CloudWatchMetrics": [{"Namespace": "N", "Dimensions": [["Cluster"]], "Metrics": [{"Name": "Reruns"}]}]}, "Cluster": "c", "Reruns": "1"}"#;
        assert!(check_emf(line).unwrap_err().contains("Reruns"));
    }
}
