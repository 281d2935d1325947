//! The shapes' tests (the versioned-model ones are in `versioned.rs`).

use super::*;
use crate::log::{FinishedNodes, RunStats};
use crate::node::{FailStatus, FailedNode, SkippedNode};

pub(super) fn cmd(s: &str) -> DbtCommand {
    DbtCommand::parse(&s.split(' ').map(str::to_owned).collect::<Vec<_>>()).unwrap()
}

pub(super) fn node(name: &str, t: ResourceType) -> SkippedNode {
    SkippedNode {
        name: name.into(),
        resource_type: t,
        unique_id: None,
    }
}

pub(super) fn report(
    failed: &[(&str, ResourceType, FailStatus)],
    skipped: &[(&str, ResourceType)],
) -> RunReport {
    RunReport {
        failed: failed
            .iter()
            .map(|(n, t, s)| FailedNode {
                name: (*n).into(),
                resource_type: *t,
                unique_id: None,
                status: *s,
                message: "x".into(),
                detail: String::new(),
            })
            .collect(),
        skipped: skipped.iter().map(|(n, t)| node(n, *t)).collect(),
        stats: Some(RunStats {
            skip: skipped.len() as u64,
            ..RunStats::default()
        }),
        end_of_run: true,
        ..RunReport::default()
    }
}

use FailStatus::*;
use ResourceType::*;

#[test]
fn from_dbt_1_12_everything_downstream_of_a_failed_model_runs_again() {
    // `on_error: continue` may have run fct's children on its stale table: `fct+`.
    let mut r = report(
        &[("fct", Model, Error), ("unique_dim_id", Test, Fail)],
        &[("agg", Model)],
    );
    r.dbt_version = Some("1.12.6".into());
    let plan = plan_rerun(&cmd("dbt build --select stg+ dim --exclude old"), &r, 8192).unwrap();
    assert_eq!(plan.shape, PlanShape::Descendants);
    assert_eq!(
        plan.argv.join(" "),
        "dbt build --exclude old --select fct+,stg+ fct+,dim unique_dim_id agg"
    );
    let plan = plan_rerun(&cmd("dbt build --select fct+"), &r, 8192).unwrap();
    assert_eq!(
        plan.argv.join(" "),
        "dbt build --select fct+ unique_dim_id agg"
    );
    assert!(plan.note.unwrap().contains("on_error: continue"));
    // Before 1.12 the exact list.
    r.dbt_version = Some("1.11.16".into());
    let plan = plan_rerun(&cmd("dbt build"), &r, 8192).unwrap();
    assert_eq!(plan.shape, PlanShape::Exact);
    // A selector cannot be intersected: the whole command, and why.
    r.dbt_version = Some("1.12.0".into());
    let plan = plan_rerun(&cmd("dbt build --selector nightly"), &r, 8192).unwrap();
    assert_eq!(plan.shape, PlanShape::Original);
    assert!(plan.note.unwrap().contains("downstream of fct"));
    // No failed model: nothing can have continued.
    let mut tests_only = report(&[("unique_dim_id", Test, Fail)], &[("agg", Model)]);
    tests_only.dbt_version = Some("1.12.6".into());
    let plan = plan_rerun(&cmd("dbt build"), &tests_only, 8192).unwrap();
    assert_eq!(plan.shape, PlanShape::Exact);
}

#[test]
fn the_exact_list_replaces_the_selection_and_keeps_every_flag() {
    let c = cmd("dbt build --select stg+ --target prod --vars {a:1} --exclude x --full-refresh");
    let r = report(
        &[("fct", Model, Error)],
        &[("agg", Model), ("not_null_agg_id", Test)],
    );
    let plan = plan_rerun(&c, &r, ECS_OVERRIDE_LIMIT).unwrap();
    assert_eq!(plan.shape, PlanShape::Exact);
    assert_eq!(
        plan.argv.join(" "),
        "dbt build --target prod --vars {a:1} --exclude x --full-refresh \
         --select fct agg not_null_agg_id --indirect-selection empty"
    );
}

#[test]
fn selection_values_are_split_on_whitespace_like_dbt_does() {
    // Found by fuzzing: a --select value holding whitespace and newlines is several terms
    // (dbt splits it too), and the descendants form intersects with each of them.
    let c = DbtCommand::parse(&[
        "dbt".into(),
        "build".into(),
        "--select".into(),
        " stg+\n tag:x ".into(),
    ])
    .unwrap();
    let r = report(
        &[("fct", Model, Error)],
        &[("agg", Model), ("a_long_skipped_model_name", Model)],
    );
    let plan = plan_rerun(&c, &r, 55).unwrap();
    assert_eq!(plan.shape, PlanShape::Descendants);
    assert_eq!(
        plan.argv.join(" "),
        "dbt build --select fct+,stg+ fct+,tag:x"
    );
}

#[test]
fn a_term_that_would_become_a_flag_is_never_written_alone() {
    // Found by fuzzing: `--select "a -x"` is two terms to dbt; written back as separate
    // arguments, `-x` would be --fail-fast.
    let c = DbtCommand::parse(&[
        "dbt".into(),
        "build".into(),
        "--select".into(),
        "stg+ -x".into(),
    ])
    .unwrap();
    let r = report(
        &[("fct", Model, Error)],
        &[("agg", Model), ("a_long_skipped_model_name", Model)],
    );
    let plan = plan_rerun(&c, &r, 55).unwrap();
    assert_eq!(plan.shape, PlanShape::Original);
    let mut killed = r.clone();
    killed.end_of_run = false;
    killed.dbt_version = Some("1.11.0".into());
    killed.finished = FinishedNodes {
        count: 1,
        nodes: vec![node("stg", Model)],
        before_first_failure: 1,
    };
    let plan = plan_resume(&c, &killed, 8192);
    assert_eq!(plan.shape, PlanShape::Original);
    assert!(plan.argv.iter().all(|a| a != "-x"), "{:?}", plan.argv);
}

#[test]
fn names_of_digits_only_are_node_names_too() {
    // Found by fuzzing (the harness's own check mistook `19` for a depth suffix).
    let plan = plan_rerun(&cmd("dbt run"), &report(&[("19", Model, Error)], &[]), 8192).unwrap();
    assert_eq!(plan.argv.join(" "), "dbt run --select 19");
}

#[test]
fn run_gets_no_indirect_selection_flag() {
    let plan = plan_rerun(
        &cmd("dbt run"),
        &report(&[("fct", Model, Error)], &[("agg", Model)]),
        8192,
    )
    .unwrap();
    assert_eq!(plan.argv.join(" "), "dbt run --select fct agg");
}

#[test]
fn a_name_that_could_inject_a_flag_is_refused() {
    let r = report(&[("--full-refresh", Model, Error)], &[]);
    let err = plan_rerun(&cmd("dbt build"), &r, 8192).unwrap_err();
    assert!(matches!(err, PlanError::InvalidName(_)), "{err}");
    let r = report(&[("fct", Model, Error)], &[("a;rm", Model)]);
    assert!(plan_rerun(&cmd("dbt build"), &r, 8192).is_err());
}

#[test]
fn when_the_list_is_too_long_skipped_tests_go_first_then_descendants() {
    let skipped: Vec<(String, ResourceType)> = (0..300)
        .map(|i| (format!("test_number_{i:04}_of_many"), Test))
        .chain((0..10).map(|i| (format!("model_{i}"), Model)))
        .collect();
    let skipped_ref: Vec<(&str, ResourceType)> =
        skipped.iter().map(|(n, t)| (n.as_str(), *t)).collect();
    let r = report(&[("fct", Model, Error)], &skipped_ref);
    let plan = plan_rerun(
        &cmd("dbt build --select stg+ tag:x"),
        &r,
        ECS_OVERRIDE_LIMIT,
    )
    .unwrap();
    assert_eq!(plan.shape, PlanShape::ExactModels);
    assert!(
        plan.argv.ends_with(&["model_9".to_string()]),
        "{:?}",
        plan.argv
    );

    let plan = plan_rerun(&cmd("dbt build --select stg+ tag:x"), &r, 60).unwrap();
    assert_eq!(plan.shape, PlanShape::Descendants);
    assert_eq!(
        plan.argv.join(" "),
        "dbt build --select fct+,stg+ fct+,tag:x"
    );

    let plan = plan_rerun(&cmd("dbt build --select stg+ tag:x"), &r, 20).unwrap();
    assert_eq!(plan.shape, PlanShape::Original);
    assert_eq!(plan.argv.join(" "), "dbt build --select stg+ tag:x");
    assert!(plan.note.unwrap().contains("override limit"));
}

#[test]
fn every_shape_counts_the_nodes_it_runs_and_the_finished_ones_it_saves() {
    let skipped: Vec<(String, ResourceType)> = (0..300)
        .map(|i| (format!("test_number_{i:04}_of_many"), Test))
        .chain((0..10).map(|i| (format!("model_{i}"), Model)))
        .collect();
    let skipped_ref: Vec<(&str, ResourceType)> =
        skipped.iter().map(|(n, t)| (n.as_str(), *t)).collect();
    let mut r = report(&[("fct", Model, Error)], &skipped_ref);
    r.finished.count = 40;
    r.stats = Some(RunStats {
        pass: 40,
        error: 1,
        skip: 310,
        total: 351,
        ..RunStats::default()
    });
    let c = cmd("dbt build --select stg+ tag:x");
    // Whichever exact shape names them, the failed and skipped nodes run again.
    for (budget, shape) in [
        (100_000, PlanShape::Exact),
        (ECS_OVERRIDE_LIMIT, PlanShape::ExactModels),
        (60, PlanShape::Descendants),
    ] {
        let plan = plan_rerun(&c, &r, budget).unwrap();
        assert_eq!(plan.shape, shape);
        let expected = Work {
            rerun_nodes: Some(311),
            nodes_saved: 40,
        };
        assert_eq!(plan.work, expected, "{shape:?}");
    }
    // The whole command: dbt's total, nothing saved.
    let plan = plan_rerun(&c, &r, 20).unwrap();
    assert_eq!(plan.shape, PlanShape::Original);
    let expected = Work {
        rerun_nodes: Some(351),
        nodes_saved: 0,
    };
    assert_eq!(plan.work, expected);

    // A resume saves what it excludes (with --fail-fast, only what finished before the
    // first failure) and cannot know how many nodes remain.
    let mut r = report(&[("fct", Model, Error)], &[]);
    r.cancelled = true;
    r.dbt_version = Some("1.10.2".into());
    r.finished = FinishedNodes {
        count: 3,
        nodes: vec![
            node("stg", Model),
            node("not_null_stg_id", Test),
            node("late", Test),
        ],
        before_first_failure: 2,
    };
    let plan = plan_rerun(&cmd("dbt build --fail-fast"), &r, 8192).unwrap();
    assert_eq!(plan.shape, PlanShape::Resume);
    let expected = Work {
        rerun_nodes: None,
        nodes_saved: 2,
    };
    assert_eq!(plan.work, expected);
    // A run that never ended, re-run whole: neither count is known to be more than 0.
    let killed = RunReport {
        lines: 3,
        ..RunReport::default()
    };
    let plan = plan_resume(&cmd("dbt build"), &killed, 8192);
    assert_eq!(plan.shape, PlanShape::Original);
    assert_eq!(plan.work, Work::default());
}

#[test]
fn a_failed_test_rules_out_the_descendants_form() {
    let r = report(&[("unique_x", Test, Fail)], &[("child", Model)]);
    let plan = plan_rerun(&cmd("dbt build"), &r, 30).unwrap();
    assert_eq!(plan.shape, PlanShape::Original);
}

#[test]
fn fail_fast_resumes_the_original_selection_minus_what_finished_first() {
    let mut r = report(&[("fct", Model, Error)], &[]);
    r.stats = Some(RunStats {
        skip: 5,
        ..RunStats::default()
    });
    r.cancelled = true;
    r.dbt_version = Some("1.10.2".into());
    r.finished = FinishedNodes {
        count: 3,
        nodes: vec![
            node("stg", Model),
            node("not_null_stg_id", Test),
            node("late", Test),
        ],
        before_first_failure: 2,
    };
    let plan = plan_rerun(
        &cmd("dbt build --fail-fast --select stg+ dim --exclude old"),
        &r,
        8192,
    )
    .unwrap();
    assert_eq!(plan.shape, PlanShape::Resume);
    assert_eq!(
        plan.argv.join(" "),
        "dbt build --fail-fast --select stg+ dim dim+1,resource_type:test dim+1,resource_type:unit_test \
         --exclude old old+1,resource_type:test old+1,resource_type:unit_test stg not_null_stg_id \
         --indirect-selection empty"
    );
}

#[test]
fn from_dbt_1_12_a_resume_after_a_failed_model_reruns_what_finished_after_it() {
    // Killed after fct failed: `agg` finished after it, maybe on fct's stale table.
    let mut r = report(&[("fct", Model, Error)], &[]);
    r.end_of_run = false;
    r.dbt_version = Some("1.12.6".into());
    r.finished = FinishedNodes {
        count: 2,
        nodes: vec![node("stg", Model), node("agg", Model)],
        before_first_failure: 1,
    };
    let plan = plan_rerun(&cmd("dbt run"), &r, 8192).unwrap();
    assert_eq!(plan.shape, PlanShape::Resume);
    assert_eq!(plan.argv.join(" "), "dbt run --exclude stg");
    assert!(plan.note.unwrap().contains("on_error: continue"));
    // Before 1.12 a child of a failed model never ran: everything finished is left out.
    r.dbt_version = Some("1.11.16".into());
    let plan = plan_rerun(&cmd("dbt run"), &r, 8192).unwrap();
    assert_eq!(plan.argv.join(" "), "dbt run --exclude stg agg");
    // No failed model: nothing can have continued.
    r.dbt_version = Some("1.12.6".into());
    r.failed.clear();
    let plan = plan_resume(&cmd("dbt run"), &r, 8192);
    assert_eq!(plan.argv.join(" "), "dbt run --exclude stg agg");
}

#[test]
fn before_dbt_1_10_only_selections_that_need_no_named_tests_resume() {
    let mut r = report(&[("fct", Model, Error)], &[]);
    r.cancelled = true;
    r.stats = Some(RunStats {
        skip: 5,
        ..RunStats::default()
    });
    r.dbt_version = Some("1.8.8".into());
    r.finished = FinishedNodes {
        count: 1,
        nodes: vec![node("stg", Model)],
        before_first_failure: 1,
    };
    let plan = plan_rerun(&cmd("dbt build --fail-fast --select stg+"), &r, 8192).unwrap();
    assert_eq!(plan.shape, PlanShape::Original);
    assert!(plan.note.unwrap().contains("before 1.10"));
    let plan = plan_rerun(&cmd("dbt build --fail-fast"), &r, 8192).unwrap();
    assert_eq!(plan.shape, PlanShape::Resume);
    assert_eq!(
        plan.argv.join(" "),
        "dbt build --fail-fast --exclude stg --indirect-selection empty"
    );
    // `run` executes no tests, so graph operators need no help.
    let plan = plan_rerun(&cmd("dbt run --fail-fast --select stg+"), &r, 8192).unwrap();
    assert_eq!(
        plan.argv.join(" "),
        "dbt run --fail-fast --select stg+ --exclude stg"
    );
}

#[test]
fn eager_closures_follow_depth_and_intersections() {
    assert_eq!(
        eager_closure("a", false).unwrap(),
        ["a+1,resource_type:test"]
    );
    assert_eq!(
        eager_closure("a+2", false).unwrap(),
        ["a+3,resource_type:test"]
    );
    assert!(eager_closure("a+", true).unwrap().is_empty());
    assert_eq!(
        eager_closure("tag:x,b", false).unwrap(),
        ["tag:x+1,b+1,resource_type:test"]
    );
    assert!(eager_closure("+a", false).is_err());
    assert!(eager_closure("2+a", false).is_err());
    assert!(eager_closure("@a", false).is_err());
}

#[test]
fn verbs_without_selection_rerun_whole() {
    let plan = plan_rerun(
        &cmd("dbt run-operation stage_external_sources"),
        &report(&[], &[]),
        8192,
    )
    .unwrap();
    assert_eq!(plan.shape, PlanShape::Original);
}
