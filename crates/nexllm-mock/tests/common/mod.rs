//! A tiny raw HTTP/1.1 client for the mock's tests: it shows the exact bytes, chunk sizes
//! and how the connection ended, which a real client would hide.

#![allow(dead_code, unreachable_pub)] // each test file uses a different part of it
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers fail the test loudly

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// What came back on one connection.
#[derive(Debug, Default)]
pub struct RawResponse {
    /// Every byte read.
    pub raw: Vec<u8>,
    /// 0 when no head arrived.
    pub status: u16,
    pub headers: Vec<(String, String)>,
    /// The body with chunked framing removed.
    pub body: Vec<u8>,
    /// The size of every chunk, for chunked bodies.
    pub chunk_sizes: Vec<usize>,
    /// Whether the body ended properly (final chunk, or content-length reached).
    pub complete: bool,
    /// Whether reading stopped at `max_bytes` rather than at the end of the connection.
    pub truncated: bool,
    /// Time from sending to the end of reading.
    pub elapsed: Duration,
}

impl RawResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|error| panic!("body is not JSON ({error}): {}", self.text()))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The `data:` payloads of the SSE body, in order (accepting `\n` or `\r\n`).
    pub fn events(&self) -> Vec<String> {
        let text = self.text().replace("\r\n", "\n");
        text.split("\n\n")
            .filter(|event| !event.is_empty())
            .map(|event| {
                event
                    .strip_prefix("data: ")
                    .unwrap_or_else(|| panic!("not a data event: {event:?}"))
                    .to_owned()
            })
            .collect()
    }

    /// The events parsed as JSON, `[DONE]` left out.
    pub fn chunks(&self) -> Vec<Value> {
        self.events()
            .iter()
            .filter(|event| *event != "[DONE]")
            .map(|event| {
                serde_json::from_str(event)
                    .unwrap_or_else(|error| panic!("bad chunk ({error}): {event}"))
            })
            .collect()
    }

    /// The streamed text of choice `index`.
    pub fn streamed_text(&self, index: u64) -> String {
        self.chunks()
            .iter()
            .flat_map(|chunk| chunk["choices"].as_array().cloned().unwrap_or_default())
            .filter(|choice| choice["index"] == index)
            .filter_map(|choice| choice["delta"]["content"].as_str().map(str::to_owned))
            .collect()
    }
}

/// A request to send.
#[derive(Debug, Clone)]
pub struct RawRequest {
    pub method: &'static str,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
    pub max_bytes: usize,
}

impl RawRequest {
    pub fn post(path: &str, body: impl Into<String>) -> Self {
        Self {
            method: "POST",
            path: path.to_owned(),
            headers: Vec::new(),
            body: body.into(),
            max_bytes: 1 << 20,
        }
    }

    pub fn get(path: &str) -> Self {
        Self {
            method: "GET",
            path: path.to_owned(),
            headers: Vec::new(),
            body: String::new(),
            max_bytes: 1 << 20,
        }
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    pub fn max_bytes(mut self, max_bytes: usize) -> Self {
        self.max_bytes = max_bytes;
        self
    }

    fn bytes(&self, keep_alive: bool) -> Vec<u8> {
        let mut head = format!(
            "{} {} HTTP/1.1\r\nhost: 127.0.0.1\r\n",
            self.method, self.path
        );
        if !keep_alive {
            head.push_str("connection: close\r\n");
        }
        if self.method == "POST" {
            head.push_str(&format!(
                "content-type: application/json\r\ncontent-length: {}\r\n",
                self.body.len()
            ));
        }
        for (name, value) in &self.headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        let mut bytes = head.into_bytes();
        bytes.extend_from_slice(self.body.as_bytes());
        bytes
    }

    /// Sends on a new connection (`connection: close`) and reads until the server closes it.
    pub async fn send(&self, addr: SocketAddr) -> RawResponse {
        let mut stream = TcpStream::connect(addr).await.expect("connect to the mock");
        let started = Instant::now();
        stream
            .write_all(&self.bytes(false))
            .await
            .expect("write request");
        let mut raw = Vec::new();
        let mut buf = vec![0; 64 * 1024];
        let mut truncated = false;
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(read) => raw.extend_from_slice(&buf[..read]),
            }
            if raw.len() >= self.max_bytes {
                truncated = true;
                break;
            }
        }
        let mut response = parse(raw);
        response.truncated = truncated;
        response.elapsed = started.elapsed();
        response
    }

    /// Sends on `stream` (kept alive) and reads exactly one complete response.
    pub async fn send_keep_alive(&self, stream: &mut TcpStream) -> RawResponse {
        stream
            .write_all(&self.bytes(true))
            .await
            .expect("write request");
        let mut raw = Vec::new();
        let mut buf = vec![0; 64 * 1024];
        loop {
            let read = stream.read(&mut buf).await.expect("read response");
            assert!(read > 0, "connection closed mid-response");
            raw.extend_from_slice(&buf[..read]);
            let response = parse(raw.clone());
            if response.complete {
                return response;
            }
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

/// Parses what was read: head, then a chunked or length-delimited body.
pub fn parse(raw: Vec<u8>) -> RawResponse {
    let mut response = RawResponse::default();
    let Some(head_end) = find(&raw, b"\r\n\r\n") else {
        response.raw = raw;
        return response;
    };
    let head = String::from_utf8_lossy(&raw[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    response.status = status_line
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0);
    for line in lines {
        if let Some((name, value)) = line.split_once(':') {
            response
                .headers
                .push((name.trim().to_lowercase(), value.trim().to_owned()));
        }
    }
    let rest = &raw[head_end + 4..];
    if response.header("transfer-encoding") == Some("chunked") {
        let mut offset = 0;
        while let Some(line_end) = find(&rest[offset..], b"\r\n") {
            let size_text = String::from_utf8_lossy(&rest[offset..offset + line_end]).into_owned();
            let Ok(size) = usize::from_str_radix(size_text.trim(), 16) else {
                break;
            };
            let data_start = offset + line_end + 2;
            if size == 0 {
                response.complete = rest.len() >= data_start + 2;
                break;
            }
            if rest.len() < data_start + size + 2 {
                response
                    .body
                    .extend_from_slice(&rest[data_start.min(rest.len())..]);
                break;
            }
            response
                .body
                .extend_from_slice(&rest[data_start..data_start + size]);
            response.chunk_sizes.push(size);
            offset = data_start + size + 2;
        }
    } else if let Some(length) = response
        .header("content-length")
        .and_then(|length| length.parse::<usize>().ok())
    {
        response.body = rest[..length.min(rest.len())].to_vec();
        response.complete = rest.len() >= length;
    } else {
        response.body = rest.to_vec();
    }
    response.raw = raw;
    response
}

/// A chat completion request body.
pub fn chat_body(model: &str, content: &str, extra: Value) -> String {
    let mut body =
        serde_json::json!({"model": model, "messages": [{"role": "user", "content": content}]});
    if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
        for (key, value) in extra {
            body.insert(key.clone(), value.clone());
        }
    }
    body.to_string()
}

pub const CHAT: &str = "/v1/chat/completions";
