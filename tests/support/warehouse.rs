//! A dbt container of the shop project with a DuckDB warehouse of its own, for tests that run
//! real dbt and then look at what the warehouse holds.

use crate::{dbt_python, repo_root};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A fresh container: a copy of `tests/fixtures/dbt_project` and its own DuckDB file, removed
/// when dropped.
pub struct ShopContainer {
    pub dir: PathBuf,
    pub project: PathBuf,
    /// The dbt-core minor version whose venv runs dbt.
    pub version: String,
}

/// What one dbt invocation did: its exit code and its output.
pub struct DbtRun {
    pub code: i32,
    pub log: PathBuf,
}

impl DbtRun {
    /// The end of its output (enough to see why it failed).
    pub fn output(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let start = text.len().saturating_sub(4000);
        let start = (start..text.len())
            .find(|&i| text.is_char_boundary(i))
            .unwrap_or(text.len());
        text[start..].to_owned()
    }
}

impl ShopContainer {
    pub fn new(name: &str, version: &str) -> Self {
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

    pub fn database(&self) -> PathBuf {
        self.dir.join("shop.duckdb")
    }

    /// A copy of this container, warehouse included (with the write-ahead log a killed dbt
    /// leaves): the same failed run, for another re-run.
    pub fn copy(&self, name: &str) -> Self {
        let other = Self::new(name, &self.version);
        std::fs::copy(self.database(), other.database()).unwrap();
        let wal = |c: &Self| c.dir.join("shop.duckdb.wal");
        if wal(self).exists() {
            std::fs::copy(wal(self), wal(&other)).unwrap();
        }
        other
    }

    /// Runs `argv` (`dbt ...`, as a container command) with `env` added, to its end; `log`
    /// names its output file in the container's directory.
    pub fn dbt(&self, argv: &[String], env: &[(&str, &str)], log: &str) -> DbtRun {
        assert_eq!(argv.first().map(String::as_str), Some("dbt"), "{argv:?}");
        let bin = dbt_python(&self.version).parent().unwrap().join("dbt");
        let log = self.dir.join(log);
        let out = std::fs::File::create(&log).unwrap();
        let mut cmd = Command::new(bin);
        cmd.args(&argv[1..])
            .current_dir(&self.project)
            .env("DBT_PROFILES_DIR", &self.project)
            .env("SHOP_DUCKDB_PATH", self.database())
            .env("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
            .env("PYTHONUNBUFFERED", "1")
            .env_remove("SHOP_MB_FAIL")
            .env_remove("SHOP_MB_SLOW_ROWS")
            .env_remove("SHOP_TRANSIENT_ERROR")
            .stdout(out.try_clone().unwrap())
            .stderr(out);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let status = cmd.status().expect("dbt runs");
        DbtRun {
            code: status.code().unwrap_or(128),
            log,
        }
    }

    /// Runs `argv` with `env` and kills it with SIGKILL once `lines` lines of its output have
    /// matched `after`, then `delay` later (an OOM kill or a Spot interruption part-way).
    pub fn dbt_killed(
        &self,
        argv: &[String],
        env: &[(&str, &str)],
        log: &str,
        after: impl Fn(&str) -> bool,
        lines: usize,
        delay: std::time::Duration,
    ) -> DbtRun {
        use std::io::{BufRead, Write};
        let bin = dbt_python(&self.version).parent().unwrap().join("dbt");
        let log = self.dir.join(log);
        let mut out = std::fs::File::create(&log).unwrap();
        let mut cmd = Command::new(bin);
        cmd.args(&argv[1..])
            .current_dir(&self.project)
            .env("DBT_PROFILES_DIR", &self.project)
            .env("SHOP_DUCKDB_PATH", self.database())
            .env("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
            .env("PYTHONUNBUFFERED", "1")
            .env_remove("SHOP_MB_FAIL")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("dbt runs");
        let reader = std::io::BufReader::new(child.stdout.take().unwrap());
        let mut seen = 0;
        let mut killed = false;
        for line in reader.lines() {
            let line = line.unwrap_or_default();
            writeln!(out, "{line}").unwrap();
            if !killed && after(&line) {
                seen += 1;
                if seen == lines {
                    std::thread::sleep(delay);
                    child.kill().unwrap();
                    killed = true;
                }
            }
        }
        let status = child.wait().unwrap();
        assert!(killed, "dbt ended ({status}) before it could be killed");
        DbtRun { code: 137, log }
    }

    /// Rows of the microbatch models per day (`mb_sessions`: count; `mb_daily`: its row and
    /// values; `mb_summary`: its count), as text per table and day: what the warehouse holds.
    pub fn rows_per_day(&self) -> BTreeMap<String, BTreeMap<String, String>> {
        let script = r#"
import duckdb, json, sys
c = duckdb.connect(sys.argv[1])
queries = {
    "mb_sessions": "select cast(event_at as date), count(*)::varchar || ' rows' from main.mb_sessions group by 1",
    "mb_daily": "select cast(day_at as date), count(*)::varchar || ' rows: ' || string_agg(sessions::varchar || ' sessions, amount ' || amount::varchar, '; ') from main.mb_daily group by 1",
    "mb_summary": "select day, count(*)::varchar || ' rows: ' || string_agg(sessions::varchar, ', ') from main.mb_summary group by 1",
}
out = {}
for table, sql in queries.items():
    if c.execute(f"select count(*) from information_schema.tables where table_name = '{table}'").fetchall()[0][0]:
        out[table] = {d.isoformat(): v for d, v in c.execute(sql).fetchall()}
print(json.dumps(out))
"#;
        let python = dbt_python(&self.version);
        let done = Command::new(&python)
            .args(["-c", script])
            .arg(self.database())
            .output()
            .expect("python runs");
        assert!(
            done.status.success(),
            "reading {}: {}",
            self.database().display(),
            String::from_utf8_lossy(&done.stderr)
        );
        serde_json::from_slice(&done.stdout).unwrap()
    }
}

impl ShopContainer {
    /// Every row of `table` (in schema `main`), as text, sorted.
    pub fn table(&self, table: &str) -> Vec<String> {
        let script = r#"
import duckdb, sys
c = duckdb.connect(sys.argv[1])
for row in sorted(str(r) for r in c.execute(f"select * from main.{sys.argv[2]}").fetchall()):
    print(row)
"#;
        let done = Command::new(dbt_python(&self.version))
            .args(["-c", script])
            .arg(self.database())
            .arg(table)
            .output()
            .expect("python runs");
        assert!(
            done.status.success(),
            "reading {table}: {}",
            String::from_utf8_lossy(&done.stderr)
        );
        String::from_utf8_lossy(&done.stdout)
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// Appends `lines` to the project's seed file `seed` (new data arriving).
    pub fn append_to_seed(&self, seed: &str, lines: &[&str]) {
        use std::io::Write;
        let path = self.project.join("seeds").join(format!("{seed}.csv"));
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        for line in lines {
            writeln!(file, "{line}").unwrap();
        }
    }
}

impl Drop for ShopContainer {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Copies a dbt project to `to` for a run of its own: without its build output (`target`,
/// `logs`, `dbt_packages`) or a DuckDB warehouse.
pub fn copy_project(from: &Path, to: &Path) {
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
