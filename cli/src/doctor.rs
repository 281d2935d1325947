//! `dbt-rerun doctor`: a deployed setup checked before its first failure.

use crate::commands::{runtime, CliError};
use dbt_rerun_service::DoctorRequest;
use std::collections::BTreeMap;

/// `dbt-rerun doctor`'s flags.
#[derive(clap::Args)]
pub struct DoctorArgs {
    /// The deployed stack: its parameters, rule and the functions' role are read.
    #[arg(long, env = "DBT_RERUN_STACK")]
    stack: Option<String>,
    /// A template parameter, NAME=VALUE (repeatable): over the stack's, or without --stack
    /// the whole setup (ClusterName, TaskDefinitionFamilies, DbtLogGroupName, ...).
    #[arg(long = "param", value_name = "NAME=VALUE")]
    params: Vec<String>,
    /// Print the checklist as JSON, for pipelines.
    #[arg(long)]
    json: bool,
    /// Stopped tasks planned per family and cluster, newest first (0: none).
    #[arg(long, default_value_t = 1)]
    stopped: usize,
}

/// The checklist, and whether nothing failed.
pub fn doctor(args: DoctorArgs) -> Result<(String, bool), CliError> {
    let mut parameters = BTreeMap::new();
    for pair in &args.params {
        let (name, value) = pair
            .split_once('=')
            .ok_or_else(|| CliError::Usage(format!("--param takes NAME=VALUE, got `{pair}`")))?;
        parameters.insert(name.to_owned(), value.to_owned());
    }
    if args.stack.is_none() && parameters.is_empty() {
        return Err(CliError::Usage(
            "give the stack (--stack NAME) or its parameters (--param NAME=VALUE ...)".to_owned(),
        ));
    }
    let report = runtime()?.block_on(async {
        let aws = dbt_rerun_aws::load_config().await;
        let region = aws.region().map(|r| r.to_string()).ok_or_else(|| {
            CliError::Usage("no AWS region: set AWS_REGION (the stack's region)".to_owned())
        })?;
        let request = DoctorRequest {
            stack: args.stack,
            parameters,
            region,
            stopped_per_family: args.stopped,
        };
        dbt_rerun_aws::doctor::doctor(&aws)
            .examine(&request)
            .await
            .map_err(CliError::from)
    })?;
    let out = if args.json {
        serde_json::to_string_pretty(&report)?
    } else {
        report.text().trim_end().to_owned()
    };
    Ok((out, report.ok))
}
