//! The dbt command a task ran, taken apart just enough to change its node selection and keep
//! everything else as it was.

use serde::Serialize;

/// dbt sub-commands that run nodes and take `--select`.
const SELECTING_VERBS: &[&str] = &["build", "run", "test", "seed", "snapshot"];

/// Every dbt sub-command, to find the verb among global flags.
const VERBS: &[&str] = &[
    "build",
    "run",
    "test",
    "seed",
    "snapshot",
    "compile",
    "docs",
    "source",
    "run-operation",
    "ls",
    "list",
    "parse",
    "debug",
    "deps",
    "clean",
    "init",
    "show",
    "retry",
    "clone",
];

/// Flags (before or after the verb) that take one value, so the value is not taken for a
/// verb or a selector.
const VALUE_FLAGS: &[&str] = &[
    "--log-format",
    "--log-format-file",
    "--log-level",
    "--log-level-file",
    "--log-path",
    "--profiles-dir",
    "--project-dir",
    "--target-path",
    "--printer-width",
    "--warn-error-options",
    "--record-timing-info",
    "-r",
    "--target",
    "-t",
    "--vars",
    "--threads",
    "--profile",
    "--state",
    "--defer-state",
    "--indirect-selection",
    "--selector",
    "--event-time-start",
    "--event-time-end",
    "--sample",
    "--invocation-command",
    "--log-file-max-bytes",
    "--output",
    "--output-keys",
    "--macro",
    "--args",
];

/// Selection flags: each takes one or more values up to the next flag.
const SELECT_FLAGS: &[&str] = &["--select", "-s", "--models", "--model", "-m"];
const EXCLUDE_FLAGS: &[&str] = &["--exclude"];

/// A dbt command line, as a container command or override gives it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DbtCommand {
    /// What runs dbt: `["dbt"]`, `["/usr/local/bin/dbt"]`, or empty when the image's
    /// entrypoint is dbt and the command starts at the verb.
    pub program: Vec<String>,
    /// Flags before the verb (`--log-format json`, `--use-colors`).
    pub global_args: Vec<String>,
    /// The dbt sub-command (`build`, `run`, `test`, `seed`, ...).
    pub verb: String,
    /// Everything after the verb, as given.
    pub args: Vec<String>,
}

/// Where a command's `--threads` is, and the count it gives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThreadsFlag {
    /// Its positions in the argv: the flag and its value, or the one word of `--threads=N`
    /// (or of a `--threads` the argv ends with).
    pub positions: Vec<usize>,
    /// None when the value is not a number (or missing).
    pub count: Option<u32>,
}

impl ThreadsFlag {
    /// The command already runs `threads` dbt threads or fewer.
    pub(crate) fn at_most(&self, threads: u32) -> bool {
        self.count.is_some_and(|n| n <= threads)
    }
}

/// A command dbt-rerun cannot re-select nodes in.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    /// The argv has no words.
    #[error("the command is empty")]
    Empty,
    /// The argv starts with a shell (`sh`, `bash`, ...): a script, not a dbt command.
    #[error("the command runs a shell script ({0}); dbt-rerun re-selects nodes only in a plain `dbt <verb> ...` command")]
    Shell(String),
    /// No dbt sub-command in it (`dbt --version`, `python script.py`).
    #[error("no dbt sub-command found in `{0}`")]
    NoVerb(String),
}

impl DbtCommand {
    /// Takes an argv apart: `[program] [global flags] verb [args]`.
    pub fn parse(argv: &[String]) -> Result<Self, CommandError> {
        let first = argv.first().ok_or(CommandError::Empty)?;
        let base = first.rsplit('/').next().unwrap_or(first);
        if matches!(base, "sh" | "bash" | "dash" | "zsh") {
            return Err(CommandError::Shell(shown(argv)));
        }
        // The program is everything up to the word that names dbt (`dbt`, `/usr/bin/dbt`,
        // `python -m dbt.cli.main`, `uv run dbt`); none when the command starts at the verb or
        // a flag (the image's entrypoint is dbt).
        let mut i = 0;
        if !VERBS.contains(&first.as_str()) && !first.starts_with('-') {
            let names_dbt = |a: &String| a.rsplit('/').next().unwrap_or(a).starts_with("dbt");
            i = argv
                .iter()
                .take(4)
                .position(names_dbt)
                .ok_or_else(|| CommandError::NoVerb(shown(argv)))?
                + 1;
        }
        let program = argv[..i].to_vec();
        let mut global_args = Vec::new();
        while i < argv.len() {
            let arg = &argv[i];
            if VERBS.contains(&arg.as_str()) {
                return Ok(Self {
                    program,
                    global_args,
                    verb: arg.clone(),
                    args: argv[i + 1..].to_vec(),
                });
            }
            global_args.push(arg.clone());
            if takes_value(arg) && i + 1 < argv.len() {
                global_args.push(argv[i + 1].clone());
                i += 1;
            }
            i += 1;
        }
        Err(CommandError::NoVerb(shown(argv)))
    }

    /// The verb runs nodes and takes a selection.
    pub fn selects_nodes(&self) -> bool {
        SELECTING_VERBS.contains(&self.verb.as_str())
    }

    /// The selection as given: `--select`/`--exclude` values, `--selector`,
    /// `--indirect-selection`, wherever they stand.
    pub fn selection(&self) -> Selection {
        let mut selection = Selection::default();
        for args in [&self.global_args, &self.args] {
            let mut i = 0;
            while i < args.len() {
                let (flag, inline) = split_inline(&args[i]);
                i += 1;
                let mut values: Vec<String> = inline.into_iter().collect();
                if is_multi(flag) && values.is_empty() {
                    while i < args.len() && !args[i].starts_with('-') {
                        values.push(args[i].clone());
                        i += 1;
                    }
                } else if takes_value(flag) && values.is_empty() && i < args.len() {
                    values.push(args[i].clone());
                    i += 1;
                }
                // dbt also splits each value on spaces: `--select "a b"` is two selectors.
                let mut values = values
                    .iter()
                    .flat_map(|v| v.split_whitespace())
                    .map(str::to_owned);
                if SELECT_FLAGS.contains(&flag) {
                    selection.select.extend(values);
                } else if EXCLUDE_FLAGS.contains(&flag) {
                    selection.exclude.extend(values);
                } else if flag == "--selector" {
                    selection.selector.extend(values);
                } else if flag == "--indirect-selection" {
                    selection.indirect = values.next_back();
                } else if matches!(flag, "--resource-type" | "--resource-types") {
                    selection.resource_types.extend(values);
                }
            }
        }
        selection
    }

    /// The same command with its selection flags (`--select` and synonyms, `--selector`,
    /// `--indirect-selection`, and `--exclude` unless `keep_exclude`) removed.
    pub(crate) fn without_selection(&self, keep_exclude: bool) -> DbtCommand {
        self.without_flags(Strip {
            select: true,
            exclude: !keep_exclude,
            indirect: true,
            event_time: false,
        })
    }

    /// The same command without the selection flags `strip` names, and their values; every
    /// other argument stays where it was.
    pub fn without_flags(&self, strip: Strip) -> DbtCommand {
        let keep = |args: &[String]| -> Vec<String> {
            let dropped = dropped_in(args, strip);
            args.iter()
                .enumerate()
                .filter(|(i, _)| !dropped.contains(i))
                .map(|(_, a)| a.clone())
                .collect()
        };
        DbtCommand {
            program: self.program.clone(),
            global_args: keep(&self.global_args),
            verb: self.verb.clone(),
            args: keep(&self.args),
        }
    }

    /// The positions in [`DbtCommand::to_argv`] of the words [`DbtCommand::without_flags`]
    /// removes, in order.
    pub fn flag_positions(&self, strip: Strip) -> Vec<usize> {
        let (global_start, args_start) = self.starts();
        let mut positions: Vec<usize> = dropped_in(&self.global_args, strip)
            .into_iter()
            .map(|i| global_start + i)
            .collect();
        positions.extend(
            dropped_in(&self.args, strip)
                .into_iter()
                .map(|i| args_start + i),
        );
        positions
    }

    /// The `--threads` of the command: where it and its value are in
    /// [`DbtCommand::to_argv`] (one word for `--threads=N`), and the count (None when it is not
    /// a number). None when the command has no `--threads`.
    pub fn threads_flag(&self) -> Option<ThreadsFlag> {
        let (global_start, args_start) = self.starts();
        [(&self.global_args, global_start), (&self.args, args_start)]
            .into_iter()
            .find_map(|(args, start)| {
                let (_, words) = flag_words(args)
                    .into_iter()
                    .find(|(flag, _)| *flag == "--threads")?;
                let value = match split_inline(&args[words.start]) {
                    (_, Some(inline)) => Some(inline),
                    _ => args[words.start + 1..words.end].first().cloned(),
                };
                Some(ThreadsFlag {
                    positions: words.map(|w| start + w).collect(),
                    count: value.and_then(|v| v.trim().parse().ok()),
                })
            })
    }

    /// The same command running at most `threads` dbt threads: a `--threads N` (or
    /// `--threads=N`) above it, or that is not a number, set to `threads`; `--threads threads`
    /// added after the arguments when there is none (the profile's count is not known here).
    /// None when the command already runs `threads` or fewer.
    pub(crate) fn with_threads_at_most(&self, threads: u32) -> Option<DbtCommand> {
        let mut argv = self.to_argv();
        match self.threads_flag() {
            Some(flag) if flag.at_most(threads) => return None,
            Some(ThreadsFlag { positions, .. }) => match positions[..] {
                [inline] => argv[inline] = format!("--threads={threads}"),
                [_, value] if value < argv.len() => argv[value] = threads.to_string(),
                _ => argv.push(threads.to_string()),
            },
            None => {
                argv.push("--threads".to_owned());
                argv.push(threads.to_string());
            }
        }
        DbtCommand::parse(&argv).ok()
    }

    /// What a plan's note says of [`DbtCommand::with_threads_at_most`].
    pub(crate) fn fewer_threads_note(threads: u32) -> String {
        format!(
            "with at most {threads} dbt threads after a warehouse error (DBT_RERUN_RETRY_THREADS)"
        )
    }

    /// Where the global flags and the verb's arguments start in [`DbtCommand::to_argv`].
    fn starts(&self) -> (usize, usize) {
        let global_start = self.program.len();
        (global_start, global_start + self.global_args.len() + 1)
    }

    /// The positions in [`DbtCommand::to_argv`] of the words that only choose what runs and
    /// with how many threads (selection, `--selector`, `--exclude`, `--indirect-selection`,
    /// `--threads`, `--event-time-start`/`--event-time-end`): the words a re-run may replace.
    pub(crate) fn reselection_positions(&self) -> Vec<usize> {
        let (global_start, args_start) = self.starts();
        let of = |args: &[String], start: usize| -> Vec<usize> {
            flag_words(args)
                .into_iter()
                .filter(|(flag, _)| is_reselection_flag(flag))
                .flat_map(|(_, words)| words.map(move |i| i + start))
                .collect()
        };
        let mut positions = of(&self.global_args, global_start);
        positions.extend(of(&self.args, args_start));
        positions
    }

    /// The argv again.
    pub fn to_argv(&self) -> Vec<String> {
        let mut argv = self.program.clone();
        argv.extend(self.global_args.iter().cloned());
        argv.push(self.verb.clone());
        argv.extend(self.args.iter().cloned());
        argv
    }

    /// The value of a flag that takes one (`--flag value` or `--flag=value`), the last one
    /// given; None when the command does not have it.
    pub(crate) fn flag_value(&self, name: &str) -> Option<String> {
        [&self.global_args, &self.args]
            .into_iter()
            .flat_map(|args| {
                flag_words(args)
                    .into_iter()
                    .filter(|(flag, _)| *flag == name)
                    .map(|(_, words)| match split_inline(&args[words.start]) {
                        (_, Some(inline)) => Some(inline),
                        _ => args[words.start + 1..words.end].first().cloned(),
                    })
            })
            .last()
            .flatten()
    }

    /// Whether a flag (boolean) is present, e.g. `--fail-fast`.
    pub(crate) fn has_flag(&self, names: &[&str]) -> bool {
        self.global_args
            .iter()
            .chain(&self.args)
            .any(|a| names.contains(&split_inline(a).0))
    }
}

/// The indices of `args` that are selection flags `strip` names, or their values.
fn dropped_in(args: &[String], strip: Strip) -> Vec<usize> {
    flag_words(args)
        .into_iter()
        .filter(|(flag, _)| {
            (strip.select && (SELECT_FLAGS.contains(flag) || *flag == "--selector"))
                || (strip.indirect && *flag == "--indirect-selection")
                || (strip.exclude && EXCLUDE_FLAGS.contains(flag))
                || (strip.event_time && matches!(*flag, "--event-time-start" | "--event-time-end"))
        })
        .flat_map(|(_, words)| words)
        .collect()
}

/// Each word of `args` that is not a flag's value, with the words it spans: a selection
/// flag and the terms up to the next flag, a flag and the value it takes, or the one word
/// (`--flag=value`, a boolean flag, anything else).
fn flag_words(args: &[String]) -> Vec<(&str, std::ops::Range<usize>)> {
    let mut words = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let (flag, inline) = split_inline(&args[i]);
        let start = i;
        i += 1;
        if inline.is_none() {
            if is_multi(flag) {
                while i < args.len() && !args[i].starts_with('-') {
                    i += 1;
                }
            } else if takes_value(flag) && i < args.len() {
                i += 1;
            }
        }
        words.push((flag, start..i));
    }
    words
}

/// Flags whose words [`DbtCommand::reselection_positions`] finds.
fn is_reselection_flag(flag: &str) -> bool {
    SELECT_FLAGS.contains(&flag)
        || EXCLUDE_FLAGS.contains(&flag)
        || matches!(
            flag,
            "--selector"
                | "--indirect-selection"
                | "--threads"
                | "--event-time-start"
                | "--event-time-end"
        )
}

/// Whether `words` are only flags a re-run adds to choose what runs, as dbt-rerun writes
/// them: `--select`/`-s`/`--exclude` with selector terms, `--indirect-selection MODE`,
/// `--threads N`, `--event-time-start TIME`/`--event-time-end TIME`.
pub(crate) fn are_reselection_words(words: &[String]) -> bool {
    let mut i = 0;
    while i < words.len() {
        let flag = words[i].as_str();
        i += 1;
        let values = match flag {
            "--select" | "-s" | "--exclude" => {
                let start = i;
                while i < words.len() && !words[i].starts_with('-') {
                    i += 1;
                }
                if i == start || !words[start..i].iter().all(|t| is_selector_term(t)) {
                    return false;
                }
                continue;
            }
            "--indirect-selection" | "--threads" | "--event-time-start" | "--event-time-end" => {
                words.get(i)
            }
            _ => return false,
        };
        i += 1;
        let valid = values.is_some_and(|v| match flag {
            "--indirect-selection" => {
                matches!(v.as_str(), "eager" | "cautious" | "buildable" | "empty")
            }
            "--threads" => !v.is_empty() && v.len() <= 4 && v.bytes().all(|b| b.is_ascii_digit()),
            _ => is_timestamp(v),
        });
        if !valid {
            return false;
        }
    }
    true
}

/// A dbt `--event-time-*` value: a date or date and time, `2026-11-25` or
/// `2026-11-25T16:00:00Z`.
fn is_timestamp(value: &str) -> bool {
    value.len() <= 40
        && value.starts_with(|c: char| c.is_ascii_digit())
        && value
            .bytes()
            .all(|b| b.is_ascii_digit() || b"-:T.Z+ ".contains(&b))
}

/// Which selection flags [`DbtCommand::without_flags`] removes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Strip {
    /// `--select` and its synonyms, and `--selector`.
    pub select: bool,
    /// `--exclude` and its values.
    pub exclude: bool,
    /// `--indirect-selection` and its value.
    pub indirect: bool,
    /// `--event-time-start` and `--event-time-end` (a microbatch window).
    pub event_time: bool,
}

/// Whether `term` is usable as one dbt selector term given by a person: no flag, no
/// whitespace or shell syntax; letters, digits and dbt's selector punctuation
/// (`_ - . : + @ , * /`).
pub fn is_selector_term(term: &str) -> bool {
    !term.is_empty()
        && term.len() <= 512
        && !term.starts_with('-')
        && term
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-.:+@,*/".contains(&b))
}

/// The node selection of a command.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Selection {
    /// `--select` terms (union); empty means everything.
    pub select: Vec<String>,
    /// `--exclude` terms (removed from the selection).
    pub exclude: Vec<String>,
    /// `--selector` names (YAML selectors, which dbt-rerun cannot see into).
    pub selector: Vec<String>,
    /// `--indirect-selection` (`eager`, `cautious`, `buildable`, `empty`); None: dbt's default.
    pub indirect: Option<String>,
    /// `--resource-type` values, as given.
    pub resource_types: Vec<String>,
}

/// Whether `arg` is a flag that takes the next argument as its value (`--target prod`), so
/// that argument is neither a verb, a flag nor a selector.
pub(crate) fn takes_value_flag(arg: &str) -> bool {
    takes_value(arg)
}

/// Whether `arg` is part of a node selection: `--select` and its synonyms, `--exclude`,
/// `--selector`, `--indirect-selection`, resource type filters (inline `=VALUE` included).
pub(crate) fn is_selection_flag(arg: &str) -> bool {
    let flag = split_inline(arg).0;
    is_multi(flag) || matches!(flag, "--selector" | "--indirect-selection")
}

fn is_multi(flag: &str) -> bool {
    SELECT_FLAGS.contains(&flag)
        || EXCLUDE_FLAGS.contains(&flag)
        || matches!(
            flag,
            "--resource-type"
                | "--resource-types"
                | "--exclude-resource-type"
                | "--exclude-resource-types"
        )
}

fn takes_value(flag: &str) -> bool {
    VALUE_FLAGS.contains(&split_inline(flag).0) && !flag.contains('=')
}

/// `--select=a` -> (`--select`, Some(`a`)).
fn split_inline(arg: &str) -> (&str, Option<String>) {
    match arg.split_once('=') {
        Some((flag, value)) if flag.starts_with("--") => (flag, Some(value.to_owned())),
        _ => (arg, None),
    }
}

fn shown(argv: &[String]) -> String {
    let joined = argv.join(" ");
    crate::log::truncate(&joined, 120).to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(s: &str) -> Vec<String> {
        s.split(' ').map(str::to_owned).collect()
    }

    #[test]
    fn reselection_words_are_found_and_checked() {
        let c = DbtCommand::parse(&argv(
            "dbt --threads 8 build --select a b --target prod --event-time-start 2026-11-25 --exclude c --vars {x:1}",
        ))
        .unwrap();
        let words = c.to_argv();
        let picked: Vec<&str> = c
            .reselection_positions()
            .into_iter()
            .map(|i| words[i].as_str())
            .collect();
        assert_eq!(
            picked,
            [
                "--threads",
                "8",
                "--select",
                "a",
                "b",
                "--event-time-start",
                "2026-11-25",
                "--exclude",
                "c"
            ]
        );
        for ok in [
            "--select a+ tag:x --indirect-selection empty",
            "--exclude b --threads 2",
            "--event-time-start 2026-11-25 --event-time-end 2026-11-26T16:00:00Z",
            "",
        ] {
            let words: Vec<String> = ok.split_whitespace().map(str::to_owned).collect();
            assert!(are_reselection_words(&words), "{ok}");
        }
        for bad in [
            "--select",
            "--select $(curl)",
            "--vars {x:1}",
            "--threads many",
            "--indirect-selection all",
            "--event-time-start now;id",
            "--select a --full-refresh",
        ] {
            let words: Vec<String> = bad.split_whitespace().map(str::to_owned).collect();
            assert!(!are_reselection_words(&words), "{bad}");
        }
    }

    #[test]
    fn program_global_flags_verb_and_args_are_found() {
        let c = DbtCommand::parse(&argv(
            "dbt --log-format json build --select a b --target prod",
        ))
        .unwrap();
        assert_eq!(c.program, ["dbt"]);
        assert_eq!(c.global_args, ["--log-format", "json"]);
        assert_eq!(c.verb, "build");
        assert_eq!(c.args, argv("--select a b --target prod"));
        assert_eq!(
            c.to_argv(),
            argv("dbt --log-format json build --select a b --target prod")
        );

        let entrypoint = DbtCommand::parse(&argv("run --target prod")).unwrap();
        assert!(entrypoint.program.is_empty());
        assert_eq!(entrypoint.verb, "run");

        let python = DbtCommand::parse(&argv("python -m dbt.cli.main test")).unwrap();
        assert_eq!(python.program, argv("python -m dbt.cli.main"));
        assert_eq!(python.verb, "test");

        // A target called `build` is a value, not the verb.
        let c = DbtCommand::parse(&argv("dbt --profiles-dir build run")).unwrap();
        assert_eq!(c.verb, "run");
    }

    #[test]
    fn commands_without_a_dbt_verb_are_refused() {
        assert_eq!(DbtCommand::parse(&[]), Err(CommandError::Empty));
        assert!(matches!(
            DbtCommand::parse(&["sh".into(), "-c".into(), "dbt deps && dbt build".into()]),
            Err(CommandError::Shell(_))
        ));
        assert!(matches!(
            DbtCommand::parse(&argv("dbt --version")),
            Err(CommandError::NoVerb(_))
        ));
        assert!(matches!(
            DbtCommand::parse(&argv("python script.py")),
            Err(CommandError::NoVerb(_))
        ));
    }

    #[test]
    fn the_selection_is_read_in_every_spelling() {
        let c = DbtCommand::parse(&argv(
            "dbt build -s a+ --exclude b c --select=tag:x --indirect-selection cautious --full-refresh -m d",
        ))
        .unwrap();
        let s = c.selection();
        assert_eq!(s.select, ["a+", "tag:x", "d"]);
        assert_eq!(s.exclude, ["b", "c"]);
        assert_eq!(s.indirect.as_deref(), Some("cautious"));
        let quoted =
            DbtCommand::parse(&["dbt".into(), "run".into(), "--select".into(), "a b+".into()])
                .unwrap();
        assert_eq!(quoted.selection().select, ["a", "b+"]);
        let sel = DbtCommand::parse(&argv("dbt build --selector nightly")).unwrap();
        assert_eq!(sel.selection().selector, ["nightly"]);
    }

    #[test]
    fn removing_the_selection_keeps_every_other_flag_in_place() {
        let c = DbtCommand::parse(&argv(
            "dbt --log-format json build --select a b --vars {x:1} --exclude c --selector s --full-refresh --target prod",
        ))
        .unwrap();
        assert_eq!(
            c.without_selection(true).to_argv(),
            argv(
                "dbt --log-format json build --vars {x:1} --exclude c --full-refresh --target prod"
            )
        );
        assert_eq!(
            c.without_selection(false).to_argv(),
            argv("dbt --log-format json build --vars {x:1} --full-refresh --target prod")
        );
        assert!(c.has_flag(&["--full-refresh"]));
        assert!(!c.has_flag(&["--fail-fast", "-x"]));
    }
    #[test]
    fn the_threads_flag_is_found_where_the_argv_has_it() {
        let flag = |c: &str| DbtCommand::parse(&argv(c)).unwrap().threads_flag();
        assert_eq!(
            flag("dbt run --select a b --threads 4"),
            Some(ThreadsFlag {
                positions: vec![5, 6],
                count: Some(4)
            })
        );
        assert_eq!(
            flag("dbt --log-format json build --threads=x"),
            Some(ThreadsFlag {
                positions: vec![4],
                count: None
            })
        );
        // A value of another flag is not the flag; a flag without its value is one word.
        assert_eq!(flag("dbt build --target --threads"), None);
        assert_eq!(
            flag("dbt build --select --threads"),
            Some(ThreadsFlag {
                positions: vec![3],
                count: None
            })
        );
    }

    #[test]
    fn threads_are_lowered_or_added_and_never_raised() {
        let at_most = |c: &str, n| {
            DbtCommand::parse(&argv(c))
                .unwrap()
                .with_threads_at_most(n)
                .map(|c| c.to_argv().join(" "))
        };
        assert_eq!(
            at_most("dbt build --select a b", 2).as_deref(),
            Some("dbt build --select a b --threads 2")
        );
        assert_eq!(
            at_most("dbt build --threads 8 --select a", 2).as_deref(),
            Some("dbt build --threads 2 --select a")
        );
        assert_eq!(
            at_most("dbt run --threads=16 --target prod", 4).as_deref(),
            Some("dbt run --threads=4 --target prod")
        );
        assert_eq!(
            at_most("dbt build --threads x", 1).as_deref(),
            Some("dbt build --threads 1")
        );
        // Already at or below: nothing changes.
        assert_eq!(at_most("dbt build --threads 1", 2), None);
        assert_eq!(at_most("dbt build --threads=2", 2), None);
        // A value of another flag is not the flag.
        assert_eq!(
            at_most("dbt build --target --threads", 1).as_deref(),
            Some("dbt build --target --threads --threads 1")
        );
    }
}
