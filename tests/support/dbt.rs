//! Real dbt for the tests: the venvs `tests/fixtures/dbt_venv.py` creates, and `dbt ls` as
//! the judge of a selection.

use crate::repo_root;
use serde::Deserialize;
use std::path::PathBuf;

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
    // One file per call: tests of one process call this at the same time.
    static CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let out = std::env::temp_dir().join(format!(
        "dbt-rerun-ls-{version}-{}-{call}.json",
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

/// An argv's `--vars` flag and its value, for `dbt ls` to parse the project as the run did
/// (vars switch models on); empty when the argv has none.
pub fn vars_flag(argv: &[String]) -> Vec<String> {
    argv.windows(2)
        .find(|w| w[0] == "--vars")
        .map(<[String]>::to_vec)
        .unwrap_or_default()
}

/// The resource types a dbt verb executes (`dbt_ls.py` lists ephemeral models, which dbt
/// never executes, as `ephemeral_model`). Only `build` creates functions (1.11+: checked with
/// `dbt run`, `seed` and `test --select <function>`, which have nothing to do).
pub fn executed_types(verb: &str) -> &'static [&'static str] {
    match verb {
        "run" => &["model"],
        "test" => &["test", "unit_test"],
        "seed" => &["seed"],
        "snapshot" => &["snapshot"],
        _ => &["model", "seed", "snapshot", "test", "unit_test", "function"],
    }
}
