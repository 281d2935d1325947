//! The doctor's ports over the SDK (feature `doctor`, for the CLI): [`CloudFormationClient`]
//! ([`Stacks`](dbt_rerun_service::Stacks)), [`EventBridgeClient`]
//! ([`Rules`](dbt_rerun_service::Rules)), [`IamClient`] ([`Roles`](dbt_rerun_service::Roles))
//! and [`Ec2Client`] ([`Network`](dbt_rerun_service::Network)). They only read.

mod cloudformation;
mod ec2;
mod eventbridge;
mod iam;

pub use cloudformation::CloudFormationClient;
pub use ec2::Ec2Client;
pub use eventbridge::EventBridgeClient;
pub use iam::IamClient;

use crate::{CloudWatchLogs, EcsClient};
use dbt_rerun_service::Doctor;

/// `dbt-rerun doctor` over the real AWS clients.
pub type DoctorService = Doctor<
    CloudFormationClient,
    EventBridgeClient,
    IamClient,
    Ec2Client,
    EcsClient,
    CloudWatchLogs,
>;

/// The doctor with SDK clients for `aws`.
pub fn doctor(aws: &aws_config::SdkConfig) -> DoctorService {
    Doctor {
        stacks: CloudFormationClient::new(aws),
        rules: EventBridgeClient::new(aws),
        roles: IamClient::new(aws),
        network: Ec2Client::new(aws),
        ecs: EcsClient::new(aws),
        logs: CloudWatchLogs::new(aws),
    }
}
