//! [`Alerts`] over `aws-sdk-sns`.

use aws_sdk_sns::types::MessageAttributeValue;
use dbt_rerun_core::alert::Alert;
use dbt_rerun_service::{Alerts, AwsError};

/// The real SNS.
#[derive(Clone)]
pub struct SnsAlerts {
    client: aws_sdk_sns::Client,
}

impl SnsAlerts {
    pub fn new(config: &aws_config::SdkConfig) -> Self {
        Self {
            client: aws_sdk_sns::Client::new(config),
        }
    }
}

impl Alerts for SnsAlerts {
    async fn publish(&self, topic_arn: &str, alert: &Alert) -> Result<(), AwsError> {
        let mut request = self
            .client
            .publish()
            .topic_arn(topic_arn)
            .subject(&alert.subject)
            .message(&alert.message)
            .message_structure("json");
        for (name, value) in &alert.attributes {
            let attribute = MessageAttributeValue::builder()
                .data_type("String")
                .string_value(value)
                .build()
                .map_err(|e| AwsError::local("sns:Publish", e))?;
            request = request.message_attributes(name, attribute);
        }
        send_patiently!(request, "sns:Publish")?;
        Ok(())
    }
}
