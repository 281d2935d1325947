//! Who may launch what through rerun-task.
//!
//! A key design decision: rerun-task holds `ecs:RunTask` on the dbt task family and
//! `iam:PassRole` on its roles, and lends them to whoever may invoke it. So that "may re-run
//! dbt" never becomes "may run any program as the dbt task's role", it launches dbt only,
//! unless the stack opts out (`DBT_RERUN_ALLOW_CUSTOM_COMMANDS`, the behaviour before these
//! rules):
//! - a command is a dbt command run by a dbt program the task itself uses, or the task's own
//!   command (the task definition's; for a delayed re-run also what its origin task ran), of
//!   which only the words that choose what runs may change (a script: [`narrows`]);
//! - an environment variable is one dbt reads (`DBT_*`) or one the stack lists
//!   (`DBT_RERUN_ALLOWED_ENVIRONMENT`); never one that changes what a process loads or runs,
//!   even when listed (`never_allowed`); never dbt-rerun's own chain variables; and one the
//!   task definition sets itself only when listed, so a caller cannot point a profile's
//!   `env_var('DBT_HOST')` at another server.
//!
//! A re-run of a stopped task (`from_task_arn`) is planned by dbt-rerun from what ECS reports
//! of that task, so it needs no check. A delayed re-run's planned launch does
//! ([`LaunchRules::check_planned`]): whoever may invoke the function can hand one in.

use crate::chain::is_chain_var;
use crate::command::DbtCommand;
use crate::event::{ContainerOverride, EcsTask, KeyValue};
use crate::schedule::PlannedLaunch;
use crate::script::{is_shell, narrows, StepKind, TaskCommand};
use crate::task_definition::ContainerDefinition;

/// The stack's choice of what rerun-task may launch.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LaunchRules {
    /// `DBT_RERUN_ALLOW_CUSTOM_COMMANDS`: any command and environment.
    pub custom_commands: bool,
    /// `DBT_RERUN_ALLOWED_ENVIRONMENT`: names beyond `DBT_*` a request may set, and names of
    /// the task definition's own variables a request may replace.
    pub allowed_environment: Vec<String>,
}

/// What a task runs of its own accord: what a request is checked against.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OwnLaunch {
    /// The dbt container's entry point in the task definition (empty when none).
    pub entry_point: Vec<String>,
    /// Commands the task runs itself: the task definition's, and for a delayed re-run the
    /// override its origin task ran.
    pub commands: Vec<Vec<String>>,
    /// Variables the task definition sets itself (`environment` and `secrets`).
    pub environment_names: Vec<String>,
    /// For a delayed re-run: the environment override its origin task ran with.
    pub origin_environment: Vec<KeyValue>,
    /// For a delayed re-run: the other containers' overrides its origin task ran with.
    pub origin_other_overrides: Vec<ContainerOverride>,
}

impl OwnLaunch {
    /// What the task definition's dbt container runs by itself.
    pub fn of(container: &ContainerDefinition) -> Self {
        Self {
            entry_point: container.entry_point.clone().unwrap_or_default(),
            commands: container.command.iter().cloned().collect(),
            environment_names: container.environment_names.clone(),
            ..Self::default()
        }
    }

    /// The same, and what `origin` (a stopped task ECS still lists) ran in `container`.
    pub fn with_origin(mut self, origin: &EcsTask, container: &str) -> Self {
        if let Some(command) = origin
            .container_override(container)
            .and_then(|o| o.command.clone())
        {
            self.commands.push(command);
        }
        self.origin_environment = origin.environment_of(container);
        self.origin_other_overrides = origin.other_overrides(container);
        self
    }

    /// The dbt programs the task's own commands use (`dbt`, `/usr/local/bin/dbt`, `uv run
    /// dbt`, or none when the entry point is dbt); `dbt` after the entry point when they show
    /// none.
    fn dbt_programs(&self) -> Vec<Vec<String>> {
        let mut programs: Vec<Vec<String>> = Vec::new();
        for command in &self.commands {
            match TaskCommand::read(&self.entry_point, command) {
                TaskCommand::Dbt(dbt) => programs.push(dbt.program),
                TaskCommand::Script(shell) => programs.extend(
                    shell
                        .script
                        .steps
                        .iter()
                        .filter_map(|step| match &step.kind {
                            StepKind::Dbt(dbt) => Some(dbt.command.program.clone()),
                            _ => None,
                        }),
                ),
                TaskCommand::Opaque(_) => {}
            }
        }
        if programs.is_empty() {
            let mut default = self.entry_point.clone();
            default.push("dbt".to_owned());
            programs.push(default);
        }
        programs
    }
}

/// Why rerun-task refuses to launch something; the message names the field and what allows it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The command is neither dbt nor the task's own script.
    #[error("{field}: `{shown}` is not a dbt command: rerun-task launches dbt only (a dbt command, or the task definition's own command with `select`, `exclude` or `step`); the stack parameter AllowCustomCommands=true lets it launch other commands")]
    NotDbt {
        /// The request's field (`command`, `planned_launch.launch.command`, ...).
        field: String,
        /// The command as asked, joined, at most 120 characters.
        shown: String,
    },
    /// A dbt command run by a program none of the task's own commands uses.
    #[error("{field}: `{shown}` runs dbt as `{program}`, which the task does not (it runs {known}); the stack parameter AllowCustomCommands=true lets rerun-task launch other programs")]
    OtherProgram {
        /// The request's field (`command`, `planned_launch.launch.command`, ...).
        field: String,
        /// The command as asked, joined, at most 120 characters.
        shown: String,
        /// The program that runs dbt in it, joined (`uv run dbt`).
        program: String,
        /// The programs the task's own commands use, listed.
        known: String,
    },
    /// The task's own script with more changed than the words that choose what runs.
    #[error("{field}: the script is not the task's own with only the words that choose what runs changed: rerun-task launches the task's own script with `select`, `exclude` and `step`; the stack parameter AllowCustomCommands=true lets it launch other scripts")]
    ScriptChanged {
        /// The request's field (`command`, `planned_launch.launch.command`, ...).
        field: String,
    },
    /// A variable that changes what a process loads or runs.
    #[error("{field}: `{name}` changes what a process loads or runs, and rerun-task never sets it (AllowedEnvironment cannot list it)")]
    NeverAllowed {
        /// The request's field (`environment`, `planned_launch.launch.environment`).
        field: String,
        /// The variable's name.
        name: String,
    },
    /// One of dbt-rerun's own variables (a chain variable or `DBT_RERUN_*`).
    #[error("{field}: `{name}` is dbt-rerun's own (it numbers a chain's attempts) and is set by dbt-rerun only")]
    ChainVariable {
        /// The request's field (`environment`, `planned_launch.launch.environment`).
        field: String,
        /// The variable's name.
        name: String,
    },
    /// A variable the task definition sets, which AllowedEnvironment does not list.
    #[error("{field}: `{name}` is set by the task definition; a request may replace it only when the stack parameter AllowedEnvironment lists it")]
    ReplacesTaskDefinition {
        /// The request's field (`environment`, `planned_launch.launch.environment`).
        field: String,
        /// The variable's name.
        name: String,
    },
    /// A variable neither `DBT_*` nor listed in AllowedEnvironment.
    #[error("{field}: `{name}` is not a variable dbt reads (DBT_*); the stack parameter AllowedEnvironment lists the others a request may set")]
    NotListed {
        /// The request's field (`environment`, `planned_launch.launch.environment`).
        field: String,
        /// The variable's name.
        name: String,
    },
    /// A planned launch's chain variable other than its chain gives that attempt.
    #[error("{field}: `{name}` does not match the chain the planned launch continues")]
    ChainMismatch {
        /// The request's field (`environment`, `planned_launch.launch.environment`).
        field: String,
        /// The variable's name.
        name: String,
    },
    /// A planned launch's overrides of other containers are not its origin's.
    #[error("planned_launch.launch.other_overrides: overrides of other containers that the origin task did not run with")]
    OtherContainers,
}

/// Whether `name` can name an environment variable: a letter or `_`, then letters, digits and
/// `_`, at most 255 bytes.
pub fn is_variable_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && name.len() <= 255
}

/// Whether a variable changes what a process loads or runs: the dynamic loader's (`LD_*`,
/// `GLIBC_TUNABLES`, ...), the shell's start-up and function imports, Python's, Git's (dbt
/// deps runs git), other runtimes' option variables, `PATH` and `HOME` (Python's user
/// site-packages), and `DBT_PACKAGE_HUB_URL` (where `dbt deps` fetches packages' code).
pub(crate) fn never_allowed(name: &str) -> bool {
    const NAMES: &[&str] = &[
        "PATH",
        "HOME",
        "ENV",
        "BASH_ENV",
        "SHELLOPTS",
        "BASHOPTS",
        "PS4",
        "PROMPT_COMMAND",
        "IFS",
        "GLIBC_TUNABLES",
        "GCONV_PATH",
        "HOSTALIASES",
        "LOCPATH",
        "NLSPATH",
        "NODE_OPTIONS",
        "PERL5OPT",
        "PERL5LIB",
        "PERLLIB",
        "RUBYOPT",
        "RUBYLIB",
        "JAVA_TOOL_OPTIONS",
        "_JAVA_OPTIONS",
        "JDK_JAVA_OPTIONS",
        "SSH_ASKPASS",
        "DBT_PACKAGE_HUB_URL",
    ];
    const PREFIXES: &[&str] = &["LD_", "DYLD_", "PYTHON", "BASH_FUNC_", "GIT_", "MALLOC_"];
    NAMES.contains(&name) || PREFIXES.iter().any(|p| name.starts_with(p))
}

impl LaunchRules {
    /// A command a request asks for (`field` names it in the refusal).
    pub fn check_command(
        &self,
        field: &str,
        command: &[String],
        own: &OwnLaunch,
    ) -> Result<(), Refusal> {
        if self.custom_commands || own.commands.iter().any(|c| c == command) {
            return Ok(());
        }
        let shown = crate::log::truncate(&command.join(" "), 120).to_owned();
        let runs_shell = own
            .entry_point
            .first()
            .or(command.first())
            .is_some_and(|p| is_shell(p));
        match TaskCommand::read(&own.entry_point, command) {
            TaskCommand::Script(candidate) => {
                let own_scripts: Vec<_> = own
                    .commands
                    .iter()
                    .filter_map(|c| match TaskCommand::read(&own.entry_point, c) {
                        TaskCommand::Script(shell) => Some(shell),
                        _ => None,
                    })
                    .collect();
                if own_scripts.iter().any(|s| narrows(s, &candidate.argv)) {
                    Ok(())
                } else if own_scripts.is_empty() {
                    Err(Refusal::NotDbt {
                        field: field.to_owned(),
                        shown,
                    })
                } else {
                    Err(Refusal::ScriptChanged {
                        field: field.to_owned(),
                    })
                }
            }
            TaskCommand::Dbt(dbt) if !runs_shell => self.dbt_program(field, &shown, &dbt, own),
            _ => Err(Refusal::NotDbt {
                field: field.to_owned(),
                shown,
            }),
        }
    }

    fn dbt_program(
        &self,
        field: &str,
        shown: &str,
        dbt: &DbtCommand,
        own: &OwnLaunch,
    ) -> Result<(), Refusal> {
        let known = own.dbt_programs();
        if known.contains(&dbt.program) {
            return Ok(());
        }
        let show = |p: &[String]| {
            if p.is_empty() {
                "(the entry point)".to_owned()
            } else {
                format!("`{}`", p.join(" "))
            }
        };
        Err(Refusal::OtherProgram {
            field: field.to_owned(),
            shown: shown.to_owned(),
            program: dbt.program.join(" "),
            known: known.iter().map(|p| show(p)).collect::<Vec<_>>().join(", "),
        })
    }

    /// A request's environment variables (`field` names them in the refusal).
    pub fn check_environment(
        &self,
        field: &str,
        environment: &[KeyValue],
        own: &OwnLaunch,
    ) -> Result<(), Refusal> {
        if self.custom_commands {
            return Ok(());
        }
        environment
            .iter()
            .try_for_each(|kv| self.check_name(field, &kv.name, own))
    }

    fn check_name(&self, field: &str, name: &str, own: &OwnLaunch) -> Result<(), Refusal> {
        let refusal =
            |make: fn(String, String) -> Refusal| Err(make(field.to_owned(), name.to_owned()));
        let listed = self.allowed_environment.iter().any(|n| n == name);
        if never_allowed(name) {
            refusal(|field, name| Refusal::NeverAllowed { field, name })
        } else if is_chain_var(name) || name.starts_with("DBT_RERUN_") {
            refusal(|field, name| Refusal::ChainVariable { field, name })
        } else if listed {
            Ok(())
        } else if own.environment_names.iter().any(|n| n == name) {
            refusal(|field, name| Refusal::ReplacesTaskDefinition { field, name })
        } else if name.starts_with("DBT_") {
            Ok(())
        } else {
            refusal(|field, name| Refusal::NotListed { field, name })
        }
    }

    /// A delayed re-run's planned launch, handed to rerun-task by its schedule or by anyone who
    /// may invoke it: its command and the original command it carries for later attempts are
    /// checked like a request's; its environment is the chain's variables (as the chain
    /// derives them), the origin's own override, or what a request may set; other containers'
    /// overrides are the origin's.
    pub fn check_planned(&self, planned: &PlannedLaunch, own: &OwnLaunch) -> Result<(), Refusal> {
        if self.custom_commands {
            return Ok(());
        }
        self.check_command(
            "planned_launch.launch.command",
            &planned.launch.command,
            own,
        )?;
        if let Some(original) = &planned.original_command {
            self.check_command("planned_launch.original_command", original, own)?;
        }
        let field = "planned_launch.launch.environment";
        let chain = planned.chain().environment(&[], planned.attempt);
        for kv in &planned.launch.environment {
            if is_chain_var(&kv.name) {
                if !chain.contains(kv) {
                    return Err(Refusal::ChainMismatch {
                        field: field.to_owned(),
                        name: kv.name.clone(),
                    });
                }
            } else if !own.origin_environment.contains(kv) {
                self.check_name(field, &kv.name, own)?;
            }
        }
        let others = &planned.launch.other_overrides;
        if !others.is_empty() && *others != own.origin_other_overrides {
            return Err(Refusal::OtherContainers);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
