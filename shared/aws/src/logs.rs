//! [`Logs`] over `aws-sdk-cloudwatchlogs`.

use crate::sdk_error;
use dbt_rerun::task_definition::LogLocation;
use dbt_rerun_service::{AwsError, LogPage, Logs};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// The real CloudWatch Logs. A task definition may send its log to another region
/// (`awslogs-region`): a client per region is made once and kept.
#[derive(Clone)]
pub struct CloudWatchLogs {
    config: aws_config::SdkConfig,
    home: aws_sdk_cloudwatchlogs::Client,
    others: Arc<Mutex<HashMap<String, aws_sdk_cloudwatchlogs::Client>>>,
}

impl CloudWatchLogs {
    pub fn new(config: &aws_config::SdkConfig) -> Self {
        Self {
            config: config.clone(),
            home: aws_sdk_cloudwatchlogs::Client::new(config),
            others: Arc::default(),
        }
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
        let out = self
            .client(at.region.as_deref())
            .get_log_events()
            .log_group_name(&at.group)
            .log_stream_name(&at.stream)
            .start_from_head(true)
            .set_next_token(token.map(str::to_owned))
            .send()
            .await
            .map_err(|e| sdk_error("logs:GetLogEvents", e))?;
        Ok(LogPage {
            lines: out
                .events()
                .iter()
                .filter_map(|e| e.message().map(str::to_owned))
                .collect(),
            next_token: out.next_forward_token().map(str::to_owned),
        })
    }
}
