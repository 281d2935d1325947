//! The decision log line: one JSON object per decision that is also a CloudWatch Embedded
//! Metric Format record, so CloudWatch extracts metrics from the log with no API call.
//!
//! The `_aws` object sits at the top level, as EMF requires; dimensions `Cluster` and
//! `TaskFamily`; metrics `Reruns`, `GiveUps`, `Ignored` (0 or 1 each), `FailedNodes`,
//! `SkippedNodes` and `LogWaitSeconds`. The custom runtime writes the line to stdout as is,
//! so it stays valid EMF whatever `AWS_LAMBDA_LOG_FORMAT` says.

use crate::record::{DecisionKind, DecisionRecord};

/// The metrics namespace when `DBT_RERUN_METRICS_NAMESPACE` is not set.
pub const DEFAULT_NAMESPACE: &str = "DbtRerun";

/// The log line of `record`, stamped `timestamp_ms` (milliseconds since the Unix epoch).
/// The record serialises environment variable names only, never their values.
pub fn decision_log_line(record: &DecisionRecord, namespace: &str, timestamp_ms: u64) -> String {
    let count = |d: DecisionKind| u8::from(record.decision == d);
    serde_json::json!({
        "_aws": {
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": namespace,
                "Dimensions": [["Cluster", "TaskFamily"]],
                "Metrics": [
                    {"Name": "Reruns", "Unit": "Count"},
                    {"Name": "GiveUps", "Unit": "Count"},
                    {"Name": "Ignored", "Unit": "Count"},
                    {"Name": "FailedNodes", "Unit": "Count"},
                    {"Name": "SkippedNodes", "Unit": "Count"},
                    {"Name": "LogWaitSeconds", "Unit": "Seconds"}
                ]
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
        "level": "INFO",
        "message": "dbt-rerun decision",
        "decision": record.decision,
        "reason": record.reason,
        "task_arn": record.task_arn,
        "record": record,
    })
    .to_string()
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

    #[test]
    fn broken_emf_is_named() {
        assert!(check_emf("{}").unwrap_err().contains("_aws"));
        let line = r#"{"_aws": {"Timestamp": 1, "CloudWatchMetrics": [{"Namespace": "N", "Dimensions": [["Cluster"]], "Metrics": [{"Name": "Reruns"}]}]}, "Cluster": 5, "Reruns": 1}"#;
        assert!(check_emf(line).unwrap_err().contains("Cluster"));
        let line = r#"{"_aws": {"Timestamp": 1, "CloudWatchMetrics": [{"Namespace": "N", "Dimensions": [["Cluster"]], "Metrics": [{"Name": "Reruns"}]}]}, "Cluster": "c", "Reruns": "1"}"#;
        assert!(check_emf(line).unwrap_err().contains("Reruns"));
    }
}
