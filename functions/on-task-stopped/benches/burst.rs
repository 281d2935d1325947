//! A burst of failed dbt tasks against AWS's rate limits: the release on-task-stopped binary,
//! several processes under a Lambda Runtime API (as Lambda runs them, each warm process
//! taking the next queued event), against moto behind the rate-limiting proxy (AWS's
//! documented token buckets per API, throttled requests answered `ThrottlingException`).
//!
//! `cargo bench -p on-task-stopped --bench burst` fires, for each N, N stopped-task events at
//! once (each task with its own log, a real dbt log from `tests/fixtures/runs`: a transient
//! failure for four in five, another failure for the fifth) and plays Lambda's asynchronous
//! invocation: an invocation that fails is invoked again after Lambda's waits (1 minute, then
//! 2 minutes: two more tries), then the event is lost (its failure destination). It prints,
//! per N: events decided (and on which try), lost, re-runs planned and launched, duplicate
//! launches, invocation errors handed to Lambda's retry, the wall time, and the AWS calls per
//! event (and how many of them were throttled).
//!
//! Settings (environment): `BURST_N` (default `50,200,500`), `BURST_CONCURRENCY` (processes,
//! the function's concurrency; default 10), `BURST_RETRY_WAITS` (Lambda's waits in seconds,
//! default `60,120`; shorter ones are a harsher test: the buckets have less time to refill),
//! `BURST_LOG_READS` (GetLogEvents a second, default 10, the strictest documented figure).

use dbt_rerun_tests::fault_proxy::{FaultProxy, RateLimits, GET_LOG_EVENTS_PER_SECOND};
use dbt_rerun_tests::moto::{stopped_event, Moto, Stop};
use dbt_rerun_tests::runtime_api::{Outcome, RuntimeApi};
use dbt_rerun_tests::{fixture_lines, fixtures};
use std::collections::{BTreeMap, BinaryHeap};
use std::io::Read;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Lambda's tries of an asynchronous event: the first and two retries.
const TRIES: usize = 3;

fn setting<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn list(name: &str, default: &str) -> Vec<u64> {
    std::env::var(name)
        .unwrap_or_else(|_| default.to_owned())
        .split(',')
        .filter_map(|v| v.trim().parse().ok())
        .collect()
}

/// Fixture ids with their exit codes.
type Runs = Vec<(String, i32)>;

/// The fixtures the events' tasks ran: transient failures, and the other failures.
fn fixture_mix() -> (Runs, Runs) {
    let (mut transient, mut other) = (Vec::new(), Vec::new());
    for f in fixtures() {
        if f.meta.exit_code == 0 {
            continue;
        }
        let entry = (f.id.clone(), f.meta.exit_code);
        if f.id.ends_with("transient_model_error") {
            transient.push(entry);
        } else {
            other.push(entry);
        }
    }
    (transient, other)
}

/// N failed tasks, each with its log written, and their events.
fn burst_events(moto: &Arc<Moto>, n: usize) -> Vec<Vec<u8>> {
    let (transient, other) = fixture_mix();
    let runtime = tokio::runtime::Runtime::new().expect("tokio");
    runtime.block_on(async {
        let aws = moto.sdk_config().await;
        let mut events = vec![Vec::new(); n];
        let mut handles = Vec::new();
        // One at a time: moto's server answers some concurrent ECS requests with a 500.
        for worker in 0..1 {
            let (moto, aws) = (moto.clone(), aws.clone());
            let (transient, other) = (transient.clone(), other.clone());
            handles.push(tokio::spawn(async move {
                let ecs = aws_sdk_ecs::Client::new(&aws);
                let logs = aws_sdk_cloudwatchlogs::Client::new(&aws);
                let mut out = Vec::new();
                for i in (worker..n).step_by(1) {
                    let (fixture, exit_code) = if i % 5 == 4 {
                        &other[(i / 5) % other.len()]
                    } else {
                        &transient[i % transient.len()]
                    };
                    // One task per model or group (astronomer-cosmos' ECS mode): each
                    // task's command is its own.
                    let mut argv = dbt_rerun_tests::fixture_argv(fixture);
                    argv.extend(["--target".to_owned(), format!("burst_{i}")]);
                    let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
                    let task = moto.run_original(&ecs, &argv, &[]).await;
                    moto.write_log(&logs, &task, &fixture_lines(fixture), true)
                        .await;
                    out.push((i, stopped_event(&task, &Stop::exit(*exit_code))));
                }
                out
            }));
        }
        for h in handles {
            for (i, event) in h.await.expect("setup") {
                events[i] = event;
            }
        }
        events
    })
}

/// What became of one event.
#[derive(Debug, Default, Clone)]
struct Fate {
    decided_on_try: Option<usize>,
    tries: usize,
    decision: String,
    /// The re-run's startedBy, when the record says it was launched (now or before).
    planned: Option<String>,
    last_error: Option<String>,
}

struct Row {
    n: usize,
    decided: usize,
    by_try: [usize; TRIES],
    lost: usize,
    planned: usize,
    launched: usize,
    duplicates: usize,
    unplanned: usize,
    missing: usize,
    errors: usize,
    wall: Duration,
    calls: BTreeMap<String, (usize, usize)>,
    decisions: BTreeMap<String, usize>,
    lost_to: BTreeMap<String, usize>,
}

fn run(n: usize, concurrency: usize, waits: &[Duration], log_reads: f64) -> Row {
    let moto = Arc::new(Moto::start());
    let events = burst_events(&moto, n);
    let proxy = FaultProxy::start(&moto.endpoint);
    proxy.limit(RateLimits::aws_with_log_reads(log_reads));
    let api = RuntimeApi::start();
    let mut env: Vec<(String, String)> = moto
        .env_through(&proxy.endpoint)
        .into_iter()
        .filter(|(k, _)| k != "AWS_MAX_ATTEMPTS")
        .collect();
    env.push(("DBT_RERUN_LOG_WAIT_SECONDS".into(), "60".into()));
    let mut functions = Vec::new();
    for i in 0..concurrency {
        let mut child = api.spawn_function(
            env!("CARGO_BIN_EXE_on-task-stopped"),
            &format!("on-task-stopped-{i}"),
            &env,
        );
        // The decision lines (stdout) and the runtime's log (stderr), drained so a full
        // pipe never blocks the function.
        for mut pipe in [
            child
                .stdout
                .take()
                .map(|p| Box::new(p) as Box<dyn Read + Send>),
            child
                .stderr
                .take()
                .map(|p| Box::new(p) as Box<dyn Read + Send>),
        ]
        .into_iter()
        .flatten()
        {
            std::thread::spawn(move || std::io::copy(&mut pipe, &mut std::io::sink()));
        }
        functions.push(child);
    }

    let started = Instant::now();
    let mut fates = vec![Fate::default(); n];
    for (i, event) in events.iter().enumerate() {
        fates[i].tries = 1;
        api.invoke(&format!("e{i}-1"), event);
    }
    // Retries due: (when, event), earliest first.
    let mut due: BinaryHeap<std::cmp::Reverse<(Instant, usize)>> = BinaryHeap::new();
    let (mut seen, mut open, mut errors) = (0, n, 0);
    while open > 0 {
        let now = Instant::now();
        while let Some(std::cmp::Reverse((when, i))) = due.peek().copied() {
            if when > now {
                break;
            }
            due.pop();
            fates[i].tries += 1;
            api.invoke(&format!("e{i}-{}", fates[i].tries), &events[i]);
        }
        let wait = due
            .peek()
            .map(|std::cmp::Reverse((when, _))| when.saturating_duration_since(now))
            .unwrap_or(Duration::from_secs(1))
            .min(Duration::from_secs(1));
        let new = api.outcomes_after(seen, wait);
        seen += new.len();
        for (id, outcome) in new {
            let (i, try_no) = id
                .trim_start_matches('e')
                .split_once('-')
                .and_then(|(i, t)| Some((i.parse::<usize>().ok()?, t.parse::<usize>().ok()?)))
                .expect("an id of ours");
            match outcome {
                Outcome::Response(body) => {
                    let record: serde_json::Value =
                        serde_json::from_str(&body).expect("a decision record");
                    let fate = &mut fates[i];
                    fate.decided_on_try = Some(try_no);
                    fate.decision = record["decision"].as_str().unwrap_or("?").to_owned();
                    let launched = record["rerun"]["task_arn"].is_string()
                        || record["duplicate"].as_bool() == Some(true);
                    if launched {
                        fate.planned = record["rerun"]["started_by"]
                            .as_str()
                            .map(str::to_owned)
                            .or_else(|| Some(format!("(duplicate of event {i})")));
                    }
                    if record["duplicate"].as_bool() == Some(true) {
                        fate.decision.push_str(" (already launched)");
                    }
                    open -= 1;
                }
                Outcome::Error(e) => {
                    errors += 1;
                    fates[i].last_error = Some(e);
                    if try_no < TRIES {
                        due.push(std::cmp::Reverse((Instant::now() + waits[try_no - 1], i)));
                    } else {
                        open -= 1;
                    }
                }
            }
        }
    }
    let wall = started.elapsed();
    for mut f in functions {
        let _ = f.kill();
        let _ = f.wait();
    }

    // What ECS started: every task dbt-rerun started, by startedBy.
    let runtime = tokio::runtime::Runtime::new().expect("tokio");
    let tasks = runtime.block_on(async {
        let ecs = aws_sdk_ecs::Client::new(&moto.sdk_config().await);
        moto.started_by(&ecs).await
    });
    let mut by_started_by: BTreeMap<String, usize> = BTreeMap::new();
    for (_, started_by) in tasks {
        if let Some(s) = started_by.filter(|s| s.starts_with("dbt-rerun/")) {
            *by_started_by.entry(s).or_default() += 1;
        }
    }
    // A duplicate record names no startedBy: the chain's is the one of the event's task.
    let planned: Vec<&Fate> = fates.iter().filter(|f| f.planned.is_some()).collect();
    let planned_names: std::collections::BTreeSet<&str> = planned
        .iter()
        .filter_map(|f| f.planned.as_deref())
        .filter(|s| s.starts_with("dbt-rerun/"))
        .collect();
    let mut row = Row {
        n,
        decided: fates.iter().filter(|f| f.decided_on_try.is_some()).count(),
        by_try: [0; TRIES],
        lost: fates.iter().filter(|f| f.decided_on_try.is_none()).count(),
        planned: planned.len(),
        launched: by_started_by.len(),
        duplicates: by_started_by.values().map(|c| c - 1).sum(),
        unplanned: by_started_by
            .keys()
            .filter(|s| !planned_names.contains(s.as_str()))
            .count(),
        missing: planned_names
            .iter()
            .filter(|s| !by_started_by.contains_key(**s))
            .count(),
        errors,
        wall,
        calls: proxy
            .counts()
            .into_iter()
            .map(|(op, c)| (op, (c.requests, c.throttled)))
            .collect(),
        decisions: BTreeMap::new(),
        lost_to: BTreeMap::new(),
    };
    for f in &fates {
        match f.decided_on_try {
            Some(t) => {
                row.by_try[t - 1] += 1;
                *row.decisions.entry(f.decision.clone()).or_default() += 1;
            }
            None => {
                let e = f.last_error.as_deref().unwrap_or_default();
                let what = ["GetLogEvents", "ListTasks", "DescribeTasks", "RunTask"]
                    .into_iter()
                    .chain(["DescribeTaskDefinition"])
                    .find(|op| e.contains(op))
                    .unwrap_or("other");
                *row.lost_to.entry(what.to_owned()).or_default() += 1;
            }
        }
    }
    row
}

fn print(row: &Row, concurrency: usize) {
    let n = row.n as f64;
    println!(
        "N={:<4} concurrency {concurrency}: decided {}/{} (tries 1/2/3: {}/{}/{}), lost {}, \
         re-runs planned {} launched {} duplicates {} (unplanned {}, missing {}), errors handed to Lambda's \
         retry {}, wall {:.1} s",
        row.n,
        row.decided,
        row.n,
        row.by_try[0],
        row.by_try[1],
        row.by_try[2],
        row.lost,
        row.planned,
        row.launched,
        row.duplicates,
        row.unplanned,
        row.missing,
        row.errors,
        row.wall.as_secs_f64()
    );
    let calls: Vec<String> = row
        .calls
        .iter()
        .map(|(op, (requests, throttled))| {
            format!(
                "{op} {:.2} ({:.2} throttled)",
                *requests as f64 / n,
                *throttled as f64 / n
            )
        })
        .collect();
    let total: usize = row.calls.values().map(|c| c.0).sum();
    println!(
        "        calls per event {:.2}: {}",
        total as f64 / n,
        calls.join(", ")
    );
    println!("        decisions {:?}", row.decisions);
    if !row.lost_to.is_empty() {
        println!("        lost to {:?}", row.lost_to);
    }
}

fn main() {
    let sizes = list("BURST_N", "50,200,500");
    let concurrency: usize = setting("BURST_CONCURRENCY", 10);
    let waits: Vec<Duration> = list("BURST_RETRY_WAITS", "60,120")
        .into_iter()
        .map(Duration::from_secs)
        .collect();
    assert_eq!(waits.len(), TRIES - 1, "BURST_RETRY_WAITS: two waits");
    let log_reads: f64 = setting("BURST_LOG_READS", GET_LOG_EVENTS_PER_SECOND);
    println!(
        "burst: {concurrency} processes, Lambda's retry waits {:?}, GetLogEvents {log_reads}/s",
        waits
    );
    let mut rows = Vec::new();
    for n in sizes {
        let row = run(n as usize, concurrency, &waits, log_reads);
        print(&row, concurrency);
        rows.push(row);
    }
    let bad = rows
        .iter()
        .any(|r| r.lost > 0 || r.duplicates > 0 || r.unplanned > 0 || r.missing > 0);
    if bad {
        println!("NOT exactly once: events lost or re-runs launched twice (above)");
    }
}
