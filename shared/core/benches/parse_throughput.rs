//! Bytes in, `RunReport` out, on a generated 1,000,000-node dbt log, the ways dbt-rerun reads
//! logs, against `grep -c START` on the same file.
//!
//! `cargo bench -p dbt-rerun-core --bench parse_throughput` writes a text log (dbt's console
//! format, colour codes included, as CloudWatch stores it) and a JSON log (`--log-format
//! json`, 250,000 nodes) to a temporary directory, streaming, and times for each
//! - **file**: the file read and split into lines and parsed (`parse_reader`, what `dbt-rerun
//!   parse-log` and `plan --log-file` run);
//! - **pages**: the CloudWatch path: the file read into pages of events as the SDK hands them
//!   (a `Vec<String>` of up to 10,000 events or 1 MB, one page at a time), each event through
//!   the [`LineReader`] and the parser, as on-task-stopped reads a stream;
//! - **grep**: `grep -c START` on the same file, its output to a file (GNU grep stops at the
//!   first match when its output is /dev/null), and `wc -l`;
//!
//! best of three each (the first pass also warms the page cache), the ratio of each path to
//! grep, and the process's peak resident memory (VmHWM), which must not grow with the log.

use dbt_rerun_core::log::{parse_reader, EventFormat, Limits, LineReader, LogParser, RunReport};
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

const NODES: usize = 1_000_000;
const JSON_NODES: usize = 250_000;
/// One node in this many fails; the next few are skipped.
const FAIL_EVERY: usize = 100_000;
/// GetLogEvents returns at most 10,000 events or 1 MB per page.
const PAGE_EVENTS: usize = 10_000;
const PAGE_BYTES: usize = 1 << 20;

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

/// The best of three timings of `f`, and its last result.
fn best_of_three<T>(mut f: impl FnMut() -> T) -> (f64, T) {
    let mut best = f64::MAX;
    let mut last = None;
    for _ in 0..3 {
        let start = Instant::now();
        let out = f();
        best = best.min(start.elapsed().as_secs_f64());
        last = Some(out);
    }
    (best, last.expect("three passes ran"))
}

/// The CloudWatch path: the file as pages of events (`Vec<String>`, as the SDK hands them),
/// one page at a time, each event through the line reader and the parser.
fn parse_pages(path: &Path) -> RunReport {
    let mut file = BufReader::with_capacity(1 << 20, File::open(path).expect("log written"));
    let mut parser = LogParser::new(Limits::default());
    let mut lines = LineReader::new(EventFormat::Text);
    let mut push = |line: &[u8]| parser.push_line(line);
    let mut page: Vec<String> = Vec::with_capacity(PAGE_EVENTS);
    let mut event = Vec::new();
    loop {
        page.clear();
        let mut page_bytes = 0;
        while page.len() < PAGE_EVENTS && page_bytes < PAGE_BYTES {
            event.clear();
            if file.read_until(b'\n', &mut event).expect("readable log") == 0 {
                break;
            }
            if event.last() == Some(&b'\n') {
                event.pop();
            }
            page_bytes += event.len();
            // The SDK hands each event's message as a `String` of its own.
            page.push(match std::str::from_utf8(&event) {
                Ok(text) => text.to_owned(),
                Err(_) => String::from_utf8_lossy(&event).into_owned(),
            });
        }
        if page.is_empty() {
            break;
        }
        for event in &page {
            lines.push_event(event.as_bytes(), &mut push);
        }
        lines.flush(&mut push);
    }
    lines.finish(&mut push);
    parser.finish()
}

/// `command` on `path` with its output to a file, best of three seconds.
fn time_tool(dir: &Path, command: &str, args: &[&str], path: &Path) -> Option<f64> {
    let out_path = dir.join(format!("{command}.out"));
    let (best, ok) = best_of_three(|| {
        let out = File::create(&out_path).ok()?;
        Command::new(command)
            .args(args)
            .arg(path)
            .stdout(Stdio::from(out))
            .status()
            .ok()
            .filter(|s| s.success() || s.code() == Some(1))
    });
    ok.map(|_| best)
}

fn describe(report: &RunReport) -> String {
    format!(
        "{} failed, {} skipped, {} finished, end of run: {}",
        report.failed.len(),
        report.skipped.len(),
        report.finished.count,
        report.end_of_run
    )
}

fn measure(dir: &Path, label: &str, path: &Path, bytes: u64, nodes: usize) {
    let mb = bytes as f64 / 1e6;
    let (file, report) = best_of_three(|| {
        parse_reader(File::open(path).expect("log written"), Limits::default())
            .expect("readable log")
    });
    let (pages, paged) = best_of_three(|| parse_pages(path));
    assert_eq!(paged, report, "{label}: both paths read the same report");
    let grep = time_tool(dir, "grep", &["-c", "START"], path);
    let wc = time_tool(dir, "wc", &["-l"], path);
    let ratio =
        |t: f64, tool: Option<f64>| tool.map_or("n/a".to_owned(), |g| format!("{:.2}x", t / g));
    println!("{label}: {nodes} nodes, {mb:.1} MB ({})", describe(&report));
    println!(
        "  file  (parse_reader):  {file:.3} s = {:>5.0} MB/s, {} grep -c START, {} wc -l",
        mb / file,
        ratio(file, grep),
        ratio(file, wc)
    );
    println!(
        "  pages (Vec<String>):   {pages:.3} s = {:>5.0} MB/s, {} grep -c START",
        mb / pages,
        ratio(pages, grep)
    );
    if let (Some(grep), Some(wc)) = (grep, wc) {
        println!(
            "  grep -c START: {grep:.3} s = {:.0} MB/s; wc -l: {wc:.3} s",
            mb / grep
        );
    }
}

fn main() {
    let dir = std::env::temp_dir().join(format!("dbt-rerun-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let text = dir.join("text.log");
    let json = dir.join("json.log");
    let text_bytes = write_text_log(&text).expect("text log written");
    let json_bytes = write_json_log(&json).expect("json log written");
    println!("peak RSS after writing the logs: {:.1} MiB", peak_rss_mib());
    measure(&dir, "text", &text, text_bytes, NODES);
    measure(&dir, "json", &json, json_bytes, JSON_NODES);
    println!(
        "peak RSS of the whole run: {:.1} MiB (budget: 16 MiB)",
        peak_rss_mib()
    );
    let _ = std::fs::remove_dir_all(&dir);
}
