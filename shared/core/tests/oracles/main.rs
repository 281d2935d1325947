//! The core's oracle tests, in one binary: the parser, the planner and the decision on real dbt
//! runs (the recorded fixtures under `tests/fixtures/`, read through `dbt-rerun-fixtures`),
//! each checked against dbt's own verdict (`run_results.json`, its JSON file log), and the
//! script reader against real shells. No dbt process, no AWS, no server: what needs those
//! lives in the integration tests (`tests/integration`).
//!
//! `real_logs` reads the dbt logs users published, kept beside the repository in
//! `../shared/real-world/dbt-logs/`; `scripts/test` skips it by its module path
//! (`--skip real_logs::`) when that folder is missing, so it stays a module of its own.

mod dbt_features;
mod fixture_reports;
mod fusion_logs;
mod hostile_logs;
mod microbatch;
mod real_logs;
mod resume;
mod script_invocations;
mod script_plans;
mod script_shell_semantics;
