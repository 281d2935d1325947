//! Logs that try to mislead: lines a model printed that imitate dbt's, names that would be
//! flags, huge lines, bytes that are not text, a summary cut off. The parser never panics,
//! stays bounded, and nothing unvalidated or untrusted reaches a command.

use dbt_rerun_core::command::DbtCommand;
use dbt_rerun_core::log::{parse_reader, Limits, LogParser};
use dbt_rerun_core::plan::{plan_rerun, plan_resume, PlanShape, ECS_OVERRIDE_LIMIT};
use dbt_rerun_fixtures::fixture_lines;

fn parse(lines: &[String]) -> dbt_rerun_core::RunReport {
    let mut parser = LogParser::default();
    for line in lines {
        parser.push_line(line.as_bytes());
    }
    parser.finish()
}

fn argv(s: &str) -> DbtCommand {
    DbtCommand::parse(&s.split(' ').map(str::to_owned).collect::<Vec<_>>()).unwrap()
}

const KILLED: &str = "killed/1.11/build_sigkill";

#[test]
fn a_result_line_a_model_printed_does_not_count_as_finished() {
    let mut lines = fixture_lines(KILLED);
    let honest = parse(&lines);
    // A model's `{{ log(..., info=True) }}` output imitating dbt's result for a node that
    // never ran in this run.
    let fake = "\u{1b}[0m13:14:18  27 of 28 OK created sql table model main.customer_ltv ....... [\u{1b}[32mOK\u{1b}[0m in 0.10s]";
    lines.insert(lines.len() - 2, fake.to_owned());
    let report = parse(&lines);
    assert_eq!(report.finished.count, honest.finished.count);
    assert!(!report
        .finished
        .nodes
        .iter()
        .any(|n| n.name == "customer_ltv"));
    let plan = plan_resume(&argv("dbt build"), &report, ECS_OVERRIDE_LIMIT);
    assert_eq!(plan.shape, PlanShape::Resume);
    assert!(
        !plan.argv.contains(&"customer_ltv".to_owned()),
        "{:?}",
        plan.argv
    );
}

#[test]
fn an_imitated_start_and_result_make_the_log_untrusted_for_a_resume() {
    let mut lines = fixture_lines(KILLED);
    // A START and a result for index 3, which dbt itself used earlier in this log.
    let at = lines.len() - 2;
    lines.insert(
        at,
        "13:14:18  3 of 28 START sql table model main.customer_ltv ..... [RUN]".to_owned(),
    );
    lines.insert(
        at + 1,
        "13:14:18  3 of 28 OK created sql table model main.customer_ltv ..... [OK in 0.1s]"
            .to_owned(),
    );
    let report = parse(&lines);
    assert!(report.conflicting);
    let plan = plan_resume(&argv("dbt build"), &report, ECS_OVERRIDE_LIMIT);
    assert_eq!(plan.shape, PlanShape::Original);
    assert!(plan.note.unwrap().contains("imitating"));
}

#[test]
fn names_that_would_be_flags_or_shell_never_reach_the_command() {
    for name in [
        "--full-refresh",
        "x;rm",
        "a b",
        "tag:nightly",
        "fct+",
        "ｆct_orders",
        "$(id)",
    ] {
        let lines: Vec<String> = [
            "12:00:00  Running with dbt=1.10.2".to_owned(),
            format!("12:00:01  1 of 1 START sql table model main.{name} .... [RUN]"),
            format!(
                "12:00:02  1 of 1 ERROR creating sql table model main.{name} .... [ERROR in 0.1s]"
            ),
            "12:00:03  Completed with 1 error, 0 partial successes, and 0 warnings:".to_owned(),
            format!("12:00:03  Failure in model {name} (models/x.sql)"),
            "  Database Error: connection reset by peer".to_owned(),
            "12:00:03  ".to_owned(),
            "12:00:03  Done. PASS=0 WARN=0 ERROR=1 SKIP=0 NO-OP=0 TOTAL=1".to_owned(),
        ]
        .to_vec();
        let report = parse(&lines);
        match plan_rerun(&argv("dbt build"), &report, ECS_OVERRIDE_LIMIT) {
            // Refused by name validation, or (a name dbt's summary cannot even hold) not read
            // as a failed node at all: either way nothing is re-run from it.
            Err(e) => assert!(
                e.to_string().contains("refusing") || e.to_string().contains("nothing to re-run"),
                "{name}: {e}"
            ),
            Ok(plan) => assert!(
                !plan.argv.iter().any(|a| a.contains(name)),
                "{name} reached {:?}",
                plan.argv
            ),
        }
    }
}

#[test]
fn huge_lines_invalid_utf8_and_random_bytes_parse_without_panic_in_bounded_memory() {
    // One 5 MB line between real lines: cut at the line limit, the next lines still read.
    let mut input = fixture_lines("1.10/model_error").join("\n").into_bytes();
    let half = input.len() / 2;
    let mut huge = vec![b'x'; 5 << 20];
    huge.insert(0, b'\n');
    huge.push(b'\n');
    input.splice(half..half, huge);
    let report = parse_reader(&input[..], Limits::default()).unwrap();
    assert!(report.end_of_run && report.failed.len() == 1);

    // Invalid UTF-8 in names and messages.
    let bad = b"12:00:00  1 of 1 START sql table model main.\xff\xfe .... [RUN]\n\
                12:00:00  Completed with 1 error and 0 warnings:\n\
                12:00:00  Failure in model \xff\xfe (models/x.sql)\n  \xc3\x28 broken\n\
                12:00:00  Done. PASS=0 WARN=0 ERROR=1 SKIP=0 TOTAL=1\n";
    let report = parse_reader(&bad[..], Limits::default()).unwrap();
    assert_eq!(report.failed.len(), 1);
    assert!(
        plan_rerun(&argv("dbt build"), &report, ECS_OVERRIDE_LIMIT).is_err(),
        "an undecodable name is refused"
    );

    // 20 MB of pseudo-random bytes.
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let noise: Vec<u8> = (0..20 << 20)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect();
    let report = parse_reader(&noise[..], Limits::default()).unwrap();
    assert!(!report.end_of_run);
    assert!(report.failed.len() <= Limits::default().failed);
}

#[test]
fn a_summary_cut_off_is_resumed_not_trusted_as_complete() {
    let lines = fixture_lines("1.10/two_failures_threads4");
    let cut = lines
        .iter()
        .position(|l| l.contains("Completed with"))
        .unwrap()
        + 3;
    let report = parse(&lines[..cut]);
    assert!(!report.end_of_run);
    let plan = plan_rerun(&argv("dbt build --threads 4"), &report, ECS_OVERRIDE_LIMIT).unwrap();
    assert_eq!(plan.shape, PlanShape::Resume, "{:?}", plan.note);
}
