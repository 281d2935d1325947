//! rerun-task's payload: a person's request to re-run, by selection, by command, "like
//! on-task-stopped would" for a stopped task, or a delayed re-run's planned launch.
//!
//! **API boundary**: the payload's fields are rerun-task's interface (and
//! `dbt-rerun invoke`'s flags); they are added to, never renamed or removed. The payload is
//! read as given and then checked into one [`Mode`], so each mode sees only its own fields.

use dbt_rerun_core::command::{is_selector_term, DbtCommand, Strip};
use dbt_rerun_core::schedule::PlannedLaunch;
use dbt_rerun_core::script::{with_step_selection, TaskCommand};
use serde::Deserialize;
use std::collections::BTreeMap;

/// The payload of rerun-task (and the arguments of `dbt-rerun invoke`). At least one of
/// `select`, `command` or `from_task_arn`; the rest defaults from the environment.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RerunRequest {
    /// dbt selector terms, replacing the command's selection: `"fct_sales+ tag:daily"` or a list.
    #[serde(default)]
    pub select: Option<Terms>,
    #[serde(default)]
    pub exclude: Option<Terms>,
    /// For a command that runs a shell script: the step (1-based, as the decision record's
    /// `script_steps` number them) whose selection `select`/`exclude` replace; needed when
    /// several dbt steps select nodes.
    #[serde(default)]
    pub step: Option<usize>,
    /// The dbt command; default: the task definition's.
    #[serde(default)]
    pub command: Option<Vec<String>>,
    /// Extra environment variables for the dbt container.
    #[serde(default)]
    pub environment: BTreeMap<String, String>,
    #[serde(default)]
    pub cluster: Option<String>,
    #[serde(default)]
    pub task_definition: Option<String>,
    #[serde(default)]
    pub container: Option<String>,
    /// Plan from this stopped task's log exactly as on-task-stopped would, and launch that.
    #[serde(default)]
    pub from_task_arn: Option<String>,
    #[serde(default)]
    pub dry_run: bool,
    /// A re-run on-task-stopped planned and delayed: its schedule's input. Launched exactly,
    /// after the same checks (already running, superseded); comes alone.
    #[serde(default)]
    pub planned_launch: Option<PlannedLaunch>,
}

/// Selector terms as one space-separated string or a list.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Terms {
    One(String),
    Many(Vec<String>),
}

impl Terms {
    pub(crate) fn split(&self) -> Vec<String> {
        let all: Vec<&String> = match self {
            Terms::One(s) => vec![s],
            Terms::Many(v) => v.iter().collect(),
        };
        all.iter()
            .flat_map(|s| s.split_whitespace())
            .map(str::to_owned)
            .collect()
    }
}

/// A payload that cannot be carried out; the message names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    #[error("{field}: {problem}")]
    Field { field: String, problem: String },
    #[error("give at least one of `select`, `command` or `from_task_arn`")]
    NothingToRun,
    /// What the payload asks for is not something rerun-task launches for its callers.
    #[error(transparent)]
    Refused(#[from] dbt_rerun_core::launch_rules::Refusal),
    /// A planned launch the task definition does not account for, whose origin task ECS no
    /// longer lists (it keeps stopped tasks for about an hour).
    #[error("{refusal} (checked against the task definition: ECS no longer lists the origin task {origin}, whose own command and overrides could account for it)")]
    RefusedWithoutOrigin {
        refusal: dbt_rerun_core::launch_rules::Refusal,
        origin: String,
    },
}

pub(crate) fn field(field: &str, problem: impl Into<String>) -> RequestError {
    RequestError::Field {
        field: field.to_owned(),
        problem: problem.into(),
    }
}

/// What a request asks for.
#[derive(Debug, Clone, Copy)]
pub enum Mode<'a> {
    /// A delayed re-run's schedule fired: launch exactly this.
    Planned(&'a PlannedLaunch),
    /// Re-plan this stopped task from its log and launch that.
    FromTask {
        task_arn: &'a str,
        cluster: Option<&'a str>,
    },
    /// Launch the task definition's (or the given) command with the given selection.
    Manual(Manual<'a>),
}

/// A manual re-run's fields.
#[derive(Debug, Clone, Copy)]
pub struct Manual<'a> {
    pub select: Option<&'a Terms>,
    pub exclude: Option<&'a Terms>,
    pub step: Option<usize>,
    pub command: Option<&'a [String]>,
    pub environment: &'a BTreeMap<String, String>,
    pub cluster: Option<&'a str>,
    pub task_definition: Option<&'a str>,
    pub container: Option<&'a str>,
}

impl RerunRequest {
    /// Reads a payload; errors name the field (`select: invalid type: integer ...`).
    pub fn from_json(json: &[u8]) -> Result<Self, RequestError> {
        let de = &mut serde_json::Deserializer::from_slice(json);
        serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            let path = if path == "." {
                "payload".to_owned()
            } else {
                path
            };
            field(&path, e.into_inner().to_string())
        })
    }

    /// The request's mode, with the fields that mode does not take refused by name.
    pub fn mode(&self) -> Result<Mode<'_>, RequestError> {
        if let Some(planned) = &self.planned_launch {
            if self.manual_fields().is_some() || self.from_task_arn.is_some() {
                return Err(field(
                    "planned_launch",
                    "comes alone: it already holds the whole launch",
                ));
            }
            planned
                .check_version()
                .map_err(|e| field("planned_launch.version", e.to_string()))?;
            return Ok(Mode::Planned(planned));
        }
        if let Some(task_arn) = &self.from_task_arn {
            if self.select.is_some() || self.command.is_some() || self.exclude.is_some() {
                return Err(field(
                    "from_task_arn",
                    "plans its own command: leave out select, exclude and command",
                ));
            }
            if let Some(other) = self.manual_fields().filter(|f| *f != "cluster") {
                return Err(field(
                    "from_task_arn",
                    format!("re-launches the stopped task as it ran: leave out {other}"),
                ));
            }
            return Ok(Mode::FromTask {
                task_arn,
                cluster: self.cluster.as_deref(),
            });
        }
        if self.select.is_none() && self.command.is_none() {
            return Err(RequestError::NothingToRun);
        }
        Ok(Mode::Manual(Manual {
            select: self.select.as_ref(),
            exclude: self.exclude.as_ref(),
            step: self.step,
            command: self.command.as_deref(),
            environment: &self.environment,
            cluster: self.cluster.as_deref(),
            task_definition: self.task_definition.as_deref(),
            container: self.container.as_deref(),
        }))
    }

    /// The first field of a manual request that is set, by name.
    fn manual_fields(&self) -> Option<&'static str> {
        [
            ("select", self.select.is_some()),
            ("exclude", self.exclude.is_some()),
            ("step", self.step.is_some()),
            ("command", self.command.is_some()),
            ("environment", !self.environment.is_empty()),
            ("task_definition", self.task_definition.is_some()),
            ("container", self.container.is_some()),
            ("cluster", self.cluster.is_some()),
        ]
        .into_iter()
        .find(|(_, set)| *set)
        .map(|(name, _)| name)
    }
}

/// `command` with its selection replaced by `select` / `exclude`, when given.
pub(crate) fn with_terms(
    entry_point: &[String],
    command: &[String],
    select: Option<&Terms>,
    exclude: Option<&Terms>,
    step: Option<usize>,
) -> Result<Vec<String>, RequestError> {
    if select.is_none() && exclude.is_none() {
        if step.is_some() {
            return Err(field(
                "step",
                "names the script step `select` or `exclude` applies to: give one of them",
            ));
        }
        return Ok(command.to_vec());
    }
    if let TaskCommand::Script(shell) = TaskCommand::read(entry_point, command) {
        let select = checked_terms("select", select)?;
        let exclude = checked_terms("exclude", exclude)?;
        let argv = with_step_selection(&shell, step, select.as_deref(), exclude.as_deref())
            .map_err(|e| {
                field(
                    if step.is_some() { "step" } else { "select" },
                    e.to_string(),
                )
            })?;
        return Ok(argv[shell.entry_point_len.min(argv.len())..].to_vec());
    }
    if step.is_some() {
        return Err(field("step", "the command is not a shell script"));
    }
    let parsed = DbtCommand::parse(command).map_err(|e| field("command", e.to_string()))?;
    if !parsed.selects_nodes() {
        return Err(field(
            "select",
            format!("`dbt {}` does not take a selection", parsed.verb),
        ));
    }
    let mut out = parsed.without_flags(Strip {
        select: select.is_some(),
        exclude: exclude.is_some(),
        indirect: false,
        event_time: false,
    });
    for (flag, terms, name) in [
        ("--select", select, "select"),
        ("--exclude", exclude, "exclude"),
    ] {
        let Some(terms) = checked_terms(name, terms)? else {
            continue;
        };
        out.args.push(flag.to_owned());
        out.args.extend(terms);
    }
    Ok(out.to_argv())
}

/// A request's terms, each a dbt selector.
fn checked_terms(name: &str, terms: Option<&Terms>) -> Result<Option<Vec<String>>, RequestError> {
    let Some(terms) = terms else {
        return Ok(None);
    };
    let terms = terms.split();
    if terms.is_empty() {
        return Err(field(name, "is empty"));
    }
    if let Some(bad) = terms.iter().find(|t| !is_selector_term(t)) {
        return Err(field(name, format!("`{bad}` is not a dbt selector")));
    }
    Ok(Some(terms))
}

/// The cluster name in a task ARN of the long format (`...:task/CLUSTER/ID`).
pub(crate) fn cluster_of_task_arn(arn: &str) -> Option<&str> {
    let resource = arn.split(':').nth(5)?;
    let mut parts = resource.split('/');
    match (parts.next(), parts.next(), parts.next()) {
        (Some("task"), Some(cluster), Some(_)) => Some(cluster),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_errors_name_the_field() {
        let err = RerunRequest::from_json(br#"{"select": 5}"#).unwrap_err();
        assert!(err.to_string().starts_with("select:"), "{err}");
        let err = RerunRequest::from_json(br#"{"selct": "a"}"#).unwrap_err();
        assert!(err.to_string().contains("unknown field `selct`"), "{err}");
        let err = RerunRequest::from_json(br#"{"environment": {"A": 1}}"#).unwrap_err();
        assert!(err.to_string().starts_with("environment.A:"), "{err}");
        let err = RerunRequest::from_json(b"42").unwrap_err();
        assert!(err.to_string().starts_with("payload:"), "{err}");
        let ok =
            RerunRequest::from_json(br#"{"select": ["a+", "tag:x b"], "dry_run": true}"#).unwrap();
        assert_eq!(ok.select.unwrap().split(), ["a+", "tag:x", "b"]);
    }

    #[test]
    fn selections_replace_the_commands_and_are_checked() {
        let cmd: Vec<String> = ["dbt", "build", "--select", "old", "--target", "prod"]
            .map(String::from)
            .to_vec();
        let select = Terms::One("fct_sales+".into());
        assert_eq!(
            with_terms(&[], &cmd, Some(&select), None, None)
                .unwrap()
                .join(" "),
            "dbt build --target prod --select fct_sales+"
        );
        let bad = Terms::One("--full-refresh".into());
        let err = with_terms(&[], &cmd, Some(&bad), None, None).unwrap_err();
        assert!(err.to_string().starts_with("select:"), "{err}");
        let exclude = Terms::Many(vec!["x".into()]);
        assert_eq!(
            with_terms(&[], &cmd, None, Some(&exclude), None)
                .unwrap()
                .join(" "),
            "dbt build --select old --target prod --exclude x"
        );
    }

    #[test]
    fn a_selection_for_a_script_replaces_the_named_steps_only() {
        let cmd: Vec<String> = [
            "sh",
            "-c",
            "set -e\ndbt seed\ndbt run -s a\ndbt test\ncp x y\n",
        ]
        .map(String::from)
        .to_vec();
        let select = Terms::One("fct_orders+".into());
        let err = with_terms(&[], &cmd, Some(&select), None, None).unwrap_err();
        assert!(
            err.to_string()
                .contains("step 2 (`dbt seed`), step 3 (`dbt run`), step 4 (`dbt test`)"),
            "{err}"
        );
        let out = with_terms(&[], &cmd, Some(&select), None, Some(3)).unwrap();
        assert_eq!(
            out[2],
            "set -e\ndbt seed\ndbt run '--select' 'fct_orders+'\ndbt test\ncp x y\n"
        );
        let err = with_terms(&[], &cmd, Some(&select), None, Some(5)).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("step: step 5 is not a dbt step"),
            "{err}"
        );
        // The task definition's entry point runs the script: the override is the script alone.
        let entry = ["sh".to_owned(), "-c".to_owned()];
        let out = with_terms(&entry, &cmd[2..], Some(&select), None, Some(3)).unwrap();
        assert_eq!(out.len(), 1);
    }

    #[test]
    fn clusters_come_from_long_task_arns() {
        assert_eq!(
            cluster_of_task_arn("arn:aws:ecs:eu-west-1:1:task/dbt/abc"),
            Some("dbt")
        );
        assert_eq!(
            cluster_of_task_arn("arn:aws:ecs:eu-west-1:1:task/abc"),
            None
        );
    }

    #[test]
    fn each_mode_takes_only_its_own_fields() {
        let request = |json: &str| RerunRequest::from_json(json.as_bytes()).unwrap();
        let manual = request(r#"{"select": "a"}"#);
        assert!(matches!(manual.mode(), Ok(Mode::Manual(_))));
        let from_task = request(r#"{"from_task_arn": "arn:x", "cluster": "c"}"#);
        assert!(matches!(
            from_task.mode(),
            Ok(Mode::FromTask {
                cluster: Some("c"),
                ..
            })
        ));
        assert_eq!(
            request("{}").mode().unwrap_err(),
            RequestError::NothingToRun
        );
        let err = request(r#"{"from_task_arn": "arn:x", "container": "dbt"}"#)
            .mode()
            .unwrap_err();
        assert!(err.to_string().contains("leave out container"), "{err}");
        let err = request(r#"{"from_task_arn": "arn:x", "exclude": "a"}"#)
            .mode()
            .unwrap_err();
        assert!(err.to_string().starts_with("from_task_arn:"), "{err}");
    }
}
