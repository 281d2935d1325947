//! Reading a container's log while it may still be arriving.
//!
//! ECS can report a task STOPPED before the awslogs driver has sent the last lines (it
//! flushes about every 5 s, and since 2025 drops lines under pressure by default). So the log
//! is read to its current end, and while dbt's end-of-run marker is missing it is read again
//! with growing pauses until the marker appears or the wait runs out; then the decision is
//! made on what is there, and the record says so. A run that was killed never writes the
//! marker: its log is read until no new line has come for [`QUIET`] (a driver flush and a
//! second), or the wait runs out.
//!
//! A page that ends the run (dbt's final stats line, nothing after it that could change the
//! decision, see `LogParser::settled`) ends the reading of a single dbt command's log at once:
//! the page confirming the end (empty) would cost a `GetLogEvents` call per event, and
//! `GetLogEvents` has the lowest rate quota of every call on the way (10 or 25 a second per
//! account and Region), which a burst of failures spends first.

use crate::ports::{AwsError, LogPage, Logs};
use dbt_rerun_core::log::{
    EventFormat, Invocation, InvocationSplitter, Limits, LineReader, LogParser, ReadStats,
    RunReport,
};
use dbt_rerun_core::task_definition::LogLocation;
use std::time::Duration;
// tokio's clock, so tests can pause time and the wait costs them nothing.
use tokio::time::Instant;

/// What reading a log gave.
#[derive(Debug, Default)]
pub struct LogRead {
    /// None when the stream never appeared.
    pub report: Option<RunReport>,
    /// The log split by dbt invocation, when asked for (a command that runs a script).
    pub invocations: Option<Vec<Invocation>>,
    /// For the decision's reason: why the log is missing or incomplete.
    pub note: Option<String>,
    pub waited: Duration,
}

/// Most dbt invocations a script's log is split into; past it the split is marked truncated.
pub const MAX_INVOCATIONS: usize = 64;

/// The parsers a log's lines go through: the whole log, and by invocation when asked.
struct Parsers {
    whole: LogParser,
    split: Option<InvocationSplitter>,
}

impl Parsers {
    fn push_line(&mut self, line: &[u8]) {
        self.whole.push_line(line);
        if let Some(split) = &mut self.split {
            split.push_line(line);
        }
    }

    /// dbt's end-of-run marker is there. For a script, the last invocation's, and the log has
    /// been quiet since: another step may still print.
    fn ended(&self, quiet: bool) -> bool {
        match &self.split {
            Some(split) => split.end_of_run() && quiet,
            None => self.whole.end_of_run(),
        }
    }
}

const FIRST_PAUSE: Duration = Duration::from_millis(250);
/// How long a killed run's log must stay unchanged to count as complete.
pub const QUIET: Duration = Duration::from_secs(6);
const LONGEST_PAUSE: Duration = Duration::from_secs(4);

/// A log being read: its parsers, where the next page starts, when a line last came.
struct ArrivingLog {
    parsers: Parsers,
    lines: LineReader,
    token: Option<String>,
    last_news: Instant,
    stream_seen: bool,
}

/// What to do after a page.
enum Next {
    /// The run's end is read.
    Stop,
    /// Ask for the next page at once: this one had lines.
    ReadOn,
    /// At the current end without the run's end: pause, then ask again.
    Wait,
}

impl ArrivingLog {
    fn take(&mut self, page: LogPage, expect_end: bool, quiet: Duration) -> Next {
        self.stream_seen = true;
        let more = !page.lines.is_empty();
        if more {
            self.last_news = Instant::now();
        }
        let parsers = &mut self.parsers;
        for event in &page.lines {
            self.lines
                .push_event(event.as_bytes(), &mut |line| parsers.push_line(line));
        }
        if page.next_token.is_some() {
            self.token = page.next_token;
        }
        if more && expect_end && parsers.split.is_none() {
            // A short log is still held for its prefix: decide it on this page (as at the
            // current end) so its stats line can end the reading.
            self.lines.flush(&mut |line| parsers.push_line(line));
            if parsers.whole.settled() {
                return Next::Stop; // what may follow cannot change the report
            }
        }
        if more {
            return Next::ReadOn; // read on to the current end before judging
        }
        // At the current end: what is held to decide a prefix is decided on now.
        self.lines.flush(&mut |line| parsers.push_line(line));
        let quiet_now = self.last_news.elapsed() >= quiet;
        if parsers.ended(quiet_now) || (!expect_end && quiet_now) {
            Next::Stop
        } else {
            Next::Wait
        }
    }
}

/// Reads `at` from its start, streaming every page into the parser (no page is kept), and
/// waits up to `wait` for dbt's end-of-run marker (`expect_end`), or, for a killed run, for
/// the log to stay unchanged for [`QUIET`] (or `wait`, if shorter); `by_invocation` also
/// splits it by dbt invocation, and then waits for the log to be quiet after the last
/// invocation's marker too (a script's next step may still print). A missing stream is waited
/// for too, then reported in `note`; other AWS errors are returned.
pub async fn read_log<L: Logs>(
    logs: &L,
    at: &LogLocation,
    wait: Duration,
    expect_end: bool,
    by_invocation: bool,
) -> Result<LogRead, AwsError> {
    let started = Instant::now();
    let settled = logs.complete();
    let wait = if settled { Duration::ZERO } else { wait };
    let quiet = QUIET.min(wait);
    let mut reading = ArrivingLog {
        parsers: Parsers {
            whole: LogParser::default(),
            split: by_invocation
                .then(|| InvocationSplitter::new(Limits::default(), MAX_INVOCATIONS)),
        },
        // The one place events become dbt's lines: FireLens records unwrapped, multi-line
        // events split, a prefix every line shares stripped.
        lines: LineReader::new(at.events.clone()),
        token: None,
        last_news: started,
        stream_seen: false,
    };
    let mut pause = FIRST_PAUSE;
    loop {
        match logs.page(at, reading.token.as_deref()).await {
            Ok(page) => match reading.take(page, expect_end, quiet) {
                Next::Stop => break,
                Next::ReadOn => continue,
                Next::Wait => {}
            },
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
    let ArrivingLog {
        parsers,
        lines,
        stream_seen,
        ..
    } = reading;
    if !stream_seen {
        let note = format!(
            "log stream {} in group {} did not appear within {} s",
            at.stream,
            at.group,
            wait.as_secs()
        );
        return Ok(LogRead {
            note: Some(note),
            waited,
            ..LogRead::default()
        });
    }
    let mut read = conclude(parsers, lines, at);
    read.waited = waited;
    if read.note.is_none() && expect_end && !settled {
        read.note = read
            .report
            .as_ref()
            .filter(|r| !r.end_of_run)
            .map(|r| {
                format!(
                    "dbt's end-of-run marker did not appear in {} within {} s; decided on the {} lines there are",
                    at.stream,
                    wait.as_secs(),
                    r.lines
                )
            });
    }
    Ok(read)
}

/// The report once reading stops: the lines still held handed on, the split by invocation,
/// and why no line was read when a FireLens stream held only others' records.
fn conclude(mut parsers: Parsers, lines: LineReader, at: &LogLocation) -> LogRead {
    let stats = lines.finish(&mut |line| parsers.push_line(line));
    let mut report = parsers.whole.finish();
    report.line_prefix = stats.prefix;
    // Past MAX_INVOCATIONS the steps cannot all be told apart: the script is then re-run as a
    // whole, as when it is not read at all.
    let invocations = parsers
        .split
        .map(|s| s.finish())
        .filter(|split| !split.truncated)
        .map(|split| split.invocations);
    LogRead {
        note: foreign_records(&at.events, &stats, &report),
        report: Some(report),
        invocations,
        waited: Duration::ZERO,
    }
}

/// A FireLens stream whose records were all someone else's: why no line was read.
fn foreign_records(events: &EventFormat, stats: &ReadStats, report: &RunReport) -> Option<String> {
    let EventFormat::FireLens(records) = events else {
        return None;
    };
    (report.lines == 0 && stats.dropped() > 0).then(|| {
        format!(
            "the FireLens stream held {} events and none was a record of container {}{} \
             ({} of other containers, {} of other tasks, {} not records with a `{}` key)",
            stats.events,
            records.container,
            records
                .task_arn
                .as_deref()
                .map(|t| format!(" in task {t}"))
                .unwrap_or_default(),
            stats.other_containers,
            stats.other_tasks,
            stats.not_records,
            records.key
        )
    })
}
