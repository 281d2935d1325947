//! What dbt-rerun needs of a task definition, and where a container's log is: the plain types
//! the ECS and logs ports speak.
//!
//! A container's log is in CloudWatch Logs when it logs with the `awslogs` driver, or with
//! `awsfirelens` whose Fluent Bit output is `cloudwatch_logs` (the C plugin) or `cloudwatch`
//! (the Go plugin). [`ContainerDefinition::log_location`] works out the group and stream, and
//! how each event holds the container's output ([`EventFormat`]), or says why the log cannot
//! be read.

use crate::event::{EcsTask, LaunchType};
pub use crate::log::{EventFormat, FireLensRecords};
use serde::Serialize;

/// A task definition revision (DescribeTaskDefinition), as far as dbt-rerun reads it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TaskDefinition {
    /// The revision's ARN (`.../task-definition/dbt:7`).
    pub arn: String,
    /// The family, which every revision shares.
    pub family: String,
    /// Its containers: dbt's, and any sidecars (a FireLens router, an agent).
    pub containers: Vec<ContainerDefinition>,
    /// `requiresCompatibilities`: where the definition may run; empty when it names none.
    pub requires: Vec<LaunchType>,
    /// `networkMode` (`awsvpc`, `bridge`, `host`, `none`); None when the definition names
    /// none (ECS's default for EC2, `bridge`).
    pub network_mode: Option<String>,
}

/// A container of a task definition, as far as dbt-rerun reads it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContainerDefinition {
    /// The container's name, which overrides and the log stream use.
    pub name: String,
    /// ECS runs `entryPoint` followed by `command` (an override replaces `command` only).
    pub entry_point: Option<Vec<String>>,
    /// ECS's `command`, which a RunTask override replaces; None when the image's applies.
    pub command: Option<Vec<String>>,
    /// Whether the task stops when this container does (`essential`).
    pub essential: bool,
    /// The container's `logConfiguration`; None when it has none.
    pub log: Option<LogDriver>,
    /// The names of the variables the definition sets itself (`environment` and `secrets`).
    pub environment_names: Vec<String>,
}

/// A container's log driver and its options, as far as they say where the log is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogDriver {
    /// `awslogs`: the log is in CloudWatch Logs.
    AwsLogs(AwsLogsOptions),
    /// `awsfirelens`: Fluent Bit routes the log, to CloudWatch Logs or elsewhere.
    FireLens(FireLensOptions),
    /// Any other driver (`splunk`, `fluentd`, `json-file`, ...), by name: its log is not in
    /// CloudWatch Logs.
    Other(String),
}

/// The options of the `awslogs` log driver.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AwsLogsOptions {
    /// `awslogs-group`.
    pub group: String,
    /// `awslogs-stream-prefix`: the stream is `<prefix>/<container>/<task id>`, else the task id.
    pub stream_prefix: Option<String>,
    /// `awslogs-region`; None when it is the function's own region.
    pub region: Option<String>,
    /// `awslogs-multiline-pattern`: the driver joins the lines up to the next match into one
    /// event.
    pub multiline_pattern: Option<String>,
    /// `awslogs-datetime-format`: the same, with a start-of-event timestamp format.
    pub datetime_format: Option<String>,
}

/// The options of the `awsfirelens` log driver: those of the Fluent Bit output it configures.
/// Fluent Bit reads option names regardless of case.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FireLensOptions {
    /// The output plugin (`Name`): `cloudwatch_logs` or `cloudwatch` write to CloudWatch Logs.
    pub output: Option<String>,
    /// `region` of the output; None: the function's own.
    pub region: Option<String>,
    /// `log_group_name`, and the C plugin's `log_group_template`, which overrides it.
    pub group: Option<String>,
    /// `log_group_template`, rendered for the task when set.
    pub group_template: Option<String>,
    /// `log_stream_prefix`: the stream is the prefix and the Fluent Bit tag, which FireLens sets
    /// to `<container>-firelens-<task id>`.
    pub stream_prefix: Option<String>,
    /// `log_stream_name`: a fixed stream (the Go plugin fills in `$(...)` templates).
    pub stream_name: Option<String>,
    /// The C plugin's `log_stream_template` (record accessor syntax), which overrides the rest.
    pub stream_template: Option<String>,
    /// `log_key`: only this key's value is sent, the text alone instead of the JSON record.
    pub log_key: Option<String>,
    /// `config-file-type`: FireLens reads its outputs from a configuration file too.
    pub config_file: Option<String>,
}

/// Where a container's log is: the group, the stream, the region when it is not the
/// function's own, and how each event holds the container's output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LogLocation {
    /// The CloudWatch Logs group, from the driver's options (a template rendered).
    pub group: String,
    /// The stream in it, made of the options and the task's id.
    pub stream: String,
    /// The log's region, when it is not the function's own.
    pub region: Option<String>,
    /// How each event is read (absent: text, as the awslogs driver writes it).
    #[serde(skip_serializing_if = "EventFormat::is_text")]
    pub events: EventFormat,
}

impl LogLocation {
    /// A stream of text events, as the awslogs driver writes them.
    pub fn text(
        group: impl Into<String>,
        stream: impl Into<String>,
        region: Option<String>,
    ) -> Self {
        Self {
            group: group.into(),
            stream: stream.into(),
            region,
            events: EventFormat::Text,
        }
    }
}

impl TaskDefinition {
    /// The container definition named `name`.
    pub fn container(&self, name: &str) -> Option<&ContainerDefinition> {
        self.containers.iter().find(|c| c.name == name)
    }
}

impl LogDriver {
    /// The driver `driver` with `options`, as DescribeTaskDefinition gives them.
    pub fn from_config<'a>(
        driver: &str,
        options: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Self {
        let options: Vec<(&str, &str)> = options.into_iter().collect();
        let get = |key: &str| {
            options
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(key))
                .map(|(_, v)| (*v).to_owned())
        };
        match driver {
            "awslogs" => match get("awslogs-group") {
                Some(group) => Self::AwsLogs(AwsLogsOptions {
                    group,
                    stream_prefix: get("awslogs-stream-prefix"),
                    region: get("awslogs-region"),
                    multiline_pattern: get("awslogs-multiline-pattern"),
                    datetime_format: get("awslogs-datetime-format"),
                }),
                None => Self::Other("awslogs without awslogs-group".to_owned()),
            },
            "awsfirelens" => Self::FireLens(FireLensOptions {
                output: get("Name"),
                region: get("region"),
                group: get("log_group_name"),
                group_template: get("log_group_template"),
                stream_prefix: get("log_stream_prefix"),
                stream_name: get("log_stream_name"),
                stream_template: get("log_stream_template"),
                log_key: get("log_key"),
                config_file: get("config-file-type"),
            }),
            other => Self::Other(other.to_owned()),
        }
    }
}

/// Fluent Bit output plugins that write to CloudWatch Logs.
const CLOUDWATCH_OUTPUTS: &[&str] = &["cloudwatch_logs", "cloudwatch"];

impl ContainerDefinition {
    /// Where this container's log is in task `task`, or why it cannot be read (one sentence
    /// that names the container).
    pub fn log_location(&self, task: &EcsTask) -> Result<LogLocation, String> {
        let name = &self.name;
        match &self.log {
            None => Err(format!(
                "container {name} has no log configuration, so its log cannot be read"
            )),
            Some(LogDriver::Other(driver)) => Err(format!(
                "container {name} logs with the {driver} driver, not to CloudWatch Logs \
                 (awslogs or awsfirelens), so its log cannot be read"
            )),
            Some(LogDriver::AwsLogs(logs)) => {
                let stream = match &logs.stream_prefix {
                    Some(prefix) => format!("{prefix}/{name}/{}", task.task_id()),
                    None => task.task_id().to_owned(),
                };
                Ok(LogLocation::text(&logs.group, stream, logs.region.clone()))
            }
            Some(LogDriver::FireLens(options)) => firelens_location(name, options, task)
                .map_err(|why| format!("container {name} logs with FireLens, but {why}")),
        }
    }
}

/// The stream a FireLens output writes `container`'s log to, and how its events read.
fn firelens_location(
    container: &str,
    options: &FireLensOptions,
    task: &EcsTask,
) -> Result<LogLocation, String> {
    let output = match options.output.as_deref() {
        Some(output) => output,
        None if options.config_file.is_some() => {
            return Err(
                "its output is in a Fluent Bit configuration file (config-file-type), \
                        which dbt-rerun cannot see, so its log cannot be read"
                    .to_owned(),
            )
        }
        None => {
            return Err(
                "its options name no output plugin (Name), so its log cannot be read".to_owned(),
            )
        }
    };
    if !CLOUDWATCH_OUTPUTS
        .iter()
        .any(|o| o.eq_ignore_ascii_case(output))
    {
        return Err(format!(
            "its output is {output}, not CloudWatch Logs (cloudwatch_logs or cloudwatch), so its \
             log cannot be read"
        ));
    }
    let vars = TemplateVars { container, task };
    let group = match (&options.group_template, &options.group) {
        (Some(template), _) => vars.render(template)?.0,
        (None, Some(group)) => group.clone(),
        (None, None) => {
            return Err(
                "its output names no log group (log_group_name), so its log cannot be read"
                    .to_owned(),
            )
        }
    };
    let (stream, shared) = match (
        &options.stream_template,
        &options.stream_name,
        &options.stream_prefix,
    ) {
        (Some(template), _, _) => vars.render(template)?,
        (None, Some(name), _) => vars.render(name)?,
        (None, None, Some(prefix)) => (format!("{prefix}{}", vars.tag()), false),
        (None, None, None) => {
            return Err("its output names no log stream (log_stream_name or \
                        log_stream_prefix), so its log cannot be read"
                .to_owned())
        }
    };
    let events = match &options.log_key {
        // The value of the key alone: the container's text, with nothing to tell tasks apart.
        Some(key) if shared => {
            return Err(format!(
                "every task writes to the one stream {stream} and log_key {key} sends the text \
                 alone, so this task's lines cannot be told from another's"
            ))
        }
        Some(_) => EventFormat::Text,
        None => EventFormat::FireLens(FireLensRecords {
            key: "log".to_owned(),
            container: container.to_owned(),
            task_arn: shared.then(|| task.task_arn.clone()),
        }),
    };
    Ok(LogLocation {
        group,
        stream,
        region: options.region.clone(),
        events,
    })
}

/// What FireLens stream and group templates may name, for one container of one task.
struct TemplateVars<'a> {
    container: &'a str,
    task: &'a EcsTask,
}

impl TemplateVars<'_> {
    /// The Fluent Bit tag FireLens gives the container's records.
    fn tag(&self) -> String {
        format!("{}-firelens-{}", self.container, self.task.task_id())
    }

    /// The value of a template variable, and whether it tells tasks apart.
    fn value(&self, var: &str) -> Option<(String, bool)> {
        Some(match var {
            // The tag has no dots (container names have none), so it is its own first part.
            "tag" | "tag[0]" => (self.tag(), true),
            "ecs_task_id" => (self.task.task_id().to_owned(), true),
            "ecs_task_arn" => (self.task.task_arn.clone(), true),
            "ecs_cluster" => (self.task.cluster_name().to_owned(), false),
            "container_name" => (self.container.to_owned(), false),
            _ => return None,
        })
    }

    /// A name with the Go plugin's `$(var)` (or older `#(var)`) and the C plugin's record
    /// accessor `$var` filled in, and whether it is shared by every task (names no task).
    fn render(&self, template: &str) -> Result<(String, bool), String> {
        let mut out = String::new();
        let mut per_task = false;
        let mut rest = template;
        while let Some(at) = rest.find(['$', '#']) {
            out.push_str(&rest[..at]);
            let after = &rest[at + 1..];
            let (var, tail) = if let Some(inner) = after.strip_prefix('(') {
                match inner.split_once(')') {
                    Some((var, tail)) => (var, tail),
                    None => return Err(format!("its template {template} is not closed")),
                }
            } else if rest[at..].starts_with('$') {
                let len = after
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .unwrap_or(after.len());
                let len = match after[len..].strip_prefix("[0]") {
                    Some(_) => len + 3,
                    None => len,
                };
                (&after[..len], &after[len..])
            } else {
                // A `#` that starts no template is text.
                out.push('#');
                rest = after;
                continue;
            };
            let Some((value, names_task)) = self.value(var.trim()) else {
                return Err(format!(
                    "its stream or group template {template} uses {var}, which dbt-rerun cannot \
                     fill in, so its log cannot be found"
                ));
            };
            per_task |= names_task;
            out.push_str(&value);
            rest = tail;
        }
        out.push_str(rest);
        Ok((out, !per_task))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::TaskBuilder;

    fn container(log: LogDriver) -> ContainerDefinition {
        ContainerDefinition {
            name: "dbt".into(),
            entry_point: None,
            command: None,
            essential: true,
            log: Some(log),
            ..ContainerDefinition::default()
        }
    }

    fn firelens(options: &[(&str, &str)]) -> LogDriver {
        LogDriver::from_config("awsfirelens", options.iter().copied())
    }

    fn task() -> EcsTask {
        TaskBuilder::exited(Some(1)).build()
    }

    #[test]
    fn awslogs_streams_are_prefix_container_task() {
        let task = task();
        let driver = LogDriver::from_config(
            "awslogs",
            [
                ("awslogs-group", "/ecs/dbt"),
                ("awslogs-stream-prefix", "dbt"),
                ("awslogs-datetime-format", "%H:%M:%S"),
            ],
        );
        let at = container(driver).log_location(&task).unwrap();
        assert_eq!(at.group, "/ecs/dbt");
        assert_eq!(at.stream, format!("dbt/dbt/{}", task.task_id()));
        assert_eq!(at.events, EventFormat::Text);
    }

    #[test]
    fn firelens_streams_are_the_prefix_and_the_tag_and_events_are_records() {
        let task = task();
        let at = container(firelens(&[
            ("Name", "cloudwatch_logs"),
            ("region", "eu-west-1"),
            ("log_group_name", "/ecs/dbt-firelens"),
            ("log_stream_prefix", "from-fluent-bit-"),
            ("auto_create_group", "true"),
        ]))
        .log_location(&task)
        .unwrap();
        assert_eq!(at.group, "/ecs/dbt-firelens");
        assert_eq!(
            at.stream,
            format!("from-fluent-bit-dbt-firelens-{}", task.task_id())
        );
        assert_eq!(at.region.as_deref(), Some("eu-west-1"));
        assert_eq!(
            at.events,
            EventFormat::FireLens(FireLensRecords {
                key: "log".into(),
                container: "dbt".into(),
                task_arn: None,
            })
        );
    }

    #[test]
    fn firelens_with_log_key_sends_text() {
        let at = container(firelens(&[
            ("name", "cloudwatch"),
            ("log_group_name", "g"),
            ("log_stream_prefix", "p-"),
            ("log_key", "log"),
        ]))
        .log_location(&task())
        .unwrap();
        assert_eq!(at.events, EventFormat::Text);
    }

    #[test]
    fn a_shared_firelens_stream_is_filtered_by_task_or_refused() {
        let task = task();
        let shared = [
            ("Name", "cloudwatch"),
            ("log_group_name", "g"),
            ("log_stream_name", "all-dbt-tasks"),
        ];
        let at = container(firelens(&shared)).log_location(&task).unwrap();
        assert_eq!(at.stream, "all-dbt-tasks");
        assert!(
            matches!(&at.events, EventFormat::FireLens(r) if r.task_arn.as_deref() == Some(task.task_arn.as_str()))
        );
        let mut with_key = shared.to_vec();
        with_key.push(("log_key", "log"));
        let why = container(firelens(&with_key))
            .log_location(&task)
            .unwrap_err();
        assert!(why.contains("cannot be told"), "{why}");
    }

    #[test]
    fn firelens_templates_are_filled_in_or_refused() {
        let task = task();
        let at = container(firelens(&[
            ("Name", "cloudwatch"),
            ("log_group_name", "g"),
            ("log_stream_name", "dbt/$(ecs_task_id)"),
        ]))
        .log_location(&task)
        .unwrap();
        assert_eq!(at.stream, format!("dbt/{}", task.task_id()));
        assert!(matches!(&at.events, EventFormat::FireLens(r) if r.task_arn.is_none()));
        let at = container(firelens(&[
            ("Name", "cloudwatch_logs"),
            ("log_group_name", "g"),
            ("log_stream_template", "$ecs_cluster.$ecs_task_id"),
        ]))
        .log_location(&task)
        .unwrap();
        assert_eq!(
            at.stream,
            format!("{}.{}", task.cluster_name(), task.task_id())
        );
        let why = container(firelens(&[
            ("Name", "cloudwatch_logs"),
            ("log_group_name", "g"),
            ("log_stream_template", "$kubernetes['pod_name']"),
        ]))
        .log_location(&task)
        .unwrap_err();
        assert!(why.contains("cannot fill in"), "{why}");
    }

    #[test]
    fn logs_elsewhere_say_why() {
        let task = task();
        for (driver, says) in [
            (firelens(&[("Name", "firehose")]), "not CloudWatch Logs"),
            (
                firelens(&[("config-file-type", "s3")]),
                "configuration file",
            ),
            (
                firelens(&[("Name", "cloudwatch_logs"), ("log_group_name", "g")]),
                "no log stream",
            ),
            (LogDriver::from_config("splunk", []), "splunk driver"),
        ] {
            let why = container(driver).log_location(&task).unwrap_err();
            assert!(why.contains(says) && why.contains("dbt"), "{why}");
        }
    }
}
