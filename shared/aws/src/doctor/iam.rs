//! [`Roles`] over `aws-sdk-iam`.

use dbt_rerun_core::doctor::Policy;
use dbt_rerun_service::{AwsError, Roles};

#[derive(Clone)]
pub struct IamClient {
    client: aws_sdk_iam::Client,
}

impl IamClient {
    pub fn new(config: &aws_config::SdkConfig) -> Self {
        Self {
            client: aws_sdk_iam::Client::new(config),
        }
    }
}

/// IAM hands policy documents URL-encoded (RFC 3986); a document already JSON is kept.
fn decoded(document: &str) -> String {
    if document.trim_start().starts_with('{') {
        return document.to_owned();
    }
    let bytes = document.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (
            bytes[i],
            bytes.get(i + 1).copied().and_then(hex),
            bytes.get(i + 2).copied().and_then(hex),
        ) {
            (b'%', Some(high), Some(low)) => {
                // Two hex digits: at most 255.
                out.push((high * 16 + low) as u8);
                i += 3;
            }
            (b'+', _, _) => {
                out.push(b' ');
                i += 1;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl Roles for IamClient {
    async fn policies(&self, role_name: &str) -> Result<Vec<Policy>, AwsError> {
        let mut policies = Vec::new();
        let request = self
            .client
            .list_attached_role_policies()
            .role_name(role_name);
        let attached = send_patiently!(request, "iam:ListAttachedRolePolicies")?;
        for p in attached.attached_policies() {
            let Some(arn) = p.policy_arn() else { continue };
            let request = self.client.get_policy().policy_arn(arn);
            let policy = send_patiently!(request, "iam:GetPolicy")?;
            let Some(version) = policy.policy().and_then(|p| p.default_version_id()) else {
                continue;
            };
            let request = self
                .client
                .get_policy_version()
                .policy_arn(arn)
                .version_id(version);
            let document = send_patiently!(request, "iam:GetPolicyVersion")?;
            let text = document
                .policy_version()
                .and_then(|v| v.document())
                .unwrap_or("{}");
            let name = p.policy_name().unwrap_or(arn);
            policies.push(
                Policy::parse(name, &decoded(text))
                    .map_err(|e| AwsError::local("iam:GetPolicyVersion", e))?,
            );
        }
        let request = self.client.list_role_policies().role_name(role_name);
        let inline = send_patiently!(request, "iam:ListRolePolicies")?;
        for name in inline.policy_names() {
            let request = self
                .client
                .get_role_policy()
                .role_name(role_name)
                .policy_name(name);
            let document = send_patiently!(request, "iam:GetRolePolicy")?;
            policies.push(
                Policy::parse(name, &decoded(document.policy_document()))
                    .map_err(|e| AwsError::local("iam:GetRolePolicy", e))?,
            );
        }
        Ok(policies)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn url_encoded_documents_are_decoded_and_json_kept() {
        assert_eq!(
            super::decoded("%7B%22Version%22%3A%222012-10-17%22%7D"),
            r#"{"Version":"2012-10-17"}"#
        );
        assert_eq!(super::decoded(r#"{"a": "%7B"}"#), r#"{"a": "%7B"}"#);
    }
}
