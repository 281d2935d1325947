//! The integration tests, in one binary (one link of the AWS SDK instead of twelve): real dbt
//! fixtures through the parser and planner, `dbt ls` as the judge of every plan, and both
//! functions against moto through the real SDK clients.

mod alerts;
mod api_calls;
mod aws_faults;
mod burst;
mod dashboard;
mod dbt_features;
mod dbt_ls_selection;
mod delayed_reruns;
mod fixture_reports;
mod fusion_logs;
mod history;
mod hostile_logs;
mod log_sources;
mod microbatch;
mod microbatch_postgres;
mod microbatch_rerun;
mod on_error;
mod on_task_stopped;
mod postgres_faults;
mod real_events;
mod real_logs;
mod rerun_task;
mod resume;
mod rule_pattern;
mod sample_events;
mod script_invocations;
mod script_plans;
mod script_rerun;
mod script_shell_semantics;
mod script_tasks;
