//! Resuming runs killed part-way, against real dbt: every resume command, expanded by `dbt ls`,
//! selects the original selection minus the nodes that finished; and a killed run resumed with
//! dbt on the same database builds every node once. That the log counts as finished what dbt's
//! own file log finished is checked in the core's tests (`shared/core/tests/oracles/resume.rs`).

use dbt_rerun_core::command::DbtCommand;
use dbt_rerun_core::log::{parse_reader, Limits};
use dbt_rerun_core::plan::{plan_resume, PlanShape, ECS_OVERRIDE_LIMIT};
use dbt_rerun_core::RunReport;
use dbt_rerun_tests::{
    dbt_ls, executed_types, finished_in_file_log, killed_fixtures, selection_flags, Fixture,
    Mismatches,
};
use std::collections::{BTreeMap, BTreeSet};

fn report(f: &Fixture) -> RunReport {
    parse_reader(
        std::fs::File::open(f.log_path()).unwrap(),
        Limits::default(),
    )
    .unwrap()
}

#[test]
fn every_resume_selects_the_original_selection_minus_what_finished() {
    let mut bad = Mismatches::default();
    let mut shapes: BTreeMap<PlanShape, usize> = BTreeMap::new();
    let mut by_version: BTreeMap<String, Vec<(Fixture, Vec<String>, PlanShape)>> = BTreeMap::new();
    for f in killed_fixtures() {
        let command = DbtCommand::parse(&f.meta.argv).unwrap();
        let plan = plan_resume(&command, &report(&f), ECS_OVERRIDE_LIMIT);
        *shapes.entry(plan.shape).or_default() += 1;
        by_version
            .entry(f.version.clone())
            .or_default()
            .push((f, plan.argv, plan.shape));
    }
    for (version, cases) in &by_version {
        let mut requests = Vec::new();
        for (f, argv, _) in cases {
            requests.push((format!("{}#original", f.id), selection_flags(&f.meta.argv)));
            requests.push((format!("{}#resume", f.id), selection_flags(argv)));
        }
        let answers = dbt_ls(version, &requests);
        for (f, argv, shape) in cases {
            let verb = DbtCommand::parse(&f.meta.argv).unwrap().verb;
            let executed = |id: String| -> BTreeSet<String> {
                match answers.get(&id).cloned() {
                    Some(Ok(nodes)) => nodes
                        .into_iter()
                        .filter(|(_, t)| executed_types(&verb).contains(&t.as_str()))
                        .map(|(id, _)| id)
                        .collect(),
                    other => panic!("{id}: {other:?}"),
                }
            };
            let original = executed(format!("{}#original", f.id));
            let resumed = executed(format!("{}#resume", f.id));
            let finished = f.finished_per_file_log();
            if *shape == PlanShape::Original {
                bad.check(resumed == original, || {
                    format!("{}: the fallback changed the selection", f.id)
                });
                continue;
            }
            let expected: BTreeSet<String> = original.difference(&finished).cloned().collect();
            bad.check(resumed == expected, || {
                format!(
                    "{} ({shape:?}) {argv:?}\n  redoes {:?}\n  drops {:?}",
                    f.id,
                    resumed.intersection(&finished).collect::<Vec<_>>(),
                    expected.difference(&resumed).collect::<Vec<_>>()
                )
            });
        }
    }
    bad.assert_none();
    assert!(
        shapes.get(&PlanShape::Resume).copied().unwrap_or(0) >= 8,
        "resumes exercised: {shapes:?}"
    );
    eprintln!("resume plans checked against dbt ls: {shapes:?}");
}

#[test]
fn a_killed_run_resumed_with_dbt_1_11_builds_every_node_once() {
    killed_run_resumed_with_dbt("1.11");
}

#[test]
fn a_killed_run_resumed_with_dbt_1_12_builds_every_node_once() {
    killed_run_resumed_with_dbt("1.12");
}

/// A real `dbt build` of dbt-core `version`, killed part-way, then the resume planned from its
/// log alone, run for real: nothing redone, nothing dropped.
fn killed_run_resumed_with_dbt(version: &str) {
    use std::io::BufRead;
    let dbt = dbt_rerun_tests::dbt_python(version).with_file_name("dbt");
    let tmp =
        std::env::temp_dir().join(format!("dbt-rerun-resume-{version}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    let project = tmp.join("project");
    dbt_rerun_tests::copy_project(
        &dbt_rerun_tests::repo_root().join("tests/fixtures/dbt_project"),
        &project,
    );
    let env = [
        ("DBT_PROFILES_DIR", project.to_str().unwrap().to_owned()),
        (
            "SHOP_DUCKDB_PATH",
            tmp.join("shop.duckdb").to_str().unwrap().to_owned(),
        ),
        ("DBT_LOG_FORMAT_FILE", "json".to_owned()),
        ("DBT_SEND_ANONYMOUS_USAGE_STATS", "false".to_owned()),
    ];
    let argv: Vec<String> = ["dbt", "build", "--vars", "{slow_rows: 200000000}"]
        .map(String::from)
        .to_vec();

    // The first run: killed inside a model, after nine nodes finished.
    let mut first = std::process::Command::new(&dbt)
        .args(&argv[1..])
        .current_dir(&project)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("dbt starts");
    let mut parser = dbt_rerun_core::LogParser::default();
    let mut finished = 0;
    let mut killed = false;
    let reader = std::io::BufReader::new(first.stdout.take().unwrap());
    for line in reader.split(b'\n') {
        let line = line.unwrap();
        parser.push_line(&line);
        let text = String::from_utf8_lossy(&line);
        if text.contains(" PASS ") || text.contains(" OK ") {
            finished += 1;
        } else if finished >= 9 && !killed && text.contains(" START sql ") {
            std::thread::sleep(std::time::Duration::from_millis(150));
            first.kill().unwrap();
            killed = true;
        }
    }
    first.wait().unwrap();
    assert!(killed, "dbt finished before it could be killed");
    let report = parser.finish();
    let done_first = finished_in_file_log(&project.join("logs/dbt.log"));
    assert!(!done_first.is_empty());

    // The resume, as planned from the log alone.
    let plan = plan_resume(
        &DbtCommand::parse(&argv).unwrap(),
        &report,
        ECS_OVERRIDE_LIMIT,
    );
    assert_eq!(plan.shape, PlanShape::Resume, "{:?}", plan.note);
    std::fs::remove_dir_all(project.join("logs")).unwrap();
    let second = std::process::Command::new(&dbt)
        .args(&plan.argv[1..])
        .current_dir(&project)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .expect("dbt runs the resume");
    assert!(
        second.status.success(),
        "the resume failed:\n{}",
        String::from_utf8_lossy(&second.stdout)
    );
    let results: serde_json::Value =
        serde_json::from_slice(&std::fs::read(project.join("target/run_results.json")).unwrap())
            .unwrap();
    let mut done_second = BTreeSet::new();
    for r in results["results"].as_array().unwrap() {
        assert!(
            matches!(r["status"].as_str(), Some("success" | "pass")),
            "{r}"
        );
        done_second.insert(r["unique_id"].as_str().unwrap().to_owned());
    }

    let all: BTreeSet<String> = dbt_ls(version, &[("all".to_owned(), selection_flags(&argv))])
        ["all"]
        .clone()
        .unwrap()
        .into_iter()
        .filter(|(_, t)| executed_types("build").contains(&t.as_str()))
        .map(|(id, _)| id)
        .collect();
    let redone: Vec<_> = done_first.intersection(&done_second).collect();
    assert!(
        redone.is_empty(),
        "the resume redid finished nodes: {redone:?}"
    );
    let together: BTreeSet<String> = done_first.union(&done_second).cloned().collect();
    assert_eq!(
        together, all,
        "the two runs together built the whole selection"
    );
    let _ = std::fs::remove_dir_all(&tmp);
}
