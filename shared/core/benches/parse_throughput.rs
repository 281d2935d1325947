//! Parse throughput and peak memory on a generated 1,000,000-node dbt log.
//!
//! `cargo bench -p dbt-rerun-shared --bench parse_throughput` writes a text log (dbt's
//! console format, colour codes included, as CloudWatch stores it) and a JSON log
//! (`--log-format json`, 250,000 nodes) to a temporary directory, streams each through the
//! parser from disk, and prints MB/s and the process's peak resident memory (VmHWM).
//! The file is written in a streaming way too, so the peak is the parser's.

use dbt_rerun::log::{parse_reader, Limits};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::time::Instant;

const NODES: usize = 1_000_000;
const JSON_NODES: usize = 250_000;
/// One node in this many fails; the next few are skipped.
const FAIL_EVERY: usize = 100_000;

fn write_text_log(path: &Path) -> std::io::Result<u64> {
    let mut w = BufWriter::with_capacity(1 << 20, File::create(path)?);
    writeln!(w, "\x1b[0m02:00:01  Running with dbt=1.10.23")?;
    writeln!(
        w,
        "\x1b[0m02:00:02  Found {NODES} models, 0 data tests, 512 macros"
    )?;
    writeln!(w, "\x1b[0m02:00:02  Concurrency: 8 threads (target='prod')")?;
    let (mut errors, mut skips) = (0, 0);
    for i in 1..=NODES {
        let name = format!("analytics.model_{i:07}");
        writeln!(
            w,
            "\x1b[0m02:10:01  {i} of {NODES} START sql table model {name} {:.<40} [RUN]",
            " "
        )?;
        if i % FAIL_EVERY == 0 {
            errors += 1;
            writeln!(w, "\x1b[0m02:10:01  {i} of {NODES} ERROR creating sql table model {name} {:.<30} [\x1b[31mERROR\x1b[0m in 0.41s]", " ")?;
        } else if i % FAIL_EVERY < 4 && i > FAIL_EVERY {
            skips += 1;
            writeln!(w, "\x1b[0m02:10:01  {i} of {NODES} SKIP relation {name} {:.<40} [\x1b[33mSKIP\x1b[0m]", " ")?;
        } else {
            writeln!(w, "\x1b[0m02:10:01  {i} of {NODES} OK created sql table model {name} {:.<30} [\x1b[32mSELECT 1200\x1b[0m in 0.05s]", " ")?;
        }
    }
    writeln!(w, "\x1b[0m03:40:00  ")?;
    writeln!(w, "\x1b[0m03:40:00  \x1b[31mCompleted with {errors} errors, 0 partial successes, and 0 warnings:\x1b[0m")?;
    for i in (FAIL_EVERY..=NODES).step_by(FAIL_EVERY) {
        writeln!(w, "\x1b[0m03:40:00  ")?;
        writeln!(w, "\x1b[0m03:40:00  \x1b[31mFailure in model model_{i:07} (models/model_{i:07}.sql)\x1b[0m")?;
        writeln!(
            w,
            "\x1b[0m03:40:00    Database Error in model model_{i:07} (models/model_{i:07}.sql)"
        )?;
        writeln!(w, "  SSL SYSCALL error: EOF detected")?;
    }
    writeln!(w, "\x1b[0m03:40:00  ")?;
    writeln!(
        w,
        "\x1b[0m03:40:00  Done. PASS={} WARN=0 ERROR={errors} SKIP={skips} NO-OP=0 TOTAL={NODES}",
        NODES - errors - skips
    )?;
    w.flush()?;
    Ok(std::fs::metadata(path)?.len())
}

fn write_json_log(path: &Path) -> std::io::Result<u64> {
    let mut w = BufWriter::with_capacity(1 << 20, File::create(path)?);
    let info = |name: &str, msg: &str, level: &str| {
        format!(
            r#""info": {{"category": "", "code": "Q012", "extra": {{}}, "invocation_id": "71e22b4c-6a11-409d-b2fb-1597f4dd714c", "level": "{level}", "msg": "{msg}", "name": "{name}", "pid": 2572, "thread": "Thread-1 (worker)", "ts": "2026-11-27T02:10:01.243949Z"}}"#
        )
    };
    let node_info = |i: usize, status: &str| {
        format!(
            r#""node_info": {{"materialized": "table", "meta": {{}}, "node_checksum": "790d9830c3b7fcbef7a1f115d7ebb45ae2607cac32df839b82e3ba9372006b55", "node_finished_at": "2026-11-27T02:10:01.3", "node_name": "model_{i:07}", "node_path": "marts/model_{i:07}.sql", "node_relation": {{"alias": "model_{i:07}", "database": "dw", "relation_name": "\"dw\".\"analytics\".\"model_{i:07}\"", "schema": "analytics"}}, "node_started_at": "2026-11-27T02:10:01.2", "node_status": "{status}", "resource_type": "model", "unique_id": "model.shop.model_{i:07}"}}"#
        )
    };
    for i in 1..=JSON_NODES {
        let start = format!("{i} of {JSON_NODES} START sql table model analytics.model_{i:07}");
        writeln!(
            w,
            r#"{{"data": {{"description": "sql table model analytics.model_{i:07}", "index": {i}, {}, "total": {JSON_NODES}}}, {}}}"#,
            node_info(i, "started"),
            info("LogStartLine", &start, "info")
        )?;
        let (status, level) = if i % FAIL_EVERY == 0 {
            ("error", "error")
        } else {
            ("success", "info")
        };
        let done = format!("{i} of {JSON_NODES} OK created sql table model analytics.model_{i:07}");
        writeln!(
            w,
            r#"{{"data": {{"description": "sql table model analytics.model_{i:07}", "execution_time": 0.05, "index": {i}, {}, "status": "{}", "total": {JSON_NODES}}}, {}}}"#,
            node_info(i, status),
            if status == "error" {
                "error"
            } else {
                "SELECT 1200"
            },
            info("LogModelResult", &done, level)
        )?;
    }
    let errors = JSON_NODES / FAIL_EVERY;
    writeln!(
        w,
        r#"{{"data": {{"stats": {{"error": {errors}, "noop": 0, "pass": {}, "skip": 0, "total": {JSON_NODES}, "warn": 0}}}}, {}}}"#,
        JSON_NODES - errors,
        info("StatsLine", "Done.", "info")
    )?;
    w.flush()?;
    Ok(std::fs::metadata(path)?.len())
}

fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

fn measure(label: &str, path: &Path, bytes: u64, nodes: usize) {
    // Best of three: the first pass also warms the page cache.
    let mut best = f64::MAX;
    let mut report = None;
    for _ in 0..3 {
        let start = Instant::now();
        let r = parse_reader(File::open(path).expect("log written"), Limits::default())
            .expect("readable log");
        best = best.min(start.elapsed().as_secs_f64());
        report = Some(r);
    }
    let report = report.expect("three passes ran");
    println!(
        "{label}: {nodes} nodes, {:.1} MB in {:.3} s = {:.0} MB/s ({} failed, {} skipped, {} finished, end of run: {})",
        bytes as f64 / 1e6,
        best,
        bytes as f64 / 1e6 / best,
        report.failed.len(),
        report.skipped.len(),
        report.finished.count,
        report.end_of_run
    );
}

fn main() {
    let dir = std::env::temp_dir().join(format!("dbt-rerun-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let text = dir.join("text.log");
    let json = dir.join("json.log");
    let text_bytes = write_text_log(&text).expect("text log written");
    let json_bytes = write_json_log(&json).expect("json log written");
    println!("peak RSS after writing the logs: {:.1} MiB", peak_rss_mib());
    measure("text", &text, text_bytes, NODES);
    measure("json", &json, json_bytes, JSON_NODES);
    println!(
        "peak RSS of the whole run: {:.1} MiB (budget: 16 MiB)",
        peak_rss_mib()
    );
    let _ = std::fs::remove_dir_all(&dir);
}
