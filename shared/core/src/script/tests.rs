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
                StepKind::Exit => "exit".to_owned(),
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
        ("echo x | dbt run", "not as its first command"),
        ("dbt run | grep -v WARN", "`grep -v WARN`"),
        ("dbt run | tee x > /dev/null", "`tee x > /dev/null`"),
        ("exec dbt run | tee x", "`exec` inside a pipeline"),
        ("dbt run || dbt retry", "after `||`"),
        ("cd x || dbt run; dbt test", "after `||`"),
        ("{ dbt seed; dbt run; } || exit 1", "`{ ...; }` group"),
        (
            "dbt run || { echo failed; eval \"dbt $RETRY\"; }",
            "after `||`",
        ),
        ("dbt run || ( cd x && dbt retry )", "after `||`"),
        ("if true; then dbt run; fi", "`if`"),
        ("for m in a b; do dbt run -s $m; done", "`for`"),
        ("(cd x && dbt run)", "subshell"),
        ("f() { dbt run; }; f", "function"),
        ("eval \"$CMD\"", "eval"),
        ("X=$(dbt ls)", "substitutes"),
        ("cat <<EOF\nhi\nEOF\ndbt run", "heredoc"),
        ("dbt run > out.log", "redirects"),
        ("dbt run 2>&1 >> out.log", "redirects"),
        ("dbt run &> out.log", "redirects"),
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
    assert_eq!(
        steps(&s),
        pairs(&[
            ("-", "if [ -n \"$X\" ]; then echo hi; fi"),
            ("-", "ls | wc -l"),
            ("-", "mkdir -p x"),
            ("-", "true"),
            ("run", "dbt run"),
        ])
    );
}

#[test]
fn shells_and_their_options_are_read() {
    let opts = |errexit, pipefail| ShellOptions { errexit, pipefail };
    for (command, options, at) in [
        (argv(&["sh", "-c", "dbt run"]), opts(false, false), 2),
        (argv(&["/bin/sh", "-ec", "dbt run"]), opts(true, false), 2),
        (
            argv(&["bash", "-o", "pipefail", "-c", "dbt run"]),
            opts(false, true),
            4,
        ),
        (
            argv(&["bash", "-exc", "dbt run", "name"]),
            opts(true, false),
            2,
        ),
        (
            argv(&["sh", "-e", "-o", "errexit", "-c", "dbt run"]),
            opts(true, false),
            5,
        ),
        (argv(&["dash", "-lc", "dbt run"]), opts(false, false), 2),
        (
            argv(&["bash", "-eo", "pipefail", "-c", "dbt run"]),
            opts(true, true),
            4,
        ),
        (
            argv(&["bash", "-o", "pipefail", "+o", "pipefail", "-c", "x"]),
            opts(false, false),
            6,
        ),
    ] {
        assert_eq!(
            shell_script(&command).unwrap(),
            (at, options),
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
        (vec![], argv(&["sh", "-c", "dbt run | grep x"]), "`grep x`"),
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

#[test]
fn or_lists_handlers_and_pipelines_become_steps() {
    let s = script("dbt build || { echo failed | mail -s x ops; exit 1; }\necho done");
    assert_eq!(
        steps(&s),
        pairs(&[
            ("build", "dbt build"),
            ("exit", "{ echo failed | mail -s x ops; exit 1; }"),
            ("-", "echo done"),
        ])
    );
    assert!(matches!(s.steps[1].joiner, Joiner::Or { operator: 10 }));
    assert_eq!(s.statements.len(), 2);
    for (text, kind) in [
        ("dbt run || exit 1", "exit"),
        (
            "dbt run || { echo \"dbt run failed\" >&2; exit 1; }",
            "exit",
        ),
        ("dbt run || true", "-"),
        ("dbt run || { echo failed; exit $?; }", "exit"),
        ("dbt run || { exit 1; echo unreachable; }", "-"),
        ("dbt run || ( exit 1 )", "-"),
    ] {
        assert_eq!(steps(&script(text))[1].0, kind, "{text}");
    }
    // `a && b || c && d` is read left to right.
    let s = script("dbt seed && dbt run || echo failed && dbt test");
    let joiners: Vec<&str> = s
        .steps
        .iter()
        .map(|st| match st.joiner {
            Joiner::Statement => ";",
            Joiner::And { .. } => "&&",
            Joiner::Or { .. } => "||",
        })
        .collect();
    assert_eq!(joiners, [";", "&&", "||", "&&"]);

    let text =
        "set -e\ndbt deps && dbt build --select a 2>&1 | tee -a run.log; exit ${PIPESTATUS[0]}";
    let s = script(text);
    assert_eq!(
        steps(&s),
        pairs(&[
            ("-", "set -e"),
            ("deps", "dbt deps"),
            ("build", "dbt build --select a 2>&1 | tee -a run.log"),
            ("exit", "exit ${PIPESTATUS[0]}"),
        ])
    );
    assert!(s.steps[2].piped && !s.steps[2].pipefail && s.steps[2].status_hidden());
    let StepKind::Dbt(build) = &s.steps[2].kind else {
        panic!()
    };
    assert_eq!(build.command.selection().select, ["a"]);
    let s = script("set -euo pipefail\ndbt run |& cat");
    assert!(s.steps[1].errexit && s.steps[1].pipefail && !s.steps[1].status_hidden());
    let s = script("dbt seed 2>&1 && dbt run >&2");
    assert_eq!(
        steps(&s),
        pairs(&[("seed", "dbt seed 2>&1"), ("run", "dbt run >&2")])
    );
}

#[test]
fn a_refusal_shows_the_whole_construct_it_names() {
    let text = "dbt deps && dbt build --target prod || dbt retry --target prod";
    let e = read_script(text, false).unwrap_err().to_string();
    assert!(e.contains(&format!("`{text}`")), "{e}");
    let long = format!("dbt run | grep -v {}", "x".repeat(200));
    let e = read_script(&long, false).unwrap_err().to_string();
    assert!(e.contains("…`"), "{e}");
}

#[test]
fn handlers_of_removed_steps_go_with_them() {
    use StepAction::{Drop, Keep};
    let text = "dbt seed || exit 1\ndbt run || exit 1\n";
    let s = script(text);
    let mut actions = vec![Drop, Keep, edit(&[], &["--select", "a"]), Keep];
    drop_orphan_handlers(&s, &mut actions);
    assert_eq!(actions[1], Drop);
    assert_eq!(
        rewrite::rewrite(&s, &actions).unwrap(),
        "dbt run '--select' 'a' || exit 1\n"
    );
    let s = script("dbt seed || true && dbt run || { notify; exit 1; }");
    let mut actions = vec![Drop, Keep, edit(&[], &["--select", "a"]), Keep];
    drop_orphan_handlers(&s, &mut actions);
    assert_eq!(actions, [Drop, Drop, actions[2].clone(), Keep]);
    assert_eq!(
        rewrite::rewrite(&s, &actions).unwrap(),
        "dbt run '--select' 'a' || { notify; exit 1; }"
    );
    // A handler's redirect goes with it.
    let s = script("dbt seed || echo failed >> \"$LOG\"\ndbt run\n");
    let mut actions = vec![Drop, Keep, edit(&[], &["--select", "a"])];
    drop_orphan_handlers(&s, &mut actions);
    assert_eq!(
        rewrite::rewrite(&s, &actions).unwrap(),
        "dbt run '--select' 'a'\n"
    );
    // A removed step inside the list: its handler stays, now the list's.
    let s = script("dbt deps && dbt seed || exit 1");
    let mut actions = vec![Keep, Drop, Keep];
    drop_orphan_handlers(&s, &mut actions);
    assert_eq!(
        rewrite::rewrite(&s, &actions).unwrap(),
        "dbt deps || exit 1"
    );
    // A pipeline goes whole, its redirect with it.
    assert_eq!(
        rewritten(
            "dbt seed 2>&1 | tee a.log && dbt run 2>&1 | tee -a a.log",
            &[Drop, edit(&[], &["--select", "b"])]
        ),
        "dbt run '--select' 'b' 2>&1 | tee -a a.log"
    );
}

/// An invocation as the splitter would give it: `ok` and `failed` end with dbt's marker
/// (`failed` with a failed node), `quiet` without a marker or an error (a verb that prints
/// none), `cut` a marker verb cut off.
fn invocation(how: &str) -> crate::log::Invocation {
    let mut report = crate::log::RunReport {
        end_of_run: matches!(how, "ok" | "failed"),
        ..Default::default()
    };
    if how == "failed" {
        report.failed.push(crate::node::FailedNode {
            name: "fct_orders".to_owned(),
            // Of no type a verb rules out.
            resource_type: crate::node::ResourceType::Other,
            unique_id: None,
            status: crate::node::FailStatus::Error,
            message: "SSL SYSCALL error".to_owned(),
            detail: String::new(),
        });
    }
    crate::log::Invocation {
        report,
        invocation_id: None,
        first_line: 1,
        setup_markers: false,
    }
}

/// The outcome of every step of `text` (read with `sh -c`) given invocations and exit code.
fn outcomes(
    text: &str,
    hows: &[&str],
    exit_code: Option<i32>,
) -> Result<Vec<&'static str>, String> {
    let invocations: Vec<_> = hows.iter().map(|h| invocation(h)).collect();
    map_invocations(&script(text), &invocations, exit_code)
        .map(|o| o.iter().map(|o| o.as_str()).collect())
        .map_err(|e| e.to_string())
}

#[test]
fn a_step_without_an_end_of_run_marker_succeeded_when_its_failure_would_have_stopped_the_script() {
    let pipeline = "dbt deps && dbt run-operation stage_external_sources && dbt run && dbt test";
    assert_eq!(
        outcomes(pipeline, &["ok", "quiet", "failed"], Some(1)),
        Ok(vec!["succeeded", "succeeded", "failed", "never_ran"])
    );
    assert_eq!(
        outcomes(
            "set -e\ndbt compile\ndbt run",
            &["quiet", "failed"],
            Some(1)
        ),
        Ok(vec!["ran", "succeeded", "failed"])
    );
    assert_eq!(
        outcomes(
            "dbt compile || exit 1\ndbt run",
            &["quiet", "failed"],
            Some(1)
        ),
        Ok(vec!["succeeded", "never_ran", "failed"])
    );
    // The shell goes on whatever its status: not known.
    for text in [
        "dbt compile; dbt run",
        "dbt compile || true\ndbt run",
        "set -e\ndbt compile | tee c.log\ndbt run",
        "set -e\ndbt compile && echo compiled\ndbt run",
    ] {
        let e = outcomes(text, &["quiet", "failed"], Some(1)).unwrap_err();
        assert!(
            e.contains("`dbt compile`") && e.contains("not known"),
            "{text}: {e}"
        );
    }
    // A verb that prints the marker and has none, with another invocation after it.
    let e = outcomes("dbt seed; dbt run", &["quiet", "ok"], Some(0)).unwrap_err();
    assert!(e.contains("yet another"), "{e}");
}

#[test]
fn the_last_step_without_an_end_of_run_marker_is_read_from_the_exit_code() {
    let text = "set -e\ndbt run\ndbt docs generate\naws s3 sync target/ s3://docs/";
    for (code, docs) in [
        (Some(1), "succeeded"),
        (Some(0), "succeeded"),
        (Some(137), "killed"),
        (Some(143), "killed"),
        (None, "killed"),
    ] {
        let got = outcomes(text, &["ok", "quiet"], code).unwrap();
        assert_eq!(got[2], docs, "exit {code:?}");
    }
    // dbt's own error is a failure, whatever the exit code.
    let mut error = invocation("quiet");
    error.report.error = Some("Compilation Error".to_owned());
    let run = map_invocations(&script(text), &[invocation("ok"), error], Some(2)).unwrap();
    assert_eq!(run[2], StepOutcome::Failed(1));
    // `dbt debug` fails a check without an error.
    let e = outcomes("dbt debug && aws s3 cp x y", &["quiet"], Some(1)).unwrap_err();
    assert!(e.contains("dbt debug"), "{e}");
    assert_eq!(
        outcomes("dbt debug && aws s3 cp x y", &["quiet"], Some(0)),
        Ok(vec!["succeeded", "ran"])
    );
}

#[test]
fn control_flow_follows_and_or_lists_set_e_pipelines_and_handlers() {
    let cases: &[(&str, &[&str], &[&str])] = &[
        // `set -e` is ignored for a step followed by `&&`: the next line runs.
        (
            "set -e\ndbt seed && dbt run\necho after\ndbt test",
            &["failed", "ok"],
            &["ran", "failed", "never_ran", "ran", "succeeded"],
        ),
        (
            "set -e\ndbt run || true\necho after",
            &["failed"],
            &["ran", "failed", "ran", "ran"],
        ),
        (
            "set -e\ndbt run || { echo notify; exit 1; }\necho after",
            &["failed"],
            &["ran", "failed", "ran", "never_ran"],
        ),
        (
            "set -e\ndbt run || { echo notify; exit 1; }\necho after",
            &["ok"],
            &["ran", "succeeded", "never_ran", "ran"],
        ),
        (
            "set -e\ndbt run | tee x\necho after",
            &["failed"],
            &["ran", "failed", "ran"],
        ),
        (
            "set -eo pipefail\ndbt run | tee x\necho after",
            &["failed"],
            &["ran", "failed", "never_ran"],
        ),
        (
            "dbt seed && dbt run || echo failed && dbt test",
            &["ok", "failed", "ok"],
            &["succeeded", "failed", "ran", "succeeded"],
        ),
    ];
    for (text, hows, expected) in cases {
        assert_eq!(
            outcomes(text, hows, Some(1)).as_deref(),
            Ok(*expected),
            "{text}"
        );
    }
}
