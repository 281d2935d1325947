//! The checks, one function each, over the [`Survey`].

use super::iam::{allowing, Request};
use super::{Check, DefinitionFacts, DoctorReport, FamilyFacts, Status, Survey};
use crate::decision::ScriptFallback;
use crate::event::EcsTask;
use crate::record::DecisionRecord;
use crate::scope::NameSet;
use crate::script::{is_shell, StepKind, TaskCommand};
use crate::task_definition::{ContainerDefinition, LogDriver};

/// The checklist for `survey`.
pub fn diagnose(survey: &Survey) -> DoctorReport {
    let mut checks = Vec::new();
    if let Some(stack) = &survey.stack {
        checks.push(stack_status(stack));
    }
    checks.extend(rule(survey));
    if let Some(Err(why)) = &survey.policies {
        checks.push(
            check(
                "policies",
                Status::Warn,
                format!("cannot read the functions' policies ({why}): which statement allows each step is not checked"),
            )
            .fix("run the doctor with iam:ListAttachedRolePolicies, iam:GetPolicy, iam:GetPolicyVersion, iam:ListRolePolicies and iam:GetRolePolicy"),
        );
    }
    checks.extend(families_found(survey));
    checks.extend(network(survey));
    for family in &survey.families {
        checks.extend(family_checks(survey, family));
    }
    DoctorReport {
        stack: survey.stack.as_ref().map(|s| s.name.clone()),
        ok: checks.iter().all(|c| c.status != Status::Fail),
        checks,
    }
}

fn check(kind: &'static str, status: Status, summary: String) -> Check {
    Check {
        kind,
        family: None,
        status,
        summary,
        fix: None,
    }
}

impl Check {
    fn fix(mut self, fix: impl Into<String>) -> Self {
        self.fix = Some(fix.into());
        self
    }

    fn of(mut self, family: &str) -> Self {
        self.family = Some(family.to_owned());
        self
    }
}

fn stack_status(stack: &super::StackFacts) -> Check {
    let settled = stack.status.ends_with("_COMPLETE")
        && !stack.status.contains("ROLLBACK")
        && !stack.status.starts_with("DELETE");
    if settled {
        return check(
            "stack",
            Status::Ok,
            format!("{} is {}", stack.name, stack.status),
        );
    }
    let reason = stack
        .status_reason
        .as_deref()
        .map(|r| format!(" ({r})"))
        .unwrap_or_default();
    check(
        "stack",
        Status::Fail,
        format!(
            "{} is {}{reason}: its resources may be missing or old",
            stack.name, stack.status
        ),
    )
    .fix("look at the stack's events in CloudFormation, fix what failed, and deploy again")
}

/// The rule's state and target (its matching is checked per family).
fn rule(survey: &Survey) -> Option<Check> {
    let rule = match survey.rule.as_ref()? {
        Ok(rule) => rule,
        Err(why) => {
            return Some(check(
                "rule",
                Status::Warn,
                format!("cannot read the rule: {why}"),
            ));
        }
    };
    let function = survey
        .stack
        .as_ref()
        .and_then(|s| s.physical("OnTaskStoppedFunction"))
        .unwrap_or("on-task-stopped");
    let targeted = rule
        .targets
        .iter()
        .any(|t| t.ends_with(&format!(":function:{function}")));
    Some(if rule.state != "ENABLED" {
        check(
            "rule",
            Status::Fail,
            format!(
                "rule {} is {}: no failure reaches on-task-stopped",
                rule.name, rule.state
            ),
        )
        .fix(format!("aws events enable-rule --name {}", rule.name))
    } else if !targeted {
        check(
            "rule",
            Status::Fail,
            format!("rule {} does not invoke {function}", rule.name),
        )
        .fix("deploy the stack again: the rule's target is the template's")
    } else {
        check(
            "rule",
            Status::Ok,
            format!("rule {} is enabled and invokes {function}", rule.name),
        )
    })
}

/// A prefix that names no family, or a family list that matched nothing at all.
fn families_found(survey: &Survey) -> Option<Check> {
    match &survey.setup.families {
        NameSet::Prefix(prefix) if survey.families.is_empty() => Some(
            check(
                "families",
                Status::Fail,
                format!("no ACTIVE task definition family starts with {prefix}"),
            )
            .fix("set TaskDefinitionFamilies to the families' names, or a prefix they share"),
        ),
        families => Some(check(
            "families",
            Status::Ok,
            format!(
                "{} task famil{} ({families}) in cluster{} {}",
                survey.families.len(),
                if survey.families.len() == 1 {
                    "y"
                } else {
                    "ies"
                },
                if survey.setup.clusters.single().is_some() {
                    ""
                } else {
                    "s"
                },
                survey.setup.clusters
            ),
        )),
    }
}

fn network(survey: &Survey) -> Vec<Check> {
    let setup = &survey.setup;
    let region = &survey.region;
    let one = |kind: &'static str,
               wanted: &[String],
               found: &Result<Vec<String>, String>,
               param: &str| {
        let found = match found {
            Err(why) => return check(kind, Status::Warn, format!("cannot check them: {why}")),
            Ok(found) => found,
        };
        let missing: Vec<&str> = wanted
            .iter()
            .filter(|w| !found.contains(w))
            .map(String::as_str)
            .collect();
        if wanted.is_empty() {
            check(
                kind,
                Status::Fail,
                format!("{param} is empty: re-runs have nowhere to run"),
            )
            .fix(format!("set {param} to those of the dbt tasks"))
        } else if missing.is_empty() {
            let verb = if wanted.len() == 1 { "exists" } else { "exist" };
            check(
                kind,
                Status::Ok,
                format!("{} {verb} in {region}", wanted.join(", ")),
            )
        } else {
            check(
                kind,
                Status::Fail,
                format!(
                    "{} do{} not exist in {region}: RunTask of every re-run will fail",
                    missing.join(", "),
                    if missing.len() == 1 { "es" } else { "" }
                ),
            )
            .fix(format!(
                "set {param} to those the dbt tasks run in (aws ec2 describe-{} in {region})",
                kind.replace('_', "-")
            ))
        }
    };
    vec![
        one(
            "subnets",
            &setup.subnets,
            &survey.network.subnets,
            "Subnets",
        ),
        one(
            "security_groups",
            &setup.security_groups,
            &survey.network.security_groups,
            "SecurityGroups",
        ),
    ]
}

fn family_checks(survey: &Survey, family: &FamilyFacts) -> Vec<Check> {
    let name = family.family.as_str();
    let facts = match &family.definition {
        Err(why) => {
            return vec![check(
                "task_definition",
                Status::Warn,
                format!("cannot read its task definition: {why}"),
            )
            .of(name)]
        }
        Ok(None) => return vec![no_such_family(survey, name).of(name)],
        Ok(Some(facts)) => facts,
    };
    let mut checks = vec![check(
        "task_definition",
        Status::Ok,
        facts.definition.arn.clone(),
    )];
    let container = match dbt_container(&facts.definition, survey.setup.container.as_deref()) {
        Ok(container) => container,
        Err(problem) => {
            checks.push(problem);
            return checks.into_iter().map(|c| c.of(name)).collect();
        }
    };
    checks.extend(rule_matches(survey, facts));
    checks.push(log(survey, facts, container));
    checks.extend(roles(survey, facts));
    checks.extend(run_task(survey, facts));
    checks.push(command(survey, container));
    checks.extend(plans(&family.stopped));
    checks.into_iter().map(|c| c.of(name)).collect()
}

/// A family the account does not have: the nearest name it does.
fn no_such_family(survey: &Survey, family: &str) -> Check {
    let nearest = survey
        .account_families
        .iter()
        .map(|f| (edit_distance(f, family), f))
        .filter(|(d, _)| *d <= 3)
        .min();
    let hint = match nearest {
        Some((_, f)) => format!(" (did you mean {f}?)"),
        None => String::new(),
    };
    check(
        "task_definition",
        Status::Fail,
        format!(
            "ECS has no ACTIVE task definition family {family}{hint}: the rule waits for tasks that never run, and the real family's failures are never seen"
        ),
    )
    .fix(format!(
        "set TaskDefinitionFamilies (or TaskDefinitionFamily) to the family the dbt tasks run{}",
        nearest.map(|(_, f)| format!(": {f}")).unwrap_or_default()
    ))
}

/// Levenshtein distance, for typo hints.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let current = row[j + 1];
            row[j + 1] = (previous + usize::from(ca != *cb))
                .min(row[j] + 1)
                .min(current + 1);
            previous = current;
        }
    }
    row[b.len()]
}

/// The dbt container: `ContainerName`, else the only essential container, else the only
/// essential one whose command mentions dbt.
fn dbt_container<'a>(
    definition: &'a crate::task_definition::TaskDefinition,
    configured: Option<&str>,
) -> Result<&'a ContainerDefinition, Check> {
    if let Some(name) = configured {
        return definition.container(name).ok_or_else(|| {
            check(
                "container",
                Status::Fail,
                format!("{} has no container {name} (ContainerName)", definition.arn),
            )
            .fix(format!(
                "set ContainerName to one of: {}",
                definition
                    .containers
                    .iter()
                    .map(|c| c.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        });
    }
    let essential: Vec<&ContainerDefinition> = definition
        .containers
        .iter()
        .filter(|c| c.essential)
        .collect();
    let runs_dbt = |c: &&&ContainerDefinition| {
        c.entry_point
            .iter()
            .chain(&c.command)
            .flatten()
            .any(|w| w.contains("dbt"))
    };
    match essential.as_slice() {
        [one] => Ok(one),
        _ => match essential
            .iter()
            .filter(runs_dbt)
            .collect::<Vec<_>>()
            .as_slice()
        {
            [one] => Ok(**one),
            _ => Err(check(
                "container",
                Status::Warn,
                format!(
                    "{} has several essential containers and none is named the dbt one",
                    definition.arn
                ),
            )
            .fix("set ContainerName to the dbt container's name")),
        },
    }
}

/// The ARN parts (partition, account) of a task definition ARN.
fn arn_parts(arn: &str) -> (&str, &str) {
    let parts: Vec<&str> = arn.split(':').collect();
    (
        parts.get(1).copied().unwrap_or("aws"),
        parts.get(4).copied().unwrap_or("*"),
    )
}

/// The clusters to check a family against: those listed, or a name the prefix admits.
fn clusters(survey: &Survey) -> Vec<String> {
    match &survey.setup.clusters {
        NameSet::Listed(names) => names.clone(),
        NameSet::Prefix(prefix) => vec![prefix.clone()],
        NameSet::Any => vec![],
    }
}

fn cluster_arn(facts: &DefinitionFacts, region: &str, cluster: &str) -> String {
    let (partition, account) = arn_parts(&facts.definition.arn);
    format!("arn:{partition}:ecs:{region}:{account}:cluster/{cluster}")
}

fn rule_matches(survey: &Survey, facts: &DefinitionFacts) -> Vec<Check> {
    let Some(Ok(rule)) = &survey.rule else {
        return vec![];
    };
    let Some(pattern) = &rule.pattern else {
        return vec![check(
            "rule",
            Status::Fail,
            format!("rule {} has no event pattern", rule.name),
        )
        .fix("deploy the stack again")];
    };
    let family = &facts.definition.family;
    clusters(survey)
        .iter()
        .map(|cluster| {
            let arn = cluster_arn(facts, &survey.region, cluster);
            match super::pattern::admits(pattern, &arn, family) {
                Ok(true) => check(
                    "rule",
                    Status::Ok,
                    format!("rule {} matches its tasks in cluster {cluster}", rule.name),
                ),
                Ok(false) => check(
                    "rule",
                    Status::Fail,
                    format!(
                        "rule {} does not match tasks of {family} in cluster {cluster}: their failures never reach on-task-stopped",
                        rule.name
                    ),
                )
                .fix("list the family in TaskDefinitionFamilies and the cluster in ClusterNames, and deploy again"),
                Err(why) => check("rule", Status::Warn, format!("rule {}: {why}", rule.name)),
            }
        })
        .collect()
}

const SAMPLE_TASK_ID: &str = "0123456789abcdef0123456789abcdef";

/// A task of the family as its STOPPED event would show it, to place its log.
fn sample_task(facts: &DefinitionFacts, region: &str, cluster: &str) -> EcsTask {
    let (partition, account) = arn_parts(&facts.definition.arn);
    EcsTask {
        task_arn: format!("arn:{partition}:ecs:{region}:{account}:task/{cluster}/{SAMPLE_TASK_ID}"),
        cluster_arn: cluster_arn(facts, region, cluster),
        task_definition_arn: facts.definition.arn.clone(),
        last_status: "STOPPED".to_owned(),
        ..EcsTask::default()
    }
}

fn log(survey: &Survey, facts: &DefinitionFacts, container: &ContainerDefinition) -> Check {
    let cluster = clusters(survey).into_iter().next().unwrap_or_default();
    let task = sample_task(facts, &survey.region, &cluster);
    let location = match container.log_location(&task) {
        Ok(location) => location,
        Err(why) => {
            let fix = match &container.log {
                Some(LogDriver::FireLens(_)) => "give the FireLens configuration a cloudwatch_logs output (Name cloudwatch_logs, log_group_name, log_stream_prefix) for the dbt container, and set DbtLogGroupName to that group",
                _ => "log the dbt container with the awslogs driver (awslogs-group, awslogs-stream-prefix), and set DbtLogGroupName to that group",
            };
            return check(
                "log",
                Status::Fail,
                format!("{why}: dbt-rerun cannot tell what failed"),
            )
            .fix(fix);
        }
    };
    let group = &location.group;
    let functions_region = survey.setup.log_region.as_deref().unwrap_or(&survey.region);
    let log_region = location.region.as_deref().unwrap_or(&survey.region);
    if !survey.setup.log_groups.admits(group) {
        return check(
            "log",
            Status::Fail,
            format!(
                "container {} logs to {group}, but the functions may read only {} (DbtLogGroupName)",
                container.name, survey.setup.log_groups
            ),
        )
        .fix(format!("set DbtLogGroupName to {group} (several families: their groups separated by commas)"));
    }
    if log_region != functions_region {
        return check(
            "log",
            Status::Fail,
            format!("container {} logs to {group} in {log_region}, but the functions read {functions_region}", container.name),
        )
        .fix(format!("set DbtLogRegion to {log_region}"));
    }
    let (partition, account) = arn_parts(&facts.definition.arn);
    let arn = format!(
        "arn:{partition}:logs:{log_region}:{account}:log-group:{group}:log-stream:{}",
        location.stream
    );
    let driver = match &container.log {
        Some(LogDriver::FireLens(_)) => "FireLens (CloudWatch Logs output)",
        _ => "awslogs",
    };
    let stream = location.stream.replace(SAMPLE_TASK_ID, "<task id>");
    let read = format!(
        "container {} logs with {driver} to {group}, stream {stream}",
        container.name
    );
    match &survey.policies {
        Some(Ok(policies)) => match allowing(
            policies,
            &Request {
                action: "logs:GetLogEvents",
                resource: &arn,
                context: &[("aws:RequestedRegion", log_region)],
            },
        ) {
            Some(grant) => check("log", Status::Ok, format!("{read}; readable by {grant}")),
            None => check(
                "log",
                Status::Fail,
                format!("{read}, but no statement of the functions' policies allows logs:GetLogEvents on it"),
            )
            .fix(format!("set DbtLogGroupName to {group} and deploy again")),
        },
        _ => check("log", Status::Ok, format!("{read}, one of DbtLogGroupName")),
    }
}

fn roles(survey: &Survey, facts: &DefinitionFacts) -> Vec<Check> {
    let setup = &survey.setup;
    [
        ("task role", &facts.task_role_arn, "TaskRoleArn", &setup.task_roles),
        ("execution role", &facts.execution_role_arn, "ExecutionRoleArn", &setup.execution_roles),
    ]
    .into_iter()
    .filter_map(|(what, role, param, listed)| {
        let role = role.as_deref()?;
        let passable = match &survey.policies {
            Some(Ok(policies)) => allowing(
                policies,
                &Request {
                    action: "iam:PassRole",
                    resource: role,
                    context: &[("iam:PassedToService", "ecs-tasks.amazonaws.com")],
                },
            )
            .map(|grant| format!("passable by {grant}")),
            // No policy read (the parameters were given): the template passes exactly these.
            _ => listed
                .iter()
                .chain(&setup.task_roles)
                .chain(&setup.execution_roles)
                .any(|r| super::iam::glob(r, role))
                .then(|| "one of TaskRoleArn, ExecutionRoleArn".to_owned()),
        };
        Some(match passable {
            Some(how) => check("roles", Status::Ok, format!("its {what} {role}: {how}")),
            None => check(
                "roles",
                Status::Fail,
                format!("its {what} {role} is not among the roles the functions may pass: every re-run's RunTask will be denied (iam:PassRole)"),
            )
            .fix(format!("add {role} to {param} (comma-separated) and deploy again")),
        })
    })
    .collect()
}

fn run_task(survey: &Survey, facts: &DefinitionFacts) -> Vec<Check> {
    let Some(Ok(policies)) = &survey.policies else {
        return vec![];
    };
    clusters(survey)
        .iter()
        .map(|cluster| {
            let arn = cluster_arn(facts, &survey.region, cluster);
            let request = Request {
                action: "ecs:RunTask",
                resource: &facts.definition.arn,
                context: &[("ecs:cluster", &arn), ("aws:RequestedRegion", &survey.region)],
            };
            match allowing(policies, &request) {
                Some(grant) => check("run_task", Status::Ok, format!("RunTask in {cluster} allowed by {grant}")),
                None => check(
                    "run_task",
                    Status::Fail,
                    format!("no statement allows ecs:RunTask of {} in cluster {cluster}", facts.definition.arn),
                )
                .fix("list the family in TaskDefinitionFamilies and the cluster in ClusterNames, and deploy again"),
            }
        })
        .collect()
}

/// What ECS runs in the dbt container, as dbt-rerun reads it.
fn command(survey: &Survey, container: &ContainerDefinition) -> Check {
    let Some(cmd) = &container.command else {
        return check(
            "command",
            Status::Fail,
            format!("container {} has no command in the task definition: the image's CMD runs, which dbt-rerun cannot see", container.name),
        )
        .fix("put the dbt command in the task definition's command, e.g. [\"dbt\", \"build\", \"--target\", \"prod\"]");
    };
    let entry_point = container.entry_point.clone().unwrap_or_default();
    let shown = crate::log::truncate(
        &entry_point
            .iter()
            .chain(cmd)
            .cloned()
            .collect::<Vec<_>>()
            .join(" "),
        120,
    )
    .to_owned();
    match TaskCommand::read(&entry_point, cmd) {
        TaskCommand::Dbt(_) => check(
            "command",
            Status::Ok,
            format!("a dbt command (`{shown}`): re-runs run exactly the failed and skipped nodes"),
        ),
        TaskCommand::Script(shell) => {
            let dbt = shell
                .script
                .steps
                .iter()
                .filter(|s| matches!(s.kind, StepKind::Dbt(_)))
                .count();
            check(
                "command",
                Status::Ok,
                format!(
                    "a script of {} steps, {dbt} of them dbt: a re-run starts from the failed step, narrowed to what did not succeed",
                    shell.script.steps.len()
                ),
            )
        }
        TaskCommand::Opaque(why) => {
            let argv: Vec<&String> = entry_point.iter().chain(cmd).collect();
            let script_text = argv.first().is_some_and(|p| is_shell(p))
                && argv
                    .iter()
                    .skip(1)
                    .any(|w| w.starts_with('-') && !w.starts_with("--") && w.contains('c'));
            if script_text {
                let status = match survey.setup.script_fallback {
                    ScriptFallback::Whole => Status::Warn,
                    ScriptFallback::GiveUp => Status::Fail,
                };
                let then = match survey.setup.script_fallback {
                    ScriptFallback::Whole => "re-runs whole (ScriptFallback whole)",
                    ScriptFallback::GiveUp => "gives up on (ScriptFallback give_up)",
                };
                check("command", status, format!("a script dbt-rerun {then}: {}", why.0))
                    .fix("keep each dbt command a step of its own at the script's top level (no pipe, if, loop or $(...) around it)")
            } else {
                check(
                    "command",
                    Status::Fail,
                    format!("an opaque command (`{shown}`): {}; dbt-rerun can re-run it only whole, including what succeeded, or not at all", why.0),
                )
                .fix("run dbt in the task definition's command: [\"dbt\", \"build\", ...], or [\"sh\", \"-c\", \"dbt deps && dbt build ...\"] with the script's steps written out")
            }
        }
    }
}

/// What each stopped task still listed would get.
fn plans(stopped: &Result<Vec<DecisionRecord>, String>) -> Vec<Check> {
    match stopped {
        Err(why) => vec![check(
            "plan",
            Status::Warn,
            format!("cannot plan its stopped tasks: {why}"),
        )],
        Ok(records) => records
            .iter()
            .map(|r| {
                let task = r.task_arn.rsplit('/').next().unwrap_or(&r.task_arn);
                let next = r
                    .rerun_command
                    .as_ref()
                    .map(|c| format!("; re-run: {}", crate::log::truncate(&c.join(" "), 160)))
                    .unwrap_or_default();
                check(
                    "plan",
                    Status::Info,
                    format!(
                        "stopped task {task} would get {}: {}{next}",
                        r.decision.as_str(),
                        r.reason
                    ),
                )
            })
            .collect(),
    }
}
