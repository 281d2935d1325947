//! The control flow dbt-rerun reads from a script, against what real shells do with it: `&&`
//! and `||` lists, `set -e` (ignored for every step of an and-or list but its last, so never on
//! the left of `||`), `{ ...; }` handlers that `exit`, pipelines with and without `pipefail`,
//! and the rule for a step that prints no end-of-run marker (it succeeded when its failure
//! could not have reached any later dbt step).
//!
//! Each script runs under dash (`sh`) and bash with a stand-in `dbt` first on PATH: a
//! three-line program that appends its verb to a trace and exits 1 when its verb is one the
//! case fails, else 0 (it prints nothing: no dbt output is imitated). The steps that are not
//! dbt append their name to the same trace. The mapping is then fed one invocation per dbt
//! line of the trace, in order, and must say of every step what the trace shows.

use dbt_rerun_core::log::{Invocation, RunReport};
use dbt_rerun_core::node::{FailStatus, FailedNode, ResourceType};
use dbt_rerun_core::script::{map_invocations, StepKind, StepOutcome, TaskCommand};
use std::path::PathBuf;
use std::process::Command;

/// A directory with the stand-in `dbt`.
struct Bin {
    dir: PathBuf,
}

impl Bin {
    fn new() -> Self {
        static MADE: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = MADE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("dbt-rerun-shell-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let dbt = dir.join("dbt");
        std::fs::write(
            &dbt,
            "#!/bin/sh\necho \"dbt $1\" >> \"$TRACE\"\ncase \" $FAIL \" in *\" $1 \"*) exit 1 ;; esac\n",
        )
        .unwrap();
        let mut permissions = std::fs::metadata(&dbt).unwrap().permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut permissions, 0o755);
        std::fs::set_permissions(&dbt, permissions).unwrap();
        Self { dir }
    }

    /// Runs `script` with `shell -c`, the verbs in `fail` failing: the trace, line by line.
    fn run(&self, shell: &str, script: &str, fail: &[&str]) -> Vec<String> {
        let trace = self.dir.join("trace");
        let _ = std::fs::remove_file(&trace);
        let path = format!(
            "{}:{}",
            self.dir.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let status = Command::new(shell)
            .args(["-c", script])
            .current_dir(&self.dir)
            .env("PATH", path)
            .env("TRACE", &trace)
            .env("FAIL", fail.join(" "))
            .status()
            .unwrap_or_else(|e| panic!("{shell} runs: {e}"));
        assert!(status.code().is_some(), "{shell} was killed");
        std::fs::read_to_string(&trace)
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }
}

impl Drop for Bin {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// An invocation as the log splitter gives it: ended with dbt's marker (failed with a node
/// error) or, for a verb that prints none, without one.
fn invocation(failed: bool, marker: bool) -> Invocation {
    let mut report = RunReport {
        end_of_run: marker,
        ..Default::default()
    };
    if failed {
        report.failed.push(FailedNode {
            name: "fct_orders".to_owned(),
            // Of no type a verb rules out.
            resource_type: ResourceType::Other,
            unique_id: None,
            status: FailStatus::Error,
            message: "SSL SYSCALL error".to_owned(),
            detail: String::new(),
        });
    }
    Invocation {
        report,
        invocation_id: None,
        first_line: 1,
        setup_markers: false,
    }
}

/// The name a step that is not dbt writes to the trace (`echo after >> "$TRACE"`), if any.
fn marker_of(text: &str) -> Option<String> {
    let (_, rest) = text.split_once("echo ")?;
    Some(rest.split_whitespace().next()?.to_owned())
}

/// The mapping of `script` run by `shell` given its `trace`, `markerless` verbs printing no
/// end-of-run marker.
fn mapped(
    shell: &str,
    script: &str,
    trace: &[String],
    fail: &[&str],
    markerless: &[&str],
) -> Result<(dbt_rerun_core::script::ShellCommand, Vec<StepOutcome>), String> {
    let argv: Vec<String> = [shell, "-c", script].map(str::to_owned).to_vec();
    let TaskCommand::Script(read) = TaskCommand::read(&[], &argv) else {
        panic!("{script:?} is not read as a script");
    };
    let invocations: Vec<Invocation> = trace
        .iter()
        .filter_map(|l| l.strip_prefix("dbt "))
        .map(|verb| invocation(fail.contains(&verb), !markerless.contains(&verb)))
        .collect();
    let exit_code = Some(i32::from(!fail.is_empty()));
    map_invocations(&read.script, &invocations, exit_code)
        .map(|outcomes| (read, outcomes))
        .map_err(|e| e.to_string())
}

/// Every step's outcome as the trace shows it: a dbt step ran (and failed when its verb was
/// failed), a step that is not dbt ran when its marker is in the trace.
fn check_against_trace(
    at: &str,
    read: &dbt_rerun_core::script::ShellCommand,
    outcomes: &[StepOutcome],
    trace: &[String],
    fail: &[&str],
) {
    let script = &read.script;
    let mut dbt_ran = trace.iter().filter_map(|l| l.strip_prefix("dbt "));
    for (step, outcome) in script.steps.iter().zip(outcomes) {
        let text = &script.text[step.span.clone()];
        match &step.kind {
            StepKind::Dbt(dbt) => {
                let expected = match outcome {
                    StepOutcome::NeverRan => None,
                    _ => Some(dbt.command.verb.as_str()),
                };
                if let Some(verb) = expected {
                    assert_eq!(dbt_ran.next(), Some(verb), "{at}: `{text}`");
                    let failed = matches!(outcome, StepOutcome::Failed(_));
                    assert_eq!(failed, fail.contains(&verb), "{at}: `{text}` {outcome:?}");
                }
            }
            _ => {
                if let Some(marker) = marker_of(text) {
                    let ran = trace.contains(&marker);
                    let reached = *outcome == StepOutcome::Reached;
                    assert_eq!(reached, ran, "{at}: `{text}` {outcome:?}, trace {trace:?}");
                }
            }
        }
    }
    assert_eq!(dbt_ran.next(), None, "{at}: the trace ran more dbt steps");
}

/// (script, verbs that fail, shells it runs under).
type Case = (
    &'static str,
    &'static [&'static str],
    &'static [&'static str],
);

const BOTH: &[&str] = &["sh", "bash"];

#[test]
fn and_or_lists_set_e_handlers_and_pipelines_are_followed_as_real_shells_run_them() {
    let cases: &[Case] = &[
        // `set -e` is ignored for a step followed by `&&`: the next line runs.
        (
            "set -e\ndbt seed && dbt run\necho after >> \"$TRACE\"\ndbt test",
            &["seed"],
            BOTH,
        ),
        // ... and on the left of `||`.
        (
            "set -e\ndbt run || true\necho after >> \"$TRACE\"",
            &["run"],
            BOTH,
        ),
        (
            "set -e\ndbt run || { echo notify >> \"$TRACE\"; exit 1; }\necho after >> \"$TRACE\"",
            &["run"],
            BOTH,
        ),
        (
            "set -e\ndbt run || { echo notify >> \"$TRACE\"; exit 1; }\necho after >> \"$TRACE\"",
            &[],
            BOTH,
        ),
        (
            "dbt run || exit 3\necho after >> \"$TRACE\"",
            &["run"],
            BOTH,
        ),
        (
            "dbt seed && dbt run || echo failed >> \"$TRACE\" && dbt test",
            &["run"],
            BOTH,
        ),
        (
            "dbt seed && dbt run || echo failed >> \"$TRACE\" && dbt test",
            &["seed"],
            BOTH,
        ),
        // A pipeline's status is its last command's ...
        (
            "set -e\ndbt run | tee /dev/null\necho after >> \"$TRACE\"",
            &["run"],
            BOTH,
        ),
        // ... or, with pipefail (bash; dash has none), the failed command's.
        (
            "set -eo pipefail\ndbt run 2>&1 | tee /dev/null\necho after >> \"$TRACE\"",
            &["run"],
            &["bash"],
        ),
        (
            "set -e\ndbt seed\ndbt run\ndbt test || true\necho after >> \"$TRACE\"",
            &["test"],
            BOTH,
        ),
    ];
    let bin = Bin::new();
    for (script, fail, shells) in cases {
        for shell in *shells {
            let at = format!("{shell} -c {script:?} failing {fail:?}");
            let trace = bin.run(shell, script, fail);
            let (read, outcomes) =
                mapped(shell, script, &trace, fail, &[]).unwrap_or_else(|e| panic!("{at}: {e}"));
            check_against_trace(&at, &read, &outcomes, &trace, fail);
        }
    }
}

#[test]
fn a_step_without_a_marker_is_taken_as_succeeded_exactly_when_its_failure_stops_every_later_dbt_step(
) {
    // `dbt compile` prints no end-of-run marker. Run succeeding, the mapping either proves
    // from the script that it exited 0 or says it cannot; run failing, the real shell must
    // then reach no later dbt step, or reach one.
    let cases: &[(&str, &[&str])] = &[
        ("dbt deps && dbt compile && dbt run && dbt test", BOTH),
        ("set -e\ndbt compile\ndbt run", BOTH),
        (
            "dbt compile || { echo notify >> \"$TRACE\"; exit 1; }\ndbt run",
            BOTH,
        ),
        (
            "set -e\ndbt deps && dbt compile && dbt run\necho after >> \"$TRACE\"",
            BOTH,
        ),
        ("dbt compile; dbt run", BOTH),
        ("dbt compile || true\ndbt run", BOTH),
        (
            "set -e\ndbt compile && echo compiled >> \"$TRACE\"\ndbt run",
            BOTH,
        ),
        ("set -e\ndbt compile | tee /dev/null\ndbt run", BOTH),
        ("set -e\ndbt deps && dbt compile\ndbt run", BOTH),
        (
            "set -eo pipefail\ndbt compile | tee /dev/null\ndbt run",
            &["bash"],
        ),
    ];
    let bin = Bin::new();
    let mut proved = 0;
    for (script, shells) in cases {
        for shell in *shells {
            let at = format!("{shell} -c {script:?}");
            let trace = bin.run(shell, script, &["run"]);
            let proof = match mapped(shell, script, &trace, &["run"], &["compile"]) {
                Ok((read, outcomes)) => {
                    check_against_trace(&at, &read, &outcomes, &trace, &["run"]);
                    true
                }
                Err(e) => {
                    assert!(
                        e.contains("`dbt compile`") && e.contains("not known"),
                        "{at}: {e}"
                    );
                    false
                }
            };
            let failing = bin.run(shell, script, &["compile"]);
            let after: Vec<&String> = failing
                .iter()
                .skip_while(|l| *l != "dbt compile")
                .skip(1)
                .filter(|l| l.starts_with("dbt "))
                .collect();
            assert_eq!(
                proof,
                after.is_empty(),
                "{at}: compile failing ran {after:?} after it"
            );
            proved += usize::from(proof);
        }
    }
    assert!(proved >= 8, "proofs: {proved}");
}

#[test]
fn set_e_does_not_apply_inside_a_group_on_the_left_of_or_so_dbt_there_is_refused() {
    let script = "set -e\n{ dbt seed; dbt run; } || echo handled >> \"$TRACE\"";
    let bin = Bin::new();
    for shell in BOTH {
        // seed fails, and run runs all the same: the group's status is run's, so no handler.
        assert_eq!(bin.run(shell, script, &["seed"]), ["dbt seed", "dbt run"]);
        assert_eq!(
            bin.run(shell, script, &["run"]),
            ["dbt seed", "dbt run", "handled"]
        );
        let argv: Vec<String> = [shell, "-c", script].map(|w| (*w).to_owned()).to_vec();
        match TaskCommand::read(&[], &argv) {
            TaskCommand::Opaque(why) => {
                let why = why.to_string();
                assert!(
                    why.contains("{ dbt seed; dbt run; }") && why.contains("group"),
                    "{why}"
                );
            }
            other => panic!("read: {other:?}"),
        }
    }
    // Inside a handler on the right, it applies: the handler's failure ends the script.
    let handler =
        "set -e\ndbt run || { false; echo unreached >> \"$TRACE\"; }\necho after >> \"$TRACE\"";
    for shell in BOTH {
        assert_eq!(bin.run(shell, handler, &["run"]), ["dbt run"]);
    }
}
