//! Any bytes as a dbt log: the parser never panics, keeps its bounds, and whatever it reports
//! plans into a command whose every argument is either the original's, one of the flags the
//! planner writes, or a validated node name.
#![no_main]

use dbt_rerun_core::command::DbtCommand;
use dbt_rerun_core::log::{EventFormat, FireLensRecords, Limits, LineReader, LogParser};
use dbt_rerun_core::plan::{plan_rerun, plan_resume, ECS_OVERRIDE_LIMIT};
use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

const ORIGINAL: [&str; 6] = ["dbt", "build", "--select", "stg+", "--exclude", "old"];

fuzz_target!(|data: &[u8]| {
    let limits = Limits::default();
    let mut parser = LogParser::new(limits);
    for line in data.split(|b| *b == b'\n') {
        parser.push_line(line);
    }
    let report = parser.finish();
    assert!(report.failed.len() <= limits.failed);
    assert!(report.skipped.len() <= limits.skipped);
    assert!(report.finished.nodes.len() <= limits.finished_names);
    for node in &report.failed {
        assert!(node.detail.len() <= limits.message_bytes);
    }
    let argv = ORIGINAL.map(String::from);
    let command = DbtCommand::parse(&argv).unwrap();
    let original = common::Original::new(&argv);
    let plans = [
        plan_rerun(&command, &report, ECS_OVERRIDE_LIMIT).ok(),
        Some(plan_resume(&command, &report, ECS_OVERRIDE_LIMIT)),
    ];
    for plan in plans.into_iter().flatten() {
        for arg in &plan.argv {
            assert!(original.allowed(arg), "{arg:?} reached the command");
        }
    }
    let _ = serde_json::to_string(&report).unwrap();
    // The same bytes as events however a task ships them (text with a prefix to decide, or
    // FireLens records): the line reader never panics and the parser keeps its bounds.
    let records = EventFormat::FireLens(FireLensRecords {
        key: "log".into(),
        container: "dbt".into(),
        task_arn: Some("arn:aws:ecs:eu-west-1:1:task/c/t".into()),
    });
    for format in [EventFormat::Text, records] {
        let mut parser = LogParser::new(limits);
        let mut lines = LineReader::new(format);
        let mut push = |line: &[u8]| parser.push_line(line);
        for event in data.split(|b| *b == b'\n') {
            lines.push_event(event, &mut push);
        }
        lines.finish(&mut push);
        let report = parser.finish();
        assert!(report.failed.len() <= limits.failed);
        assert!(report.finished.nodes.len() <= limits.finished_names);
    }
});
