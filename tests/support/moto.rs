//! A moto server per test, the dbt task's AWS resources in it, and helpers to play ECS and
//! the awslogs driver: start the "original" task, write its log, build the STOPPED event.

use crate::repo_root;
use crate::{fixture_argv, fixture_lines};
use aws_sdk_cloudwatchlogs::types::InputLogEvent;
use dbt_rerun_aws::EcsClient;
use dbt_rerun_core::event::{EcsTask, KeyValue};
use dbt_rerun_service::Ecs;
use serde::Deserialize;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const REGION: &str = "eu-west-1";

/// A running moto server, killed on drop.
pub struct Moto {
    child: Child,
    pub endpoint: String,
    pub setup: Setup,
}

/// What `tests/support/moto_setup.py` created.
#[derive(Debug, Clone, Deserialize)]
pub struct Setup {
    pub vpc: String,
    pub subnet: String,
    pub security_group: String,
    pub cluster: String,
    pub task_definition: String,
    pub log_group: String,
    pub container: String,
    pub stream_prefix: String,
    /// The dbt container's `entryPoint` in the task definition (none by default).
    #[serde(default)]
    pub entry_point: Option<Vec<String>>,
    /// The dbt container's `command` in the task definition.
    #[serde(default)]
    pub command: Vec<String>,
    /// The task definition ARN of each family [`Options::families`] asked for.
    #[serde(default)]
    pub families: std::collections::BTreeMap<String, String>,
}

/// How [`Moto::start_with`] sets the server up. The default is [`Moto::start`]'s: moto's
/// account, one revision of a task definition whose dbt container has no `entryPoint` and
/// the command `dbt build --target prod`.
#[derive(Debug, Clone, Default)]
pub struct Options<'a> {
    /// The AWS account moto plays (moto's default when None).
    pub account: Option<&'a str>,
    /// Register the task definition this many times (0 counts as 1).
    pub revisions: u32,
    /// The dbt container's `entryPoint`, e.g. `["sh", "-c"]`.
    pub entry_point: Option<&'a [&'a str]>,
    /// The dbt container's `command` (a script, with `entry_point` `["sh", "-c"]`).
    pub command: Option<&'a [&'a str]>,
    /// The dbt container's `logConfiguration` instead of awslogs (`awsfirelens` adds a log
    /// router container and creates the group its options name, which becomes `log_group`).
    pub log_configuration: Option<serde_json::Value>,
    /// More task families of the same dbt container (see [`Setup::families`]).
    pub families: &'a [&'a str],
}

/// The python of the moto venv (`python3 tests/fixtures/dbt_venv.py moto` makes it).
pub fn moto_python() -> PathBuf {
    let venvs = std::env::var_os("DBT_RERUN_VENVS")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(".venvs"));
    let python = venvs.join("moto/bin/python");
    assert!(
        venvs.join("moto/.installed").exists(),
        "moto is not installed at {}: run `python3 tests/fixtures/dbt_venv.py moto` (scripts/test does)",
        python.display()
    );
    python
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

fn responds(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    if stream
        .write_all(b"GET /moto-api/data.json HTTP/1.0\r\nHost: localhost\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1.")
}

impl Moto {
    /// Starts moto on a free port and creates the dbt task's resources. Panics (never skips)
    /// when moto cannot be started.
    pub fn start() -> Moto {
        Moto::start_as(None, 1)
    }

    /// Starts moto as AWS account `account` (moto's default when None), with the task
    /// definition registered `revisions` times.
    pub fn start_as(account: Option<&str>, revisions: u32) -> Moto {
        Moto::start_with(Options {
            account,
            revisions,
            ..Options::default()
        })
    }

    /// Starts moto set up as `options` say.
    pub fn start_with(options: Options<'_>) -> Moto {
        let Options {
            account,
            revisions,
            entry_point,
            command,
            log_configuration,
            families,
        } = options;
        let python = moto_python();
        let port = free_port();
        let mut child = Command::new(&python)
            .arg(repo_root().join("tests/support/moto_server.py"))
            .arg(port.to_string())
            .envs(account.map(|a| ("MOTO_ACCOUNT_ID", a)))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start moto with {}: {e}", python.display()));
        let deadline = Instant::now() + Duration::from_secs(30);
        while !responds(port) {
            if let Ok(Some(status)) = child.try_wait() {
                panic!("moto exited at start ({status})");
            }
            assert!(
                Instant::now() < deadline,
                "moto did not answer on port {port} within 30 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        let endpoint = format!("http://127.0.0.1:{port}");
        let out = Command::new(&python)
            .arg(repo_root().join("tests/support/moto_setup.py"))
            .args([endpoint.as_str(), REGION, &revisions.max(1).to_string()])
            .args(entry_point.map(|e| format!("--entry-point={}", serde_json::json!(e))))
            .args(command.map(|c| format!("--command={}", serde_json::json!(c))))
            .args(log_configuration.map(|l| format!("--log-configuration={l}")))
            .args(families.iter().map(|f| format!("--family={f}")))
            .output()
            .expect("moto_setup.py runs");
        assert!(
            out.status.success(),
            "moto setup failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let setup = serde_json::from_slice(&out.stdout).expect("setup prints JSON");
        Moto {
            child,
            endpoint,
            setup,
        }
    }

    /// An SDK configuration for this server: test credentials, no retries (a 500 from moto
    /// must not cost seconds).
    pub async fn sdk_config(&self) -> aws_config::SdkConfig {
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .endpoint_url(&self.endpoint)
            .region(aws_config::Region::new(REGION))
            .credentials_provider(aws_sdk_ecs::config::Credentials::new(
                "test", "test", None, None, "test",
            ))
            .retry_config(aws_config::retry::RetryConfig::disabled())
            .load()
            .await
    }

    /// Environment variables that point a process (the Lambda binaries) at this server.
    pub fn env(&self) -> Vec<(String, String)> {
        [
            ("AWS_ENDPOINT_URL", self.endpoint.as_str()),
            ("AWS_REGION", REGION),
            ("AWS_ACCESS_KEY_ID", "test"),
            ("AWS_SECRET_ACCESS_KEY", "test"),
            ("AWS_MAX_ATTEMPTS", "1"),
            (
                "DBT_RERUN_SECURITY_GROUPS",
                self.setup.security_group.as_str(),
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }

    /// [`Moto::env`] reaching this server through `endpoint` (a proxy in front of it).
    pub fn env_through(&self, endpoint: &str) -> Vec<(String, String)> {
        let mut env = self.env();
        for (k, v) in &mut env {
            if k == "AWS_ENDPOINT_URL" {
                *v = endpoint.to_owned();
            }
        }
        env
    }

    /// The service configuration the tests use: the moto network, a short log wait.
    pub fn service_config(&self, log_wait: Duration) -> dbt_rerun_core::config::ServiceConfig {
        self.service_config_with(log_wait, &[])
    }

    /// [`Moto::service_config`] with more environment variables (`DBT_RERUN_...`, as the
    /// function would read them).
    pub fn service_config_with(
        &self,
        log_wait: Duration,
        vars: &[(&str, &str)],
    ) -> dbt_rerun_core::config::ServiceConfig {
        let mut config = dbt_rerun_core::config::service_config(|name| match name {
            "DBT_RERUN_SECURITY_GROUPS" => Some(self.setup.security_group.clone()),
            "DBT_RERUN_SUBNETS" => Some(self.setup.subnet.clone()),
            _ => vars
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| (*v).to_owned()),
        })
        .expect("test configuration");
        config.log_wait = log_wait;
        config
    }

    /// Starts a dbt task like EventBridge's schedule would and leaves it RUNNING (as ECS
    /// describes it).
    pub async fn start_task(
        &self,
        ecs: &aws_sdk_ecs::Client,
        command: &[&str],
        env: &[(&str, &str)],
    ) -> EcsTask {
        self.start_task_with(ecs, Some(command), env).await
    }

    /// [`Moto::start_task`], with a command override only when `command` is given (None: the
    /// task runs the task definition's command).
    pub async fn start_task_with(
        &self,
        ecs: &aws_sdk_ecs::Client,
        command: Option<&[&str]>,
        env: &[(&str, &str)],
    ) -> EcsTask {
        self.start_task_of(ecs, &self.setup.task_definition, command, env)
            .await
    }

    /// [`Moto::start_task_with`] of another task definition (one of [`Setup::families`]).
    pub async fn start_task_of(
        &self,
        ecs: &aws_sdk_ecs::Client,
        task_definition: &str,
        command: Option<&[&str]>,
        env: &[(&str, &str)],
    ) -> EcsTask {
        use aws_sdk_ecs::types::*;
        let s = &self.setup;
        let out = ecs
            .run_task()
            .cluster(&s.cluster)
            .task_definition(task_definition)
            .launch_type(LaunchType::Fargate)
            .started_by("events-rule/dbt-nightly")
            .network_configuration(
                NetworkConfiguration::builder()
                    .awsvpc_configuration(
                        AwsVpcConfiguration::builder()
                            .subnets(&s.subnet)
                            .security_groups(&s.security_group)
                            .build()
                            .unwrap(),
                    )
                    .build(),
            )
            .overrides(
                TaskOverride::builder()
                    .container_overrides(
                        ContainerOverride::builder()
                            .name(&s.container)
                            .set_command(command.map(|c| c.iter().map(|w| w.to_string()).collect()))
                            .set_environment(Some(
                                env.iter()
                                    .map(|(n, v)| {
                                        KeyValuePair::builder().name(*n).value(*v).build()
                                    })
                                    .collect(),
                            ))
                            .build(),
                    )
                    .build(),
            )
            .send()
            .await
            .expect("moto runs the original task");
        let arn = out.tasks()[0].task_arn().unwrap().to_owned();
        self.describe(&arn).await
    }

    /// Starts an "original" dbt task like EventBridge's schedule would, and returns it as
    /// ECS described it while it ran. moto runs nothing, so the task is stopped right away
    /// (its event, built by the test, says how): a task left RUNNING would look like a newer
    /// run of the same command to the next chain's overlap check.
    pub async fn run_original(
        &self,
        ecs: &aws_sdk_ecs::Client,
        command: &[&str],
        env: &[(&str, &str)],
    ) -> EcsTask {
        self.run_original_with(ecs, Some(command), env).await
    }

    /// [`Moto::run_original`], with a command override only when `command` is given.
    pub async fn run_original_with(
        &self,
        ecs: &aws_sdk_ecs::Client,
        command: Option<&[&str]>,
        env: &[(&str, &str)],
    ) -> EcsTask {
        self.run_original_of(ecs, &self.setup.task_definition, command, env)
            .await
    }

    /// [`Moto::run_original_with`] of another task definition (one of [`Setup::families`]).
    pub async fn run_original_of(
        &self,
        ecs: &aws_sdk_ecs::Client,
        task_definition: &str,
        command: Option<&[&str]>,
        env: &[(&str, &str)],
    ) -> EcsTask {
        let running = self.start_task_of(ecs, task_definition, command, env).await;
        ecs.stop_task()
            .cluster(&self.setup.cluster)
            .task(&running.task_arn)
            .reason("stopped by the test: moto runs nothing")
            .send()
            .await
            .expect("StopTask");
        running
    }

    /// A task as the SDK (through dbt-rerun's own adapter) describes it.
    pub async fn describe(&self, task_arn: &str) -> EcsTask {
        let ecs = EcsClient::new(&self.sdk_config().await);
        ecs.task(&self.setup.cluster, task_arn)
            .await
            .expect("DescribeTasks")
            .expect("task known")
    }

    /// A task that ran `fixture`'s command (with `env`) and stopped with `exit_code`, its log
    /// written: the task, and the STOPPED event ECS would send for it.
    pub async fn fixture_run(
        &self,
        fixture: &str,
        exit_code: i32,
        env: &[(&str, &str)],
    ) -> (EcsTask, Vec<u8>) {
        let aws = self.sdk_config().await;
        let ecs = aws_sdk_ecs::Client::new(&aws);
        let logs = aws_sdk_cloudwatchlogs::Client::new(&aws);
        let argv = fixture_argv(fixture);
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        let task = self.run_original(&ecs, &argv, env).await;
        self.write_log(&logs, &task, &fixture_lines(fixture), true)
            .await;
        let event = stopped_event(&task, &Stop::exit(exit_code));
        (task, event)
    }

    /// Stops `task` as if its dbt container had exited `exit_code` (see moto_server.py), and
    /// returns it as ECS now describes it.
    pub async fn stop(&self, ecs: &aws_sdk_ecs::Client, task: &EcsTask, exit_code: i32) -> EcsTask {
        ecs.stop_task()
            .cluster(&self.setup.cluster)
            .task(&task.task_arn)
            .reason(format!("exitCode={exit_code}"))
            .send()
            .await
            .expect("StopTask");
        self.describe(&task.task_arn).await
    }

    /// Tasks dbt-rerun started (startedBy `dbt-rerun/...`), as ECS describes them.
    pub async fn reruns(&self, ecs: &aws_sdk_ecs::Client) -> Vec<EcsTask> {
        let mut out = Vec::new();
        for (arn, started_by) in self.started_by(ecs).await {
            if started_by.is_some_and(|s| s.starts_with("dbt-rerun/")) {
                out.push(self.describe(&arn).await);
            }
        }
        out
    }

    /// Every task of the cluster (every ListTasks page) with its startedBy.
    pub async fn started_by(&self, ecs: &aws_sdk_ecs::Client) -> Vec<(String, Option<String>)> {
        let mut arns = Vec::new();
        let mut token = None;
        loop {
            let page = ecs
                .list_tasks()
                .cluster(&self.setup.cluster)
                .set_next_token(token)
                .send()
                .await
                .expect("ListTasks");
            arns.extend(page.task_arns().iter().cloned());
            token = page.next_token().map(str::to_owned);
            if token.is_none() {
                break;
            }
        }
        let mut out = Vec::new();
        for batch in arns.chunks(100) {
            let described = ecs
                .describe_tasks()
                .cluster(&self.setup.cluster)
                .set_tasks(Some(batch.to_vec()))
                .send()
                .await
                .expect("DescribeTasks");
            for t in described.tasks() {
                out.push((
                    t.task_arn().unwrap_or_default().to_owned(),
                    t.started_by().map(str::to_owned),
                ));
            }
        }
        out
    }

    /// The log stream of `task`'s dbt container: `prefix/container/task-id`.
    pub fn stream_of(&self, task: &EcsTask) -> String {
        format!(
            "{}/{}/{}",
            self.setup.stream_prefix,
            self.setup.container,
            task.task_id()
        )
    }

    /// Writes `lines` to the task's stream as the awslogs driver would: one event per line.
    pub async fn write_log(
        &self,
        logs: &aws_sdk_cloudwatchlogs::Client,
        task: &EcsTask,
        lines: &[String],
        create: bool,
    ) {
        let stream = self.stream_of(task);
        self.write_events(logs, &stream, lines, create).await;
    }

    /// Writes `events` to `stream` of the dbt container's log group, one event each (what a
    /// log driver sends: a line, several lines, a FireLens record), creating the stream first
    /// when `create`.
    pub async fn write_events(
        &self,
        logs: &aws_sdk_cloudwatchlogs::Client,
        stream: &str,
        lines: &[String],
        create: bool,
    ) {
        if create {
            logs.create_log_stream()
                .log_group_name(&self.setup.log_group)
                .log_stream_name(stream)
                .send()
                .await
                .expect("CreateLogStream");
        }
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64;
        for chunk in lines.chunks(1000) {
            let events: Vec<InputLogEvent> = chunk
                .iter()
                .map(|l| {
                    InputLogEvent::builder()
                        .timestamp(now)
                        .message(l.as_str())
                        .build()
                        .unwrap()
                })
                .collect();
            logs.put_log_events()
                .log_group_name(&self.setup.log_group)
                .log_stream_name(stream)
                .set_log_events(Some(events))
                .send()
                .await
                .expect("PutLogEvents");
        }
    }
}

/// The log groups of stack `stack`'s functions, as template.yaml names them:
/// on-task-stopped's, then rerun-task's.
pub fn function_log_groups(stack: &str) -> [String; 2] {
    [
        format!("/aws/lambda/{stack}-on-task-stopped"),
        format!("/aws/lambda/{stack}-rerun-task"),
    ]
}

/// The log stream Lambda writes a function's lines to (one per execution environment).
pub const FUNCTION_STREAM: &str = "2026/11/27/[$LATEST]0123456789abcdef0123456789abcdef";

impl Moto {
    /// Creates the log groups of stack `stack`'s functions, each with its Lambda stream.
    pub async fn create_function_log_groups(
        &self,
        logs: &aws_sdk_cloudwatchlogs::Client,
        stack: &str,
    ) -> [String; 2] {
        let groups = function_log_groups(stack);
        for group in &groups {
            logs.create_log_group()
                .log_group_name(group)
                .send()
                .await
                .expect("CreateLogGroup");
            logs.create_log_stream()
                .log_group_name(group)
                .log_stream_name(FUNCTION_STREAM)
                .send()
                .await
                .expect("CreateLogStream");
        }
        groups
    }

    /// Writes `lines` (timestamp in ms, the line a function printed) to `group`'s Lambda
    /// stream, as Lambda would: one event per line, in time order, in batches PutLogEvents
    /// takes.
    pub async fn write_function_log(
        &self,
        logs: &aws_sdk_cloudwatchlogs::Client,
        group: &str,
        lines: &[(i64, String)],
    ) {
        let mut lines = lines.to_vec();
        lines.sort_by_key(|(t, _)| *t);
        for chunk in lines.chunks(100) {
            let events: Vec<InputLogEvent> = chunk
                .iter()
                .map(|(t, l)| {
                    InputLogEvent::builder()
                        .timestamp(*t)
                        .message(l.as_str())
                        .build()
                        .unwrap()
                })
                .collect();
            logs.put_log_events()
                .log_group_name(group)
                .log_stream_name(FUNCTION_STREAM)
                .set_log_events(Some(events))
                .send()
                .await
                .expect("PutLogEvents");
        }
    }
}

/// An SNS topic with an SQS queue subscribed to it, to read alerts back.
pub struct AlertInbox {
    pub topic_arn: String,
    pub queue_url: String,
    sqs: aws_sdk_sqs::Client,
}

/// One alert as the SQS subscriber got it (the SNS envelope).
#[derive(Debug, Clone)]
pub struct ReceivedAlert {
    pub subject: String,
    pub message: String,
    pub attributes: std::collections::BTreeMap<String, String>,
    /// The whole envelope, to search for what must not be there.
    pub raw: String,
}

impl Moto {
    /// Creates a topic and a queue subscribed to it.
    pub async fn alert_inbox(&self, name: &str) -> AlertInbox {
        let aws = self.sdk_config().await;
        let sns = aws_sdk_sns::Client::new(&aws);
        let sqs = aws_sdk_sqs::Client::new(&aws);
        let topic_arn = sns
            .create_topic()
            .name(name)
            .send()
            .await
            .expect("CreateTopic")
            .topic_arn()
            .unwrap()
            .to_owned();
        let queue_url = sqs
            .create_queue()
            .queue_name(format!("{name}-inbox"))
            .send()
            .await
            .expect("CreateQueue")
            .queue_url()
            .unwrap()
            .to_owned();
        let attrs = sqs
            .get_queue_attributes()
            .queue_url(&queue_url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
            .send()
            .await
            .expect("GetQueueAttributes");
        let queue_arn =
            attrs.attributes().unwrap()[&aws_sdk_sqs::types::QueueAttributeName::QueueArn].clone();
        sns.subscribe()
            .topic_arn(&topic_arn)
            .protocol("sqs")
            .endpoint(queue_arn)
            .send()
            .await
            .expect("Subscribe");
        AlertInbox {
            topic_arn,
            queue_url,
            sqs,
        }
    }
}

impl AlertInbox {
    /// Every alert delivered so far (removed from the queue).
    pub async fn received(&self) -> Vec<ReceivedAlert> {
        let mut out = Vec::new();
        loop {
            let got = self
                .sqs
                .receive_message()
                .queue_url(&self.queue_url)
                .max_number_of_messages(10)
                .wait_time_seconds(1)
                .send()
                .await
                .expect("ReceiveMessage");
            if got.messages().is_empty() {
                return out;
            }
            for m in got.messages() {
                let raw = m.body().unwrap_or_default().to_owned();
                let envelope: serde_json::Value =
                    serde_json::from_str(&raw).expect("an SNS envelope");
                let attributes = envelope["MessageAttributes"]
                    .as_object()
                    .map(|o| {
                        o.iter()
                            .map(|(k, v)| {
                                (
                                    k.clone(),
                                    v["Value"].as_str().unwrap_or_default().to_owned(),
                                )
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                out.push(ReceivedAlert {
                    subject: envelope["Subject"].as_str().unwrap_or_default().to_owned(),
                    message: envelope["Message"].as_str().unwrap_or_default().to_owned(),
                    attributes,
                    raw,
                });
                self.sqs
                    .delete_message()
                    .queue_url(&self.queue_url)
                    .receipt_handle(m.receipt_handle().unwrap_or_default())
                    .send()
                    .await
                    .expect("DeleteMessage");
            }
        }
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// How the dbt container of a task stopped, for [`stopped_event`].
pub struct Stop<'a> {
    pub exit_code: Option<i32>,
    pub stop_code: &'a str,
    pub reason: Option<&'a str>,
}

impl Stop<'_> {
    pub fn exit(code: i32) -> Self {
        Stop {
            exit_code: Some(code),
            stop_code: "EssentialContainerExited",
            reason: None,
        }
    }
}

/// The EventBridge event ECS sends when `task` stops as `stop` says.
pub fn stopped_event(task: &EcsTask, stop: &Stop<'_>) -> Vec<u8> {
    let mut task = task.clone();
    task.last_status = "STOPPED".into();
    task.desired_status = Some("STOPPED".into());
    task.stop_code = Some(stop.stop_code.into());
    task.stopped_reason = Some("Essential container in task exited".into());
    task.version = Some(5);
    for c in &mut task.containers {
        c.exit_code = stop.exit_code;
        c.reason = stop.reason.map(Into::into);
        c.last_status = Some("STOPPED".into());
    }
    // moto leaves the task's own size out; ECS events carry it.
    task.cpu.get_or_insert_with(|| "1024".into());
    task.memory.get_or_insert_with(|| "2048".into());
    event_json(&task)
}

/// Wraps a task in the EventBridge envelope.
pub fn event_json(task: &EcsTask) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "version": "0",
        "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
        "detail-type": "ECS Task State Change",
        "source": "aws.ecs",
        "account": "123456789012",
        "time": "2026-11-27T02:14:31Z",
        "region": REGION,
        "resources": [task.task_arn],
        "detail": task,
    }))
    .unwrap()
}

/// The value of `name` in an environment list.
pub fn env_value<'a>(env: &'a [KeyValue], name: &str) -> Option<&'a str> {
    env.iter()
        .find(|kv| kv.name == name)
        .map(|kv| kv.value.as_str())
}
