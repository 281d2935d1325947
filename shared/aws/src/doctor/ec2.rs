//! [`Network`] over `aws-sdk-ec2`.

use aws_sdk_ec2::types::Filter;
use dbt_rerun_service::{AwsError, Network};

#[derive(Clone)]
pub struct Ec2Client {
    client: aws_sdk_ec2::Client,
}

impl Ec2Client {
    pub fn new(config: &aws_config::SdkConfig) -> Self {
        Self {
            client: aws_sdk_ec2::Client::new(config),
        }
    }
}

// A filter rather than the ids themselves: EC2 answers ids it does not know with an error for
// the whole call, a filter with those that exist.
fn filter(name: &str, ids: &[String]) -> Filter {
    Filter::builder()
        .name(name)
        .set_values(Some(ids.to_vec()))
        .build()
}

impl Network for Ec2Client {
    async fn existing_subnets(&self, ids: &[String]) -> Result<Vec<String>, AwsError> {
        if ids.is_empty() {
            return Ok(vec![]);
        }
        let request = self
            .client
            .describe_subnets()
            .filters(filter("subnet-id", ids));
        let out = send_patiently!(request, "ec2:DescribeSubnets")?;
        Ok(out
            .subnets()
            .iter()
            .filter_map(|s| s.subnet_id().map(str::to_owned))
            .collect())
    }

    async fn existing_security_groups(&self, ids: &[String]) -> Result<Vec<String>, AwsError> {
        if ids.is_empty() {
            return Ok(vec![]);
        }
        let request = self
            .client
            .describe_security_groups()
            .filters(filter("group-id", ids));
        let out = send_patiently!(request, "ec2:DescribeSecurityGroups")?;
        Ok(out
            .security_groups()
            .iter()
            .filter_map(|g| g.group_id().map(str::to_owned))
            .collect())
    }
}
