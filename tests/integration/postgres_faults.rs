//! Real PostgreSQL faults: dbt-postgres runs against a real server (Debian's `postgresql`)
//! with a fault injected while dbt ran (`tests/fixtures/generate_postgres.py`): the backend
//! terminated, a fast restart, the connection cut by a TCP proxy, a lock held past
//! `lock_timeout`, every connection slot taken, the slots dbt's own threads need taken, a
//! statement timeout, and deterministic failures (bad SQL, a wrong password, permission
//! denied). Each failure gets the classes its `meta.json` expects, and the policy re-runs
//! exactly the transient ones (timeouts only when `DBT_RERUN_RETRY_ON` names them). Checked on
//! the recorded runs (`tests/fixtures/postgres/`: dbt-core 1.10 with dbt-postgres 1.9, and
//! `postgres/1.12/`: dbt-core 1.12 with dbt-postgres 1.11) and on runs of both recorded afresh by
//! the test, against a server it starts on a loopback port; and, for the slots dbt's threads
//! exhaust, the re-run planned with `DBT_RERUN_RETRY_THREADS=1` run for real against that
//! server.

use dbt_rerun_core::classify::{classify, TaskOutcome};
use dbt_rerun_core::config::decision_config;
use dbt_rerun_core::decision::{DecisionConfig, DecisionInput};
use dbt_rerun_core::log::{parse_reader, Limits, RunReport};
use dbt_rerun_core::policy::RetryClass;
use dbt_rerun_core::testing::{decide_record, TaskBuilder};
use dbt_rerun_core::DecisionRecord;
use dbt_rerun_tests::{name_of, repo_root, GeneratorSession, Mismatches};
use serde::Deserialize;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Instant;

#[derive(Debug, Deserialize)]
struct Meta {
    dbt_version: String,
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
    message: Option<String>,
}

/// Every scenario of the corpus the generator wrote in `dir`.
const SCENARIOS: [&str; 10] = [
    "backend_terminated",
    "server_fast_restart",
    "connection_cut_by_proxy",
    "lock_timeout",
    "max_connections_exhausted",
    "threads_exhaust_slots",
    "statement_timeout",
    "bad_sql",
    "wrong_password",
    "permission_denied",
];

/// Checks every scenario of `dir`, recorded with dbt-core `dbt` (a minor, `1.12`).
fn check_runs(dir: &Path, dbt: &str) {
    let mut bad = Mismatches::default();
    for scenario in SCENARIOS {
        let version = check_run(dir, scenario, &mut bad).1;
        bad.check(version.starts_with(&format!("{dbt}.")), || {
            format!("{scenario}: recorded with dbt-core {version}, expected {dbt}")
        });
    }
    bad.assert_none();
}

/// Checks the run of `scenario` in `dir` (into `bad`); the decision on it with
/// `DBT_RERUN_RETRY_ON=infra,oom,transient,timeout` and `DBT_RERUN_RETRY_THREADS=1`, and the
/// dbt-core version that recorded it.
fn check_run(dir: &Path, scenario: &str, bad: &mut Mismatches) -> (DecisionRecord, String) {
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
    let rerun = |config: &DecisionConfig| {
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
    let record = decide_on(&meta, &report, &one_thread);
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
    (record, meta.dbt_version)
}

/// The decision on the run `meta` and `report` tell of, with `config`: the dbt container's
/// command is the run's argv, its exit code the run's.
fn decide_on(meta: &Meta, report: &RunReport, config: &DecisionConfig) -> DecisionRecord {
    let argv: Vec<&str> = meta.argv.iter().map(String::as_str).collect();
    let task = TaskBuilder::exited(Some(meta.exit_code))
        .overrides(Some(&argv), &[])
        .build();
    decide_record(DecisionInput {
        task: &task,
        report: Some(report),
        log_note: None,
        command: Some(&meta.argv),
        entry_point: None,
        invocations: None,
        config,
    })
}

#[test]
fn recorded_postgres_faults_get_their_classes() {
    check_runs(&repo_root().join("tests/fixtures/postgres"), "1.10");
}

#[test]
fn recorded_postgres_faults_of_dbt_1_12_get_their_classes() {
    check_runs(&repo_root().join("tests/fixtures/postgres/1.12"), "1.12");
}

/// The same faults recorded now, against a server this test starts: the recorded runs are what
/// a real server and dbt-postgres say today, not a one-off.
#[test]
fn postgres_faults_recorded_afresh_get_their_classes() {
    record_afresh_and_check("1.10");
}

#[test]
fn postgres_faults_recorded_afresh_with_dbt_1_12_get_their_classes() {
    record_afresh_and_check("1.12");
}

/// Every scenario recorded by `generate_postgres.py --dbt <dbt>` into a directory of its own,
/// then checked.
fn record_afresh_and_check(dbt: &str) {
    let out: PathBuf =
        std::env::temp_dir().join(format!("dbt-rerun-pg-{dbt}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let done = std::process::Command::new("python3")
        .arg(repo_root().join("tests/fixtures/generate_postgres.py"))
        .args(["--dbt", dbt, "--out"])
        .arg(&out)
        .output()
        .expect("python3 runs");
    assert!(
        done.status.success(),
        "generate_postgres.py --dbt {dbt} failed (needs the Debian package postgresql and the \
         postgres venvs: scripts/test installs them):\n{}{}",
        String::from_utf8_lossy(&done.stdout),
        String::from_utf8_lossy(&done.stderr)
    );
    check_runs(&out, dbt);
    let _ = std::fs::remove_dir_all(&out);
}

/// `DBT_RERUN_RETRY_THREADS` for real. Idle sessions of another role leave two connection
/// slots; dbt builds six independent models with `--threads 6`, a connection each, and the
/// ones that find no slot fail (transient). The decision on that run by default plans a re-run
/// of the failed models with `--threads 6`: run for real against the same server, the same
/// sessions still holding their slots, it fails again. With `DBT_RERUN_RETRY_THREADS=1` the
/// decision plans the same command with `--threads 1`: run the same way, it succeeds, every
/// node it selects.
#[test]
fn postgres_slots_taken_by_dbt_threads_rerun_with_one_thread_succeeds() {
    let started = Instant::now();
    let out: PathBuf =
        std::env::temp_dir().join(format!("dbt-rerun-pg-threads-{}", std::process::id()));
    // Dropped on a panic too: the generator reads the end of its input, runs nothing more,
    // releases the slots and stops its server.
    let mut generator = GeneratorSession::start(
        "generate_postgres.py",
        &["--scenario", "threads_exhaust_slots", "--rerun"],
        &out,
    );
    let run = generator.run.clone();
    // Runs `argv` in the recorded run's project, against its server: its meta.json, log and
    // dbt's results.
    let mut rerun = |argv: &[String]| {
        let dir = generator.rerun(&serde_json::json!(argv));
        let meta: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("meta.json")).unwrap()).unwrap();
        assert_eq!(
            meta["argv"],
            serde_json::json!(argv),
            "not the planned command"
        );
        let log = std::fs::read_to_string(dir.join("output.log")).unwrap();
        (meta["exit_code"].as_i64().unwrap(), log, results_of(&dir))
    };

    // The failed run: the class it must have, and the decisions the real code path makes.
    let mut bad = Mismatches::default();
    let one_thread = check_run(run.parent().unwrap(), "threads_exhaust_slots", &mut bad).0;
    bad.assert_none();
    let failed: BTreeSet<String> = results_of(&run)
        .into_iter()
        .filter(|r| r.status == "error")
        .map(|r| r.unique_id)
        .collect();
    let meta: Meta =
        serde_json::from_str(&std::fs::read_to_string(run.join("meta.json")).unwrap()).unwrap();
    let report = parse_reader(
        std::fs::File::open(run.join("output.log")).unwrap(),
        Limits::default(),
    )
    .unwrap();
    let by_default = decide_on(&meta, &report, &decision_config(|_| None).unwrap());
    let planned = |record: &DecisionRecord| {
        record
            .rerun
            .as_ref()
            .unwrap_or_else(|| panic!("no re-run: {}", record.reason))
            .command
            .clone()
    };
    let (as_it_ran, with_one) = (planned(&by_default), planned(&one_thread));
    let threads = |argv: &[String]| -> Vec<String> {
        argv.windows(2)
            .filter(|w| w[0] == "--threads")
            .map(|w| w[1].clone())
            .collect()
    };
    assert_eq!(threads(&as_it_ran), ["6"], "{as_it_ran:?}");
    assert_eq!(threads(&with_one), ["1"], "{with_one:?}");
    let lowered: Vec<String> = as_it_ran
        .iter()
        .enumerate()
        .map(
            |(i, a)| match i.checked_sub(1).map(|p| as_it_ran[p].as_str()) {
                Some("--threads") => "1".to_owned(),
                _ => a.clone(),
            },
        )
        .collect();
    assert_eq!(with_one, lowered, "more than the thread count differs");
    // Two slots, so at most two of the six ran at once. Re-running more than two at once
    // cannot succeed either.
    assert!(failed.len() > 2, "only {failed:?} failed");

    // The re-run as it would be by default, for real: it fails again (too many at once).
    let (code, log, results) = rerun(&as_it_ran);
    let slots_refused = results
        .iter()
        .filter(|r| r.status == "error")
        .filter(|r| {
            r.message.as_deref().is_some_and(|m| {
                m.contains("remaining connection slots are reserved")
                    || m.contains("too many clients already")
            })
        })
        .count();
    assert!(
        code != 0 && slots_refused > 0,
        "with --threads 6 the re-run did not run out of slots (exit {code}):\n{log}"
    );

    // With DBT_RERUN_RETRY_THREADS=1, for real: it succeeds, every node it selects.
    let (code, log, results) = rerun(&with_one);
    assert_eq!(code, 0, "the re-run {with_one:?} failed:\n{log}");
    let not_ok: Vec<String> = results
        .iter()
        .filter(|r| r.status != "success")
        .map(|r| format!("{} {}", r.unique_id, r.status))
        .collect();
    assert!(
        !results.is_empty() && not_ok.is_empty(),
        "the re-run's nodes: {not_ok:?} not a success, of {}:\n{log}",
        results.len()
    );
    let ran: BTreeSet<String> = results.into_iter().map(|r| r.unique_id).collect();
    assert_eq!(
        ran, failed,
        "the re-run ran other nodes than the failed ones"
    );

    generator.finish();
    eprintln!(
        "{} of 6 failed with --threads 6; the default re-run failed {slots_refused} for want \
         of a slot; {with_one:?} built all {}, in {:.1} s in all",
        failed.len(),
        ran.len(),
        started.elapsed().as_secs_f64()
    );
}

/// dbt's own `target/run_results.json` of the run in `dir`.
fn results_of(dir: &Path) -> Vec<NodeResult> {
    let path = dir.join("run_results.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str::<RunResults>(&text).unwrap().results
}
