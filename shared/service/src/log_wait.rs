//! Reading a container's log while it may still be arriving.
//!
//! ECS can report a task STOPPED before the awslogs driver has sent the last lines (it
//! flushes about every 5 s, and since 2025 drops lines under pressure by default). So the log
//! is read to its current end, and while dbt's end-of-run marker is missing it is read again
//! with growing pauses until the marker appears or the wait runs out; then the decision is
//! made on what is there, and the record says so. A run that was killed never writes the
//! marker: its log is read until no new line has come for [`QUIET`] (a driver flush and a
//! second), or the wait runs out.

use crate::ports::{AwsError, Logs};
use dbt_rerun::log::{LogParser, RunReport};
use dbt_rerun::task_definition::LogLocation;
use std::time::Duration;
// tokio's clock, so tests can pause time and the wait costs them nothing.
use tokio::time::Instant;

/// What reading a log gave.
#[derive(Debug, Default)]
pub struct LogRead {
    /// None when the stream never appeared.
    pub report: Option<RunReport>,
    /// For the decision's reason: why the log is missing or incomplete.
    pub note: Option<String>,
    pub waited: Duration,
}

const FIRST_PAUSE: Duration = Duration::from_millis(250);
/// How long a killed run's log must stay unchanged to count as complete.
pub const QUIET: Duration = Duration::from_secs(6);
const LONGEST_PAUSE: Duration = Duration::from_secs(4);

/// Reads `at` from its start, streaming every page into the parser (no page is kept), and
/// waits up to `wait` for dbt's end-of-run marker (`expect_end`), or, for a killed run, for
/// the log to stay unchanged for [`QUIET`] (or `wait`, if shorter). A missing stream is waited
/// for too, then reported in `note`; other AWS errors are returned.
pub async fn read_log<L: Logs>(
    logs: &L,
    at: &LogLocation,
    wait: Duration,
    expect_end: bool,
) -> Result<LogRead, AwsError> {
    let started = Instant::now();
    let mut last_news = started;
    let settled = logs.complete();
    let wait = if settled { Duration::ZERO } else { wait };
    let quiet = QUIET.min(wait);
    let mut parser = LogParser::default();
    let mut token: Option<String> = None;
    let mut pause = FIRST_PAUSE;
    let mut stream_seen = false;
    loop {
        match logs.page(at, token.as_deref()).await {
            Ok(page) => {
                stream_seen = true;
                let more = !page.lines.is_empty();
                if more {
                    last_news = Instant::now();
                }
                for line in &page.lines {
                    parser.push_line(line.as_bytes());
                }
                if page.next_token.is_some() {
                    token = page.next_token;
                }
                if more {
                    continue; // read on to the current end before judging
                }
                if parser.end_of_run() || (!expect_end && last_news.elapsed() >= quiet) {
                    break;
                }
            }
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(e),
        }
        let elapsed = started.elapsed();
        if elapsed >= wait {
            break;
        }
        tokio::time::sleep(pause.min(wait - elapsed)).await;
        pause = (pause * 2).min(LONGEST_PAUSE);
    }
    let waited = started.elapsed();
    if !stream_seen {
        return Ok(LogRead {
            report: None,
            note: Some(format!(
                "log stream {} in group {} did not appear within {} s",
                at.stream,
                at.group,
                wait.as_secs()
            )),
            waited,
        });
    }
    let report = parser.finish();
    let note = (expect_end && !report.end_of_run && !settled).then(|| {
        format!(
            "dbt's end-of-run marker did not appear in {} within {} s; decided on the {} lines there are",
            at.stream,
            wait.as_secs(),
            report.lines
        )
    });
    Ok(LogRead {
        report: Some(report),
        note,
        waited,
    })
}
