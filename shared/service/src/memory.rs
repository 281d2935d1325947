//! In-memory implementations of every port, for tests: ECS that starts tasks into a list and
//! honours `clientToken` as ECS does, CloudWatch Logs whose lines arrive over (tokio) time,
//! an SNS inbox, a schedule store that refuses a second schedule of a name, the functions'
//! log groups for `dbt-rerun history`, and a clock that follows tokio's (pausable) time; and
//! the doctor's reads ([`doctor`]).

use crate::ports::{Alerts, AwsError, Clock, Ecs, LogPage, Logs, Schedules};
use dbt_rerun_core::alert::Alert;
use dbt_rerun_core::event::{ContainerOverride, EcsTask, TaskOverrides};
use dbt_rerun_core::launch::Launch;
use dbt_rerun_core::schedule::ScheduleRequest;
use dbt_rerun_core::task_definition::{LogLocation, TaskDefinition};
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

mod doctor;
pub use doctor::{MemoryNetwork, MemoryRoles, MemoryRules, MemoryStacks};

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A test that panicked while holding the lock has failed already.
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// ECS in memory: task definitions, the tasks it knows, and every RunTask it was asked for.
#[derive(Debug, Default)]
pub struct MemoryEcs {
    definitions: Mutex<HashMap<String, TaskDefinition>>,
    tasks: Mutex<Vec<EcsTask>>,
    launches: Mutex<Vec<Launch>>,
    /// Errors the next RunTask calls answer with, first first.
    run_task_errors: Mutex<Vec<AwsError>>,
    /// How many task definitions were described.
    definitions_read: Mutex<usize>,
}

impl MemoryEcs {
    pub fn with_definition(self, definition: TaskDefinition) -> Self {
        lock(&self.definitions).insert(definition.arn.clone(), definition);
        self
    }

    /// A task ECS knows (running, or stopped within the hour).
    pub fn add_task(&self, task: EcsTask) {
        lock(&self.tasks).push(task);
    }

    /// Stops the task `arn` (it no longer counts as running).
    pub fn stop(&self, arn: &str) {
        for task in lock(&self.tasks).iter_mut().filter(|t| t.task_arn == arn) {
            task.last_status = "STOPPED".into();
            task.desired_status = Some("STOPPED".into());
        }
    }

    /// The next RunTask fails with `error`.
    pub fn fail_next_run_task(&self, error: AwsError) {
        lock(&self.run_task_errors).push(error);
    }

    /// Every RunTask that started a task, in order (a repeated clientToken starts none).
    pub fn launches(&self) -> Vec<Launch> {
        lock(&self.launches).clone()
    }

    /// The tasks ECS knows.
    pub fn tasks(&self) -> Vec<EcsTask> {
        lock(&self.tasks).clone()
    }

    /// How many times a task definition was described.
    pub fn definitions_read(&self) -> usize {
        *lock(&self.definitions_read)
    }
}

impl Ecs for MemoryEcs {
    async fn task_definition(&self, arn: &str) -> Result<TaskDefinition, AwsError> {
        *lock(&self.definitions_read) += 1;
        lock(&self.definitions).get(arn).cloned().ok_or_else(|| {
            AwsError::coded(
                "ecs:DescribeTaskDefinition",
                "ClientException",
                format!("Unable to describe task definition {arn}"),
            )
        })
    }

    async fn task(&self, _cluster: &str, task_arn: &str) -> Result<Option<EcsTask>, AwsError> {
        Ok(lock(&self.tasks)
            .iter()
            .find(|t| t.task_arn == task_arn)
            .cloned())
    }

    async fn running_tasks(&self, _cluster: &str, family: &str) -> Result<Vec<EcsTask>, AwsError> {
        Ok(lock(&self.tasks)
            .iter()
            .filter(|t| t.family() == family && t.desired_status.as_deref() != Some("STOPPED"))
            .cloned()
            .collect())
    }

    async fn run_task(&self, launch: &Launch) -> Result<String, AwsError> {
        if let Some(error) = lock(&self.run_task_errors).pop() {
            return Err(error);
        }
        let mut launches = lock(&self.launches);
        let mut tasks = lock(&self.tasks);
        // ECS answers a repeated clientToken with the task it started then.
        if let Some(i) = launches
            .iter()
            .position(|l| l.client_token == launch.client_token)
        {
            if launches[i] != *launch {
                return Err(AwsError::coded(
                    "ecs:RunTask",
                    "ConflictException",
                    "the clientToken was used with other parameters",
                ));
            }
            return Ok(format!("{}/memory-task-{i}", task_arn_base(launch)));
        }
        let arn = format!("{}/memory-task-{}", task_arn_base(launch), launches.len());
        let family = launch
            .task_definition
            .rsplit('/')
            .next()
            .and_then(|t| t.split(':').next())
            .unwrap_or_default();
        let mut overrides = vec![ContainerOverride {
            name: launch.container.clone(),
            command: Some(launch.command.clone()),
            environment: launch.environment.clone(),
        }];
        overrides.extend(launch.other_overrides.iter().cloned());
        tasks.push(EcsTask {
            cluster_arn: launch.cluster.clone(),
            task_arn: arn.clone(),
            task_definition_arn: launch.task_definition.clone(),
            last_status: "PROVISIONING".into(),
            desired_status: Some("RUNNING".into()),
            group: Some(format!("family:{family}")),
            started_by: Some(launch.started_by.clone()),
            overrides: TaskOverrides {
                container_overrides: overrides,
                cpu: launch.cpu.clone(),
                memory: launch.memory.clone(),
            },
            ..Default::default()
        });
        launches.push(launch.clone());
        Ok(arn)
    }
}

fn task_arn_base(launch: &Launch) -> String {
    let cluster = launch.cluster.rsplit('/').next().unwrap_or(&launch.cluster);
    format!("arn:aws:ecs:eu-west-1:123456789012:task/{cluster}")
}

/// A log stream: its group and name.
type StreamKey = (String, String);
/// A log line and when it becomes visible.
type TimedLine = (Duration, String);

/// CloudWatch Logs in memory: each stream's lines, each visible from a moment on (tokio time
/// since the store was made), so a test can make the log lag the event.
#[derive(Debug)]
pub struct MemoryLogs {
    start: Instant,
    streams: Mutex<HashMap<StreamKey, Vec<TimedLine>>>,
    /// Lines per page, so tests read several pages.
    page_size: usize,
    pages_read: Mutex<usize>,
}

impl Default for MemoryLogs {
    fn default() -> Self {
        Self {
            start: Instant::now(),
            streams: Mutex::default(),
            page_size: 100,
            pages_read: Mutex::default(),
        }
    }
}

impl MemoryLogs {
    /// Adds `lines` to the stream `at`, visible `after` the store was made.
    pub fn write_after<S: AsRef<str>>(&self, at: &LogLocation, after: Duration, lines: &[S]) {
        let mut streams = lock(&self.streams);
        let stream = streams
            .entry((at.group.clone(), at.stream.clone()))
            .or_default();
        stream.extend(lines.iter().map(|l| (after, l.as_ref().to_owned())));
    }

    /// Adds `lines` to the stream `at`, visible at once.
    pub fn write<S: AsRef<str>>(&self, at: &LogLocation, lines: &[S]) {
        self.write_after(at, Duration::ZERO, lines);
    }

    /// How many pages were read.
    pub fn pages_read(&self) -> usize {
        *lock(&self.pages_read)
    }
}

impl Logs for MemoryLogs {
    async fn page(&self, at: &LogLocation, token: Option<&str>) -> Result<LogPage, AwsError> {
        *lock(&self.pages_read) += 1;
        let now = self.start.elapsed();
        let streams = lock(&self.streams);
        let visible: Vec<&String> = streams
            .get(&(at.group.clone(), at.stream.clone()))
            .map(|lines| {
                lines
                    .iter()
                    .filter(|(t, _)| *t <= now)
                    .map(|(_, l)| l)
                    .collect()
            })
            .unwrap_or_default();
        if visible.is_empty() {
            return Err(AwsError::coded(
                "logs:GetLogEvents",
                "ResourceNotFoundException",
                "The specified log stream does not exist.",
            ));
        }
        let from: usize = token.and_then(|t| t.parse().ok()).unwrap_or(0);
        let to = (from + self.page_size).min(visible.len());
        Ok(LogPage {
            lines: visible[from.min(to)..to]
                .iter()
                .map(|l| (*l).clone())
                .collect(),
            next_token: Some(to.to_string()),
        })
    }
}

/// An SNS inbox.
#[derive(Debug, Default)]
pub struct MemoryAlerts {
    published: Mutex<Vec<(String, Alert)>>,
    failing: Mutex<bool>,
}

impl MemoryAlerts {
    /// Every publish fails from now on.
    pub fn fail(&self) {
        *lock(&self.failing) = true;
    }

    pub fn published(&self) -> Vec<(String, Alert)> {
        lock(&self.published).clone()
    }
}

impl Alerts for MemoryAlerts {
    async fn publish(&self, topic_arn: &str, alert: &Alert) -> Result<(), AwsError> {
        if *lock(&self.failing) {
            return Err(AwsError::coded(
                "sns:Publish",
                "NotFound",
                "Topic does not exist",
            ));
        }
        lock(&self.published).push((topic_arn.to_owned(), alert.clone()));
        Ok(())
    }
}

/// EventBridge Scheduler in memory: schedules by name; it never fires them (tests do).
#[derive(Debug, Default)]
pub struct MemorySchedules {
    schedules: Mutex<BTreeMap<String, ScheduleRequest>>,
}

impl MemorySchedules {
    pub fn schedules(&self) -> Vec<ScheduleRequest> {
        lock(&self.schedules).values().cloned().collect()
    }
}

impl Schedules for MemorySchedules {
    async fn create(&self, request: &ScheduleRequest) -> Result<bool, AwsError> {
        let mut schedules = lock(&self.schedules);
        if schedules.contains_key(&request.name) {
            return Ok(false);
        }
        schedules.insert(request.name.clone(), request.clone());
        Ok(true)
    }
}

/// A clock that starts at a fixed time and follows tokio's time, which tests pause and
/// advance.
#[derive(Debug, Clone)]
pub struct TestClock {
    base: chrono::DateTime<chrono::Utc>,
    start: Instant,
}

impl TestClock {
    pub fn at(base: chrono::DateTime<chrono::Utc>) -> Self {
        Self {
            base,
            start: Instant::now(),
        }
    }
}

impl Clock for TestClock {
    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        let elapsed = chrono::Duration::from_std(self.start.elapsed()).unwrap_or_default();
        self.base + elapsed
    }
}

/// The functions' log groups in memory, for `dbt-rerun history`: events by group, read a
/// page of `page_size` at a time. The pattern is recorded, not applied (CloudWatch's pattern
/// only narrows; the reader checks every line).
#[derive(Debug)]
pub struct MemoryDecisionLog {
    groups: Mutex<BTreeMap<String, Vec<dbt_rerun_core::history::LogEvent>>>,
    page_size: usize,
    pages_read: Mutex<usize>,
    patterns: Mutex<Vec<String>>,
}

impl Default for MemoryDecisionLog {
    fn default() -> Self {
        Self::with_page_size(100)
    }
}

impl MemoryDecisionLog {
    pub fn with_page_size(page_size: usize) -> Self {
        Self {
            groups: Mutex::default(),
            page_size: page_size.max(1),
            pages_read: Mutex::default(),
            patterns: Mutex::default(),
        }
    }

    /// Adds `events` to `group` (created when new).
    pub fn write(&self, group: &str, events: &[dbt_rerun_core::history::LogEvent]) {
        lock(&self.groups)
            .entry(group.to_owned())
            .or_default()
            .extend_from_slice(events);
    }

    pub fn pages_read(&self) -> usize {
        *lock(&self.pages_read)
    }

    /// The pattern of every call, in order.
    pub fn patterns(&self) -> Vec<String> {
        lock(&self.patterns).clone()
    }
}

impl crate::ports::DecisionLog for MemoryDecisionLog {
    async fn filter(
        &self,
        group: &str,
        pattern: &str,
        start_ms: i64,
        token: Option<&str>,
    ) -> Result<crate::ports::EventPage, AwsError> {
        *lock(&self.pages_read) += 1;
        lock(&self.patterns).push(pattern.to_owned());
        let groups = lock(&self.groups);
        let events = groups.get(group).ok_or_else(|| {
            AwsError::coded(
                "logs:FilterLogEvents",
                "ResourceNotFoundException",
                "The specified log group does not exist.",
            )
        })?;
        let matching: Vec<_> = events
            .iter()
            .filter(|e| e.timestamp_ms >= start_ms)
            .collect();
        let from: usize = token.and_then(|t| t.parse().ok()).unwrap_or(0);
        let to = (from + self.page_size).min(matching.len());
        Ok(crate::ports::EventPage {
            events: matching
                .get(from..to)
                .unwrap_or_default()
                .iter()
                .map(|e| (*e).clone())
                .collect(),
            next_token: (to < matching.len()).then(|| to.to_string()),
        })
    }
}
