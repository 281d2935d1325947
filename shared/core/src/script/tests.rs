use super::*;

fn argv(words: &[&str]) -> Vec<String> {
    words.iter().map(|w| (*w).to_owned()).collect()
}

fn script(text: &str) -> Script {
    read_script(text, false).unwrap_or_else(|e| panic!("{text:?}: {e}"))
}

/// (verb or "-", source text) of each step.
fn steps(s: &Script) -> Vec<(String, String)> {
    s.steps
        .iter()
        .map(|step| {
            let verb = match &step.kind {
                StepKind::Dbt(d) => d.command.verb.clone(),
                StepKind::Exec => "exec".to_owned(),
                StepKind::Other => "-".to_owned(),
            };
            (verb, s.text[step.span.clone()].to_owned())
        })
        .collect()
}

fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect()
}

#[test]
fn and_lists_sequences_and_newlines_become_steps() {
    let s = script("dbt deps && dbt build --target prod");
    assert_eq!(
        steps(&s),
        pairs(&[("deps", "dbt deps"), ("build", "dbt build --target prod")])
    );
    assert_eq!(s.statements.len(), 1);
    assert!(matches!(s.steps[1].joiner, Joiner::And { operator: 9 }));

    let text = "set -e\nexport DBT_TARGET=prod\ncd /app\n# seeds first\ndbt seed\ndbt run --select 'tag:nightly'\naws s3 cp target/ s3://b/ --recursive\n";
    let s = script(text);
    assert_eq!(
        steps(&s),
        pairs(&[
            ("-", "set -e"),
            ("-", "export DBT_TARGET=prod"),
            ("-", "cd /app"),
            ("seed", "dbt seed"),
            ("run", "dbt run --select 'tag:nightly'"),
            ("-", "aws s3 cp target/ s3://b/ --recursive"),
        ])
    );
    assert!(
        !s.steps[0].errexit && s.steps[3].errexit,
        "set -e applies after it"
    );
    let StepKind::Dbt(run) = &s.steps[4].kind else {
        panic!()
    };
    assert_eq!(run.command.selection().select, ["tag:nightly"]);
}

#[test]
fn set_options_are_followed() {
    let s = script("set -eu; dbt seed; set +e; dbt run; set -o errexit\ndbt test");
    let errexit: Vec<bool> = s.steps.iter().map(|s| s.errexit).collect();
    assert_eq!(errexit, [false, true, true, false, false, true]);
    assert!(
        read_script("dbt run", true).unwrap().steps[0].errexit,
        "sh -e"
    );
}

#[test]
fn variables_are_fine_as_flag_values_and_known_only_where_needed() {
    let s = script(r#"dbt build --target "$DBT_TARGET" --vars "$VARS" -s stg+"#);
    let StepKind::Dbt(d) = &s.steps[0].kind else {
        panic!()
    };
    assert_eq!(d.unknown, None);
    assert_eq!(d.command.selection().select, ["stg+"]);
    let s = script(r#"dbt build --select "$MODELS""#);
    let StepKind::Dbt(d) = &s.steps[0].kind else {
        panic!()
    };
    assert!(
        d.unknown.as_deref().unwrap().contains("$MODELS"),
        "{:?}",
        d.unknown
    );
}

#[test]
fn exec_python_and_uv_forms_are_dbt_steps() {
    for (text, verb) in [
        ("exec dbt build", "build"),
        ("/usr/local/bin/dbt run", "run"),
        ("python -m dbt.cli.main test", "test"),
        ("uv run dbt seed", "seed"),
        ("DBT_TARGET=prod dbt snapshot", "snapshot"),
    ] {
        let s = script(text);
        assert_eq!(steps(&s)[0].0, verb, "{text}");
    }
    let StepKind::Dbt(d) = &script("exec dbt build").steps[0].kind else {
        panic!()
    };
    assert!(d.exec);
    assert_eq!(steps(&script("echo dbt build"))[0].0, "-");
    assert_eq!(steps(&script("cd /app/dbt && ls"))[0].0, "-");
}

#[test]
fn constructs_around_dbt_are_refused_by_name() {
    for (text, named) in [
        ("dbt run | tee run.log", "pipeline"),
        ("if true; then dbt run; fi", "`if`"),
        ("for m in a b; do dbt run -s $m; done", "`for`"),
        ("(cd x && dbt run)", "subshell"),
        ("f() { dbt run; }; f", "function"),
        ("eval \"$CMD\"", "eval"),
        ("X=$(dbt ls)", "substitutes"),
        ("cat <<EOF\nhi\nEOF\ndbt run", "heredoc"),
        ("dbt run || true", "`||`"),
        ("dbt run > out.log", "redirects"),
        ("dbt run &", "background"),
        ("sh -c 'dbt run'", "nested shell"),
        ("dbt run &&", "does not parse"),
    ] {
        match read_script(text, false) {
            Err(e) => assert!(e.to_string().contains(named), "{text}: {e}"),
            Ok(s) => panic!("{text}: read as {:?}", steps(&s)),
        }
    }
    // The same constructs without dbt are other steps, kept as written.
    let s = script("if [ -n \"$X\" ]; then echo hi; fi\nls | wc -l\nmkdir -p x || true\ndbt run");
    assert_eq!(s.steps.len(), 4);
    assert_eq!(steps(&s)[3].0, "run");
}

#[test]
fn shells_and_their_options_are_read() {
    for (command, errexit, at) in [
        (argv(&["sh", "-c", "dbt run"]), false, 2),
        (argv(&["/bin/sh", "-ec", "dbt run"]), true, 2),
        (argv(&["bash", "-o", "pipefail", "-c", "dbt run"]), false, 4),
        (argv(&["bash", "-exc", "dbt run", "name"]), true, 2),
        (
            argv(&["sh", "-e", "-o", "errexit", "-c", "dbt run"]),
            true,
            5,
        ),
        (argv(&["dash", "-lc", "dbt run"]), false, 2),
    ] {
        assert_eq!(
            shell_script(&command).unwrap(),
            (at, errexit),
            "{command:?}"
        );
    }
    let TaskCommand::Script(shell) =
        TaskCommand::read(&argv(&["sh", "-c"]), &argv(&["dbt deps && dbt build"]))
    else {
        panic!()
    };
    assert_eq!((shell.entry_point_len, shell.script_index), (2, 2));
    for (entry, command, named) in [
        (vec![], argv(&["sh", "/app/run.sh"]), "script file"),
        (vec![], argv(&["/app/run.sh"]), "no dbt sub-command"),
        (vec![], argv(&["sh", "-c", "dbt run | tee x"]), "pipeline"),
    ] {
        match TaskCommand::read(&entry, &command) {
            TaskCommand::Opaque(why) => assert!(why.to_string().contains(named), "{why}"),
            other => panic!("{command:?}: {other:?}"),
        }
    }
    assert!(matches!(
        TaskCommand::read(&argv(&["dbt"]), &argv(&["build", "-s", "a"])),
        TaskCommand::Dbt(_)
    ));
}

fn edit(removed: &[usize], appended: &[&str]) -> StepAction {
    StepAction::Narrow(crate::plan::ArgvEdit {
        removed: removed.to_vec(),
        appended: argv(appended),
    })
}

fn rewritten(text: &str, actions: &[StepAction]) -> String {
    rewrite::rewrite(&script(text), actions).unwrap()
}

#[test]
fn succeeded_steps_are_removed_with_their_joiners() {
    use StepAction::{Drop, Keep};
    assert_eq!(
        rewritten(
            "dbt deps && dbt seed && dbt run",
            &[Keep, Drop, edit(&[], &["--select", "a"])]
        ),
        "dbt deps && dbt run '--select' 'a'"
    );
    assert_eq!(
        rewritten("dbt seed && dbt snapshot && dbt run", &[Drop, Drop, Keep]),
        "dbt run"
    );
    assert_eq!(
        rewritten(
            "set -e\n# load\ndbt seed\ndbt run\ncp a b\n",
            &[Keep, Drop, Keep, Keep]
        ),
        "set -e\n# load\ndbt run\ncp a b\n"
    );
    assert_eq!(
        rewritten("cd x; dbt seed; dbt run", &[Keep, Drop, Keep]),
        "cd x; dbt run"
    );
    assert_eq!(
        rewritten("cd x; dbt seed\ndbt run", &[Keep, Drop, Keep]),
        "cd x;\ndbt run"
    );
    assert_eq!(
        rewritten(
            "cd x && dbt seed && dbt run && dbt test",
            &[Keep, Drop, Drop, Keep]
        ),
        "cd x && dbt test"
    );
}

#[test]
fn narrowing_replaces_only_selection_words() {
    use StepAction::Keep;
    let text = "dbt deps && dbt build --select a b \\\n  --target \"$T\" # go";
    assert_eq!(
        rewritten(text, &[Keep, edit(&[2, 3, 4], &["--select", "x", "--indirect-selection", "empty"])]),
        "dbt deps && dbt build \\\n  --target \"$T\" '--select' 'x' '--indirect-selection' 'empty' # go"
    );
    let exec = "exec dbt run -s a";
    assert_eq!(
        rewritten(exec, &[edit(&[2, 3], &["--select", "b"])]),
        "exec dbt run '--select' 'b'"
    );
}

#[test]
fn text_outside_ascii_is_read_with_its_offsets() {
    // Found by fuzzing: shuck-parser sliced this inside a multi-byte character and panicked.
    let s = script("\"\\\n\u{FFFD}``\"\u{FFFD}");
    assert_eq!(steps(&s), pairs(&[("-", "\"\\\n\u{FFFD}``\"\u{FFFD}")]));
    let text = "echo \"✓ \\\n`date`\" && é=1 && dbt run -s 'a' # fini ✓\nécho fin";
    let s = script(text);
    assert_eq!(
        steps(&s),
        pairs(&[
            ("-", "echo \"✓ \\\n`date`\""),
            ("-", "é=1"),
            ("run", "dbt run -s 'a'"),
            ("-", "écho fin"),
        ])
    );
    assert_eq!(
        rewritten(
            text,
            &[
                StepAction::Keep,
                StepAction::Keep,
                edit(&[2, 3], &["--select", "b"]),
                StepAction::Keep
            ]
        ),
        "echo \"✓ \\\n`date`\" && é=1 && dbt run '--select' 'b' # fini ✓\nécho fin"
    );
}

#[test]
fn deeply_nested_substitutions_are_refused_before_parsing() {
    // Found by fuzzing: the parser's time grows about 1.5x per unclosed nested opener.
    let deep = format!("dbt run {}", "\"$(${".repeat(20));
    let started = std::time::Instant::now();
    let err = read_script(&deep, false).unwrap_err();
    assert!(err.to_string().contains("substitutions"), "{err}");
    assert!(started.elapsed() < std::time::Duration::from_secs(1));
    // Ordinary nesting reads.
    script("X=\"$(dirname \"$(pwd)\")\"; dbt run --target \"${DBT_TARGET:-${T}}\"");
}
