//! A fixture generator kept running after it recorded a run, so that a test can run dbt
//! commands of its choosing on that run's warehouse (`generate_microbatch.py --rerun`): the
//! generator says `recorded <dir>`, then reads one JSON request a line from its stdin, runs it,
//! writes `<dir>/rerun_<n>/` and says `rerun <n> exit <code>`. At the end of its input it stops
//! whatever server it started.

use crate::repo_root;
use std::io::{BufRead, BufReader, Lines, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

pub struct GeneratorSession {
    child: Child,
    /// None once closed: the generator then finishes.
    ask: Option<ChildStdin>,
    said: Lines<BufReader<ChildStdout>>,
    stderr: PathBuf,
    /// Where it writes (removed when the session finishes well).
    out: PathBuf,
    /// The recorded run's directory.
    pub run: PathBuf,
    reruns: usize,
}

impl GeneratorSession {
    /// Starts `python3 tests/fixtures/<script> <args> --out <out>` and waits until it has
    /// recorded its run; panics with its stderr if it records nothing.
    pub fn start(script: &str, args: &[&str], out: &Path) -> Self {
        let _ = std::fs::remove_dir_all(out);
        std::fs::create_dir_all(out).unwrap();
        let stderr = out.join("generator.stderr");
        let mut child = Command::new("python3")
            .arg(repo_root().join("tests/fixtures").join(script))
            .args(args)
            .arg("--out")
            .arg(out)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr).unwrap())
            .spawn()
            .expect("python3 runs");
        let ask = child.stdin.take();
        let said = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut session = Self {
            child,
            ask,
            said,
            stderr,
            out: out.to_path_buf(),
            run: PathBuf::new(),
            reruns: 0,
        };
        let recorded = session
            .said
            .by_ref()
            .map_while(Result::ok)
            .find_map(|line| line.strip_prefix("recorded ").map(PathBuf::from));
        match recorded {
            Some(run) => session.run = run,
            None => {
                session.ask = None;
                let status = session.child.wait().unwrap();
                panic!(
                    "{script} {args:?} recorded nothing ({status}; needs the Debian package \
                     postgresql and the venvs scripts/test installs):\n{}",
                    session.stderr_text()
                );
            }
        }
        session
    }

    /// Asks for `request` (one JSON line) and waits until it ran: its directory.
    pub fn rerun(&mut self, request: &serde_json::Value) -> PathBuf {
        self.reruns += 1;
        let ask = self.ask.as_mut().expect("the session is open");
        writeln!(ask, "{request}").unwrap();
        let done = self.said.next().and_then(Result::ok);
        let expected = format!("rerun {} exit ", self.reruns);
        assert!(
            done.as_deref().is_some_and(|l| l.starts_with(&expected)),
            "the generator did not run {request}: {done:?}\n{}",
            self.stderr_text()
        );
        self.run.join(format!("rerun_{}", self.reruns))
    }

    /// Ends the session: the generator must then exit 0 (what it wrote is then removed).
    pub fn finish(mut self) {
        self.ask = None;
        let status = self.child.wait().unwrap();
        assert!(
            status.success(),
            "the generator failed ({status}):\n{}",
            self.stderr_text()
        );
        let _ = std::fs::remove_dir_all(&self.out);
    }

    fn stderr_text(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }
}

impl Drop for GeneratorSession {
    /// On a panic too: the end of its input makes the generator stop its server and exit.
    fn drop(&mut self) {
        self.ask = None;
        let _ = self.child.wait();
    }
}
