//! [`Stacks`] over `aws-sdk-cloudformation`.

use dbt_rerun_core::doctor::StackFacts;
use dbt_rerun_service::{AwsError, Stacks};

#[derive(Clone)]
pub struct CloudFormationClient {
    client: aws_sdk_cloudformation::Client,
}

impl CloudFormationClient {
    pub fn new(config: &aws_config::SdkConfig) -> Self {
        Self {
            client: aws_sdk_cloudformation::Client::new(config),
        }
    }
}

impl Stacks for CloudFormationClient {
    async fn stack(&self, name: &str) -> Result<Option<StackFacts>, AwsError> {
        let request = self.client.describe_stacks().stack_name(name);
        let out = match send_patiently!(request, "cloudformation:DescribeStacks") {
            Ok(out) => out,
            // CloudFormation answers a stack it does not know with a ValidationError.
            Err(e)
                if e.code.as_deref() == Some("ValidationError")
                    && e.message.contains("does not exist") =>
            {
                return Ok(None)
            }
            Err(e) => return Err(e),
        };
        let Some(stack) = out.stacks().first() else {
            return Ok(None);
        };
        let mut facts = StackFacts {
            name: stack.stack_name().unwrap_or(name).to_owned(),
            id: stack.stack_id().unwrap_or_default().to_owned(),
            status: stack
                .stack_status()
                .map(|s| s.as_str().to_owned())
                .unwrap_or_default(),
            status_reason: stack.stack_status_reason().map(str::to_owned),
            parameters: stack
                .parameters()
                .iter()
                .filter_map(|p| {
                    Some((
                        p.parameter_key()?.to_owned(),
                        p.resolved_value().or(p.parameter_value())?.to_owned(),
                    ))
                })
                .collect(),
            ..StackFacts::default()
        };
        let mut token: Option<String> = None;
        loop {
            let request = self
                .client
                .list_stack_resources()
                .stack_name(name)
                .set_next_token(token.take());
            let page = send_patiently!(request, "cloudformation:ListStackResources")?;
            for r in page.stack_resource_summaries() {
                if let Some(logical) = r.logical_resource_id().filter(|l| !l.is_empty()) {
                    facts.resources.insert(
                        logical.to_owned(),
                        (
                            r.resource_type().unwrap_or_default().to_owned(),
                            r.physical_resource_id()
                                .filter(|p| !p.is_empty())
                                .map(str::to_owned),
                        ),
                    );
                }
            }
            match page.next_token() {
                Some(next) if !next.is_empty() => token = Some(next.to_owned()),
                _ => break,
            }
        }
        Ok(Some(facts))
    }
}
