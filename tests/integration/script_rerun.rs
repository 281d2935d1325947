//! The planned re-run of a script, executed for real: a script fails (a transient error in
//! its `dbt run` step, or a kill during its second dbt step) under a real `sh` on DuckDB; the
//! re-run dbt-rerun plans from its log alone is then run by `sh -c` on the same database
//! with the fault healed. dbt's own JSON file log (appended by every invocation of both runs)
//! must show every node built as often as a clean run of the script builds it (once per step
//! that selects it), nothing redone and nothing dropped; the re-run must
//! exit 0, and the script's other steps must have run.

use dbt_rerun::config::decision_config;
use dbt_rerun::decision::DecisionConfig;
use dbt_rerun::decision::{decide, DecisionInput};
use dbt_rerun::log::{parse_reader, split_reader, Limits, DEFAULT_MAX_INVOCATIONS};
use dbt_rerun::record::{DecisionKind, DecisionRecord, LogFacts};
use dbt_rerun::testing::TaskBuilder;
use dbt_rerun_tests::{dbt_python, repo_root};
use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const VERSION: &str = "1.11";

/// A fresh container: a copy of the fixture project with its own DuckDB file.
struct Container {
    dir: PathBuf,
    project: PathBuf,
}

impl Container {
    fn new(name: &str) -> Self {
        static MADE: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = MADE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("dbt-rerun-{name}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let project = dir.join("project");
        copy_project(&repo_root().join("tests/fixtures/dbt_project"), &project);
        Self { dir, project }
    }

    /// `sh -c script` as ECS runs a command override, in its own process group.
    fn shell(&self, script: &str, fault: bool) -> Command {
        let bin = dbt_python(VERSION).parent().unwrap().to_path_buf();
        let path = format!(
            "{}:{}",
            bin.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let mut cmd = Command::new("sh");
        cmd.args(["-c", script])
            .current_dir(&self.project)
            .env("PATH", path)
            .env("DBT_PROFILES_DIR", &self.project)
            .env("SHOP_DUCKDB_PATH", self.dir.join("shop.duckdb"))
            .env("DBT_LOG_FORMAT_FILE", "json")
            .env("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
            .env("PYTHONUNBUFFERED", "1")
            .env_remove("SHOP_TRANSIENT_ERROR");
        if fault {
            cmd.env("SHOP_TRANSIENT_ERROR", "1");
        }
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        cmd
    }

    /// Runs `script` to its end; its exit code, its output in `log`.
    fn run(&self, script: &str, fault: bool, log: &Path) -> i32 {
        let out = std::fs::File::create(log).unwrap();
        let status = self
            .shell(script, fault)
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .status()
            .expect("sh runs");
        status.code().unwrap_or(128)
    }

    /// Successful builds per node, over every invocation in dbt's file log so far.
    fn built(&self) -> BTreeMap<String, usize> {
        let text = std::fs::read_to_string(self.project.join("logs/dbt.log")).unwrap();
        let mut built = BTreeMap::new();
        for line in text.lines() {
            let Ok(event) = serde_json::from_str::<serde_json::Value>(line) else {
                continue;
            };
            let node = &event["data"]["node_info"];
            let ok = matches!(
                node["node_status"].as_str(),
                Some("success" | "pass" | "warn")
            );
            if event["info"]["name"] == "NodeFinished" && ok {
                *built
                    .entry(node["unique_id"].as_str().unwrap().to_owned())
                    .or_default() += 1;
            }
        }
        built
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn copy_project(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if matches!(name.as_str(), "target" | "logs" | "dbt_packages") || name.ends_with(".duckdb")
        {
            continue;
        }
        if entry.path().is_dir() {
            copy_project(&entry.path(), &to.join(&name));
        } else {
            std::fs::copy(entry.path(), to.join(&name)).unwrap();
        }
    }
}

/// What the re-run does with each step of the script.
fn step_actions(record: &DecisionRecord) -> Vec<&str> {
    record
        .script_steps
        .iter()
        .flatten()
        .map(|s| s.rerun)
        .collect()
}

/// dbt-rerun's decision on the task that ran `sh -c script`, from its log alone.
fn plan(script: &str, exit_code: i32, log: &Path) -> DecisionRecord {
    plan_with(script, exit_code, log, &decision_config(|_| None).unwrap())
}

/// [`plan`] with `config`.
fn plan_with(script: &str, exit_code: i32, log: &Path, config: &DecisionConfig) -> DecisionRecord {
    let argv = ["sh".to_owned(), "-c".to_owned(), script.to_owned()];
    let argv = &argv[..];
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
    let whole = parse_reader(std::fs::File::open(log).unwrap(), Limits::default()).unwrap();
    let split = split_reader(
        std::fs::File::open(log).unwrap(),
        Limits::default(),
        DEFAULT_MAX_INVOCATIONS,
    )
    .unwrap();
    let decided = decide(DecisionInput {
        task: &task,
        report: Some(&whole),
        log_note: None,
        command: Some(argv),
        entry_point: None,
        invocations: Some(&split.invocations),
        config,
    });
    DecisionRecord::assemble(&decided, &LogFacts::default(), None)
}

/// What a clean run of `script` builds, in a container of its own.
fn clean_build(script: &str) -> BTreeMap<String, usize> {
    let clean = Container::new("script-clean");
    let log = clean.dir.join("output.log");
    assert_eq!(
        clean.run(script, false, &log),
        0,
        "{}",
        std::fs::read_to_string(&log).unwrap()
    );
    clean.built()
}

fn script_of(fixture: &str) -> String {
    let meta: serde_json::Value = serde_json::from_slice(
        &std::fs::read(
            repo_root()
                .join("tests/fixtures/scripts")
                .join(fixture)
                .join("meta.json"),
        )
        .unwrap(),
    )
    .unwrap();
    meta["argv"][2].as_str().unwrap().to_owned()
}

/// The re-run of the failed container, run in it with the fault healed: exits 0, and both
/// runs together built what a clean run builds, each node by each of its steps once.
fn rerun_and_compare(container: &Container, record: &DecisionRecord, script: &str) {
    assert_eq!(record.decision, DecisionKind::Rerun, "{}", record.reason);
    let command = record.rerun_command.clone().unwrap();
    assert_eq!(command[..2], ["sh", "-c"]);
    let log = container.dir.join("rerun.log");
    let code = container.run(&command[2], false, &log);
    assert_eq!(
        code,
        0,
        "the re-run failed:\n{}\n{}",
        command[2],
        std::fs::read_to_string(&log).unwrap()
    );
    // Per node, how many of the script's steps built it: a seed is built by `dbt seed` and
    // again by a later `dbt build`, in a clean run too; any node more often is redone work,
    // any fewer was dropped.
    let built = container.built();
    let expected = clean_build(script);
    let differ: Vec<_> = expected
        .keys()
        .chain(built.keys())
        .filter(|id| built.get(*id) != expected.get(*id))
        .map(|id| (id, built.get(id), expected.get(id)))
        .collect();
    assert!(
        differ.is_empty(),
        "(node, built by the two runs, by a clean run): {differ:?}\nre-run script:\n{}",
        command[2]
    );
}

#[test]
fn a_set_e_script_failing_in_its_run_step_is_rerun_from_that_step_and_builds_every_node_once() {
    let script = script_of("1.11/set_e_seed_run_test_upload");
    let container = Container::new("script-set-e");
    let log = container.dir.join("output.log");
    assert_eq!(container.run(&script, true, &log), 1);
    let record = plan(&script, 1, &log);
    let rerun = step_actions(&record);
    assert!(
        rerun.contains(&"removed") && rerun.contains(&"narrowed"),
        "{rerun:?}"
    );
    let artifacts = container.project.join("artifacts/run_results.json");
    assert!(
        !artifacts.exists(),
        "set -e stopped the script before its upload"
    );
    rerun_and_compare(&container, &record, &script);
    assert!(artifacts.exists(), "the upload step ran in the re-run");
}

#[test]
fn after_a_warehouse_error_the_failed_step_reruns_with_retry_threads_for_real() {
    let script = script_of("1.11/set_e_seed_run_test_upload");
    let container = Container::new("script-threads");
    let log = container.dir.join("output.log");
    assert_eq!(container.run(&script, true, &log), 1);
    // 3: not the profile's count (1), so dbt's own line shows the flag reached it.
    let config =
        decision_config(|name| (name == "DBT_RERUN_RETRY_THREADS").then(|| "3".to_owned()))
            .unwrap();
    let record = plan_with(&script, 1, &log, &config);
    let note = record.plan_note.clone().unwrap_or_default();
    assert!(note.contains("at most 3 dbt threads"), "{note}");
    let command = record.rerun_command.clone().unwrap();
    // Only the failed step (`dbt run`) gets the flag, after its own words.
    let with_flag: Vec<&str> = command[2]
        .lines()
        .filter(|l| l.contains("'--threads' '3'"))
        .collect();
    assert_eq!(with_flag.len(), 1, "{}", command[2]);
    assert!(
        with_flag[0].trim_start().starts_with("dbt run"),
        "{}",
        command[2]
    );
    rerun_and_compare(&container, &record, &script);
    // dbt says how many threads it ran with: the re-run's `dbt run` ran with one.
    let rerun_log = std::fs::read_to_string(container.dir.join("rerun.log")).unwrap();
    assert!(rerun_log.contains("Concurrency: 1 threads"), "{rerun_log}");
}

#[test]
fn a_script_killed_in_its_second_step_is_resumed_and_builds_every_node_once() {
    let script = script_of("1.11/killed_second_step_sigkill");
    let container = Container::new("script-killed");
    let log_path = container.dir.join("output.log");
    let mut log = std::fs::File::create(&log_path).unwrap();
    let mut child = container
        .shell(&script, false)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (mut headers, mut finished, mut killed) = (0, 0, false);
    for line in std::io::BufReader::new(child.stdout.take().unwrap()).split(b'\n') {
        let line = line.unwrap();
        std::io::Write::write_all(&mut log, &line).unwrap();
        std::io::Write::write_all(&mut log, b"\n").unwrap();
        let text = String::from_utf8_lossy(&line);
        headers += usize::from(text.contains("Running with dbt="));
        if headers == 2 && (text.contains(" OK ") || text.contains(" PASS ")) {
            finished += 1;
        }
        if headers == 2 && finished >= 6 && !killed && text.contains(" START sql ") {
            std::thread::sleep(std::time::Duration::from_millis(150));
            let group = format!("-{}", child.id());
            Command::new("kill")
                .args(["-KILL", "--", &group])
                .status()
                .unwrap();
            killed = true;
        }
    }
    child.wait().unwrap();
    assert!(killed, "the script ended before it could be killed");
    let record = plan(&script, 137, &log_path);
    let rerun = step_actions(&record);
    assert_eq!(rerun, ["removed", "resumed"], "{}", record.reason);
    rerun_and_compare(&container, &record, &script);
}
