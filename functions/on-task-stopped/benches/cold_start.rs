//! Cold start and first invocation of the release on-task-stopped binary.
//!
//! `cargo bench -p on-task-stopped --bench cold_start` starts moto and a Lambda Runtime API
//! server, then, ten times: spawns the binary (optimised, as deployed), measures the time
//! from spawn to its first poll of `/invocation/next` (configuration read, AWS clients
//! built), hands it a transient-failure event whose log is in moto's CloudWatch, measures the
//! time to its answer (DescribeTaskDefinition, the log, ListTasks, RunTask), and reads its
//! peak resident memory (VmHWM). Prints median and worst of each.

use dbt_rerun_tests::moto::{stopped_event, Moto, Stop};
use dbt_rerun_tests::runtime_api::{Outcome, RuntimeApi};
use dbt_rerun_tests::{fixture_argv, fixture_lines};
use std::time::{Duration, Instant};

const RUNS: usize = 10;

fn peak_rss_mib(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

fn summary(label: &str, unit: &str, mut values: Vec<f64>) {
    values.sort_by(|a, b| a.total_cmp(b));
    println!(
        "{label}: median {:.1} {unit}, worst {:.1} {unit} ({} runs)",
        values[values.len() / 2],
        values[values.len() - 1],
        values.len()
    );
}

fn main() {
    let moto = Moto::start();
    let runtime = tokio::runtime::Runtime::new().expect("tokio");
    let fixture = "1.10/transient_model_error";
    let events: Vec<Vec<u8>> = runtime.block_on(async {
        let aws = moto.sdk_config().await;
        let ecs = aws_sdk_ecs::Client::new(&aws);
        let logs = aws_sdk_cloudwatchlogs::Client::new(&aws);
        let argv = fixture_argv(fixture);
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        let mut events = Vec::new();
        for _ in 0..RUNS {
            let task = moto.run_original(&ecs, &argv, &[]).await;
            moto.write_log(&logs, &task, &fixture_lines(fixture), true)
                .await;
            events.push(stopped_event(&task, &Stop::exit(1)));
        }
        events
    });
    let (mut cold, mut first, mut rss) = (Vec::new(), Vec::new(), Vec::new());
    for (i, event) in events.iter().enumerate() {
        let api = RuntimeApi::start();
        let spawned = Instant::now();
        let mut env = moto.env();
        env.push(("DBT_RERUN_LOG_WAIT_SECONDS".into(), "5".into()));
        let mut function = api.spawn_function(
            env!("CARGO_BIN_EXE_on-task-stopped"),
            "on-task-stopped",
            &env,
        );
        let polled = api
            .first_poll(Duration::from_secs(10))
            .unwrap_or_else(|| panic!("no poll: {:?}", api.init_error()));
        cold.push((polled - spawned).as_secs_f64() * 1000.0);
        let invoked = Instant::now();
        api.invoke(&format!("bench-{i}"), event);
        let outcomes = api.outcomes(1, Duration::from_secs(30));
        first.push(invoked.elapsed().as_secs_f64() * 1000.0);
        match &outcomes[0].1 {
            Outcome::Response(body) => assert!(body.contains("\"decision\":\"rerun\""), "{body}"),
            Outcome::Error(e) => panic!("invocation failed: {e}"),
        }
        rss.push(peak_rss_mib(function.id()));
        let _ = function.kill();
        let _ = function.wait();
    }
    summary(
        "cold start (spawn -> first poll of the runtime API)",
        "ms",
        cold,
    );
    summary(
        "first invocation against moto (event -> decision and RunTask)",
        "ms",
        first,
    );
    summary("peak RSS", "MiB", rss);
}
