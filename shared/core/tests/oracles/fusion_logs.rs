//! dbt Fusion output, as users published it (`tests/fixtures/fusion/samples.md`, with each
//! sample's source): every sample is recognised as Fusion's, and no decision on one names a
//! node. Exit 1 and exit 2 give up saying the log is Fusion's, as does exit 0 when the log
//! shows failures a wrapper hid; a kill re-runs the whole command. The reason reaches the
//! record, the EMF line and the alert as one line of prose (no runs of spaces from a broken
//! string continuation, no line breaks).

use dbt_rerun_core::alert::compose;
use dbt_rerun_core::decision::{decide, DecisionConfig, DecisionInput, GiveUpReason};
use dbt_rerun_core::log::{parse_reader, Limits};
use dbt_rerun_core::metrics::decision_log_line;
use dbt_rerun_core::record::{DecisionRecord, LogFacts};
use dbt_rerun_core::testing::TaskBuilder;
use dbt_rerun_core::Decision;
use dbt_rerun_fixtures::repo_root;

struct Sample {
    title: String,
    source: String,
    expect: Vec<(String, String)>,
    text: String,
}

fn samples() -> Vec<Sample> {
    let path = repo_root().join("tests/fixtures/fusion/samples.md");
    let file = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut samples = Vec::new();
    for section in file.split("\n## ").skip(1) {
        let title = section.lines().next().unwrap_or_default().to_owned();
        let field = |name: &str| {
            section
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .map(str::trim)
                .unwrap_or_else(|| panic!("{title}: no {name}"))
                .to_owned()
        };
        let source = field("Source:");
        let expect = field("Expect:")
            .split_whitespace()
            .map(|kv| {
                let (k, v) = kv.split_once('=').expect("key=value");
                (k.to_owned(), v.to_owned())
            })
            .collect();
        let fenced = section
            .split_once("\n```\n")
            .and_then(|(_, rest)| rest.split_once("\n```"))
            .map(|(text, _)| text.to_owned())
            .unwrap_or_else(|| panic!("{title}: no fenced excerpt"));
        samples.push(Sample {
            title,
            source,
            expect,
            text: fenced,
        });
    }
    samples
}

#[test]
fn every_published_fusion_sample_is_recognised_with_its_source() {
    let samples = samples();
    assert!(samples.len() >= 10, "{} samples", samples.len());
    for sample in &samples {
        assert!(
            sample.source.starts_with("https://") || sample.source.starts_with("code-index"),
            "{}: {}",
            sample.title,
            sample.source
        );
        let report = parse_reader(sample.text.as_bytes(), Limits::default()).unwrap();
        let fusion = report
            .fusion
            .as_ref()
            .unwrap_or_else(|| panic!("{}: not recognised as Fusion's", sample.title));
        for (key, value) in &sample.expect {
            let got = match key.as_str() {
                "version" => fusion.version.clone().unwrap_or_default(),
                "failed" => fusion.failed.to_string(),
                "skipped_lines" => fusion.skipped_lines.to_string(),
                "errors" => fusion.errors.to_string(),
                "shows_failures" => fusion.shows_failures().to_string(),
                other => panic!("{}: unknown expectation {other}", sample.title),
            };
            assert_eq!(&got, value, "{}: {key}", sample.title);
        }
        // Nothing of it is read as dbt Core's nodes.
        assert!(
            report.failed.is_empty() && report.skipped.is_empty() && report.finished.count == 0,
            "{}: {report:?}",
            sample.title
        );
    }
}

#[test]
fn decisions_on_fusion_logs_never_name_a_node() {
    let command: Vec<String> = ["dbt", "build", "--target", "prod"]
        .map(str::to_owned)
        .to_vec();
    let inspect = DecisionConfig {
        inspect_success: true,
        ..DecisionConfig::default()
    };
    for sample in samples() {
        let report = parse_reader(sample.text.as_bytes(), Limits::default()).unwrap();
        let fusion = report.fusion.clone().expect("Fusion's");
        for (exit, stop_code, config) in [
            (
                Some(1),
                "EssentialContainerExited",
                DecisionConfig::default(),
            ),
            (
                Some(2),
                "EssentialContainerExited",
                DecisionConfig::default(),
            ),
            (Some(0), "EssentialContainerExited", inspect.clone()),
            (
                Some(137),
                "EssentialContainerExited",
                DecisionConfig::default(),
            ),
        ] {
            let task = TaskBuilder::exited(exit).stop_code(stop_code).build();
            let decided = decide(DecisionInput {
                task: &task,
                report: Some(&report),
                log_note: None,
                command: Some(&command),
                entry_point: None,
                invocations: None,
                config: &config,
            });
            let what = format!("{} (exit {exit:?})", sample.title);
            assert!(
                decided.findings.shown.failed_nodes.is_empty()
                    && decided.findings.shown.skipped_nodes.is_empty(),
                "{what}"
            );
            reason_is_one_clean_line(
                &DecisionRecord::assemble(&decided, &LogFacts::default(), None),
                &what,
            );
            match (exit, &decided.decision) {
                (Some(1 | 2), Decision::GiveUp(why)) => assert!(
                    matches!(why.reason, GiveUpReason::FusionLog { .. }),
                    "{what}: {why}"
                ),
                (Some(0), Decision::GiveUp(why)) if fusion.shows_failures() => assert!(
                    matches!(why.reason, GiveUpReason::FusionLog { .. }),
                    "{what}: {why}"
                ),
                (Some(0), Decision::Ignore(_)) if !fusion.shows_failures() => {}
                (Some(137), Decision::Rerun { rerun, reason }) => {
                    assert_eq!(rerun.command, command, "{what}: the whole command");
                    let note = reason.plan_note.as_deref().unwrap_or_default();
                    assert!(note.contains("dbt Fusion"), "{what}: {reason}");
                }
                (_, other) => panic!("{what}: {other:?}"),
            }
        }
    }
}

/// The record's reason is prose a person reads in an alert, a log line or a terminal: single
/// spaces, one line; the EMF line and the alert (text and JSON) carry it unchanged.
fn reason_is_one_clean_line(record: &DecisionRecord, what: &str) {
    let reason = &record.reason;
    assert!(
        !reason.contains("  ") && !reason.contains(['\n', '\t']) && reason.trim() == reason,
        "{what}: the record's reason is not one clean line: {reason:?}"
    );
    let emf: serde_json::Value =
        serde_json::from_str(&decision_log_line(record, "dbt-rerun", 0)).unwrap();
    assert_eq!(
        emf["reason"],
        reason.as_str(),
        "{what}: the EMF line's reason"
    );
    let alert = compose(record);
    assert!(
        alert.text.contains(reason.as_str()),
        "{what}: the alert's text:\n{}",
        alert.text
    );
    let message: serde_json::Value = serde_json::from_str(&alert.message).unwrap();
    let machine: serde_json::Value =
        serde_json::from_str(message["sqs"].as_str().unwrap()).unwrap();
    assert_eq!(
        machine["reason"],
        reason.as_str(),
        "{what}: the alert's JSON"
    );
}
