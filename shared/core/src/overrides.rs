//! ECS's limit on RunTask `overrides`, and the one measure of them: what budgets a plan's
//! argv and checks a launch.

/// The longest `overrides` ECS accepts for RunTask, in characters of JSON.
pub const ECS_OVERRIDE_LIMIT: usize = 8192;

/// Characters of RunTask `overrides`, as ECS counts them against [`ECS_OVERRIDE_LIMIT`]:
/// the dbt container's command and environment, the other containers' overrides passed on,
/// and the task-level size. The one measure used to budget a plan and to check a launch.
pub fn overrides_len(
    container: &str,
    command: &[String],
    environment: &[crate::event::KeyValue],
    others: &[crate::event::ContainerOverride],
    cpu: Option<&str>,
    memory: Option<&str>,
) -> usize {
    let mut containers = vec![serde_json::json!({
        "name": container,
        "command": command,
        "environment": environment,
    })];
    containers.extend(others.iter().map(
        |o| serde_json::json!({"name": o.name, "command": o.command, "environment": o.environment}),
    ));
    serde_json::json!({"containerOverrides": containers, "cpu": cpu, "memory": memory})
        .to_string()
        .len()
}

/// Length of the argv as a JSON array, as it travels in the RunTask overrides.
pub fn json_len(argv: &[String]) -> usize {
    serde_json::to_string(argv)
        .map(|s| s.len())
        .unwrap_or(usize::MAX)
}
