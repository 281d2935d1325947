//! A small Lambda Runtime API server, to run the real function binaries as Lambda would:
//! the binary long-polls `/invocation/next`, gets an event, posts a response or an error.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// What the function answered for one invocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Response(String),
    Error(String),
}

#[derive(Default)]
struct State {
    queue: VecDeque<(String, Vec<u8>)>,
    outcomes: Vec<(String, Outcome)>,
    init_error: Option<String>,
    polls: usize,
    first_poll: Option<Instant>,
    /// The function's timeout, which each invocation's deadline is (300 s unless set).
    timeout: Option<Duration>,
}

/// The server; it runs until the test process ends.
#[derive(Clone)]
pub struct RuntimeApi {
    pub address: String,
    state: Arc<(Mutex<State>, Condvar)>,
}

impl RuntimeApi {
    /// Starts a function binary as Lambda would: an empty environment but for the Lambda
    /// variables pointing it at this API, and `env`; stdout and stderr piped.
    pub fn spawn_function(
        &self,
        binary: &str,
        name: &str,
        env: &[(String, String)],
    ) -> std::process::Child {
        std::process::Command::new(binary)
            .env_clear()
            .env("AWS_LAMBDA_RUNTIME_API", &self.address)
            .env("AWS_LAMBDA_FUNCTION_NAME", name)
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {binary}: {e}"))
    }

    /// Runs function `binary` under this API until it has answered `count` invocations,
    /// checks it is still serving, then stops it: the outcomes and what it wrote.
    pub fn serve_function(
        &self,
        binary: &str,
        name: &str,
        env: &[(String, String)],
        count: usize,
    ) -> (Vec<(String, Outcome)>, std::process::Output) {
        let mut function = self.spawn_function(binary, name, env);
        let outcomes = self.outcomes(count, Duration::from_secs(60));
        assert!(
            function.try_wait().expect("a child's status").is_none(),
            "the runtime is still serving"
        );
        function.kill().expect("the function stops");
        (outcomes, function.wait_with_output().expect("its output"))
    }

    pub fn start() -> RuntimeApi {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
        let address = listener.local_addr().expect("bound").to_string();
        let api = RuntimeApi {
            address,
            state: Arc::default(),
        };
        let server = api.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let server = server.clone();
                std::thread::spawn(move || server.serve(stream));
            }
        });
        api
    }

    /// The function's timeout from now on: each invocation handed out has its deadline
    /// (`Lambda-Runtime-Deadline-Ms`) this far ahead.
    pub fn set_timeout(&self, timeout: Duration) {
        self.state.0.lock().unwrap().timeout = Some(timeout);
    }

    /// Queues an invocation.
    pub fn invoke(&self, request_id: &str, payload: &[u8]) {
        let (lock, ready) = &*self.state;
        lock.lock()
            .unwrap()
            .queue
            .push_back((request_id.to_owned(), payload.to_vec()));
        ready.notify_all();
    }

    /// Waits until `count` invocations have an outcome (or the function reported an init
    /// error), at most `timeout`.
    pub fn outcomes(&self, count: usize, timeout: Duration) -> Vec<(String, Outcome)> {
        let (lock, ready) = &*self.state;
        let deadline = Instant::now() + timeout;
        let mut state = lock.lock().unwrap();
        while state.outcomes.len() < count && state.init_error.is_none() {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "only {} of {count} invocations answered",
                state.outcomes.len()
            );
            state = ready.wait_timeout(state, left).unwrap().0;
        }
        if let Some(e) = &state.init_error {
            panic!("the function failed to initialise: {e}");
        }
        state.outcomes.clone()
    }

    /// The outcomes after the first `seen`, waiting at most `timeout` for one (none when it
    /// passes); panics on an init error.
    pub fn outcomes_after(&self, seen: usize, timeout: Duration) -> Vec<(String, Outcome)> {
        let (lock, ready) = &*self.state;
        let deadline = Instant::now() + timeout;
        let mut state = lock.lock().unwrap();
        while state.outcomes.len() <= seen && state.init_error.is_none() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Vec::new();
            }
            state = ready.wait_timeout(state, left).unwrap().0;
        }
        if let Some(e) = &state.init_error {
            panic!("the function failed to initialise: {e}");
        }
        state.outcomes[seen.min(state.outcomes.len())..].to_vec()
    }

    /// When the function first asked for an event, waiting at most `timeout`.
    pub fn first_poll(&self, timeout: Duration) -> Option<Instant> {
        let (lock, ready) = &*self.state;
        let deadline = Instant::now() + timeout;
        let mut state = lock.lock().unwrap();
        while state.first_poll.is_none() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            state = ready.wait_timeout(state, left).unwrap().0;
        }
        state.first_poll
    }

    pub fn init_error(&self) -> Option<String> {
        self.state.0.lock().unwrap().init_error.clone()
    }

    fn serve(&self, stream: TcpStream) {
        let mut writer = match stream.try_clone() {
            Ok(w) => w,
            Err(_) => return,
        };
        let mut reader = BufReader::new(stream);
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let mut parts = line.split_whitespace();
            let (method, path) = (
                parts.next().unwrap_or("").to_owned(),
                parts.next().unwrap_or("").to_owned(),
            );
            let mut length = 0usize;
            loop {
                let mut header = String::new();
                if reader.read_line(&mut header).unwrap_or(0) == 0 {
                    return;
                }
                let header = header.trim_end();
                if header.is_empty() {
                    break;
                }
                if let Some((name, value)) = header.split_once(':') {
                    if name.eq_ignore_ascii_case("content-length") {
                        length = value.trim().parse().unwrap_or(0);
                    }
                }
            }
            let mut body = vec![0u8; length];
            if reader.read_exact(&mut body).is_err() {
                return;
            }
            let answer = self.route(&method, &path, body);
            if writer.write_all(&answer).is_err() {
                return;
            }
        }
    }

    fn route(&self, method: &str, path: &str, body: Vec<u8>) -> Vec<u8> {
        let (lock, ready) = &*self.state;
        let rest = path.trim_start_matches("/2018-06-01/runtime");
        if method == "GET" && rest == "/invocation/next" {
            let mut state = lock.lock().unwrap();
            state.polls += 1;
            state.first_poll.get_or_insert_with(Instant::now);
            ready.notify_all();
            loop {
                if let Some((id, payload)) = state.queue.pop_front() {
                    let deadline = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .unwrap()
                        .as_millis()
                        + state.timeout.map_or(300_000, |t| t.as_millis());
                    let mut out = format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
                         Lambda-Runtime-Aws-Request-Id: {id}\r\nLambda-Runtime-Deadline-Ms: {deadline}\r\n\
                         Lambda-Runtime-Invoked-Function-Arn: arn:aws:lambda:eu-west-1:123456789012:function:test\r\n\
                         Lambda-Runtime-Trace-Id: Root=1-5759e988-bd862e3fe1be46a994272793\r\n\r\n",
                        payload.len()
                    )
                    .into_bytes();
                    out.extend_from_slice(&payload);
                    return out;
                }
                state = ready.wait(state).unwrap();
            }
        }
        let text = String::from_utf8_lossy(&body).into_owned();
        let mut state = lock.lock().unwrap();
        if let Some(id) = rest
            .strip_prefix("/invocation/")
            .and_then(|r| r.strip_suffix("/response"))
        {
            state
                .outcomes
                .push((id.to_owned(), Outcome::Response(text)));
        } else if let Some(id) = rest
            .strip_prefix("/invocation/")
            .and_then(|r| r.strip_suffix("/error"))
        {
            state.outcomes.push((id.to_owned(), Outcome::Error(text)));
        } else if rest == "/init/error" {
            state.init_error = Some(text);
        } else {
            return b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n".to_vec();
        }
        ready.notify_all();
        b"HTTP/1.1 202 Accepted\r\nContent-Type: application/json\r\nContent-Length: 16\r\n\r\n{\"status\":\"OK\"}\n"
            .to_vec()
    }
}
