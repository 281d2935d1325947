//! The EventBridge "ECS Task State Change" event, typed for what dbt-rerun reads.
//!
//! Every field is optional or defaulted so that fields AWS adds, drops or leaves empty (a
//! task that never started has no exit code) never make the event unreadable; unknown fields
//! are ignored.

use serde::{Deserialize, Deserializer, Serialize};

/// The detail-type EventBridge gives ECS task state changes.
pub(crate) const TASK_STATE_CHANGE: &str = "ECS Task State Change";

/// An EventBridge event carrying an ECS task: the envelope fields dbt-rerun checks, and the
/// task. Other envelope fields (`id`, `time` of any precision, `resources`, ...) are ignored.
/// A missing `detail-type` or `source` reads as empty, so that [`parse_task_event`] can name
/// it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct TaskStateChangeEvent {
    /// EventBridge's `detail-type`; `parse_task_event` wants `ECS Task State Change`.
    #[serde(rename = "detail-type", default)]
    pub detail_type: String,
    /// EventBridge's `source`; `parse_task_event` wants `aws.ecs`.
    #[serde(default)]
    pub source: String,
    /// The AWS region EventBridge says the event comes from, when it says.
    #[serde(default)]
    pub region: Option<String>,
    /// The task whose state changed: the event's `detail`.
    pub detail: EcsTask,
}

/// An ECS task as the state-change event describes it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", default)]
pub struct EcsTask {
    /// ECS's `clusterArn`: the cluster the task ran in, matched against the deployment's scope.
    pub cluster_arn: String,
    /// ECS's `taskArn`: the task the record is about, and a chain's origin.
    pub task_arn: String,
    /// ECS's `taskDefinitionArn`, revision included: a re-run launches this revision.
    pub task_definition_arn: String,
    /// ECS's `lastStatus`; only [`STOPPED`] is decided on.
    pub last_status: String,
    /// ECS's `desiredStatus`; STOPPED before the task has finished stopping.
    pub desired_status: Option<String>,
    /// AWS adds codes the SDK does not know (`InfrastructureHealth`): they are kept as
    /// [`StopCode::Other`].
    pub stop_code: Option<StopCode>,
    /// ECS's `stoppedReason`, free text (`Essential container in task exited`, a person's note).
    pub stopped_reason: Option<String>,
    /// The task's containers, with their exit codes and stop reasons.
    pub containers: Vec<EcsContainer>,
    /// What RunTask overrode when it started the task (command, environment, size).
    pub overrides: TaskOverrides,
    /// Task-level size, strings in the event (`"1024"`); `"null"` (as AWS writes it for a
    /// sidecar it adds) reads as none.
    #[serde(deserialize_with = "string_or_number")]
    pub cpu: Option<String>,
    /// Task-level memory in MiB, as a string like `cpu`.
    #[serde(deserialize_with = "string_or_number")]
    pub memory: Option<String>,
    /// ECS's `launchType`; a task a capacity provider placed may carry it too.
    pub launch_type: Option<LaunchType>,
    /// ECS's `capacityProviderName` (`FARGATE_SPOT`, ...), when one placed the task.
    pub capacity_provider_name: Option<String>,
    /// ECS's `platformVersion` (Fargate only), passed on to a re-run.
    pub platform_version: Option<String>,
    /// `family:<task definition family>` for standalone tasks.
    pub group: Option<String>,
    /// ECS's `startedBy`: dbt-rerun's own re-runs carry their chain in it.
    pub started_by: Option<String>,
    /// Increases with every state change of the task; duplicates share it.
    pub version: Option<u64>,
    /// The task's attachments; its network interface holds the subnets a re-run reuses.
    pub attachments: Vec<Attachment>,
}

/// A container of the task, as the event describes it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", default)]
pub struct EcsContainer {
    /// The container's name in the task definition.
    pub name: String,
    /// ECS's `containerArn`.
    pub container_arn: Option<String>,
    /// ECS's `lastStatus` for the container.
    pub last_status: Option<String>,
    /// The process's exit code; none when the container never ran or was killed without one.
    pub exit_code: Option<i32>,
    /// Why the container stopped, e.g. `OutOfMemoryError: Container killed due to memory usage`.
    pub reason: Option<String>,
    /// The container's image, as ECS resolved it.
    pub image: Option<String>,
}

/// RunTask's overrides, as the event echoes them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TaskOverrides {
    /// One entry per container RunTask overrode.
    pub container_overrides: Vec<ContainerOverride>,
    /// Task-level CPU override in CPU units, a string as ECS writes it.
    #[serde(deserialize_with = "string_or_number")]
    pub cpu: Option<String>,
    /// Task-level memory override in MiB, a string as ECS writes it.
    #[serde(deserialize_with = "string_or_number")]
    pub memory: Option<String>,
}

/// The overrides the task was started with (as RunTask sent them).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ContainerOverride {
    /// The container the override applies to.
    pub name: String,
    /// The command that replaced the image's; none when RunTask left it alone.
    pub command: Option<Vec<String>>,
    /// Environment variables added to the container's.
    pub environment: Vec<KeyValue>,
}

/// A `name`/`value` pair, as ECS writes environment variables and attachment details.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default)]
pub struct KeyValue {
    /// The variable's or detail's name.
    pub name: String,
    /// The variable's or detail's value.
    pub value: String,
}

/// Something ECS attached to the task; dbt-rerun reads only network interfaces.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default)]
pub struct Attachment {
    /// ECS's `type` (`eni`, or `ElasticNetworkInterface` in DescribeTasks).
    #[serde(rename = "type")]
    pub kind: String,
    /// The attachment's details (`subnetId`, `networkInterfaceId`, ...).
    pub details: Vec<KeyValue>,
}

/// Why ECS stopped a task (`stopCode`), with the codes dbt-rerun acts on named.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(from = "String", into = "String")]
pub enum StopCode {
    /// The task never got its containers running (image pull, ENI, secrets, capacity).
    TaskFailedToStart,
    /// An essential container exited (dbt's, or a sidecar's), so ECS stopped the task.
    EssentialContainerExited,
    /// A person (or a program acting for one) stopped the task.
    UserInitiated,
    /// A service's scheduler stopped the task (scaling, deployment).
    ServiceSchedulerInitiated,
    /// Fargate Spot reclaimed the capacity.
    SpotInterruption,
    /// The capacity under the task was being retired or terminated (Spot's kind of stop).
    TerminationNotice,
    /// A code this version does not know, as ECS wrote it.
    Other(String),
}

impl StopCode {
    /// The code as ECS writes it.
    pub fn as_str(&self) -> &str {
        match self {
            Self::TaskFailedToStart => "TaskFailedToStart",
            Self::EssentialContainerExited => "EssentialContainerExited",
            Self::UserInitiated => "UserInitiated",
            Self::ServiceSchedulerInitiated => "ServiceSchedulerInitiated",
            Self::SpotInterruption => "SpotInterruption",
            Self::TerminationNotice => "TerminationNotice",
            Self::Other(code) => code,
        }
    }
}

impl From<String> for StopCode {
    fn from(code: String) -> Self {
        match code.as_str() {
            "TaskFailedToStart" => Self::TaskFailedToStart,
            "EssentialContainerExited" => Self::EssentialContainerExited,
            "UserInitiated" => Self::UserInitiated,
            "ServiceSchedulerInitiated" => Self::ServiceSchedulerInitiated,
            "SpotInterruption" => Self::SpotInterruption,
            "TerminationNotice" => Self::TerminationNotice,
            _ => Self::Other(code),
        }
    }
}

impl From<&str> for StopCode {
    fn from(code: &str) -> Self {
        code.to_owned().into()
    }
}

impl From<StopCode> for String {
    fn from(code: StopCode) -> Self {
        match code {
            StopCode::Other(code) => code,
            known => known.as_str().to_owned(),
        }
    }
}

/// Where ECS runs a task (`launchType`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(from = "String", into = "String")]
pub enum LaunchType {
    /// AWS Fargate.
    Fargate,
    /// EC2 instances of the cluster.
    Ec2,
    /// ECS Anywhere's external instances.
    External,
    /// A launch type this version does not know, as ECS wrote it.
    Other(String),
}

impl LaunchType {
    /// The launch type as ECS writes it (`FARGATE`, `EC2`, ...).
    pub fn as_str(&self) -> &str {
        match self {
            Self::Fargate => "FARGATE",
            Self::Ec2 => "EC2",
            Self::External => "EXTERNAL",
            Self::Other(kind) => kind,
        }
    }
}

impl From<String> for LaunchType {
    fn from(kind: String) -> Self {
        match kind.as_str() {
            "FARGATE" => Self::Fargate,
            "EC2" => Self::Ec2,
            "EXTERNAL" => Self::External,
            _ => Self::Other(kind),
        }
    }
}

impl From<LaunchType> for String {
    fn from(kind: LaunchType) -> Self {
        match kind {
            LaunchType::Other(kind) => kind,
            known => known.as_str().to_owned(),
        }
    }
}

/// ECS's name for a task that has stopped (`lastStatus`).
pub const STOPPED: &str = "STOPPED";

impl EcsTask {
    /// The task has stopped (`lastStatus` STOPPED; `desiredStatus` STOPPED comes earlier,
    /// while it is still stopping).
    pub fn is_stopped(&self) -> bool {
        self.last_status == STOPPED
    }

    /// The task runs on Fargate: its launch type, or a Fargate capacity provider
    /// (`FARGATE`, `FARGATE_SPOT`).
    pub(crate) fn on_fargate(&self) -> bool {
        self.launch_type == Some(LaunchType::Fargate)
            || self
                .capacity_provider_name
                .as_deref()
                .is_some_and(|c| c.starts_with("FARGATE"))
    }

    /// The task has its own network interface (awsvpc mode; every Fargate task has).
    pub(crate) fn uses_awsvpc(&self) -> bool {
        self.on_fargate() || self.attachments.iter().any(Attachment::is_eni)
    }

    /// The overrides of every container but `container`, which a re-run passes on unchanged.
    pub fn other_overrides(&self, container: &str) -> Vec<ContainerOverride> {
        self.overrides
            .container_overrides
            .iter()
            .filter(|o| o.name != container)
            .cloned()
            .collect()
    }

    /// The environment override of `container` (empty when it has none).
    pub(crate) fn environment_of(&self, container: &str) -> Vec<KeyValue> {
        self.container_override(container)
            .map(|o| o.environment.clone())
            .unwrap_or_default()
    }

    /// The task's id, the last part of its ARN (`arn:aws:ecs:r:a:task/cluster/ID`).
    pub fn task_id(&self) -> &str {
        self.task_arn.rsplit('/').next().unwrap_or(&self.task_arn)
    }

    /// The cluster's name, from its ARN.
    pub fn cluster_name(&self) -> &str {
        self.cluster_arn
            .rsplit('/')
            .next()
            .unwrap_or(&self.cluster_arn)
    }

    /// The task definition family, from `group` (`family:dbt`) or the definition's ARN
    /// (`.../task-definition/dbt:7`).
    pub fn family(&self) -> &str {
        if let Some(family) = self
            .group
            .as_deref()
            .and_then(|g| g.strip_prefix("family:"))
        {
            return family;
        }
        let tail = self
            .task_definition_arn
            .rsplit('/')
            .next()
            .unwrap_or(&self.task_definition_arn);
        tail.split(':').next().unwrap_or(tail)
    }

    /// The override sent for `container`, if any.
    pub fn container_override(&self, container: &str) -> Option<&ContainerOverride> {
        self.overrides
            .container_overrides
            .iter()
            .find(|o| o.name == container)
    }

    /// The subnets of the task's network interface.
    pub fn subnets(&self) -> Vec<String> {
        self.attachments
            .iter()
            .filter(|a| a.is_eni())
            .flat_map(|a| a.details.iter())
            .filter(|d| d.name == "subnetId")
            .map(|d| d.value.clone())
            .collect()
    }
}

impl Attachment {
    /// A network interface (`eni` in events, `ElasticNetworkInterface` in DescribeTasks).
    pub(crate) fn is_eni(&self) -> bool {
        self.kind == "eni" || self.kind == "ElasticNetworkInterface"
    }
}

/// ECS writes sizes as strings in events but numbers in some API shapes: accept both. The
/// string `"null"` and an empty string are no size (the AWS docs' GuardDuty sidecar has
/// `"cpu": "null"`).
fn string_or_number<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Size {
        Text(String),
        Number(u64),
    }
    Ok(Option::<Size>::deserialize(d)?.and_then(|s| match s {
        Size::Text(t) if t.trim().is_empty() || t.trim() == "null" => None,
        Size::Text(t) => Some(t),
        Size::Number(n) => Some(n.to_string()),
    }))
}

/// Why an event cannot be handled at all.
#[derive(Debug, thiserror::Error)]
pub enum EventError {
    /// The event is not JSON, or not in the shape of a task state change.
    #[error("the event is not JSON an ECS task state change can be read from: {0}")]
    Malformed(String),
    /// The event is another kind of EventBridge event.
    #[error("the event's detail-type is `{0}`, expected `ECS Task State Change`")]
    WrongDetailType(String),
    /// The event comes from a source other than ECS.
    #[error("the event's source is `{0}`, expected `aws.ecs`")]
    WrongSource(String),
    /// An envelope field every EventBridge event carries is missing.
    #[error("the event has no `{0}`: it is not an EventBridge event as EventBridge sends it")]
    NoEnvelopeField(&'static str),
    /// What a stopped task (or a task whose status is unknown) cannot be decided without.
    #[error(
        "the event's task has no {}: it is only part of an ECS task state change",
        .0.iter().map(|f| format!("`{f}`")).collect::<Vec<_>>().join(" and no ")
    )]
    IncompleteTask(Vec<&'static str>),
}

/// Reads an EventBridge ECS task state change from JSON, checking that it is one.
///
/// A task that has not stopped (`lastStatus` RUNNING, DEACTIVATING, ...) needs nothing more:
/// the decision ignores it, whatever else the event lacks (a Spot interruption notice has no
/// `containers`). A stopped task needs its `taskArn`, and a task without `lastStatus` cannot
/// be told apart from a stopped one: the error names what is missing.
pub fn parse_task_event(json: &[u8]) -> Result<TaskStateChangeEvent, EventError> {
    // Errors name the field (`detail.containers[0].exitCode: invalid type ...`).
    let de = &mut serde_json::Deserializer::from_slice(json);
    let event: TaskStateChangeEvent = serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        EventError::Malformed(if path == "." {
            inner.to_string()
        } else {
            format!("{path}: {inner}")
        })
    })?;
    if event.detail_type.is_empty() {
        return Err(EventError::NoEnvelopeField("detail-type"));
    }
    if event.detail_type != TASK_STATE_CHANGE {
        return Err(EventError::WrongDetailType(event.detail_type));
    }
    if event.source.is_empty() {
        return Err(EventError::NoEnvelopeField("source"));
    }
    if event.source != "aws.ecs" {
        return Err(EventError::WrongSource(event.source));
    }
    let task = &event.detail;
    if !task.last_status.is_empty() && !task.is_stopped() {
        return Ok(event);
    }
    let missing: Vec<&'static str> = [
        ("lastStatus", task.last_status.is_empty()),
        ("taskArn", task.task_arn.is_empty()),
    ]
    .into_iter()
    .filter_map(|(field, missing)| missing.then_some(field))
    .collect();
    if !missing.is_empty() {
        return Err(EventError::IncompleteTask(missing));
    }
    Ok(event)
}

#[cfg(test)]
mod tests {
    use super::*;

    const EVENT: &str = r#"{
      "version": "0", "id": "e1", "detail-type": "ECS Task State Change", "source": "aws.ecs",
      "account": "123456789012", "time": "2026-11-27T02:10:00Z", "region": "eu-west-1",
      "resources": ["arn:aws:ecs:eu-west-1:123456789012:task/dbt/0123456789abcdef0123456789abcdef"],
      "detail": {
        "clusterArn": "arn:aws:ecs:eu-west-1:123456789012:cluster/dbt",
        "taskArn": "arn:aws:ecs:eu-west-1:123456789012:task/dbt/0123456789abcdef0123456789abcdef",
        "taskDefinitionArn": "arn:aws:ecs:eu-west-1:123456789012:task-definition/dbt-build:7",
        "lastStatus": "STOPPED", "desiredStatus": "STOPPED", "stopCode": "EssentialContainerExited",
        "cpu": "1024", "memory": "2048", "group": "family:dbt-build", "version": 5,
        "containers": [{"name": "dbt", "exitCode": 1, "lastStatus": "STOPPED"}],
        "overrides": {"containerOverrides": [{"name": "dbt", "command": ["dbt", "build"],
          "environment": [{"name": "DBT_TARGET", "value": "prod"}], "memory": 512}]},
        "attachments": [{"type": "eni", "status": "DELETED", "details": [
          {"name": "subnetId", "value": "subnet-1"}]}],
        "someFieldAwsAddsLater": {"x": 1}
      }
    }"#;

    #[test]
    fn a_full_event_reads_with_unknown_fields_ignored() {
        let event = parse_task_event(EVENT.as_bytes()).unwrap();
        let task = &event.detail;
        assert_eq!(task.task_id(), "0123456789abcdef0123456789abcdef");
        assert_eq!(task.cluster_name(), "dbt");
        assert_eq!(task.family(), "dbt-build");
        assert_eq!(task.containers[0].exit_code, Some(1));
        assert_eq!(task.memory.as_deref(), Some("2048"));
        assert_eq!(
            task.container_override("dbt").unwrap().command.as_deref(),
            Some(&["dbt".to_string(), "build".to_string()][..])
        );
        assert_eq!(task.subnets(), ["subnet-1"]);
    }

    #[test]
    fn wrong_types_and_missing_fields_are_named() {
        let wrong = EVENT.replace(r#""exitCode": 1"#, r#""exitCode": "one""#);
        let err = parse_task_event(wrong.as_bytes()).unwrap_err().to_string();
        assert!(err.contains("detail.containers[0].exitCode"), "{err}");
        let err = parse_task_event(br#"{"source": "aws.ecs", "detail": {}}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("detail-type"), "{err}");
        let err = parse_task_event(
            br#"{"detail-type": "ECS Task State Change", "source": "aws.ecs", "detail": {}}"#,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("taskArn"), "{err}");
    }

    #[test]
    fn huge_arrays_are_read_without_trouble() {
        let containers: Vec<String> = (0..50_000)
            .map(|i| format!(r#"{{"name": "c{i}", "exitCode": 0}}"#))
            .collect();
        let json = EVENT.replace(
            r#""containers": [{"name": "dbt", "exitCode": 1, "lastStatus": "STOPPED"}]"#,
            &format!(r#""containers": [{}]"#, containers.join(",")),
        );
        let event = parse_task_event(json.as_bytes()).unwrap();
        assert_eq!(event.detail.containers.len(), 50_000);
    }

    #[test]
    fn a_task_that_has_not_stopped_needs_nothing_more() {
        // The AWS docs' Fargate Spot notice: no containers, no time, no region.
        let notice = br#"{"detail-type": "ECS Task State Change", "source": "aws.ecs",
          "detail": {"lastStatus": "RUNNING", "desiredStatus": "STOPPED",
            "stopCode": "TerminationNotice", "stoppedReason": "Your Spot Task was interrupted.",
            "createdAt": "2016-12-06T16:41:05.702Z"}}"#;
        let task = parse_task_event(notice).unwrap().detail;
        assert!(!task.is_stopped() && task.containers.is_empty());
        assert_eq!(task.stop_code, Some(StopCode::TerminationNotice));
    }

    #[test]
    fn a_part_of_an_event_names_what_is_missing() {
        let fragment = br#"{"detail-type": "ECS Task State Change", "source": "aws.ecs",
          "detail": {"containers": [{"name": "web", "reason": "CannotPullContainerError: x"}]}}"#;
        let err = parse_task_event(fragment).unwrap_err().to_string();
        assert!(err.contains("no `lastStatus` and no `taskArn`"), "{err}");
        let stopped = br#"{"detail-type": "ECS Task State Change", "source": "aws.ecs",
          "detail": {"lastStatus": "STOPPED", "stopCode": "TaskFailedToStart"}}"#;
        let err = parse_task_event(stopped).unwrap_err().to_string();
        assert!(
            err.contains("no `taskArn`") && !err.contains("lastStatus"),
            "{err}"
        );
        let no_source = br#"{"detail-type": "ECS Task State Change",
          "detail": {"taskArn": "arn:task/x", "lastStatus": "STOPPED"}}"#;
        let err = parse_task_event(no_source).unwrap_err().to_string();
        assert!(err.contains("no `source`"), "{err}");
    }

    #[test]
    fn real_world_shapes_decode() {
        // Timestamps of any precision (and an envelope with `event_time` for `time`), a size
        // "null", duplicate container names, no stop code (before 2019), an unknown one.
        let json = EVENT
            .replace(r#""time": "2026-11-27T02:10:00Z""#, r#""event_time": "2022-05-04T10:11:12.123456789+00:00""#)
            .replace(r#""cpu": "1024""#, r#""cpu": "null", "createdAt": "2017-06-01T10:00:00.7Z", "stoppedAt": 1496311200"#)
            .replace(
                r#""containers": [{"name": "dbt", "exitCode": 1, "lastStatus": "STOPPED"}]"#,
                r#""containers": [{"name": "dbt", "exitCode": 1, "cpu": "null"}, {"name": "dbt", "exitCode": 0, "cpu": 0}]"#,
            )
            .replace(r#""stopCode": "EssentialContainerExited","#, "");
        let task = parse_task_event(json.as_bytes()).unwrap().detail;
        assert_eq!(
            (task.cpu.as_deref(), task.memory.as_deref()),
            (None, Some("2048"))
        );
        assert_eq!(task.containers.len(), 2);
        assert_eq!(task.stop_code, None);
        let json = EVENT.replace("EssentialContainerExited", "SomeStrangeStopCode");
        let task = parse_task_event(json.as_bytes()).unwrap().detail;
        assert_eq!(
            task.stop_code,
            Some(StopCode::Other("SomeStrangeStopCode".into()))
        );
    }

    #[test]
    fn other_events_are_refused_by_name() {
        let other = EVENT.replace(
            "ECS Task State Change",
            "ECS Container Instance State Change",
        );
        let err = parse_task_event(other.as_bytes()).unwrap_err();
        assert!(
            err.to_string()
                .contains("ECS Container Instance State Change"),
            "{err}"
        );
        let err = parse_task_event(b"[1,2]").unwrap_err();
        assert!(err.to_string().contains("not JSON an ECS task"), "{err}");
    }
}
