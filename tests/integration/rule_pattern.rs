//! The template's EventBridge rule against the sample events: failures and the successful
//! stops of dbt-rerun's own re-runs get through, any other success or a running task does not. EventBridge's matching is played by
//! `tests/support/rule_matches.py` (moto's matcher cannot descend into arrays of objects).

use dbt_rerun_tests::moto::moto_python;
use dbt_rerun_tests::repo_root;
use std::collections::BTreeMap;

fn rule_matches(paths: &[std::path::PathBuf]) -> BTreeMap<String, bool> {
    rule_matches_with(&[], paths)
}

/// Which of `paths` the rule lets through when the stack's `params` (`(name, value)`) are
/// set, the others at their defaults.
fn rule_matches_with(
    params: &[(&str, &str)],
    paths: &[std::path::PathBuf],
) -> BTreeMap<String, bool> {
    let out = std::process::Command::new(moto_python())
        .arg(repo_root().join("tests/support/rule_matches.py"))
        .arg(repo_root().join("template.yaml"))
        .args(
            params
                .iter()
                .flat_map(|(n, v)| ["--param".to_owned(), format!("{n}={v}")]),
        )
        .args(paths)
        .output()
        .expect("rule_matches.py runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn samples() -> Vec<std::path::PathBuf> {
    let mut samples: Vec<_> = std::fs::read_dir(repo_root().join("events"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    samples.sort();
    samples
}

#[test]
fn only_failed_tasks_and_recovered_reruns_reach_the_function() {
    let samples = samples();
    let matched = rule_matches(&samples);
    assert_eq!(matched.len(), samples.len());
    assert!(matched
        .keys()
        .any(|p| p.ends_with("/ignore-recovered.json")));
    for (path, through) in &matched {
        let name = path.rsplit('/').next().unwrap();
        let expected = !matches!(name, "ignore-success.json" | "ignore-running.json");
        assert_eq!(*through, expected, "{name}");
    }
}

/// Writes each `(name, event)` to a fresh directory; the paths, and the directory to remove.
fn written(
    tag: &str,
    events: &[(&str, serde_json::Value)],
) -> (Vec<std::path::PathBuf>, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!("dbt-rerun-rule-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let paths = events
        .iter()
        .map(|(name, event)| {
            let path = dir.join(format!("{name}.json"));
            std::fs::write(&path, event.to_string()).unwrap();
            path
        })
        .collect();
    (paths, dir)
}

#[test]
fn a_successful_stop_gets_through_only_when_dbt_rerun_started_the_task() {
    let recovered: serde_json::Value = serde_json::from_slice(
        &std::fs::read(repo_root().join("events/ignore-recovered.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(recovered["detail"]["containers"][0]["exitCode"], 0);
    let started_by = |value: Option<&str>| {
        let mut event = recovered.clone();
        match value {
            Some(v) => event["detail"]["startedBy"] = v.into(),
            None => {
                event["detail"].as_object_mut().unwrap().remove("startedBy");
            }
        }
        event
    };
    let mut sidecar = recovered.clone();
    sidecar["detail"]["containers"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({"name": "datadog-agent", "exitCode": 0, "lastStatus": "STOPPED"}));
    let mut other_family = recovered.clone();
    other_family["detail"]["group"] = "family:dbt-docs".into();
    let mut other_cluster = recovered.clone();
    other_cluster["detail"]["clusterArn"] =
        "arn:aws:ecs:eu-west-1:111122223333:cluster/other-cluster".into();
    let mut running = recovered.clone();
    running["detail"]["lastStatus"] = "RUNNING".into();
    running["detail"]["containers"][0]
        .as_object_mut()
        .unwrap()
        .remove("exitCode");
    let cases = [
        (
            "rerun",
            started_by(Some("dbt-rerun/8f3c2a7e1b9d4c6fa05e7d21c4b8e9f3/3")),
            true,
        ),
        ("manual", started_by(Some("dbt-rerun/manual/4d1c")), true),
        ("rerun-with-sidecar", sidecar, true),
        // Anything else is a success of a task dbt-rerun did not start: not sent.
        (
            "scheduler",
            started_by(Some("events-rule/dbt-nightly-build")),
            false,
        ),
        ("no-started-by", started_by(None), false),
        ("other-case", started_by(Some("DBT-RERUN/8f3c/2")), false),
        (
            "not-a-prefix",
            started_by(Some("x-dbt-rerun/8f3c/2")),
            false,
        ),
        ("no-slash", started_by(Some("dbt-rerun")), false),
        ("other-family", other_family, false),
        ("other-cluster", other_cluster, false),
        ("running", running, false),
    ];
    let events: Vec<(&str, serde_json::Value)> =
        cases.iter().map(|(n, e, _)| (*n, e.clone())).collect();
    let (paths, dir) = written("recovered", &events);
    let default = rule_matches(&paths);
    let without = rule_matches_with(&[("InspectSuccessfulRuns", "false")], &paths);
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(default, without, "the option is off by default");
    for ((name, _, expected), path) in cases.iter().zip(&paths) {
        assert_eq!(default[path.to_str().unwrap()], *expected, "{name}");
    }
}

#[test]
fn a_failed_start_gets_through_even_when_a_sidecar_exited_0() {
    let base: serde_json::Value = serde_json::from_slice(
        &std::fs::read(repo_root().join("events/rerun-image-pull-failure.json")).unwrap(),
    )
    .unwrap();
    let dir = std::env::temp_dir().join(format!("dbt-rerun-rule-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let sidecar =
        serde_json::json!({"name": "datadog-agent", "exitCode": 0, "lastStatus": "STOPPED"});
    let mut failed_start = base.clone();
    failed_start["detail"]["containers"]
        .as_array_mut()
        .unwrap()
        .push(sidecar.clone());
    let mut success = serde_json::from_slice::<serde_json::Value>(
        &std::fs::read(repo_root().join("events/ignore-success.json")).unwrap(),
    )
    .unwrap();
    success["detail"]["containers"]
        .as_array_mut()
        .unwrap()
        .push(sidecar);
    let paths = [dir.join("failed-start.json"), dir.join("success.json")];
    std::fs::write(&paths[0], failed_start.to_string()).unwrap();
    std::fs::write(&paths[1], success.to_string()).unwrap();
    let matched = rule_matches(&paths);
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(
        matched[paths[0].to_str().unwrap()],
        "failed start with a sidecar"
    );
    assert!(
        !matched[paths[1].to_str().unwrap()],
        "success with a sidecar"
    );
}

const INSPECT: (&str, &str) = ("InspectSuccessfulRuns", "true");

#[test]
fn with_inspect_successful_runs_a_successful_stop_of_the_family_reaches_the_function() {
    let success: serde_json::Value = serde_json::from_slice(
        &std::fs::read(repo_root().join("events/ignore-success.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(success["detail"]["containers"][0]["exitCode"], 0);
    let mut other_family = success.clone();
    other_family["detail"]["group"] = "family:dbt-docs".into();
    let mut other_cluster = success.clone();
    other_cluster["detail"]["clusterArn"] =
        "arn:aws:ecs:eu-west-1:111122223333:cluster/other-cluster".into();
    let dir = std::env::temp_dir().join(format!("dbt-rerun-rule-inspect-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let paths = [
        dir.join("other-family.json"),
        dir.join("other-cluster.json"),
    ];
    std::fs::write(&paths[0], other_family.to_string()).unwrap();
    std::fs::write(&paths[1], other_cluster.to_string()).unwrap();
    let mut all: Vec<_> = samples();
    all.extend(paths.iter().cloned());
    let default = rule_matches(&all);
    let without = rule_matches_with(&[("InspectSuccessfulRuns", "false")], &all);
    let with = rule_matches_with(&[INSPECT], &all);
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(default, without, "the option is off by default");
    for (path, through) in &with {
        let name = path.rsplit('/').next().unwrap();
        // Every stop of the family's tasks in the cluster, the successful one included; a
        // running task, and stops of other families or clusters, never.
        let expected = !matches!(
            name,
            "ignore-running.json" | "other-family.json" | "other-cluster.json"
        );
        assert_eq!(*through, expected, "with {INSPECT:?}: {name}");
        let failure = !matches!(name, "ignore-success.json") && expected;
        assert_eq!(without[path], failure, "without: {name}");
    }
}

/// `rerun-oom` (a failure the rule lets through) of `family` in `cluster`.
fn failure_of(family: &str, cluster: &str) -> serde_json::Value {
    let mut event: serde_json::Value =
        serde_json::from_slice(&std::fs::read(repo_root().join("events/rerun-oom.json")).unwrap())
            .unwrap();
    event["detail"]["group"] = format!("family:{family}").into();
    event["detail"]["clusterArn"] =
        format!("arn:aws:ecs:eu-west-1:111122223333:cluster/{cluster}").into();
    event
}

#[test]
fn a_family_or_cluster_prefix_lets_through_every_name_starting_with_it_and_no_other() {
    let cases = [
        (
            "sample",
            failure_of("dbt-models-building", "dbt-project-cluster"),
        ),
        ("hourly", failure_of("dbt-hourly", "dbt-project-cluster")),
        ("bare-prefix", failure_of("dbt-", "dbt-project-cluster")),
        (
            "other-family",
            failure_of("analytics-dbt-build", "dbt-project-cluster"),
        ),
        (
            "upper-case",
            failure_of("DBT-hourly", "dbt-project-cluster"),
        ),
        ("dev-cluster", failure_of("dbt-hourly", "dbt-dev")),
        ("other-cluster", failure_of("dbt-hourly", "analytics")),
    ];
    let (paths, dir) = written("prefix", &cases);
    let by_prefix = rule_matches_with(
        &[
            ("TaskDefinitionFamilies", "dbt-*"),
            ("ClusterNames", "dbt-*"),
        ],
        &paths,
    );
    let family_prefix_only = rule_matches_with(&[("TaskDefinitionFamilies", "dbt-*")], &paths);
    std::fs::remove_dir_all(&dir).unwrap();
    let through = |matched: &BTreeMap<String, bool>| -> Vec<&str> {
        cases
            .iter()
            .zip(&paths)
            .filter(|(_, p)| matched[p.to_str().unwrap()])
            .map(|((n, _), _)| *n)
            .collect()
    };
    assert_eq!(
        through(&by_prefix),
        ["sample", "hourly", "bare-prefix", "dev-cluster"]
    );
    // The cluster is still ClusterName's alone.
    assert_eq!(
        through(&family_prefix_only),
        ["sample", "hourly", "bare-prefix"]
    );
}

#[test]
fn a_list_of_families_lets_through_each_listed_family_and_no_other() {
    let cases = [
        ("hourly", failure_of("dbt-hourly", "dbt-project-cluster")),
        ("nightly", failure_of("dbt-nightly", "dbt-project-cluster")),
        ("weekly", failure_of("dbt-weekly", "dbt-project-cluster")),
        ("docs", failure_of("dbt-docs", "dbt-project-cluster")),
        (
            "longer-name",
            failure_of("dbt-hourly-2", "dbt-project-cluster"),
        ),
        (
            "sample",
            failure_of("dbt-models-building", "dbt-project-cluster"),
        ),
        ("other-cluster", failure_of("dbt-hourly", "analytics")),
    ];
    let (paths, dir) = written("families", &cases);
    let listed = rule_matches_with(
        &[(
            "TaskDefinitionFamilies",
            "dbt-hourly,dbt-nightly,dbt-weekly",
        )],
        &paths,
    );
    // Several clusters: the rule matches the families in any cluster (the function refuses
    // the clusters it does not serve by name).
    let clusters = rule_matches_with(
        &[
            (
                "TaskDefinitionFamilies",
                "dbt-hourly,dbt-nightly,dbt-weekly",
            ),
            ("ClusterNames", "dbt-project-cluster,dbt-dev"),
        ],
        &paths,
    );
    std::fs::remove_dir_all(&dir).unwrap();
    let through = |matched: &BTreeMap<String, bool>| -> Vec<&str> {
        cases
            .iter()
            .zip(&paths)
            .filter(|(_, p)| matched[p.to_str().unwrap()])
            .map(|((n, _), _)| *n)
            .collect()
    };
    assert_eq!(through(&listed), ["hourly", "nightly", "weekly"]);
    assert_eq!(
        through(&clusters),
        ["hourly", "nightly", "weekly", "other-cluster"]
    );
}
