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
mod history;
mod log_sources;
mod microbatch_postgres;
mod microbatch_rerun;
mod on_error;
mod on_task_stopped;
mod postgres_faults;
mod real_events;
mod rerun_task;
mod resume;
mod rule_pattern;
mod sample_events;
mod script_plans;
mod script_rerun;
mod script_tasks;
