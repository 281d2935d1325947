//! An HTTP proxy in front of moto that injects AWS faults into chosen operations: throttling
//! and server errors, dropped connections, answers that come too late, and answers lost
//! after moto acted. It records every request it sees, to check what the SDK sent again.
//!
//! It can also enforce AWS's request rates ([`RateLimits`]): per-account token buckets, one
//! per API category, at the documented sizes and refill rates; a request that finds its
//! bucket empty is answered `400 ThrottlingException` ("Rate exceeded") without reaching moto,
//! as ECS and CloudWatch Logs answer it.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A token bucket: `capacity` tokens (the burst rate), refilled with `per_second` tokens a
/// second (the sustained rate) up to the capacity; each request takes one.
#[derive(Debug, Clone)]
pub struct Bucket {
    pub name: &'static str,
    pub capacity: f64,
    pub per_second: f64,
    /// The operations that draw from it.
    pub operations: &'static [&'static str],
    tokens: f64,
    filled_at: Option<Instant>,
}

impl Bucket {
    pub fn new(
        name: &'static str,
        capacity: f64,
        per_second: f64,
        operations: &'static [&'static str],
    ) -> Bucket {
        Bucket {
            name,
            capacity,
            per_second,
            operations,
            tokens: capacity,
            filled_at: None,
        }
    }

    fn refill(&mut self, now: Instant) {
        if let Some(then) = self.filled_at {
            let earned = now.saturating_duration_since(then).as_secs_f64() * self.per_second;
            self.tokens = (self.tokens + earned).min(self.capacity);
        }
        self.filled_at = Some(now);
    }
}

/// The request rates AWS enforces per account and Region, as token buckets. A request takes a
/// token from every bucket its operation draws from, or from none (it is throttled).
#[derive(Debug, Clone, Default)]
pub struct RateLimits {
    pub buckets: Vec<Bucket>,
}

/// CloudWatch Logs `GetLogEvents`: 10 requests per second per account per Region ("This
/// quota can't be changed"), the figure of the CloudWatch Logs quotas page
/// (<https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/cloudwatch_limits_cwl.html>,
/// as recorded in awsdocs/amazon-cloudwatch-logs-user-guide `doc_source/cloudwatch_limits_cwl.md`);
/// larger Regions now have 25. The strictest figure is the default here.
pub const GET_LOG_EVENTS_PER_SECOND: f64 = 10.0;

impl RateLimits {
    /// AWS's documented default rates for what dbt-rerun calls.
    ///
    /// ECS (<https://docs.aws.amazon.com/AmazonECS/latest/APIReference/request-throttling.html>,
    /// "Request Token Bucket Sizes and Refill Rates"; all Regions, per account and Region):
    /// task definition read actions (`DescribeTaskDefinition`) 50 burst / 20 a second;
    /// cluster resource read actions (`DescribeTasks`, `ListTasks`) 100 / 20; cluster
    /// resource modify actions (`RunTask`, `StopTask`) 100 / 40. Fargate additionally
    /// (<https://docs.aws.amazon.com/AmazonECS/latest/developerguide/throttling.html>):
    /// `RunTask` 20 calls a second, burst and sustained, and 100 task launches burst / 20 a
    /// second (one task per dbt-rerun call). CloudWatch Logs (page above): `GetLogEvents`
    /// [`GET_LOG_EVENTS_PER_SECOND`], `FilterLogEvents` 5 transactions a second; a
    /// per-second quota is modelled as a bucket of one second's requests.
    pub fn aws() -> RateLimits {
        RateLimits::aws_with_log_reads(GET_LOG_EVENTS_PER_SECOND)
    }

    /// [`RateLimits::aws`] with `GetLogEvents` at `per_second` (25 in most Regions now).
    pub fn aws_with_log_reads(per_second: f64) -> RateLimits {
        RateLimits {
            buckets: vec![
                Bucket::new(
                    "ecs: task definition read",
                    50.0,
                    20.0,
                    &[
                        "DescribeTaskDefinition",
                        "ListTaskDefinitions",
                        "ListTaskDefinitionFamilies",
                    ],
                ),
                Bucket::new(
                    "ecs: cluster resource read",
                    100.0,
                    20.0,
                    &[
                        "DescribeTasks",
                        "ListTasks",
                        "DescribeContainerInstances",
                        "ListContainerInstances",
                        "ListAttributes",
                    ],
                ),
                Bucket::new(
                    "ecs: cluster resource modify",
                    100.0,
                    40.0,
                    &["RunTask", "StartTask", "StopTask"],
                ),
                Bucket::new("fargate: RunTask calls", 20.0, 20.0, &["RunTask"]),
                Bucket::new("fargate: task launches", 100.0, 20.0, &["RunTask"]),
                Bucket::new(
                    "logs: GetLogEvents",
                    per_second,
                    per_second,
                    &["GetLogEvents"],
                ),
                Bucket::new("logs: FilterLogEvents", 5.0, 5.0, &["FilterLogEvents"]),
            ],
        }
    }

    /// Every bucket's sizes and rates multiplied by `factor` (a test's smaller account).
    pub fn scaled(mut self, factor: f64) -> RateLimits {
        for b in &mut self.buckets {
            b.capacity = (b.capacity * factor).max(1.0);
            b.per_second *= factor;
            b.tokens = b.capacity;
        }
        self
    }

    /// Takes a token from every bucket of `operation`, or none: false when one is empty.
    fn admit(&mut self, operation: &str, now: Instant) -> bool {
        let mut mine: Vec<&mut Bucket> = self
            .buckets
            .iter_mut()
            .filter(|b| b.operations.contains(&operation))
            .collect();
        for b in mine.iter_mut() {
            b.refill(now);
        }
        if mine.iter().any(|b| b.tokens < 1.0) {
            return false;
        }
        for b in mine {
            b.tokens -= 1.0;
        }
        true
    }
}

/// Requests of one operation the proxy saw, and how many of them it throttled.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Count {
    pub requests: usize,
    pub throttled: usize,
}

/// What to do to the next `times` calls of `operation` (`RunTask`, `GetLogEvents`, ...).
#[derive(Debug, Clone)]
pub struct Fault {
    pub operation: &'static str,
    pub times: usize,
    pub kind: FaultKind,
}

#[derive(Debug, Clone)]
pub enum FaultKind {
    /// Answer with this HTTP status and AWS error type, without reaching moto.
    Error {
        status: u16,
        error_type: &'static str,
    },
    /// Close the connection without an answer, without reaching moto.
    Reset,
    /// Hold the request this long, then close without an answer.
    Hang(Duration),
    /// Let moto act, then close the connection without passing its answer on.
    LoseAnswer,
}

/// One request the proxy saw.
#[derive(Debug, Clone)]
pub struct Seen {
    pub operation: String,
    pub body: String,
    pub fault: Option<String>,
}

#[derive(Clone)]
pub struct FaultProxy {
    pub endpoint: String,
    upstream: String,
    faults: Arc<Mutex<Vec<Fault>>>,
    seen: Arc<Mutex<Vec<Seen>>>,
    limits: Arc<Mutex<Option<RateLimits>>>,
}

/// The fault recorded for a request the rate limits refused.
pub const THROTTLED: &str = "Throttled";

impl FaultProxy {
    /// A proxy to `upstream` (`http://127.0.0.1:PORT`) on a free loopback port.
    pub fn start(upstream: &str) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
        let proxy = FaultProxy {
            endpoint: format!("http://{}", listener.local_addr().expect("bound")),
            upstream: upstream.trim_start_matches("http://").to_owned(),
            faults: Arc::default(),
            seen: Arc::default(),
            limits: Arc::default(),
        };
        let server = proxy.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let server = server.clone();
                std::thread::spawn(move || server.serve(stream));
            }
        });
        proxy
    }

    /// Enforces `limits` from now on (each bucket full).
    pub fn limit(&self, limits: RateLimits) {
        *self.limits.lock().unwrap() = Some(limits);
    }

    /// Requests seen and throttled, by operation.
    pub fn counts(&self) -> BTreeMap<String, Count> {
        let mut out: BTreeMap<String, Count> = BTreeMap::new();
        for s in self.seen.lock().unwrap().iter() {
            let c = out.entry(s.operation.clone()).or_default();
            c.requests += 1;
            c.throttled += usize::from(s.fault.as_deref() == Some(THROTTLED));
        }
        out
    }

    pub fn inject(&self, fault: Fault) {
        self.faults.lock().unwrap().push(fault);
    }

    /// The requests seen for `operation`, in order.
    pub fn seen(&self, operation: &str) -> Vec<Seen> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|s| s.operation == operation)
            .cloned()
            .collect()
    }

    fn take_fault(&self, operation: &str) -> Option<FaultKind> {
        let mut faults = self.faults.lock().unwrap();
        let fault = faults
            .iter_mut()
            .find(|f| f.operation == operation && f.times > 0)?;
        fault.times -= 1;
        Some(fault.kind.clone())
    }

    /// Serves one request per connection: every answer closes its connection, so the SDK
    /// opens a new one for the next request (and for a retry).
    fn serve(&self, client: TcpStream) {
        let Ok(mut out) = client.try_clone() else {
            return;
        };
        let mut reader = BufReader::new(client);
        let Some((head, body)) = read_request(&mut reader) else {
            return;
        };
        let operation = operation_of(&head, &body);
        let admitted = match self.limits.lock().unwrap().as_mut() {
            Some(limits) => limits.admit(&operation, Instant::now()),
            None => true,
        };
        let fault = if admitted {
            self.take_fault(&operation)
        } else {
            Some(FaultKind::Error {
                status: 400,
                error_type: "ThrottlingException",
            })
        };
        self.seen.lock().unwrap().push(Seen {
            operation: operation.clone(),
            body: String::from_utf8_lossy(&body).into_owned(),
            fault: match (&fault, admitted) {
                (_, false) => Some(THROTTLED.to_owned()),
                (f, true) => f.as_ref().map(|f| format!("{f:?}")),
            },
        });
        match fault {
            Some(FaultKind::Error { status, error_type }) => {
                // As ECS and CloudWatch Logs answer a throttled request: 400, the awsJson
                // error body, "Rate exceeded".
                let message = if admitted {
                    "injected by the test proxy"
                } else {
                    "Rate exceeded"
                };
                let json = format!(r#"{{"__type":"{error_type}","message":"{message}"}}"#);
                let request_id = self.seen.lock().unwrap().len();
                let phrase = if status == 400 {
                    "Bad Request"
                } else {
                    "Injected"
                };
                let answer = format!(
                    "HTTP/1.1 {status} {phrase}\r\nContent-Type: application/x-amz-json-1.1\r\n\
                     x-amzn-RequestId: 00000000-0000-0000-0000-{request_id:012}\r\n\
                     x-amzn-ErrorType: {error_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{json}",
                    json.len()
                );
                let _ = out.write_all(answer.as_bytes());
            }
            Some(FaultKind::Reset) => {}
            Some(FaultKind::Hang(how_long)) => std::thread::sleep(how_long),
            Some(FaultKind::LoseAnswer) => {
                let _ = self.forward(&head, &body);
            }
            None => {
                if let Some(answer) = self.forward(&head, &body) {
                    let _ = out.write_all(&answer);
                }
            }
        }
        let _ = out.shutdown(Shutdown::Both);
    }

    /// Sends the request to moto with `Connection: close` and returns moto's whole answer,
    /// also marked `Connection: close`.
    fn forward(&self, head: &str, body: &[u8]) -> Option<Vec<u8>> {
        let mut upstream = TcpStream::connect(&self.upstream).ok()?;
        let mut request = String::new();
        for line in head.lines() {
            if !line.to_ascii_lowercase().starts_with("connection:") {
                request.push_str(line);
                request.push_str("\r\n");
            }
        }
        request.push_str("Connection: close\r\n\r\n");
        upstream.write_all(request.as_bytes()).ok()?;
        upstream.write_all(body).ok()?;
        let mut answer = Vec::new();
        upstream.read_to_end(&mut answer).ok()?;
        let text = String::from_utf8_lossy(&answer);
        let split = text.find("\r\n\r\n")?;
        let mut fixed = String::new();
        for line in text[..split].lines() {
            if !line.to_ascii_lowercase().starts_with("connection:") {
                fixed.push_str(line);
                fixed.push_str("\r\n");
            }
        }
        fixed.push_str("Connection: close\r\n\r\n");
        let mut out = fixed.into_bytes();
        out.extend_from_slice(&answer[split + 4..]);
        Some(out)
    }
}

/// Reads one request: the head (request line and headers, without the blank line) and body.
fn read_request(reader: &mut BufReader<TcpStream>) -> Option<(String, Vec<u8>)> {
    let mut head = String::new();
    let mut length = 0usize;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        if line == "\r\n" || line == "\n" {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().unwrap_or(0);
            }
        }
        head.push_str(line.trim_end());
        head.push('\n');
    }
    let mut body = vec![0u8; length];
    reader.read_exact(&mut body).ok()?;
    Some((head, body))
}

/// `RunTask` from `X-Amz-Target: AmazonEC2ContainerServiceV20141113.RunTask`, or the query
/// protocol's `Action=Publish`.
fn operation_of(head: &str, body: &[u8]) -> String {
    for line in head.lines() {
        if let Some((name, value)) = line.split_once(':') {
            if name.eq_ignore_ascii_case("x-amz-target") {
                return value
                    .trim()
                    .rsplit('.')
                    .next()
                    .unwrap_or_default()
                    .to_owned();
            }
        }
    }
    let body = String::from_utf8_lossy(body);
    body.split('&')
        .find_map(|kv| kv.strip_prefix("Action="))
        .unwrap_or("unknown")
        .to_owned()
}
