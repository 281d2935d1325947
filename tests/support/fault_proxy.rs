//! An HTTP proxy in front of moto that injects AWS faults into chosen operations: throttling
//! and server errors, dropped connections, answers that come too late, and answers lost
//! after moto acted. It records every request it sees, to check what the SDK sent again.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

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
}

impl FaultProxy {
    /// A proxy to `upstream` (`http://127.0.0.1:PORT`) on a free loopback port.
    pub fn start(upstream: &str) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
        let proxy = FaultProxy {
            endpoint: format!("http://{}", listener.local_addr().expect("bound")),
            upstream: upstream.trim_start_matches("http://").to_owned(),
            faults: Arc::default(),
            seen: Arc::default(),
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
        let fault = self.take_fault(&operation);
        self.seen.lock().unwrap().push(Seen {
            operation: operation.clone(),
            body: String::from_utf8_lossy(&body).into_owned(),
            fault: fault.as_ref().map(|f| format!("{f:?}")),
        });
        match fault {
            Some(FaultKind::Error { status, error_type }) => {
                let json = format!(
                    r#"{{"__type":"{error_type}","message":"injected by the test proxy"}}"#
                );
                let answer = format!(
                    "HTTP/1.1 {status} Injected\r\nContent-Type: application/x-amz-json-1.1\r\n\
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
