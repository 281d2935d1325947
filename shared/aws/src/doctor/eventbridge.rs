//! [`Rules`] over `aws-sdk-eventbridge`.

use dbt_rerun_core::doctor::RuleFacts;
use dbt_rerun_service::{AwsError, Rules};

#[derive(Clone)]
pub struct EventBridgeClient {
    client: aws_sdk_eventbridge::Client,
}

impl EventBridgeClient {
    pub fn new(config: &aws_config::SdkConfig) -> Self {
        Self {
            client: aws_sdk_eventbridge::Client::new(config),
        }
    }
}

impl Rules for EventBridgeClient {
    async fn rule(&self, name: &str) -> Result<Option<RuleFacts>, AwsError> {
        let request = self.client.describe_rule().name(name);
        let rule = match send_patiently!(request, "events:DescribeRule") {
            Ok(rule) => rule,
            Err(e) if e.is_not_found() => return Ok(None),
            Err(e) => return Err(e),
        };
        let pattern = match rule.event_pattern() {
            Some(text) => Some(serde_json::from_str(text).map_err(|e| {
                AwsError::local(
                    "events:DescribeRule",
                    format!("the pattern of rule {name} is not JSON: {e}"),
                )
            })?),
            None => None,
        };
        let request = self.client.list_targets_by_rule().rule(name);
        let targets = send_patiently!(request, "events:ListTargetsByRule")?;
        Ok(Some(RuleFacts {
            name: name.to_owned(),
            state: rule
                .state()
                .map(|s| s.as_str().to_owned())
                .unwrap_or_default(),
            pattern,
            targets: targets
                .targets()
                .iter()
                .map(|t| t.arn().to_owned())
                .collect(),
        }))
    }
}
