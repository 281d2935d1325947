//! dbt 1.12.6's `dbt --version` notice of dbt v2, read from the real program (the dbt-1.12
//! venv): neither Fusion's output nor a failure. The other 1.10–1.12 additions are checked on
//! the recorded runs alone, in the core's tests (`shared/core/tests/oracles/dbt_features.rs`).

use dbt_rerun_core::log::{parse_reader, Limits};
use dbt_rerun_core::RunReport;
use dbt_rerun_tests::{fixtures, Fixture};

fn report(f: &Fixture) -> RunReport {
    parse_reader(
        std::fs::File::open(f.log_path()).unwrap(),
        Limits::default(),
    )
    .unwrap()
}

/// `dbt --version` of dbt-core 1.12.6 prints a notice that dbt v2 (Fusion) exists, on lines
/// of its own with URLs: read from the real program, it is neither Fusion's output nor a
/// failure, starts no invocation, and a `dbt build` after it reads as before.
#[test]
fn the_dbt_v2_notice_of_1_12_is_neither_fusion_nor_a_failure() {
    use dbt_rerun_core::log::{split_reader, DEFAULT_MAX_INVOCATIONS};
    let dbt = dbt_rerun_tests::dbt_python("1.12").with_file_name("dbt");
    let out = std::process::Command::new(&dbt)
        .arg("--version")
        .env("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
        .env_remove("TERM")
        .output()
        .expect("dbt --version runs");
    assert!(out.status.success(), "{out:?}");
    let mut banner = out.stdout.clone();
    banner.extend_from_slice(&out.stderr);
    let text = String::from_utf8_lossy(&banner);
    assert!(
        text.contains("dbt v2 is available") && text.contains("This is dbt Core v1."),
        "the notice this test is about: {text}"
    );
    let notice = parse_reader(&banner[..], Limits::default()).unwrap();
    assert_eq!(notice.fusion, None, "{text}");
    assert!(notice.failed.is_empty() && notice.error.is_none() && !notice.end_of_run);
    // Before a real 1.12 run's log, as a script's `dbt --version && dbt build` writes it.
    let run = fixtures()
        .into_iter()
        .find(|f| f.id == "1.12/transient_model_error")
        .expect("the 1.12 fixture");
    let mut log = banner.clone();
    log.extend(std::fs::read(run.log_path()).unwrap());
    let alone = report(&run);
    let after = parse_reader(&log[..], Limits::default()).unwrap();
    assert_eq!(after.fusion, None);
    assert_eq!(
        (&after.failed, &after.skipped, after.stats, &after.error),
        (&alone.failed, &alone.skipped, alone.stats, &alone.error)
    );
    let split = split_reader(&log[..], Limits::default(), DEFAULT_MAX_INVOCATIONS).unwrap();
    assert_eq!(
        split.invocations.len(),
        1,
        "the notice starts no invocation"
    );
    assert!(split.invocations[0].could_be("build"));
}
