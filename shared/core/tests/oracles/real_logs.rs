//! Every dbt log in `../shared/real-world/dbt-logs/` (beside the repository; never copied into
//! it; `SOURCES.md` there says where each came from): logs users pasted in issue threads or
//! other tools keep as fixtures, dbt 0.8 to 1.12, prefixed by Docker and Airflow, several
//! invocations in one log, truncated pastes.
//!
//! For each log of dbt 1.0 or later, the parser must find exactly the failed nodes the log's
//! summary names (or, in a log cut off before its summary, its result lines), for the logs a
//! shipper prefixed too, and the same as with the prefix taken off by hand. For every log,
//! dbt 0.x included, no node may be invented: each failed, skipped and finished name is one a
//! dbt line of the log shows.

use dbt_rerun_core::log::{parse_reader, Limits, LinePrefix};
use dbt_rerun_core::RunReport;
use dbt_rerun_fixtures::repo_root;
use std::path::PathBuf;

/// A log of dbt 1.0 or later: its number, the failed nodes it names (`type name`), and the
/// prefix every line carries.
struct Expected {
    log: &'static str,
    failed: &'static [&'static str],
    prefix: Option<LinePrefix>,
    why: &'static str,
}

const fn log(log: &'static str, failed: &'static [&'static str], why: &'static str) -> Expected {
    Expected {
        log,
        failed,
        prefix: None,
        why,
    }
}

const EXPECTED: &[Expected] = &[
    log("01", &["test assert_dbk_000"], "1.2, ANSI colours"),
    log(
        "03",
        &["model dim_dates", "model fact_order_items"],
        "1.9, Python warnings between the lines",
    ),
    log(
        "04",
        &["model customers", "model orders"],
        "1.8, a deprecation warning",
    ),
    log(
        "05",
        &[
            "test assert_all_statuses",
            "test assert_training_query_columns",
        ],
        "header elided by its author",
    ),
    log(
        "06",
        &["model stg_boardgames__rankings"],
        "pasted from the Concurrency line",
    ),
    Expected {
        log: "09",
        failed: &[
            "test not_null_meter_daily_consumption_meter_id",
            "test not_null_meter_daily_consumption_reading_date",
            "test not_null_meter_daily_consumption_total_value",
            "test not_null_readings__silver_creation_date",
            "test not_null_readings__silver_creation_time",
            "test not_null_readings__silver_id",
            "test not_null_readings__silver_interval_start",
            "test not_null_readings__silver_meter_id",
            "test not_null_readings__silver_reading_value",
            "test unique_readings__silver_id",
        ],
        prefix: Some(LinePrefix::Rfc3339Timestamp),
        why: "1.10 in Docker with --timestamps, five invocations and a script's own lines",
    },
    log(
        "10",
        &["model hub_customer", "model hub_product"],
        "1.10 --debug",
    ),
    log("11", &[], "1.10 --debug, a compilation error (exit 2)"),
    log("12", &["model customers"], "1.0, an error raised in a hook"),
    log("13", &["model bar"], "1.10, a compilation error in a model"),
    log(
        "14",
        &["snapshot tms_sap_snapshot"],
        "1.8 in Mage, every line doubled by its logger",
    ),
    log(
        "15",
        &[
            "model stg_orders_with_custom_config",
            "snapshot orders_snapshot",
            "model daily_orders_cross_db_legacy",
            "model daily_customer_orders_insert_by_period",
            "model monthly_payment_analysis_pivot_any",
            "model order_line_items_legacy",
            "model customer_product_spending_pivot_any",
            "model customer_analysis_yaml_errors",
            "model orders_with_query_comments",
        ],
        "1.10 summary only, its first line without a timestamp",
    ),
    log(
        "16",
        &["snapshot dim_customer_dbt"],
        "1.3, a snapshot error",
    ),
    Expected {
        log: "17",
        failed: &["model customers"],
        prefix: Some(LinePrefix::AirflowTaskLog),
        why: "1.6 in an Airflow task log (Cosmos), its tail",
    },
    log(
        "20",
        &["model fct_vehicle_locations_trajectory"],
        "1.10, a Python model, cut off after the summary header",
    ),
    log(
        "21",
        &["model ddl"],
        "Databricks, single-space timestamps, cut off",
    ),
    log(
        "22",
        &[
            "test source_length_raw_airlinedata_airports_csv_iata__3",
            "test source_not_null_raw_airlinedata_flights_csv_year",
        ],
        "1.3, two threads",
    ),
    log(
        "23",
        &["test test_2_verificar_que_salen_vuelos_desde_o_hacia_xanadu"],
        "1.5, Windows paths",
    ),
    log(
        "24",
        &["model stg_orders"],
        "1.12, `[ERROR]: in model` headers",
    ),
    log(
        "25",
        &["model fct_daily_borough_stats"],
        "1.11, Windows paths, a trailing prompt",
    ),
    log("26", &[], "1.0, a database error before any node (exit 2)"),
    log("27", &[], "1.5, a runtime error before any node (exit 2)"),
    log("28", &["model stg_hermes__EVENTS"], "1.0, skips elided"),
    log(
        "30",
        &["model upstream"],
        "1.7 --fail-fast, cut off in the summary",
    ),
    log(
        "31",
        &["model my_second_dbt_model"],
        "1.1, lines merged by the paste",
    ),
    log(
        "33",
        &[],
        "1.0 SQL Server: the summary names no node, only the error",
    ),
    log(
        "34",
        &[],
        "Fabric, node names redacted by its author: none is a name",
    ),
    log(
        "35",
        &[],
        "1.7 file log at info level: the summary's failure names are at error level",
    ),
    log(
        "36",
        &[],
        "1.8, three invocations: the first failed before any node, the others passed",
    ),
    log("37", &[], "1.8, CRLF, a Windows batch wrapper, all passed"),
    log("38", &[], "1.8, run then test, a warning only"),
    log(
        "39",
        &["test long_characters_citi_trips_long_start_station_name"],
        "snip markers",
    ),
];

/// dbt 0.x logs: only checked for invented nodes.
const BEFORE_1_0: &[&str] = &["02", "07", "08", "18", "19", "29", "32"];

fn logs_dir() -> PathBuf {
    let dir = repo_root()
        .parent()
        .expect("the repository has a parent directory")
        .join("shared/real-world/dbt-logs");
    assert!(
        dir.is_dir(),
        "the real-world dbt logs are not at {} (../shared/real-world/dbt-logs beside the \
         repository): this test reads them there and they are not copied into the project",
        dir.display()
    );
    dir
}

/// Every log, sorted, as (number, file name, bytes).
fn log_files() -> Vec<(String, String, Vec<u8>)> {
    let dir = logs_dir();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|e| e.expect("readable directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            let number = name.split('-').next().unwrap().to_owned();
            let bytes = std::fs::read(&path).unwrap();
            (number, name, bytes)
        })
        .collect()
}

fn parse(bytes: &[u8]) -> RunReport {
    parse_reader(bytes, Limits::default()).expect("in-memory reads cannot fail")
}

fn failed_of(report: &RunReport) -> Vec<String> {
    let mut failed: Vec<String> = report
        .failed
        .iter()
        .map(|n| format!("{} {}", n.resource_type.as_str(), n.name))
        .collect();
    failed.sort();
    failed
}

/// Result words of dbt's text lines, with which a node's name appears.
const RESULT_WORDS: &[&str] = &[
    " START ",
    " OK ",
    " PASS ",
    " WARN ",
    " SUCCESS ",
    " ERROR ",
    " FAIL ",
    " SKIP ",
];

/// Every name the report gives is one the log shows as dbt shows a node: in a numbered result
/// line (`N of M STATUS ... name`) or a summary header (`... in <type> <name> (<path>)`).
fn invented(report: &RunReport, text: &str) -> Vec<String> {
    let names = report
        .failed
        .iter()
        .map(|n| (&n.name, n.resource_type))
        .chain(report.skipped.iter().map(|n| (&n.name, n.resource_type)))
        .chain(
            report
                .finished
                .nodes
                .iter()
                .map(|n| (&n.name, n.resource_type)),
        );
    let mut out = Vec::new();
    for (name, resource_type) in names {
        let shown = text.lines().any(|line| {
            let result_line = line.contains(" of ")
                && RESULT_WORDS.iter().any(|w| line.contains(w))
                && line.split([' ', '.', ':']).any(|word| word == name);
            let header = line.contains(&format!(" {} {name} (", resource_type.as_str()));
            result_line || header
        });
        if !shown || name.is_empty() {
            out.push(format!("{} {name}", resource_type.as_str()));
        }
    }
    out
}

#[test]
fn every_real_world_log_names_exactly_the_failed_nodes_its_summary_names() {
    let files = log_files();
    assert_eq!(
        files.len(),
        EXPECTED.len() + BEFORE_1_0.len(),
        "every log is in the table"
    );
    let mut wrong = Vec::new();
    for (number, name, bytes) in &files {
        let report = parse(bytes);
        let text = String::from_utf8_lossy(bytes);
        let invented = invented(&report, &text);
        if !invented.is_empty() {
            wrong.push(format!("{name}: invented {invented:?}"));
        }
        if BEFORE_1_0.contains(&number.as_str()) {
            continue;
        }
        let expected = EXPECTED
            .iter()
            .find(|e| e.log == number)
            .unwrap_or_else(|| panic!("{name} is not in the table"));
        let mut want: Vec<String> = expected.failed.iter().map(|s| (*s).to_owned()).collect();
        want.sort();
        let got = failed_of(&report);
        if got != want {
            wrong.push(format!(
                "{name} ({}): failed {got:?}, the log names {want:?}",
                expected.why
            ));
        }
        if report.line_prefix != expected.prefix {
            wrong.push(format!(
                "{name}: prefix {:?}, expected {:?}",
                report.line_prefix, expected.prefix
            ));
        }
        if report.fusion.is_some() {
            wrong.push(format!("{name}: read as dbt Fusion's"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn a_prefixed_log_reads_as_the_same_log_without_its_prefix() {
    for (number, name, bytes) in log_files() {
        let Some(expected) = EXPECTED.iter().find(|e| e.log == number) else {
            continue;
        };
        let Some(prefix) = expected.prefix else {
            continue;
        };
        let text = String::from_utf8_lossy(&bytes);
        let bare: String = text
            .lines()
            .map(|line| {
                let stripped = prefix
                    .strip(line.as_bytes())
                    .expect("every line is prefixed");
                format!("{}\n", String::from_utf8_lossy(stripped))
            })
            .collect();
        let mut prefixed = parse(&bytes);
        let plain = parse(bare.as_bytes());
        assert_eq!(plain.line_prefix, None, "{name}: nothing left to strip");
        prefixed.line_prefix = None;
        // Only the prefixes' bytes differ.
        prefixed.bytes = plain.bytes;
        assert_eq!(prefixed, plain, "{name}");
        assert!(!plain.failed.is_empty(), "{name}");
    }
}

#[test]
fn the_docker_prefixed_log_splits_into_its_invocations() {
    let (_, name, bytes) = log_files()
        .into_iter()
        .find(|(n, _, _)| n == "09")
        .expect("log 09");
    let split = dbt_rerun_core::log::split_reader(&bytes[..], Limits::default(), 64).unwrap();
    assert_eq!(split.invocations.len(), 5, "{name}");
    let last = &split.invocations[4].report;
    assert_eq!(last.failed.len(), 10, "{name}");
    assert!(last.end_of_run);
    assert!(split.invocations[..4]
        .iter()
        .all(|i| i.report.failed.is_empty()));
}
