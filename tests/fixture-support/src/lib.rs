//! The recorded dbt fixtures (`tests/fixtures/runs`, `tests/fixtures/killed`,
//! `tests/fixtures/scripts`, `tests/fixtures/microbatch`, `tests/fixtures/on_error`) and dbt's
//! own verdict on each (`run_results.json`, the file log's NodeFinished events, per invocation
//! for scripts). Plain files and the core only: the core's own tests (`shared/core/tests`) and
//! the integration tests (`tests/`, re-exported by `dbt-rerun-tests`) both read the corpus
//! through this crate, without the AWS SDK or an async runtime.

mod decision;

pub use decision::{
    decision_on, every_plan, expected_rerun, recorded_task, script_decision, script_log_decision,
};

use serde::de::DeserializeOwned;
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("tests/fixture-support lives in the repository root")
        .to_path_buf()
}

/// One recorded dbt run.
#[derive(Debug, Clone)]
pub struct Fixture {
    /// `1.10/model_error`
    pub id: String,
    /// dbt-core minor version directory, `1.10`.
    pub version: String,
    pub dir: PathBuf,
    pub meta: Meta,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Meta {
    pub dbt_version: String,
    pub argv: Vec<String>,
    pub exit_code: i32,
    #[serde(default)]
    pub setup: Vec<Vec<String>>,
    /// Variables the scenario added to the container's environment (`DBT_SAMPLE`).
    #[serde(default)]
    pub env: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Deserialize)]
struct RunResults {
    results: Vec<NodeResult>,
}

/// One entry of dbt's `run_results.json`.
#[derive(Debug, Clone, Deserialize)]
pub struct NodeResult {
    pub unique_id: String,
    pub status: String,
}

impl Fixture {
    pub fn log_path(&self) -> PathBuf {
        self.dir.join("output.log")
    }

    /// dbt's own results, None when dbt wrote no `run_results.json` (it stopped before
    /// running anything).
    pub fn run_results(&self) -> Option<Vec<NodeResult>> {
        let text = std::fs::read_to_string(self.dir.join("run_results.json")).ok()?;
        let parsed: RunResults = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{}: bad run_results.json: {e}", self.id));
        Some(parsed.results)
    }

    /// unique_ids dbt reports with one of `statuses`.
    pub fn ids_with_status(&self, statuses: &[&str]) -> BTreeSet<String> {
        self.run_results()
            .unwrap_or_default()
            .into_iter()
            .filter(|r| statuses.contains(&r.status.as_str()))
            .map(|r| r.unique_id)
            .collect()
    }

    /// unique_ids of the nodes dbt's own file log says finished well: the truth for a
    /// killed run.
    pub fn finished_per_file_log(&self) -> BTreeSet<String> {
        let path = self.dir.join("node_finished.jsonl");
        assert!(path.exists(), "{}: no node_finished.jsonl", self.id);
        finished_in_file_log(&path)
    }

    pub fn is_json(&self) -> bool {
        self.meta
            .argv
            .windows(2)
            .any(|w| w[0] == "--log-format" && w[1] == "json")
    }
}

/// Every recorded fixture, sorted; panics if there are none (a missing corpus must not make
/// the tests pass vacuously).
pub fn fixtures() -> Vec<Fixture> {
    let out = fixtures_in("runs");
    assert!(
        out.len() >= 240,
        "expected the full fixture corpus (1.6, 1.8, 1.10, 1.11, 1.12), found {} runs",
        out.len()
    );
    out
}

/// Every run recorded by `generate_killed.py`: dbt killed part-way.
pub fn killed_fixtures() -> Vec<Fixture> {
    let out = fixtures_in("killed");
    assert!(
        out.len() >= 24,
        "expected the killed-run corpus (1.6, 1.11, 1.12), found {} runs",
        out.len()
    );
    out
}

/// Every run recorded by `generate_on_error.py`: dbt 1.12 with `on_error: continue`.
pub fn on_error_fixtures() -> Vec<Fixture> {
    let out = fixtures_in("on_error");
    assert!(
        out.len() >= 4,
        "expected the on_error corpus, found {} runs",
        out.len()
    );
    out
}

impl Fixture {
    /// For an `on_error` fixture: per failed model, what `dbt ls <model>+` selects inside
    /// the run's selection (`downstream.json`).
    pub fn downstream(&self) -> BTreeMap<String, BTreeSet<String>> {
        let path = self.dir.join("downstream.json");
        serde_json::from_str(
            &std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
        )
        .unwrap_or_else(|e| panic!("{}: bad downstream.json: {e}", self.id))
    }
}

fn fixtures_in(corpus: &str) -> Vec<Fixture> {
    scenarios_in(corpus)
        .into_iter()
        .map(|(id, version, dir, meta)| Fixture {
            id,
            version,
            dir,
            meta,
        })
        .collect()
}

/// Every `<version>/<scenario>/` directory of a corpus with its parsed `meta.json`, as (id,
/// version, directory, meta), sorted by id. Files beside the version directories (a README)
/// are skipped.
fn scenarios_in<M: DeserializeOwned>(corpus: &str) -> Vec<(String, String, PathBuf, M)> {
    let runs = repo_root().join("tests/fixtures").join(corpus);
    let mut out = Vec::new();
    let versions =
        std::fs::read_dir(&runs).unwrap_or_else(|e| panic!("cannot read {}: {e}", runs.display()));
    for version in versions {
        let version = version.expect("readable fixture directory").path();
        if !version.is_dir() {
            continue;
        }
        for scenario in std::fs::read_dir(&version).expect("readable version directory") {
            let dir = scenario.expect("readable scenario directory").path();
            let meta: M = serde_json::from_str(
                &std::fs::read_to_string(dir.join("meta.json"))
                    .unwrap_or_else(|e| panic!("{}: {e}", dir.display())),
            )
            .unwrap_or_else(|e| panic!("{}: bad meta.json: {e}", dir.display()));
            let v = version.file_name().unwrap().to_string_lossy().into_owned();
            let s = dir.file_name().unwrap().to_string_lossy().into_owned();
            out.push((format!("{v}/{s}"), v, dir, meta));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// One run recorded by `generate_scripts.py`: a container command that runs a shell script
/// with one or more dbt steps.
#[derive(Debug, Clone)]
pub struct ScriptFixture {
    /// `1.11/deps_and_build_transient`
    pub id: String,
    pub version: String,
    pub dir: PathBuf,
    pub meta: ScriptMeta,
}

/// A script fixture's `meta.json`.
#[derive(Debug, Clone, Deserialize)]
pub struct ScriptMeta {
    pub dbt_version: String,
    /// The shell that ran the script (`dash`, `bash`).
    pub shell: String,
    /// The container command: `entry_point` + `command` when the scenario gives them apart.
    pub argv: Vec<String>,
    #[serde(default)]
    pub entry_point: Option<Vec<String>>,
    #[serde(default)]
    pub command: Option<Vec<String>>,
    /// As ECS reports it: 128 + the signal for a kill.
    pub exit_code: i32,
    #[serde(default)]
    pub signal: Option<String>,
    #[serde(default)]
    pub killed_after_finished: Option<u64>,
    /// The environment the script relies on.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    #[serde(default)]
    pub setup: Vec<Vec<String>>,
    #[serde(default)]
    pub non_dbt_steps_ran: Vec<String>,
    #[serde(default)]
    pub non_dbt_steps_not_run: Vec<String>,
}

/// One dbt invocation of a script fixture, from dbt's JSON file log (`invocations.jsonl`).
#[derive(Debug, Clone, Deserialize)]
pub struct TruthInvocation {
    pub invocation_id: String,
    /// `build`, `seed`, `source freshness`, ...
    pub verb: String,
    #[serde(default)]
    pub invocation_command: Option<String>,
    pub dbt_version: String,
    /// dbt logged CommandCompleted: not killed.
    pub completed: bool,
    #[serde(default)]
    pub success: Option<bool>,
    /// Every NodeFinished event, in order.
    pub finished: Vec<TruthNode>,
}

/// A node of a NodeFinished event.
#[derive(Debug, Clone, Deserialize)]
pub struct TruthNode {
    pub unique_id: String,
    pub node_status: String,
}

impl TruthInvocation {
    /// unique_ids of the nodes that finished with one of `statuses`.
    pub fn ids_with_status(&self, statuses: &[&str]) -> BTreeSet<String> {
        self.finished
            .iter()
            .filter(|n| statuses.contains(&n.node_status.as_str()))
            .map(|n| n.unique_id.clone())
            .collect()
    }
}

impl ScriptFixture {
    pub fn log_path(&self) -> PathBuf {
        self.dir.join("output.log")
    }

    /// The script: the last word of the container command.
    pub fn script(&self) -> &str {
        self.meta
            .argv
            .last()
            .map(String::as_str)
            .unwrap_or_default()
    }

    /// The script's dbt steps log JSON to stdout.
    pub fn is_json(&self) -> bool {
        self.script().contains("--log-format json")
    }

    /// dbt's truth per invocation, in the order they started.
    pub fn invocations(&self) -> Vec<TruthInvocation> {
        self.truth("invocations.jsonl")
    }

    /// dbt's truth per invocation of a clean run of the same script (`clean.jsonl`, kept for
    /// the scenarios whose re-run the tests execute).
    pub fn clean_invocations(&self) -> Vec<TruthInvocation> {
        self.truth("clean.jsonl")
    }

    /// The failed run's DuckDB file, gzipped (`warehouse.duckdb.gz`), for the same scenarios.
    pub fn warehouse_path(&self) -> PathBuf {
        self.dir.join("warehouse.duckdb.gz")
    }

    fn truth(&self, file: &str) -> Vec<TruthInvocation> {
        let path = self.dir.join(file);
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        text.lines()
            .map(|line| {
                serde_json::from_str(line)
                    .unwrap_or_else(|e| panic!("{}: bad {file}: {e}", self.id))
            })
            .collect()
    }
}

/// The entry point and the command, as the task definition and the override give them.
pub fn entry_and_command(f: &ScriptFixture) -> (Vec<String>, Vec<String>) {
    match (&f.meta.entry_point, &f.meta.command) {
        (Some(entry), Some(command)) => (entry.clone(), command.clone()),
        _ => (vec![], f.meta.argv.clone()),
    }
}

/// Every script fixture of every version, sorted; panics if the corpus is missing.
pub fn script_fixtures() -> Vec<ScriptFixture> {
    let out: Vec<ScriptFixture> = scenarios_in("scripts")
        .into_iter()
        .map(|(id, version, dir, meta)| ScriptFixture {
            id,
            version,
            dir,
            meta,
        })
        .collect();
    assert!(
        out.len() >= 56,
        "expected the script corpus (14 scenarios of 1.6, 1.8, 1.11, 1.12), found {} runs",
        out.len()
    );
    out
}

/// The node name dbt selects a unique_id by (`test.shop.not_null_x.abc123` -> `not_null_x`).
pub fn name_of(unique_id: &str) -> String {
    dbt_rerun_core::NodeName::from_unique_id(unique_id)
        .unwrap_or_else(|e| panic!("{unique_id}: {e}"))
        .to_string()
}

/// Collects every failed check of a test over many fixtures, to report them all at once.
#[derive(Default)]
pub struct Mismatches(Vec<String>);

impl Mismatches {
    pub fn check(&mut self, ok: bool, describe: impl FnOnce() -> String) {
        if !ok {
            self.0.push(describe());
        }
    }

    pub fn assert_none(&self) {
        assert!(
            self.0.is_empty(),
            "{} mismatches:\n{}",
            self.0.len(),
            self.0.join("\n")
        );
    }
}

/// The directory of a fixture: `1.10/model_error` (a recorded run),
/// `killed/1.11/build_sigkill` (a run killed part-way) or
/// `scripts/1.11/deps_and_build_transient` (a script's run).
fn fixture_dir(fixture: &str) -> PathBuf {
    let fixtures = repo_root().join("tests/fixtures");
    if fixture.starts_with("killed/") || fixture.starts_with("scripts/") {
        fixtures.join(fixture)
    } else {
        fixtures.join("runs").join(fixture)
    }
}

/// A fixture's log as CloudWatch events: its lines, without the newline.
pub fn fixture_lines(fixture: &str) -> Vec<String> {
    let text = std::fs::read(fixture_dir(fixture).join("output.log"))
        .unwrap_or_else(|e| panic!("fixture {fixture}: {e}"));
    String::from_utf8_lossy(&text)
        .lines()
        .map(str::to_owned)
        .collect()
}

/// A fixture's argv.
pub fn fixture_argv(fixture: &str) -> Vec<String> {
    let meta: serde_json::Value = serde_json::from_slice(
        &std::fs::read(fixture_dir(fixture).join("meta.json"))
            .unwrap_or_else(|e| panic!("fixture {fixture}: {e}")),
    )
    .unwrap();
    meta["argv"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect()
}

/// One run recorded by `generate_microbatch.py`: microbatch models on DuckDB or PostgreSQL.
#[derive(Debug, Clone)]
pub struct MicrobatchFixture {
    /// `1.11/batch_error`
    pub id: String,
    pub version: String,
    pub dir: PathBuf,
    pub meta: MicrobatchMeta,
}

/// A microbatch fixture's `meta.json`.
#[derive(Debug, Clone, Deserialize)]
pub struct MicrobatchMeta {
    pub dbt_version: String,
    pub argv: Vec<String>,
    /// As ECS reports it: 128 + the signal for a kill.
    pub exit_code: i32,
    #[serde(default)]
    pub setup: Vec<Vec<String>>,
    /// The fault's environment (`SHOP_MB_FAIL`, `SHOP_MB_SLOW_ROWS`).
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// The models' first day.
    pub mb_begin: String,
    #[serde(default)]
    pub signal: Option<String>,
}

/// One batch as dbt's own file log reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TruthBatch {
    /// dbt's label of the batch (`2026-11-25`).
    pub label: String,
    /// `started` (no result: cut off), `OK`/`success`, `error`, `skipped`.
    pub status: String,
}

/// A microbatch model's entry of `run_results.json`.
#[derive(Debug, Clone, Deserialize)]
pub struct BatchedResult {
    pub unique_id: String,
    pub status: String,
    /// `successful` and `failed` batches, each `[start, end]` (RFC 3339).
    #[serde(default)]
    pub batch_results: Option<BTreeMap<String, Vec<(String, String)>>>,
}

impl MicrobatchFixture {
    pub fn log_path(&self) -> PathBuf {
        self.dir.join("output.log")
    }

    pub fn is_json(&self) -> bool {
        self.meta.argv.iter().any(|a| a == "json")
    }

    pub fn killed(&self) -> bool {
        self.meta.signal.is_some()
    }

    /// dbt's run_results.json, None for a killed run.
    pub fn run_results(&self) -> Option<Vec<BatchedResult>> {
        #[derive(Deserialize)]
        struct Results {
            results: Vec<BatchedResult>,
        }
        let text = std::fs::read_to_string(self.dir.join("run_results.json")).ok()?;
        let parsed: Results = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{}: bad run_results.json: {e}", self.id));
        Some(parsed.results)
    }

    /// Names of the nodes dbt's run_results give one of `statuses`.
    pub fn names_with_status(&self, statuses: &[&str]) -> BTreeSet<String> {
        self.run_results()
            .unwrap_or_default()
            .into_iter()
            .filter(|r| statuses.contains(&r.status.as_str()))
            .map(|r| name_of(&r.unique_id))
            .collect()
    }

    /// Every batch of every microbatch model, per dbt's JSON file log: model name -> batch
    /// index -> the batch.
    pub fn truth_batches(&self) -> BTreeMap<String, BTreeMap<u64, TruthBatch>> {
        let path = self.dir.join("file_log.jsonl");
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let mut out: BTreeMap<String, BTreeMap<u64, TruthBatch>> = BTreeMap::new();
        for line in text.lines() {
            let event: serde_json::Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("{}: bad file_log.jsonl: {e}", self.id));
            let name = event["info"]["name"].as_str().unwrap_or_default();
            if name != "LogStartBatch" && name != "LogBatchResult" {
                continue;
            }
            let data = &event["data"];
            let model = data["node_info"]["node_name"].as_str().unwrap().to_owned();
            let index = data["batch_index"].as_u64().unwrap();
            let label = data["description"]
                .as_str()
                .unwrap()
                .strip_prefix("batch ")
                .and_then(|d| d.split(" of ").next())
                .unwrap()
                .to_owned();
            let status = if name == "LogStartBatch" {
                "started".to_owned()
            } else {
                data["status"].as_str().unwrap().to_owned()
            };
            out.entry(model)
                .or_default()
                .insert(index, TruthBatch { label, status });
        }
        out
    }

    /// Rows per day of `mb_sessions` and `mb_daily` in the warehouse after the run.
    pub fn warehouse(&self) -> BTreeMap<String, BTreeMap<String, u64>> {
        let path = self.dir.join("warehouse.json");
        serde_json::from_str(
            &std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
        )
        .unwrap_or_else(|e| panic!("{}: bad warehouse.json: {e}", self.id))
    }
}

/// Every run `generate_microbatch.py` recorded, sorted: on DuckDB (`microbatch/`) and on
/// PostgreSQL (`microbatch_postgres/`, ids `postgres/<version>/<scenario>`); panics if either
/// corpus is missing.
pub fn microbatch_fixtures() -> Vec<MicrobatchFixture> {
    let corpus = |dir: &str, prefix: &str| -> Vec<MicrobatchFixture> {
        scenarios_in(dir)
            .into_iter()
            .map(|(id, version, dir, meta)| MicrobatchFixture {
                id: format!("{prefix}{id}"),
                version,
                dir,
                meta,
            })
            .collect()
    };
    let duckdb = corpus("microbatch", "");
    assert!(
        duckdb.len() >= 60,
        "expected the microbatch corpus (20 runs of 1.10, 1.11 and 1.12), found {}",
        duckdb.len()
    );
    let postgres = corpus("microbatch_postgres", "postgres/");
    assert!(
        postgres.len() >= 24,
        "expected the PostgreSQL microbatch corpus (12 runs of 1.10 and 1.12), found {}",
        postgres.len()
    );
    [duckdb, postgres].concat()
}

/// unique_ids with a NodeFinished event of status success, pass or warn in a dbt JSON file
/// log (`logs/dbt.log` with `--log-format-file json`, or the events kept from one).
pub fn finished_in_file_log(path: &Path) -> BTreeSet<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains("\"name\": \"NodeFinished\""))
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|e| {
            matches!(
                e["data"]["node_info"]["node_status"].as_str(),
                Some("success" | "pass" | "warn")
            )
        })
        .map(|e| {
            e["data"]["node_info"]["unique_id"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect()
}
