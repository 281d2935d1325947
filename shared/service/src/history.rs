//! `dbt-rerun history`'s reading: every page of the functions' log groups since a time,
//! through the [`DecisionLog`] port; the chains are the core's
//! ([`dbt_rerun_core::history::chains`]).

use crate::ports::{AwsError, DecisionLog};
use dbt_rerun_core::history::{chains, Filter, History, LogEvent, FILTER_PATTERN};

/// Every event of `groups` from `start_ms` that the decision pattern lets through, page by
/// page until the last. An error names the log group.
pub async fn read_events<D: DecisionLog>(
    log: &D,
    groups: &[String],
    start_ms: i64,
) -> Result<Vec<LogEvent>, AwsError> {
    let mut events = Vec::new();
    for group in groups {
        let mut token: Option<String> = None;
        loop {
            let page = log
                .filter(group, FILTER_PATTERN, start_ms, token.as_deref())
                .await
                .map_err(|e| AwsError {
                    message: format!("log group {group}: {}", e.message),
                    ..e
                })?;
            events.extend(page.events);
            match page.next_token {
                // The same token again would read the same page forever.
                Some(next) if token.as_deref() != Some(next.as_str()) => token = Some(next),
                _ => break,
            }
        }
    }
    Ok(events)
}

/// The chains of the decisions in `groups` since `start_ms`, those `filter` keeps.
pub async fn history<D: DecisionLog>(
    log: &D,
    groups: &[String],
    start_ms: i64,
    filter: &Filter,
) -> Result<History, AwsError> {
    Ok(chains(&read_events(log, groups, start_ms).await?, filter))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::MemoryDecisionLog;

    fn event(ms: i64, message: &str) -> LogEvent {
        LogEvent {
            timestamp_ms: ms,
            message: message.to_owned(),
        }
    }

    #[tokio::test]
    async fn every_page_of_every_group_is_read_from_the_start_time() {
        let log = MemoryDecisionLog::with_page_size(7);
        let a: Vec<LogEvent> = (0..50).map(|i| event(1000 + i, &format!("a{i}"))).collect();
        let b: Vec<LogEvent> = (0..3).map(|i| event(5000 + i, &format!("b{i}"))).collect();
        log.write("/aws/lambda/x-on-task-stopped", &a);
        log.write("/aws/lambda/x-rerun-task", &b);
        let groups = ["/aws/lambda/x-on-task-stopped", "/aws/lambda/x-rerun-task"]
            .map(str::to_owned)
            .to_vec();
        let read = read_events(&log, &groups, 1010).await.unwrap();
        let messages: Vec<&str> = read.iter().map(|e| e.message.as_str()).collect();
        let mut expected: Vec<String> = (10..50).map(|i| format!("a{i}")).collect();
        expected.extend((0..3).map(|i| format!("b{i}")));
        assert_eq!(messages, expected);
        assert_eq!(log.pages_read(), 6 + 1, "40 events by 7, then 3");
        assert!(log.patterns().iter().all(|p| p == FILTER_PATTERN));
    }

    #[tokio::test]
    async fn a_missing_log_group_is_an_error_naming_it() {
        let log = MemoryDecisionLog::default();
        let err = read_events(&log, &["/aws/lambda/nope-on-task-stopped".to_owned()], 0)
            .await
            .unwrap_err();
        assert!(err.is_not_found());
        assert!(
            err.to_string().contains("/aws/lambda/nope-on-task-stopped"),
            "{err}"
        );
    }
}
