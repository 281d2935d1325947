//! The planned re-run of a script, executed for real: a script fails (a transient error in
//! one of its steps, or a kill during its second dbt step) under the real shell its fixture
//! was recorded with (`sh`, `bash`) on DuckDB; the re-run dbt-rerun plans from its log alone is
//! then run the same way on the same database with the fault healed. dbt's own JSON file log
//! (appended by every invocation of both runs) must show every node built as often as a clean
//! run of the script builds it (once per step that selects it), and every `run-operation` run
//! as often, nothing redone and nothing dropped; the re-run must exit 0, and the script's
//! other steps and handlers must be there, byte for byte, and have run. An error handler's
//! re-run, with the fault left in, runs the handler again.

use dbt_rerun_core::config::decision_config;
use dbt_rerun_core::decision::DecisionConfig;
use dbt_rerun_core::record::{DecisionKind, DecisionRecord};
use dbt_rerun_core::script::{StepKind, TaskCommand};
use dbt_rerun_tests::{
    copy_project, dbt_python, recorded_task, repo_root, script_fixtures, script_log_decision,
    ScriptFixture, TruthInvocation,
};
use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const VERSION: &str = "1.11";

/// Where the fixtures' steps that are not dbt write (`echo uploaded >> "$STEPS_LOG"`).
const STEPS_LOG: &str = "steps.log";

/// A fresh container: a copy of the fixture project with its own DuckDB file, and the dbt
/// version it runs.
struct Container {
    dir: PathBuf,
    project: PathBuf,
    version: String,
}

impl Container {
    fn new(name: &str) -> Self {
        Self::of(name, VERSION)
    }

    fn of(name: &str, version: &str) -> Self {
        static MADE: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = MADE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("dbt-rerun-{name}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let project = dir.join("project");
        copy_project(&repo_root().join("tests/fixtures/dbt_project"), &project);
        Self {
            dir,
            project,
            version: version.to_owned(),
        }
    }

    /// `sh -c script` as ECS runs a command override, in its own process group.
    fn shell(&self, script: &str, fault: bool) -> Command {
        self.command(
            &["sh".to_owned(), "-c".to_owned(), script.to_owned()],
            &[],
            fault,
        )
    }

    /// `argv` (a shell and its script) as ECS runs it, with the script's `env`, in its own
    /// process group.
    fn command(&self, argv: &[String], env: &[(String, String)], fault: bool) -> Command {
        let bin = dbt_python(&self.version).parent().unwrap().to_path_buf();
        let path = format!(
            "{}:{}",
            bin.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let mut cmd = Command::new(&argv[0]);
        cmd.args(&argv[1..])
            // The faults come only from `env` or `fault`, never from the test's environment.
            .env_remove("SHOP_TRANSIENT_ERROR")
            .env_remove("SHOP_STAGING_ERROR")
            .envs(env.iter().map(|(k, v)| (k, v)))
            .current_dir(&self.project)
            .env("PATH", path)
            .env("DBT_PROFILES_DIR", &self.project)
            .env("SHOP_DUCKDB_PATH", self.dir.join("shop.duckdb"))
            .env("DBT_LOG_FORMAT_FILE", "json")
            .env("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
            .env("PYTHONUNBUFFERED", "1");
        if fault {
            cmd.env("SHOP_TRANSIENT_ERROR", "1");
        }
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        cmd
    }

    /// Runs `script` to its end; its exit code, its output in `log`.
    fn run(&self, script: &str, fault: bool, log: &Path) -> i32 {
        self.run_argv(
            &["sh".to_owned(), "-c".to_owned(), script.to_owned()],
            &[],
            fault,
            log,
        )
    }

    /// Runs `argv` to its end with `env`; its exit code, its output in `log`.
    fn run_argv(&self, argv: &[String], env: &[(String, String)], fault: bool, log: &Path) -> i32 {
        let out = std::fs::File::create(log).unwrap();
        let status = self
            .command(argv, env, fault)
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .status()
            .expect("the shell runs");
        status.code().unwrap_or(128)
    }

    /// Runs the fixture's setup commands (`dbt seed`), then forgets their `target/` and
    /// `logs/`: only the warehouse keeps their effect, as in the recording.
    fn set_up(&self, setup: &[Vec<String>]) {
        for command in setup {
            let log = self.dir.join("setup.log");
            let script = command.join(" ");
            assert_eq!(self.run(&script, false, &log), 0, "setup `{script}` failed");
        }
        for leftover in ["target", "logs"] {
            let _ = std::fs::remove_dir_all(self.project.join(leftover));
        }
    }

    /// What the script's steps that are not dbt appended to `$STEPS_LOG`.
    fn steps_log(&self) -> Vec<String> {
        std::fs::read_to_string(self.project.join(STEPS_LOG))
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// Successful builds per node, over every invocation in dbt's file log so far: the nodes
    /// that invocations of verbs that build (`build`, `run`, `test`, `seed`, `snapshot`)
    /// finished (`compile` and `docs generate` finish nodes too, but build none), and
    /// `run-operation <macro>` per successful invocation.
    fn built(&self) -> BTreeMap<String, usize> {
        let text = std::fs::read_to_string(self.project.join("logs/dbt.log")).unwrap();
        // Each invocation's command line, by invocation id.
        let mut commands: BTreeMap<String, String> = BTreeMap::new();
        let mut built = BTreeMap::new();
        for line in text.lines() {
            let Ok(event) = serde_json::from_str::<serde_json::Value>(line) else {
                continue;
            };
            let id = event["info"]["invocation_id"].as_str().unwrap_or_default();
            let command = commands.get(id).map(String::as_str).unwrap_or_default();
            let data = &event["data"];
            match event["info"]["name"].as_str() {
                Some("MainReportArgs") => {
                    let command = data["args"]["invocation_command"].as_str().unwrap_or("");
                    commands.insert(id.to_owned(), command.to_owned());
                }
                Some("NodeFinished") => {
                    let node = &data["node_info"];
                    let ok = matches!(
                        node["node_status"].as_str(),
                        Some("success" | "pass" | "warn")
                    );
                    let builds =
                        ["build", "run", "test", "seed", "snapshot"].contains(&verb_of(command));
                    if ok && builds {
                        *built
                            .entry(node["unique_id"].as_str().unwrap().to_owned())
                            .or_default() += 1;
                    }
                }
                Some("CommandCompleted")
                    if data["success"] == true && verb_of(command) == "run-operation" =>
                {
                    *built.entry(command.to_owned()).or_default() += 1;
                }
                _ => {}
            }
        }
        built
    }
}

/// The verb of dbt's `invocation_command` (`dbt --log-format json build ...`).
fn verb_of(command: &str) -> &str {
    const VERBS: &[&str] = &[
        "build",
        "run",
        "test",
        "seed",
        "snapshot",
        "compile",
        "docs",
        "source",
        "ls",
        "list",
        "parse",
        "debug",
        "deps",
        "clean",
        "run-operation",
        "show",
        "clone",
        "retry",
    ];
    command
        .split_whitespace()
        .skip(1)
        .find(|w| VERBS.contains(w))
        .unwrap_or_default()
}

impl Drop for Container {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
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
    plan_argv(&argv, exit_code, log, config)
}

/// dbt-rerun's decision on the task whose container override was `argv`, from its log alone.
fn plan_argv(
    argv: &[String],
    exit_code: i32,
    log: &Path,
    config: &DecisionConfig,
) -> DecisionRecord {
    let task = recorded_task(argv, exit_code, exit_code == 137);
    script_log_decision(&task, argv, None, log, config)
}

/// What a clean run of `script` builds, in a container of its own.
fn clean_build(script: &str) -> BTreeMap<String, usize> {
    let argv = ["sh".to_owned(), "-c".to_owned(), script.to_owned()];
    clean_build_of(VERSION, &argv, &[], &[])
}

/// What a clean run of `argv` builds on dbt `version`, after `setup`, in a container of its
/// own.
fn clean_build_of(
    version: &str,
    argv: &[String],
    env: &[(String, String)],
    setup: &[Vec<String>],
) -> BTreeMap<String, usize> {
    let clean = Container::of("script-clean", version);
    clean.set_up(setup);
    let log = clean.dir.join("output.log");
    assert_eq!(
        clean.run_argv(argv, env, false, &log),
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
    let argv = ["sh".to_owned(), "-c".to_owned(), script.to_owned()];
    let expected = || clean_build(script);
    rerun_and_compare_argv(container, record, &argv, &[], expected);
}

/// [`rerun_and_compare`] for the container override `argv` with `env`; `clean` gives what a
/// clean run builds.
fn rerun_and_compare_argv(
    container: &Container,
    record: &DecisionRecord,
    argv: &[String],
    env: &[(String, String)],
    clean: impl FnOnce() -> BTreeMap<String, usize>,
) {
    assert_eq!(record.decision, DecisionKind::Rerun, "{}", record.reason);
    let command = record.rerun_command.clone().unwrap();
    assert_eq!(command[..command.len() - 1], argv[..argv.len() - 1]);
    let log = container.dir.join("rerun.log");
    let code = container.run_argv(&command, env, false, &log);
    let script = command.last().unwrap();
    assert_eq!(
        code,
        0,
        "the re-run failed:\n{script}\n{}",
        std::fs::read_to_string(&log).unwrap()
    );
    // Per node, how many of the script's steps built it: a seed is built by `dbt seed` and
    // again by a later `dbt build`, in a clean run too; any node more often is redone work,
    // any fewer was dropped.
    let built = container.built();
    let expected = clean();
    let differ: Vec<_> = expected
        .keys()
        .chain(built.keys())
        .filter(|id| built.get(*id) != expected.get(*id))
        .map(|id| (id, built.get(id), expected.get(id)))
        .collect();
    assert!(
        differ.is_empty(),
        "(node, built by the two runs, by a clean run): {differ:?}\nre-run script:\n{script}"
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

/// A recorded shape of script: the failed run's warehouse restored in a fresh container, and
/// dbt-rerun's plan from the recorded log alone.
struct Shape {
    fixture: ScriptFixture,
    container: Container,
    /// The script's environment without the fault (`STEPS_LOG`, `DBT_TARGET`).
    env: Vec<(String, String)>,
    record: DecisionRecord,
    /// The failed run's output.
    output: String,
}

impl Shape {
    /// Fixture `scenario` of dbt `version`: a fresh container holding the DuckDB file its
    /// failed run left (and what its steps appended to `$STEPS_LOG`), and the decision on its
    /// log (a task that exited 0 is inspected, as with DBT_RERUN_INSPECT_SUCCESS), which must
    /// treat each step as `script_plans` expects.
    fn restore(version: &str, scenario: &str) -> Self {
        let id = format!("{version}/{scenario}");
        let fixture = script_fixtures()
            .into_iter()
            .find(|f| f.id == id)
            .unwrap_or_else(|| panic!("no script fixture {id}"));
        let container = Container::of(scenario, version);
        let db = std::fs::File::create(container.dir.join("shop.duckdb")).unwrap();
        let unzipped = Command::new("gzip")
            .arg("-dc")
            .arg(fixture.warehouse_path())
            .stdout(db)
            .status()
            .expect("gzip runs");
        assert!(unzipped.success(), "{id}: gzip -dc warehouse.duckdb.gz");
        let steps_log = fixture.dir.join(STEPS_LOG);
        if steps_log.exists() {
            std::fs::copy(&steps_log, container.project.join(STEPS_LOG)).unwrap();
        }
        let env: Vec<(String, String)> = fixture
            .meta
            .env
            .iter()
            .filter(|(k, _)| !k.ends_with("_ERROR"))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let inspect = fixture.meta.exit_code == 0;
        let config = decision_config(|name| {
            (inspect && name == "DBT_RERUN_INSPECT_SUCCESS").then(|| "true".to_owned())
        })
        .unwrap();
        let log = fixture.log_path();
        let record = plan_argv(&fixture.meta.argv, fixture.meta.exit_code, &log, &config);
        assert_eq!(
            record.decision,
            DecisionKind::Rerun,
            "{id}: {}",
            record.reason
        );
        let expected = dbt_rerun_tests::expected_rerun(scenario).expect("a planned re-run");
        let got: Vec<(&str, &str)> = record
            .script_steps
            .iter()
            .flatten()
            .map(|s| (s.dbt_verb.as_deref().unwrap_or("-"), s.rerun))
            .collect();
        assert_eq!(got, expected, "{id}: {}", record.reason);
        let output = String::from_utf8_lossy(&std::fs::read(&log).unwrap()).into_owned();
        Self {
            fixture,
            container,
            env,
            record,
            output,
        }
    }

    /// The planned re-run, as ECS would start it (the whole argv: no entry point here).
    fn rerun_argv(&self) -> Vec<String> {
        self.record.rerun_command.clone().expect("a re-run command")
    }

    /// Every step of the original that is not dbt, and every pipeline's tail after dbt's
    /// words, is in the re-run script as written; the succeeded dbt steps are not.
    fn check_kept_as_written(&self) {
        let id = &self.fixture.id;
        let original = self.fixture.meta.argv.last().unwrap();
        let rerun = self.rerun_argv().pop().unwrap();
        let TaskCommand::Script(read) = TaskCommand::read(&[], &self.fixture.meta.argv) else {
            panic!("{id}: not a script")
        };
        let steps = self.record.script_steps.clone().unwrap_or_default();
        for (step, recorded) in read.script.steps.iter().zip(&steps) {
            let text = &original[step.span.clone()];
            match (&step.kind, recorded.rerun) {
                (_, "removed") => {}
                (StepKind::Dbt(dbt), _) => {
                    let end = dbt.words.last().map_or(step.span.end, |w| w.span.end);
                    let tail = &original[end..step.span.end];
                    assert!(
                        rerun.contains(tail),
                        "{id}: `{tail}` of `{text}` lost:\n{rerun}"
                    );
                }
                _ => assert!(rerun.contains(text), "{id}: `{text}` lost:\n{rerun}"),
            }
        }
    }

    /// The re-run, run healed in the failed run's container: exit 0, and the failed run and
    /// the re-run(s) together built every node as often as a clean run of the original (its
    /// recorded truth), and ran every `run-operation` as often; the steps that are not dbt
    /// are there as written.
    fn rerun_healed(&self) {
        self.check_kept_as_written();
        let id = &self.fixture.id;
        let command = self.rerun_argv();
        let script = command.last().unwrap();
        let log = self.container.dir.join("rerun.log");
        let code = self.container.run_argv(&command, &self.env, false, &log);
        let output = std::fs::read_to_string(&log).unwrap();
        assert_eq!(code, 0, "{id}: the re-run failed:\n{script}\n{output}");
        let mut built = truth_built(&self.fixture.invocations());
        for (node, n) in self.container.built() {
            *built.entry(node).or_default() += n;
        }
        let expected = truth_built(&self.fixture.clean_invocations());
        let differ: Vec<_> = expected
            .keys()
            .chain(built.keys())
            .filter(|id| built.get(*id) != expected.get(*id))
            .map(|id| (id, built.get(id), expected.get(id)))
            .collect();
        assert!(
            differ.is_empty(),
            "{id}: (node, built by the two runs, by a clean run): {differ:?}\nre-run script:\n{script}"
        );
        assert!(expected.len() > 3, "{id}: a clean run builds {expected:?}");
    }

    /// The re-run, run with the fault left in: its exit code and output.
    fn rerun_faulty(&self) -> (i32, String) {
        let log = self.container.dir.join("rerun-faulty.log");
        let fault: Vec<(String, String)> = self
            .fixture
            .meta
            .env
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let code = self
            .container
            .run_argv(&self.rerun_argv(), &fault, false, &log);
        (code, std::fs::read_to_string(&log).unwrap())
    }
}

/// What the invocations of dbt's truth built, as [`Container::built`] counts it.
fn truth_built(invocations: &[TruthInvocation]) -> BTreeMap<String, usize> {
    let mut built = BTreeMap::new();
    for inv in invocations {
        let verb = inv.verb.split(' ').next().unwrap_or_default();
        if ["build", "run", "test", "seed", "snapshot"].contains(&verb) {
            for node in &inv.finished {
                if matches!(node.node_status.as_str(), "success" | "pass" | "warn") {
                    *built.entry(node.unique_id.clone()).or_default() += 1;
                }
            }
        }
        if verb == "run-operation" && inv.success == Some(true) {
            let command = inv.invocation_command.clone().unwrap_or_default();
            *built.entry(command).or_default() += 1;
        }
    }
    built
}

/// The versions whose script fixtures were recorded for the second round of shapes (each
/// must be there: [`Shape::restore`] fails on a missing one).
fn round_two_versions() -> [&'static str; 2] {
    ["1.11", "1.12"]
}

#[test]
fn the_seed_documents_pipeline_is_rerun_from_its_failed_run_step_without_staging_again() {
    for version in round_two_versions() {
        let shape = Shape::restore(version, "seed_pipeline_run_operation");
        shape.rerun_healed();
        let rerun = shape.rerun_argv().pop().unwrap();
        assert!(
            rerun.starts_with("dbt deps && dbt run '--select' "),
            "{rerun}"
        );
        assert!(rerun.ends_with(" && dbt test"), "{rerun}");
    }
}

#[test]
fn steps_without_an_end_of_run_marker_run_again_or_are_removed_and_the_rerun_builds_every_node_once(
) {
    for version in round_two_versions() {
        let shape = Shape::restore(version, "set_e_markerless_steps");
        shape.rerun_healed();
        assert_eq!(shape.container.steps_log(), ["uploaded"], "{version}");
        // docs generate ran in the re-run, after everything else.
        assert!(shape.container.project.join("target/catalog.json").exists());
    }
}

#[test]
fn tolerant_steps_after_the_failed_one_are_kept_and_run_in_the_rerun() {
    for version in round_two_versions() {
        let shape = Shape::restore(version, "tolerant_steps_after_failure");
        shape.rerun_healed();
        assert_eq!(shape.container.steps_log(), ["uploaded"], "{version}");
    }
}

#[test]
fn a_failure_hidden_by_or_true_is_rerun_from_its_step_when_inspected() {
    for version in round_two_versions() {
        let shape = Shape::restore(version, "exit0_masked");
        shape.rerun_healed();
        assert_eq!(
            shape.container.steps_log(),
            ["upload", "upload"],
            "{version}"
        );
    }
}

#[test]
fn an_error_handler_is_kept_runs_again_with_the_fault_and_not_without() {
    for version in round_two_versions() {
        // `dbt build || { echo notify >> "$STEPS_LOG"; exit 1; }`, then an upload.
        let shape = Shape::restore(version, "handler_group_exit");
        let notify = "notify: dbt build failed";
        assert_eq!(shape.container.steps_log(), [notify]);
        let (code, output) = shape.rerun_faulty();
        assert_eq!(code, 1, "{output}");
        assert_eq!(shape.container.steps_log(), [notify, notify]);
        shape.rerun_healed();
        assert_eq!(shape.container.steps_log(), [notify, notify, "uploaded"]);

        // `dbt build --target "$DBT_TARGET" || exit 1`, then an upload.
        let shape = Shape::restore(version, "handler_exit");
        let (code, output) = shape.rerun_faulty();
        assert_eq!(code, 1, "{output}");
        assert!(shape.container.steps_log().is_empty());
        shape.rerun_healed();
        assert_eq!(shape.container.steps_log(), ["uploaded"]);

        // `|| { echo ...; exit $?; }` exits with echo's status, 0: the task hides the failure
        // (inspected, it is re-run), and so does its re-run with the fault left in.
        let shape = Shape::restore(version, "handler_echo_exit_status");
        assert!(shape.output.lines().any(|l| l == "dbt build failed"));
        let (code, output) = shape.rerun_faulty();
        assert_eq!(code, 0, "{output}");
        assert!(output.lines().any(|l| l == "dbt build failed"), "{output}");
        shape.rerun_healed();
        assert_eq!(shape.container.steps_log(), ["uploaded"]);
    }
}

#[test]
fn a_dbt_step_piped_to_tee_is_narrowed_in_place_and_its_status_kept() {
    for version in round_two_versions() {
        // `dbt deps && dbt build 2>&1 | tee run.log; exit ${PIPESTATUS[0]}` under bash.
        let shape = Shape::restore(version, "pipe_tee_pipestatus");
        let rerun = shape.rerun_argv().pop().unwrap();
        assert!(
            rerun.starts_with("dbt deps && dbt build '--select' ")
                && rerun.ends_with(" 2>&1 | tee run.log; exit ${PIPESTATUS[0]}"),
            "{rerun}"
        );
        let (code, _) = shape.rerun_faulty();
        assert_eq!(code, 1, "PIPESTATUS keeps dbt's failure");
        shape.rerun_healed();
        let logged = std::fs::read_to_string(shape.container.project.join("run.log")).unwrap();
        assert!(logged.contains("Completed successfully"), "{logged}");

        // `set -eo pipefail` and every step piped to `tee -a`.
        let shape = Shape::restore(version, "pipe_pipefail_set_e");
        shape.rerun_healed();
        assert_eq!(shape.container.steps_log(), ["uploaded"]);

        // Without pipefail or PIPESTATUS the task exits 0 (inspected, it is re-run).
        let shape = Shape::restore(version, "pipeline_tee_masked");
        shape.rerun_healed();
    }
}

#[test]
fn a_run_operation_failing_in_its_macro_reruns_from_it_as_written_text_and_json() {
    for version in round_two_versions() {
        for scenario in ["run_operation_transient", "json_run_operation_transient"] {
            let shape = Shape::restore(version, scenario);
            assert!(
                shape.record.transient,
                "{version}/{scenario}: {}",
                shape.record.reason
            );
            let (code, output) = shape.rerun_faulty();
            assert_eq!(code, 1, "{output}");
            shape.rerun_healed();
        }
    }
}
