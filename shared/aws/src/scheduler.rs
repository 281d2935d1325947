//! [`Schedules`] over `aws-sdk-scheduler`.

use aws_sdk_scheduler::types::{
    ActionAfterCompletion, FlexibleTimeWindow, FlexibleTimeWindowMode, Target,
};
use dbt_rerun_core::schedule::ScheduleRequest;
use dbt_rerun_service::{AwsError, Schedules};

/// The real EventBridge Scheduler.
#[derive(Clone)]
pub struct SchedulerClient {
    client: aws_sdk_scheduler::Client,
}

impl SchedulerClient {
    pub fn new(config: &aws_config::SdkConfig) -> Self {
        Self {
            client: aws_sdk_scheduler::Client::new(config),
        }
    }
}

impl Schedules for SchedulerClient {
    async fn create(&self, request: &ScheduleRequest) -> Result<bool, AwsError> {
        let local = |e: aws_sdk_scheduler::error::BuildError| {
            AwsError::local("scheduler:CreateSchedule", e)
        };
        let request = self
            .client
            .create_schedule()
            .name(&request.name)
            .group_name(&request.group)
            .schedule_expression(&request.expression)
            .schedule_expression_timezone("UTC")
            .flexible_time_window(
                FlexibleTimeWindow::builder()
                    .mode(FlexibleTimeWindowMode::Off)
                    .build()
                    .map_err(local)?,
            )
            .action_after_completion(ActionAfterCompletion::Delete)
            .target(
                Target::builder()
                    .arn(&request.target_arn)
                    .role_arn(&request.role_arn)
                    .input(&request.input)
                    .build()
                    .map_err(local)?,
            );
        let result = send_patiently!(request, "scheduler:CreateSchedule");
        match result {
            Ok(_) => Ok(true),
            Err(error) if error.code.as_deref() == Some("ConflictException") => Ok(false),
            Err(error) => Err(error),
        }
    }
}
