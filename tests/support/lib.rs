//! Test support: the recorded dbt fixtures (`tests/fixtures/runs`) and dbt's own verdict on
//! each (`run_results.json`); moto for the AWS tests.

pub mod fault_proxy;
pub mod moto;
pub mod runtime_api;

use serde::Deserialize;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ lives in the repository root")
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
        out.len() >= 100,
        "expected the full fixture corpus, found {} runs",
        out.len()
    );
    out
}

/// Every run recorded by `generate_killed.py`: dbt killed part-way.
pub fn killed_fixtures() -> Vec<Fixture> {
    let out = fixtures_in("killed");
    assert!(
        out.len() >= 16,
        "expected the killed-run corpus, found {} runs",
        out.len()
    );
    out
}

fn fixtures_in(corpus: &str) -> Vec<Fixture> {
    let runs = repo_root().join("tests/fixtures").join(corpus);
    let mut out = Vec::new();
    let versions =
        std::fs::read_dir(&runs).unwrap_or_else(|e| panic!("cannot read {}: {e}", runs.display()));
    for version in versions {
        let version = version.expect("readable fixture directory").path();
        for scenario in std::fs::read_dir(&version).expect("readable version directory") {
            let dir = scenario.expect("readable scenario directory").path();
            let meta: Meta = serde_json::from_str(
                &std::fs::read_to_string(dir.join("meta.json"))
                    .unwrap_or_else(|e| panic!("{}: {e}", dir.display())),
            )
            .unwrap_or_else(|e| panic!("{}: bad meta.json: {e}", dir.display()));
            let v = version.file_name().unwrap().to_string_lossy().into_owned();
            let s = dir.file_name().unwrap().to_string_lossy().into_owned();
            out.push(Fixture {
                id: format!("{v}/{s}"),
                version: v,
                dir,
                meta,
            });
        }
    }
    out.sort_by(|a, b| a.id.cmp(&b.id));
    out
}

/// The node name dbt selects a unique_id by (`test.shop.not_null_x.abc123` -> `not_null_x`).
pub fn name_of(unique_id: &str) -> String {
    dbt_rerun::NodeName::from_unique_id(unique_id)
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

/// The python of the dbt-core `version` venv that `tests/fixtures/dbt_venv.py` creates.
/// Panics with what to run when it is missing: a test needing dbt never passes without it.
pub fn dbt_python(version: &str) -> PathBuf {
    let venvs = std::env::var_os("DBT_RERUN_VENVS")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(".venvs"));
    let python = venvs
        .join(format!("dbt-{version}"))
        .join("bin")
        .join("python");
    assert!(
        venvs
            .join(format!("dbt-{version}"))
            .join(".installed")
            .exists(),
        "dbt-core {version} is not installed at {}: run `python3 tests/fixtures/dbt_venv.py` \
         (scripts/test does)",
        python.display()
    );
    python
}

/// What `dbt ls` selected for one request: (unique_id, resource_type) pairs, or dbt's error.
pub type LsResult = Result<Vec<(String, String)>, String>;

/// Runs `dbt ls` with each request's selection flags on the fixture project, with dbt-core
/// `version`, in one dbt process.
pub fn dbt_ls(
    version: &str,
    requests: &[(String, Vec<String>)],
) -> std::collections::HashMap<String, LsResult> {
    use std::io::Write;
    #[derive(Deserialize)]
    struct Answer {
        ok: bool,
        nodes: Vec<(String, String)>,
        error: String,
    }
    let python = dbt_python(version);
    let out = std::env::temp_dir().join(format!(
        "dbt-rerun-ls-{version}-{}.json",
        std::process::id()
    ));
    let input: Vec<serde_json::Value> = requests
        .iter()
        .map(|(id, args)| serde_json::json!({"id": id, "args": args}))
        .collect();
    let mut child = std::process::Command::new(&python)
        .arg(repo_root().join("tests/support/dbt_ls.py"))
        .arg(version)
        .arg(&out)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", python.display()));
    child
        .stdin
        .take()
        .expect("piped stdin")
        .write_all(serde_json::to_string(&input).unwrap().as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "dbt ls ({version}) failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let answers: std::collections::HashMap<String, Answer> =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    let _ = std::fs::remove_file(&out);
    answers
        .into_iter()
        .map(|(id, a)| (id, if a.ok { Ok(a.nodes) } else { Err(a.error) }))
        .collect()
}

/// The selection flags of an argv and their values, read independently of the code under
/// test: `--select`/`-s`/`--models`/`-m`/`--exclude` (values up to the next flag),
/// `--selector`, `--indirect-selection`, `--resource-type(s)`.
pub fn selection_flags(argv: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < argv.len() {
        let arg = argv[i].as_str();
        i += 1;
        let multi = matches!(
            arg,
            "--select"
                | "-s"
                | "--models"
                | "--model"
                | "-m"
                | "--exclude"
                | "--resource-type"
                | "--resource-types"
        );
        let single = matches!(arg, "--selector" | "--indirect-selection");
        if multi {
            out.push(arg.to_owned());
            while i < argv.len() && !argv[i].starts_with('-') {
                out.push(argv[i].clone());
                i += 1;
            }
        } else if single && i < argv.len() {
            out.push(arg.to_owned());
            out.push(argv[i].clone());
            i += 1;
        }
    }
    out
}

/// The resource types a dbt verb executes.
pub fn executed_types(verb: &str) -> &'static [&'static str] {
    match verb {
        "run" => &["model"],
        "test" => &["test", "unit_test"],
        "seed" => &["seed"],
        "snapshot" => &["snapshot"],
        _ => &["model", "seed", "snapshot", "test", "unit_test"],
    }
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
