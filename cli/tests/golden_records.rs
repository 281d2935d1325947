//! The decision record, byte for byte, on every recorded dbt run, every sample event and every
//! published ECS event: `dbt-rerun plan --format json` (the path on-task-stopped takes, offline)
//! must print exactly what `cli/tests/golden/` holds. A change to any field's name, order,
//! value or spelling fails here; a deliberate one is re-recorded with
//! `DBT_RERUN_BLESS=1 cargo test -p dbt-rerun-cli --test golden_records` and reviewed in the
//! diff.

use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// One decision to record: an event, its log, and the settings that differ from the defaults.
struct Case {
    name: String,
    event: Vec<u8>,
    log: Option<PathBuf>,
    env: Vec<(&'static str, &'static str)>,
}

/// A stopped task of family `dbt-build` whose container `dbt` ran `argv` and exited `code`
/// (137: a Spot interruption, as the killed fixtures were killed).
fn stopped_event(argv: &[String], code: i64) -> Vec<u8> {
    let task = "arn:aws:ecs:eu-west-1:123456789012:task/dbt/0123456789abcdef0123456789abcdef";
    let stop_code = if code == 137 {
        "SpotInterruption"
    } else {
        "EssentialContainerExited"
    };
    serde_json::to_vec(&json!({
        "version": "0",
        "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
        "detail-type": "ECS Task State Change",
        "source": "aws.ecs",
        "account": "123456789012",
        "time": "2026-11-27T02:14:31Z",
        "region": "eu-west-1",
        "resources": [task],
        "detail": {
            "taskArn": task,
            "clusterArn": "arn:aws:ecs:eu-west-1:123456789012:cluster/dbt",
            "taskDefinitionArn": "arn:aws:ecs:eu-west-1:123456789012:task-definition/dbt-build:7",
            "lastStatus": "STOPPED",
            "desiredStatus": "STOPPED",
            "stopCode": stop_code,
            "stoppedReason": "Essential container in task exited",
            "cpu": "1024",
            "memory": "2048",
            "launchType": "FARGATE",
            "group": "family:dbt-build",
            "containers": [{"name": "dbt", "exitCode": code, "lastStatus": "STOPPED"}],
            "overrides": {"containerOverrides": [{"name": "dbt", "command": argv}]},
        },
    }))
    .unwrap()
}

/// Every recorded dbt run (a folder with `meta.json` and `output.log`), sorted; a run that
/// exited 0 also with `DBT_RERUN_INSPECT_SUCCESS`.
fn fixture_cases() -> Vec<Case> {
    let root = repo().join("tests/fixtures");
    let mut metas = Vec::new();
    collect_metas(&root, &mut metas);
    metas.sort();
    let mut cases = Vec::new();
    for meta_path in metas {
        let dir = meta_path.parent().unwrap();
        let log = dir.join("output.log");
        if !log.exists() {
            continue;
        }
        let meta: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&meta_path).unwrap()).unwrap();
        let argv: Vec<String> = serde_json::from_value(meta["argv"].clone()).unwrap();
        let code = meta["exit_code"].as_i64().unwrap();
        let name = dir.strip_prefix(&root).unwrap().display().to_string();
        let event = stopped_event(&argv, code);
        if code == 0 {
            cases.push(Case {
                name: format!("{name} (DBT_RERUN_INSPECT_SUCCESS)"),
                event: event.clone(),
                log: Some(log.clone()),
                env: vec![("DBT_RERUN_INSPECT_SUCCESS", "true")],
            });
        }
        cases.push(Case {
            name,
            event,
            log: Some(log),
            env: Vec::new(),
        });
    }
    cases
}

fn collect_metas(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            collect_metas(&path, out);
        } else if path.file_name().is_some_and(|n| n == "meta.json") {
            out.push(path);
        }
    }
}

/// The events of `dir` (sorted), each with its log from `logs` when there is one (else an
/// empty log: what a task whose log is gone leaves).
fn event_cases(dir: &Path, logs: Option<&Path>, prefix: &str) -> Vec<Case> {
    let mut events: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    events.sort();
    events
        .into_iter()
        .map(|path| {
            let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
            let log = logs
                .map(|l| l.join(format!("{stem}.log")))
                .filter(|l| l.exists());
            Case {
                name: format!("{prefix}/{stem}"),
                event: std::fs::read(&path).unwrap(),
                log,
                env: Vec::new(),
            }
        })
        .collect()
}

/// The record `dbt-rerun plan` prints for `case` (or its error, which is golden too).
fn plan(case: &Case, scratch: &Path, index: usize) -> String {
    let event = scratch.join(format!("event-{index}.json"));
    std::fs::write(&event, &case.event).unwrap();
    let log = match &case.log {
        Some(log) => log.clone(),
        None => {
            let empty = scratch.join(format!("empty-{index}.log"));
            std::fs::write(&empty, b"").unwrap();
            empty
        }
    };
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_dbt-rerun"));
    cmd.env_clear()
        .envs(case.env.iter().copied())
        .arg("plan")
        .arg("--event")
        .arg(&event)
        .arg("--log-file")
        .arg(&log)
        .args(["--format", "json"]);
    let out = cmd.output().unwrap();
    if out.status.success() {
        String::from_utf8(out.stdout).unwrap()
    } else {
        format!(
            "error (exit {:?}): {}",
            out.status.code(),
            String::from_utf8_lossy(&out.stderr)
        )
    }
}

/// What `cases` print, as the golden file holds it: `=== name` then the output.
fn render(file: &str, cases: &[Case]) -> String {
    let scratch =
        std::env::temp_dir().join(format!("dbt-rerun-golden-{}-{file}", std::process::id()));
    std::fs::create_dir_all(&scratch).unwrap();
    // Two at a time (the machine's cores); each part keeps its cases' order.
    let half = cases.len().div_ceil(2).max(1);
    let parts: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = cases
            .chunks(half)
            .enumerate()
            .map(|(part, chunk)| {
                let scratch = &scratch;
                s.spawn(move || {
                    let mut text = String::new();
                    for (i, case) in chunk.iter().enumerate() {
                        let output = plan(case, scratch, part * half + i);
                        text.push_str(&format!("=== {}\n{}\n", case.name, output.trim_end()));
                    }
                    text
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let _ = std::fs::remove_dir_all(&scratch);
    // An error names the event's file: where it was written is not part of the answer.
    parts
        .concat()
        .replace(&scratch.display().to_string(), "$SCRATCH")
}

/// Compares what `cases` print with `golden/<file>`, or writes it under `DBT_RERUN_BLESS=1`.
fn check(file: &str, cases: &[Case]) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(file);
    let actual = render(file, cases);
    if std::env::var_os("DBT_RERUN_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (record it with DBT_RERUN_BLESS=1 cargo test -p dbt-rerun-cli --test golden_records)",
            path.display()
        )
    });
    let sections = |text: &str| -> Vec<(String, String)> {
        text.split("=== ")
            .filter(|s| !s.is_empty())
            .map(|s| {
                let (name, body) = s.split_once('\n').unwrap_or((s, ""));
                (name.to_owned(), body.to_owned())
            })
            .collect()
    };
    let (want, got) = (sections(&expected), sections(&actual));
    let want_names: Vec<&String> = want.iter().map(|(n, _)| n).collect();
    let got_names: Vec<&String> = got.iter().map(|(n, _)| n).collect();
    assert_eq!(
        want_names,
        got_names,
        "{}: the cases differ from the golden file's",
        path.display()
    );
    let differing: Vec<String> = want
        .iter()
        .zip(&got)
        .filter(|((_, a), (_, b))| a != b)
        .map(|((name, a), (_, b))| first_difference(name, a, b))
        .collect();
    assert!(
        differing.is_empty(),
        "{} of {} records differ from {}:\n{}",
        differing.len(),
        want.len(),
        path.display(),
        differing.join("\n")
    );
}

fn first_difference(name: &str, want: &str, got: &str) -> String {
    let line = want
        .lines()
        .zip(got.lines())
        .position(|(a, b)| a != b)
        .unwrap_or_else(|| want.lines().count().min(got.lines().count()));
    format!(
        "  {name}, line {}:\n    golden: {}\n    now:    {}",
        line + 1,
        want.lines().nth(line).unwrap_or("(end)"),
        got.lines().nth(line).unwrap_or("(end)")
    )
}

#[test]
fn every_recorded_dbt_runs_record_is_unchanged() {
    let cases = fixture_cases();
    assert!(cases.len() > 400, "only {} fixtures found", cases.len());
    check("fixtures.txt", &cases);
}

#[test]
fn every_sample_events_record_is_unchanged() {
    let events = repo().join("events");
    let cases = event_cases(&events, Some(&events.join("logs")), "events");
    assert!(
        cases.len() >= 12,
        "only {} sample events found",
        cases.len()
    );
    check("sample_events.txt", &cases);
}

/// The published ECS events beside the repository (`../shared/real-world`, never copied into
/// it). `scripts/test` leaves `real_events::` out when the folder is not there.
mod real_events {
    use super::*;

    #[test]
    fn every_published_ecs_events_record_is_unchanged() {
        let dir = repo().join("../shared/real-world/ecs-events");
        assert!(
            dir.is_dir(),
            "the real-world ECS events are not at {} beside the repository",
            dir.display()
        );
        let cases = event_cases(&dir, None, "real-world/ecs-events");
        check("real_world_events.txt", &cases);
    }
}
