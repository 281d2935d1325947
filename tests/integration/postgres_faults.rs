//! Real PostgreSQL faults: dbt-postgres runs against a real server (Debian's `postgresql`)
//! with a fault injected while dbt ran (`tests/fixtures/generate_postgres.py`): the backend
//! terminated, a fast restart, the connection cut by a TCP proxy, a lock held past
//! `lock_timeout`, every connection slot taken, a statement timeout, and deterministic failures
//! (bad SQL, a wrong password, permission denied). Each failure gets the classes its
//! `meta.json` expects, and the policy re-runs exactly the transient ones (timeouts only when
//! `DBT_RERUN_RETRY_ON` names them). Checked on the recorded runs (`tests/fixtures/postgres/`)
//! and on runs recorded afresh by the test, against a server it starts on a loopback port.

use dbt_rerun::classify::{classify, TaskOutcome};
use dbt_rerun::config::decision_config;
use dbt_rerun::decision::DecisionInput;
use dbt_rerun::log::{parse_reader, Limits};
use dbt_rerun::policy::RetryClass;
use dbt_rerun::testing::{decide_record, TaskBuilder};
use dbt_rerun_tests::{name_of, repo_root, Mismatches};
use serde::Deserialize;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

#[derive(Debug, Deserialize)]
struct Meta {
    argv: Vec<String>,
    exit_code: i32,
    fault: String,
    expected_classes: Vec<String>,
}

#[derive(Deserialize)]
struct RunResults {
    results: Vec<NodeResult>,
}

#[derive(Deserialize)]
struct NodeResult {
    unique_id: String,
    status: String,
}

/// Every scenario of the corpus the generator wrote in `dir`.
const SCENARIOS: [&str; 9] = [
    "backend_terminated",
    "server_fast_restart",
    "connection_cut_by_proxy",
    "lock_timeout",
    "max_connections_exhausted",
    "statement_timeout",
    "bad_sql",
    "wrong_password",
    "permission_denied",
];

fn check_runs(dir: &Path) {
    let mut bad = Mismatches::default();
    let by_default = decision_config(|_| None).unwrap();
    let opted_in = decision_config(|name| {
        (name == "DBT_RERUN_RETRY_ON").then(|| "infra,oom,transient,timeout".to_owned())
    })
    .unwrap();
    // A re-run after a warehouse error with one thread (DBT_RERUN_RETRY_THREADS).
    let one_thread = decision_config(|name| match name {
        "DBT_RERUN_RETRY_ON" => Some("infra,oom,transient,timeout".to_owned()),
        "DBT_RERUN_RETRY_THREADS" => Some("1".to_owned()),
        _ => None,
    })
    .unwrap();
    for scenario in SCENARIOS {
        let run = dir.join(scenario);
        let meta: Meta = serde_json::from_str(
            &std::fs::read_to_string(run.join("meta.json"))
                .unwrap_or_else(|e| panic!("{}: {e}", run.display())),
        )
        .unwrap_or_else(|e| panic!("{scenario}: bad meta.json: {e}"));
        let log = std::fs::File::open(run.join("output.log")).unwrap();
        let report = parse_reader(log, Limits::default()).unwrap();

        // The parser reads the failed nodes dbt's own results name.
        if let Ok(text) = std::fs::read_to_string(run.join("run_results.json")) {
            let results: RunResults = serde_json::from_str(&text).unwrap();
            let truth: BTreeSet<String> = results
                .results
                .iter()
                .filter(|r| r.status == "error")
                .map(|r| name_of(&r.unique_id))
                .collect();
            let parsed: BTreeSet<String> = report.failed.iter().map(|n| n.name.clone()).collect();
            bad.check(parsed == truth, || {
                format!("{scenario}: failed {parsed:?}, dbt says {truth:?}")
            });
        }

        let outcome = TaskOutcome {
            container: "dbt".into(),
            exit_code: Some(meta.exit_code),
            stop_code: Some("EssentialContainerExited".to_owned().into()),
            stopped_reason: Some("Essential container in task exited".into()),
            container_reason: None,
        };
        let classification = classify(&outcome, Some(&report), &by_default.transient);
        let mut classes: Vec<&str> = classification.classes.iter().map(|c| c.as_str()).collect();
        classes.dedup();
        bad.check(classes == meta.expected_classes, || {
            format!(
                "{scenario} ({}, exit {}): classes {classes:?}, expected {:?}; {}",
                meta.fault, meta.exit_code, meta.expected_classes, classification.summary
            )
        });
        let rerun = |config: &dbt_rerun::decision::DecisionConfig| {
            !classification.classes.is_empty()
                && classification
                    .classes
                    .iter()
                    .all(|c| config.policy.allows(*c))
        };
        let transient = classification.classes.contains(&RetryClass::Transient);
        let timeout = classification.classes.contains(&RetryClass::Timeout);
        bad.check(rerun(&by_default) == transient, || {
            format!("{scenario}: re-run by default: {}", rerun(&by_default))
        });
        bad.check(rerun(&opted_in) == (transient || timeout), || {
            format!("{scenario}: re-run with timeout: {}", rerun(&opted_in))
        });
        let argv: Vec<&str> = meta.argv.iter().map(String::as_str).collect();
        let task = TaskBuilder::exited(Some(meta.exit_code))
            .overrides(Some(&argv), &[])
            .build();
        let record = decide_record(DecisionInput {
            task: &task,
            report: Some(&report),
            log_note: None,
            command: Some(&meta.argv),
            entry_point: None,
            invocations: None,
            config: &one_thread,
        });
        let threads = record
            .rerun
            .as_ref()
            .map(|r| r.command.windows(2).any(|w| w == ["--threads", "1"]));
        let expected = (transient || timeout).then_some(true);
        bad.check(threads == expected, || {
            format!(
                "{scenario}: with DBT_RERUN_RETRY_THREADS=1 the re-run is {:?} ({})",
                record.rerun.as_ref().map(|r| r.command.join(" ")),
                record.reason
            )
        });
    }
    bad.assert_none();
}

#[test]
fn recorded_postgres_faults_get_their_classes() {
    check_runs(&repo_root().join("tests/fixtures/postgres"));
}

/// The same faults recorded now, against a server this test starts: the recorded runs are what
/// a real server and dbt-postgres say today, not a one-off.
#[test]
fn postgres_faults_recorded_afresh_get_their_classes() {
    let out: PathBuf = std::env::temp_dir().join(format!("dbt-rerun-pg-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let done = std::process::Command::new("python3")
        .arg(repo_root().join("tests/fixtures/generate_postgres.py"))
        .arg("--out")
        .arg(&out)
        .output()
        .expect("python3 runs");
    assert!(
        done.status.success(),
        "generate_postgres.py failed (needs the Debian package postgresql and the postgres \
         venv: scripts/test installs both):\n{}{}",
        String::from_utf8_lossy(&done.stdout),
        String::from_utf8_lossy(&done.stderr)
    );
    check_runs(&out);
    let _ = std::fs::remove_dir_all(&out);
}
