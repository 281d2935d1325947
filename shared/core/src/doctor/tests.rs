use super::*;
use crate::task_definition::{AwsLogsOptions, ContainerDefinition, LogDriver, TaskDefinition};

const ACCOUNT: &str = "123456789012";

fn parameters(extra: &[(&str, &str)]) -> BTreeMap<String, String> {
    let mut p: BTreeMap<String, String> = [
        ("ClusterName", "dbt-prod"),
        ("TaskDefinitionFamily", ""),
        ("TaskDefinitionFamilies", "dbt-hourly,dbt-nightly"),
        ("DbtLogGroupName", "/ecs/dbt"),
        ("TaskRoleArn", "arn:aws:iam::123456789012:role/dbt-task"),
        (
            "ExecutionRoleArn",
            "arn:aws:iam::123456789012:role/dbt-exec",
        ),
        ("Subnets", "subnet-1"),
        ("SecurityGroups", "sg-1"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    for (k, v) in extra {
        p.insert((*k).to_owned(), (*v).to_owned());
    }
    p
}

fn definition(family: &str, command: &[&str], log: LogDriver) -> DefinitionFacts {
    DefinitionFacts {
        definition: TaskDefinition {
            arn: format!("arn:aws:ecs:eu-west-1:{ACCOUNT}:task-definition/{family}:3"),
            family: family.to_owned(),
            containers: vec![ContainerDefinition {
                name: "dbt".into(),
                entry_point: None,
                command: Some(command.iter().map(|w| (*w).to_owned()).collect()),
                essential: true,
                environment_names: vec![],
                log: Some(log),
            }],
            ..TaskDefinition::default()
        },
        task_role_arn: Some(format!("arn:aws:iam::{ACCOUNT}:role/dbt-task")),
        execution_role_arn: Some(format!("arn:aws:iam::{ACCOUNT}:role/dbt-exec")),
    }
}

fn awslogs(group: &str) -> LogDriver {
    LogDriver::AwsLogs(AwsLogsOptions {
        group: group.into(),
        stream_prefix: Some("dbt".into()),
        ..AwsLogsOptions::default()
    })
}

/// The template's policy for these parameters, as CloudFormation resolves it.
fn policy() -> Policy {
    Policy::parse(
        "dbt-rerun-RerunPermissions",
        &serde_json::json!({"Version": "2012-10-17", "Statement": [
            {"Sid": "RunDbtTasksOfTheseFamiliesInTheseClusters", "Effect": "Allow", "Action": "ecs:RunTask",
             "Resource": ["arn:*:ecs:*:*:task-definition/dbt-hourly:*", "arn:*:ecs:*:*:task-definition/dbt-nightly:*"],
             "Condition": {"ArnLike": {"ecs:cluster": "arn:aws:ecs:eu-west-1:123456789012:cluster/dbt-prod"},
                           "StringEquals": {"aws:RequestedRegion": "eu-west-1"}}},
            {"Sid": "PassTheDbtTaskRolesToEcsOnly", "Effect": "Allow", "Action": "iam:PassRole",
             "Resource": ["arn:aws:iam::123456789012:role/dbt-task", "arn:aws:iam::123456789012:role/dbt-exec"],
             "Condition": {"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}}},
            {"Sid": "ReadTheDbtLog", "Effect": "Allow", "Action": "logs:GetLogEvents",
             "Resource": "arn:aws:logs:eu-west-1:123456789012:log-group:/ecs/dbt:log-stream:*",
             "Condition": {"StringEquals": {"aws:RequestedRegion": "eu-west-1"}}}
        ]})
        .to_string(),
    )
    .unwrap()
}

fn survey(
    params: &BTreeMap<String, String>,
    definitions: Vec<(&str, Option<DefinitionFacts>)>,
) -> Survey {
    Survey {
        stack: Some(StackFacts {
            name: "dbt-rerun".into(),
            status: "UPDATE_COMPLETE".into(),
            parameters: params.clone(),
            resources: [(
                "OnTaskStoppedFunction".to_owned(),
                (
                    "AWS::Lambda::Function".to_owned(),
                    Some("dbt-rerun-on-task-stopped".to_owned()),
                ),
            )]
            .into(),
            ..StackFacts::default()
        }),
        setup: Setup::from_parameters(params).unwrap(),
        region: "eu-west-1".into(),
        families: definitions
            .into_iter()
            .map(|(family, definition)| FamilyFacts {
                family: family.into(),
                definition: Ok(definition),
                stopped: Ok(vec![]),
            })
            .collect(),
        account_families: vec!["dbt-hourly".into(), "dbt-nightly".into(), "dbt-docs".into()],
        rule: Some(Ok(RuleFacts {
            name: "dbt-rerun-rule".into(),
            state: "ENABLED".into(),
            pattern: Some(
                serde_json::json!({"source": ["aws.ecs"], "detail-type": ["ECS Task State Change"],
                "detail": {"clusterArn": ["arn:aws:ecs:eu-west-1:123456789012:cluster/dbt-prod"],
                           "group": ["family:dbt-hourly", "family:dbt-nightly"]}}),
            ),
            targets: vec![format!(
                "arn:aws:lambda:eu-west-1:{ACCOUNT}:function:dbt-rerun-on-task-stopped"
            )],
        })),
        policies: Some(Ok(vec![policy()])),
        network: NetworkFacts {
            subnets: Ok(vec!["subnet-1".into()]),
            security_groups: Ok(vec!["sg-1".into()]),
        },
    }
}

fn good() -> Survey {
    survey(
        &parameters(&[]),
        vec![
            (
                "dbt-hourly",
                Some(definition(
                    "dbt-hourly",
                    &["dbt", "run", "--select", "tag:hourly"],
                    awslogs("/ecs/dbt"),
                )),
            ),
            (
                "dbt-nightly",
                Some(definition(
                    "dbt-nightly",
                    &["sh", "-c", "dbt deps && dbt build"],
                    awslogs("/ecs/dbt"),
                )),
            ),
        ],
    )
}

fn failures(report: &DoctorReport) -> Vec<&Check> {
    report
        .checks
        .iter()
        .filter(|c| c.status == Status::Fail)
        .collect()
}

#[test]
fn a_correct_setup_passes_naming_what_allows_each_step() {
    let report = diagnose(&good());
    assert!(report.ok, "{}", report.text());
    let text = report.text();
    for expected in [
        "[ok  ] dbt-hourly: log: container dbt logs with awslogs to /ecs/dbt, stream dbt/dbt/<task id>; readable by statement ReadTheDbtLog of policy dbt-rerun-RerunPermissions",
        "[ok  ] dbt-hourly: roles: its task role arn:aws:iam::123456789012:role/dbt-task: passable by statement PassTheDbtTaskRolesToEcsOnly",
        "[ok  ] dbt-nightly: run_task: RunTask in dbt-prod allowed by statement RunDbtTasksOfTheseFamiliesInTheseClusters",
        "[ok  ] dbt-nightly: command: a script of 2 steps, 2 of them dbt",
        "[ok  ] dbt-hourly: rule: rule dbt-rerun-rule matches its tasks in cluster dbt-prod",
        "[ok  ] subnets: subnet-1 exists in eu-west-1",
        "Nothing found that would stop a re-run.",
    ] {
        assert!(text.contains(expected), "{expected}\n{text}");
    }
}

/// The one failing check of `survey`, which must name `kind` and a fix holding `fix`.
fn the_failure(survey: &Survey, kind: &str, fix: &str) -> Check {
    let report = diagnose(survey);
    assert!(!report.ok);
    let failed = failures(&report);
    assert_eq!(failed.len(), 1, "{}", report.text());
    let check = failed[0].clone();
    assert_eq!(check.kind, kind, "{}", report.text());
    assert!(
        check.fix.as_deref().is_some_and(|f| f.contains(fix)),
        "{check:?}"
    );
    check
}

#[test]
fn each_broken_setup_fails_its_check_with_the_fix() {
    let mut s = good();
    let wrong_group = definition("dbt-hourly", &["dbt", "build"], awslogs("/ecs/dbt-hourly"));
    s.families[0].definition = Ok(Some(wrong_group));
    let c = the_failure(&s, "log", "set DbtLogGroupName to /ecs/dbt-hourly");
    assert!(
        c.summary.contains("only /ecs/dbt (DbtLogGroupName)"),
        "{c:?}"
    );

    let mut s = good();
    let firehose = LogDriver::from_config(
        "awsfirelens",
        [
            ("Name", "kinesis_firehose"),
            ("delivery_stream", "dbt"),
            ("region", "eu-west-1"),
        ],
    );
    s.families[0].definition = Ok(Some(definition("dbt-hourly", &["dbt", "build"], firehose)));
    let c = the_failure(&s, "log", "cloudwatch_logs output");
    assert!(
        c.summary.contains("its output is kinesis_firehose"),
        "{c:?}"
    );

    let s = survey(
        &parameters(&[("TaskRoleArn", "")]),
        vec![(
            "dbt-hourly",
            Some(definition(
                "dbt-hourly",
                &["dbt", "build"],
                awslogs("/ecs/dbt"),
            )),
        )],
    );
    let mut s = s;
    s.policies = None;
    let c = the_failure(
        &s,
        "roles",
        "add arn:aws:iam::123456789012:role/dbt-task to TaskRoleArn",
    );
    assert!(c.summary.contains("iam:PassRole"), "{c:?}");

    let s = survey(
        &parameters(&[("TaskDefinitionFamilies", "dbt-hourlly")]),
        vec![("dbt-hourlly", None)],
    );
    let c = the_failure(&s, "task_definition", "TaskDefinitionFamilies");
    assert!(c.summary.contains("(did you mean dbt-hourly?)"), "{c:?}");
    assert_eq!(c.family.as_deref(), Some("dbt-hourlly"));

    let mut s = good();
    s.families[1].definition = Ok(Some(definition(
        "dbt-nightly",
        &["/app/run_dbt.sh"],
        awslogs("/ecs/dbt"),
    )));
    let c = the_failure(&s, "command", "run dbt in the task definition's command");
    assert!(
        c.summary
            .starts_with("an opaque command (`/app/run_dbt.sh`)"),
        "{c:?}"
    );

    let mut s = good();
    s.network.subnets = Ok(vec![]);
    let c = the_failure(&s, "subnets", "set Subnets");
    assert_eq!(
        c.summary,
        "subnet-1 does not exist in eu-west-1: RunTask of every re-run will fail"
    );
}

#[test]
fn a_script_re_run_whole_warns_and_fails_only_when_the_fallback_gives_up() {
    let evaled = ["sh", "-c", "dbt deps && eval \"dbt build\""];
    let mut s = good();
    s.families[1].definition = Ok(Some(definition(
        "dbt-nightly",
        &evaled,
        awslogs("/ecs/dbt"),
    )));
    let report = diagnose(&s);
    assert!(report.ok, "{}", report.text());
    let warned: Vec<&Check> = report
        .checks
        .iter()
        .filter(|c| c.status == Status::Warn)
        .collect();
    assert_eq!(warned.len(), 1, "{}", report.text());
    assert!(
        warned[0]
            .summary
            .starts_with("a script dbt-rerun re-runs whole"),
        "{:?}",
        warned[0]
    );
    let mut s = survey(&parameters(&[("ScriptFallback", "give_up")]), vec![]);
    s.families = good().families;
    s.families[1].definition = Ok(Some(definition(
        "dbt-nightly",
        &evaled,
        awslogs("/ecs/dbt"),
    )));
    the_failure(&s, "command", "top level");
}

#[test]
fn the_rule_and_the_prefix_are_checked_against_each_family() {
    let mut s = good();
    if let Some(Ok(rule)) = &mut s.rule {
        rule.pattern = Some(serde_json::json!({"detail": {"group": ["family:dbt-hourly"]}}));
    }
    let c = the_failure(&s, "rule", "TaskDefinitionFamilies");
    assert_eq!(c.family.as_deref(), Some("dbt-nightly"));
    let s = survey(&parameters(&[("TaskDefinitionFamilies", "nope-*")]), vec![]);
    the_failure(&s, "families", "TaskDefinitionFamilies");
}

#[test]
fn parameters_name_what_is_missing_and_make_the_functions_environment() {
    let err = Setup::from_parameters(&parameters(&[("TaskDefinitionFamilies", "")])).unwrap_err();
    assert_eq!(err.to_string(), "parameter TaskDefinitionFamily: neither TaskDefinitionFamily nor TaskDefinitionFamilies is set");
    let env = function_environment(&parameters(&[("RetryOn", "transient")]));
    assert_eq!(env["DBT_RERUN_TASK_FAMILIES"], "dbt-hourly,dbt-nightly");
    assert_eq!(env["DBT_RERUN_CLUSTERS"], "dbt-prod");
    assert_eq!(env["DBT_RERUN_RETRY_ON"], "transient");
    let setup = Setup::from_parameters(&parameters(&[
        ("DbtLogGroupName", "/ecs/dbt-*"),
        ("ClusterNames", "a,b"),
    ]))
    .unwrap();
    assert!(setup.log_groups.admits("/ecs/dbt-hourly"));
    assert_eq!(
        setup.clusters,
        crate::scope::NameSet::Listed(vec!["a".into(), "b".into()])
    );
}
