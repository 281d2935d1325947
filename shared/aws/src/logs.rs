//! [`Logs`] and [`DecisionLog`] over `aws-sdk-cloudwatchlogs`.

use dbt_rerun_core::history::LogEvent;
use dbt_rerun_core::task_definition::LogLocation;
use dbt_rerun_service::{AwsError, DecisionLog, EventPage, LogPage, Logs};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// The real CloudWatch Logs. A task definition may send its log to another region
/// (`awslogs-region`): a client per region is made once and kept.
#[derive(Clone)]
pub struct CloudWatchLogs {
    config: aws_config::SdkConfig,
    home: aws_sdk_cloudwatchlogs::Client,
    others: Arc<Mutex<HashMap<String, aws_sdk_cloudwatchlogs::Client>>>,
    /// Events per `FilterLogEvents` page (None: the service's default, up to 10,000).
    filter_limit: Option<i32>,
}

impl CloudWatchLogs {
    pub fn new(config: &aws_config::SdkConfig) -> Self {
        Self {
            config: config.clone(),
            home: aws_sdk_cloudwatchlogs::Client::new(config),
            others: Arc::default(),
            filter_limit: None,
        }
    }

    /// At most `limit` events per `FilterLogEvents` page (1 to 10,000).
    pub fn with_filter_limit(mut self, limit: i32) -> Self {
        self.filter_limit = Some(limit.clamp(1, 10_000));
        self
    }

    fn client(&self, region: Option<&str>) -> aws_sdk_cloudwatchlogs::Client {
        let Some(region) = region.filter(|r| Some(*r) != self.config.region().map(|r| r.as_ref()))
        else {
            return self.home.clone();
        };
        let mut others = match self.others.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        others
            .entry(region.to_owned())
            .or_insert_with(|| {
                let config = aws_sdk_cloudwatchlogs::config::Builder::from(&self.config)
                    .region(aws_sdk_cloudwatchlogs::config::Region::new(
                        region.to_owned(),
                    ))
                    .build();
                aws_sdk_cloudwatchlogs::Client::from_conf(config)
            })
            .clone()
    }
}

impl Logs for CloudWatchLogs {
    async fn page(&self, at: &LogLocation, token: Option<&str>) -> Result<LogPage, AwsError> {
        let request = self
            .client(at.region.as_deref())
            .get_log_events()
            .log_group_name(&at.group)
            .log_stream_name(&at.stream)
            .start_from_head(true)
            .set_next_token(token.map(str::to_owned));
        let out = send_patiently!(request, "logs:GetLogEvents")?;
        // The SDK's messages are moved into the page, not copied.
        Ok(LogPage {
            lines: out
                .events
                .unwrap_or_default()
                .into_iter()
                .filter_map(|e| e.message)
                .collect(),
            next_token: out.next_forward_token,
        })
    }
}

impl DecisionLog for CloudWatchLogs {
    async fn filter(
        &self,
        group: &str,
        pattern: &str,
        start_ms: i64,
        token: Option<&str>,
    ) -> Result<EventPage, AwsError> {
        let request = self
            .home
            .filter_log_events()
            .log_group_name(group)
            .filter_pattern(pattern)
            .start_time(start_ms)
            .set_limit(self.filter_limit)
            .set_next_token(token.map(str::to_owned));
        let out = send_patiently!(request, "logs:FilterLogEvents")?;
        Ok(EventPage {
            events: out
                .events()
                .iter()
                .filter_map(|e| {
                    Some(LogEvent {
                        timestamp_ms: e.timestamp()?,
                        message: e.message()?.to_owned(),
                    })
                })
                .collect(),
            next_token: out.next_token().map(str::to_owned),
        })
    }
}
