//! Part 4: end to end over loopback. A tiny SSE server (its own process) answers
//! every `POST /v1/chat/completions` with the same generated stream; each client runs
//! in its own process so that its CPU time and peak RSS are its own.
//!
//! The server sends each event in its own HTTP/1.1 chunk (as streaming servers do)
//! and writes as fast as the socket takes it, so the client, not the server or a
//! model, is the bottleneck.

use std::io::{BufRead, Read, Write};
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::alloc_count::Counting;
use crate::corpus::{self, Shape};
use crate::measure::process_usage;
use crate::report::{Role, Row, Section};

/// The request every client sends (the raw clients send these bytes as they are).
const REQUEST_JSON: &[u8] =
    br#"{"model":"gpt-4o","messages":[{"role":"user","content":"Tell me a long story."}],"stream":true}"#;

/// The HTTP/1.1 response: a head, then every event of the corpus in its own chunk.
pub fn http_response(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + body.len() / 16 + 256);
    out.extend_from_slice(
        b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\n\
          x-request-id: req_bench\r\ntransfer-encoding: chunked\r\n\r\n",
    );
    let mut rest = body;
    while !rest.is_empty() {
        let end = memchr::memmem::find(rest, b"\n\n").map_or(rest.len(), |i| i + 2);
        let (event, tail) = rest.split_at(end);
        out.extend_from_slice(format!("{:x}\r\n", event.len()).as_bytes());
        out.extend_from_slice(event);
        out.extend_from_slice(b"\r\n");
        rest = tail;
    }
    out.extend_from_slice(b"0\r\n\r\n");
    out
}

/// `nexllm-bench serve --chunks N`: serves the stream of `N` content deltas on an
/// ephemeral loopback port, prints `PORT <n>`, and exits when its stdin closes.
pub fn serve(chunks: usize) -> Result<(), String> {
    let corpus = corpus::generate(Shape::Content, chunks);
    let response: Arc<[u8]> = http_response(&corpus.body).into();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .map_err(|e| format!("server runtime: {e}"))?;
    runtime.block_on(async move {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| format!("bind: {e}"))?;
        let port = listener
            .local_addr()
            .map_err(|e| format!("local_addr: {e}"))?
            .port();
        let mut stdout = std::io::stdout();
        writeln!(stdout, "PORT {port}").map_err(|e| e.to_string())?;
        stdout.flush().map_err(|e| e.to_string())?;
        // The parent keeps our stdin open while it needs us; EOF means it is done (or gone).
        std::thread::spawn(|| {
            let mut sink = Vec::new();
            let _ = std::io::stdin().read_to_end(&mut sink);
            std::process::exit(0);
        });
        loop {
            let (socket, _) = listener
                .accept()
                .await
                .map_err(|e| format!("accept: {e}"))?;
            let _ = socket.set_nodelay(true);
            tokio::spawn(connection(socket, Arc::clone(&response)));
        }
    })
}

/// Answers every request on one keep-alive connection with the stream.
async fn connection(mut socket: TcpStream, response: Arc<[u8]>) {
    let mut buf: Vec<u8> = Vec::with_capacity(4096);
    loop {
        let Some(request_end) = read_request(&mut socket, &mut buf).await else {
            return;
        };
        buf.drain(..request_end);
        if socket.write_all(&response).await.is_err() {
            return;
        }
    }
}

/// Reads one request (head and body) into `buf`; returns its length, `None` at EOF.
async fn read_request(socket: &mut TcpStream, buf: &mut Vec<u8>) -> Option<usize> {
    loop {
        if let Some(head_end) = memchr::memmem::find(buf, b"\r\n\r\n").map(|i| i + 4) {
            let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
            let length = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok());
            let chunked = head.contains("transfer-encoding: chunked");
            let end = match (length, chunked) {
                (Some(n), _) => (buf.len() >= head_end + n).then_some(head_end + n),
                (None, true) => {
                    memchr::memmem::find(&buf[head_end..], b"0\r\n\r\n").map(|i| head_end + i + 5)
                }
                (None, false) => Some(head_end),
            };
            if let Some(end) = end {
                return Some(end);
            }
        }
        match socket.read_buf(buf).await {
            Ok(0) | Err(_) => return None,
            Ok(_) => {}
        }
    }
}

/// A running `serve` child process.
#[derive(Debug)]
pub struct Server {
    child: std::process::Child,
    /// Its port on 127.0.0.1.
    pub port: u16,
}

impl Server {
    /// Starts `nexllm-bench serve --chunks N` and waits for its port.
    pub fn start(chunks: usize) -> Result<Server, String> {
        let exe = std::env::current_exe().map_err(|e| e.to_string())?;
        let mut child = std::process::Command::new(exe)
            .args(["serve", "--chunks", &chunks.to_string()])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start the server: {e}"))?;
        let stdout = child.stdout.take().ok_or("server has no stdout")?;
        let mut line = String::new();
        std::io::BufReader::new(stdout)
            .read_line(&mut line)
            .map_err(|e| e.to_string())?;
        let port = line
            .trim()
            .strip_prefix("PORT ")
            .and_then(|p| p.parse().ok())
            .ok_or_else(|| format!("the server said {line:?}"))?;
        Ok(Server { child, port })
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // Closing its stdin ends it; kill is the fallback for a wedged server.
        drop(self.child.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The clients of part 4.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// hyper-util's client reading the body bytes, no SSE: the async floor.
    RawHyper,
    /// hyper-util's client counting the `\n` bytes of each body frame with
    /// memchr: the least a client that reads every byte does, which at
    /// K = 512 is the first touch of each frame after hyper wrote it.
    RawHyperScan,
    /// hyper-util's client feeding each body frame to `ChatStreamDecoder` and
    /// every chunk to `StreamAccumulator`: the least a client that parses each
    /// chunk does (no exchange, no driver, no timers).
    RawHyperParse,
    /// hyper-util's client splitting each body into lines and validating every
    /// `data:` payload with serde_json into nothing (`IgnoredAny`): the least a
    /// client that even checks each chunk's JSON with serde_json does.
    RawHyperJson,
    /// nexllm-hyper's `create_stream`.
    NexllmHyper,
    /// async-openai's `create_stream`.
    AsyncOpenai,
    /// ureq reading the body bytes: the blocking floor.
    Ureq,
    /// nexllm-blocking's `create_stream`.
    NexllmBlocking,
}

impl Kind {
    /// Every kind, in the order the table shows them.
    pub const ALL: [Kind; 8] = [
        Kind::RawHyper,
        Kind::RawHyperScan,
        Kind::RawHyperJson,
        Kind::RawHyperParse,
        Kind::NexllmHyper,
        Kind::AsyncOpenai,
        Kind::Ureq,
        Kind::NexllmBlocking,
    ];

    /// The command-line name.
    pub fn code(self) -> &'static str {
        match self {
            Kind::RawHyper => "raw-hyper",
            Kind::RawHyperScan => "raw-hyper-scan",
            Kind::RawHyperParse => "raw-hyper-parse",
            Kind::RawHyperJson => "raw-hyper-json",
            Kind::NexllmHyper => "nexllm-hyper",
            Kind::AsyncOpenai => "async-openai",
            Kind::Ureq => "ureq",
            Kind::NexllmBlocking => "nexllm-blocking",
        }
    }

    fn table_name(self) -> &'static str {
        match self {
            Kind::RawHyper => "raw hyper 1 (body bytes only)",
            Kind::RawHyperScan => "raw hyper 1 + memchr `\\n` scan",
            Kind::RawHyperParse => "raw hyper 1 + ChatStreamDecoder + StreamAccumulator",
            Kind::RawHyperJson => "raw hyper 1 + lines + serde_json IgnoredAny",
            Kind::NexllmHyper => "nexllm-hyper",
            Kind::AsyncOpenai => "async-openai 0.43 (reqwest)",
            Kind::Ureq => "ureq 3 (body bytes only)",
            Kind::NexllmBlocking => "nexllm-blocking",
        }
    }

    fn role(self) -> Role {
        match self {
            Kind::RawHyper | Kind::Ureq => Role::Floor,
            Kind::RawHyperScan | Kind::RawHyperParse | Kind::RawHyperJson => Role::Reference,
            Kind::NexllmHyper | Kind::NexllmBlocking => Role::Ours,
            Kind::AsyncOpenai => Role::Peer,
        }
    }

    /// Whether it is a blocking client.
    pub fn blocking(self) -> bool {
        matches!(self, Kind::Ureq | Kind::NexllmBlocking)
    }

    /// Reads a command-line name.
    pub fn from_code(code: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.code() == code)
    }
}

/// What one stream delivered, to check every client got the whole answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Got {
    Bytes(u64),
    Chunks(u64),
}

/// `nexllm-bench client KIND --port P --streams K --chunks N`: one warm-up round of K
/// concurrent streams (connections get pooled), one timed round, one round with
/// allocation counting; prints one row.
pub fn client(kind: Kind, port: u16, streams: usize, chunks: usize) -> Result<Row, String> {
    // Only the sizes: the body itself would add 6.6 MB (20,000 chunks) to every
    // client's peak RSS.
    let (expected_bytes, expected_chunks) = corpus::size(Shape::Content, chunks);
    let total_chunks = (streams as u64 * expected_chunks) as f64;
    let check = |got: Vec<Got>| -> Result<(), String> {
        for g in got {
            let ok = match g {
                Got::Bytes(n) => n == expected_bytes,
                Got::Chunks(n) => n == expected_chunks,
            };
            if !ok {
                return Err(format!(
                    "{} received {g:?}, expected {expected_bytes} bytes / {expected_chunks} chunks",
                    kind.code()
                ));
            }
        }
        Ok(())
    };

    let mut round = rounds(kind, port, streams)?;
    check(round()?)?;
    let before = process_usage();
    let start = Instant::now();
    let got = round()?;
    let wall = start.elapsed();
    let after = process_usage();
    check(got)?;
    let counting = Counting::start();
    let got = round();
    let allocations = counting.stop();
    check(got?)?;
    let cpu = (after.cpu - before.cpu).as_nanos() as f64;
    Ok(Row {
        section: if kind.blocking() {
            Section::Blocking
        } else {
            Section::Loopback
        },
        scenario: if kind.blocking() {
            format!("K = {streams}, blocking")
        } else {
            format!("K = {streams}")
        },
        role: kind.role(),
        name: kind.table_name().to_owned(),
        ns_per_event: cpu / total_chunks,
        mb_per_s: 0.0,
        chunks_per_s: total_chunks / wall.as_secs_f64(),
        rss_kib: process_usage().max_rss_kib as f64,
        allocs_per_event: allocations.count as f64 / total_chunks,
        runs: 1,
    })
}

type Round = Box<dyn FnMut() -> Result<Vec<Got>, String>>;

/// Builds the client once and returns a closure that runs one round of `streams`
/// concurrent streams with it.
fn rounds(kind: Kind, port: u16, streams: usize) -> Result<Round, String> {
    let base = format!("http://127.0.0.1:{port}/v1");
    match kind {
        Kind::Ureq => {
            // No proxy, as nexllm-blocking is configured: ureq otherwise takes one
            // from HTTP_PROXY / ALL_PROXY and the floor would measure the proxy.
            let agent: ureq::Agent = ureq::Agent::config_builder()
                .proxy(None)
                .http_status_as_error(false)
                .max_idle_connections_per_host(streams.max(1))
                .build()
                .into();
            let url = format!("{base}/chat/completions");
            Ok(Box::new(move || {
                (0..streams).map(|_| ureq_stream(&agent, &url)).collect()
            }))
        }
        Kind::NexllmBlocking => {
            let config = nexllm_blocking::Config::new("sk-bench").base_url(base);
            let client = nexllm_blocking::Client::builder()
                .config(config)
                .proxy(nexllm_blocking::Proxy::none())
                .pool_max_idle_per_host(streams.max(1))
                .build()
                .map_err(|e| e.to_string())?;
            let request = nexllm_blocking::ChatCompletionRequest::new(
                "gpt-4o",
                vec![nexllm_blocking::Message::user("Tell me a long story.")],
            );
            Ok(Box::new(move || {
                (0..streams)
                    .map(|_| {
                        let mut n = 0;
                        let mut text = 0;
                        let mut stream = client
                            .chat()
                            .create_stream(&request)
                            .map_err(|e| e.to_string())?;
                        // Each chunk lent, as a caller that keeps none reads them.
                        while let Some(chunk) = stream.next_chunk_ref() {
                            text += content_len(chunk.map_err(|e| e.to_string())?);
                            n += 1;
                        }
                        std::hint::black_box(text);
                        Ok(Got::Chunks(n))
                    })
                    .collect()
            }))
        }
        Kind::RawHyper
        | Kind::RawHyperParse
        | Kind::RawHyperJson
        | Kind::RawHyperScan
        | Kind::NexllmHyper
        | Kind::AsyncOpenai => {
            // One thread runs the client: CPU time is not inflated by idle workers
            // spinning, and the server has the other core.
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            let client = AsyncClient::new(kind, &base, streams)?;
            Ok(Box::new(move || {
                runtime.block_on(async {
                    let mut tasks = Vec::with_capacity(streams);
                    for _ in 0..streams {
                        tasks.push(tokio::spawn(client.clone().stream()));
                    }
                    let mut got = Vec::with_capacity(streams);
                    for task in tasks {
                        got.push(task.await.map_err(|e| e.to_string())??);
                    }
                    Ok(got)
                })
            }))
        }
    }
}

fn ureq_stream(agent: &ureq::Agent, url: &str) -> Result<Got, String> {
    let mut response = agent
        .post(url)
        .header("content-type", "application/json")
        .header("authorization", "Bearer sk-bench")
        .send(REQUEST_JSON)
        .map_err(|e| e.to_string())?;
    let mut reader = response.body_mut().as_reader();
    let mut buf = vec![0u8; 16 * 1024];
    let mut bytes = 0;
    loop {
        match reader.read(&mut buf) {
            Ok(0) => return Ok(Got::Bytes(bytes)),
            Ok(n) => bytes += n as u64,
            Err(e) => return Err(e.to_string()),
        }
    }
}

#[derive(Clone)]
enum AsyncClient {
    Raw(HyperClient<HttpConnector, Full<Bytes>>, hyper::Uri),
    RawParse(HyperClient<HttpConnector, Full<Bytes>>, hyper::Uri),
    RawJson(HyperClient<HttpConnector, Full<Bytes>>, hyper::Uri),
    RawScan(HyperClient<HttpConnector, Full<Bytes>>, hyper::Uri),
    Nexllm(
        nexllm_hyper::Client,
        Arc<nexllm_hyper::ChatCompletionRequest>,
    ),
    AsyncOpenai(
        async_openai::Client<async_openai::config::OpenAIConfig>,
        Arc<async_openai::types::chat::CreateChatCompletionRequest>,
    ),
}

impl AsyncClient {
    fn new(kind: Kind, base: &str, streams: usize) -> Result<AsyncClient, String> {
        Ok(match kind {
            Kind::RawHyper | Kind::RawHyperScan | Kind::RawHyperParse | Kind::RawHyperJson => {
                let client = HyperClient::builder(TokioExecutor::new())
                    .pool_max_idle_per_host(streams.max(1))
                    .build_http();
                let uri = format!("{base}/chat/completions")
                    .parse()
                    .map_err(|e| format!("{e}"))?;
                match kind {
                    Kind::RawHyper => AsyncClient::Raw(client, uri),
                    Kind::RawHyperJson => AsyncClient::RawJson(client, uri),
                    Kind::RawHyperScan => AsyncClient::RawScan(client, uri),
                    _ => AsyncClient::RawParse(client, uri),
                }
            }
            Kind::NexllmHyper => {
                let config = nexllm_hyper::Config::new("sk-bench").base_url(base);
                let client = nexllm_hyper::Client::builder()
                    .config(config)
                    .proxy(nexllm_hyper::Proxy::none())
                    .pool_max_idle_per_host(streams.max(1))
                    .build()
                    .map_err(|e| e.to_string())?;
                let request = nexllm_hyper::ChatCompletionRequest::new(
                    "gpt-4o",
                    vec![nexllm_hyper::Message::user("Tell me a long story.")],
                );
                AsyncClient::Nexllm(client, Arc::new(request))
            }
            Kind::AsyncOpenai => {
                use async_openai::types::chat::{
                    ChatCompletionRequestMessage, ChatCompletionRequestUserMessage,
                    ChatCompletionRequestUserMessageContent, CreateChatCompletionRequest,
                };
                let config = async_openai::config::OpenAIConfig::new()
                    .with_api_base(base)
                    .with_api_key("sk-bench");
                let http = reqwest::Client::builder()
                    .no_proxy()
                    .pool_max_idle_per_host(streams.max(1))
                    .build()
                    .map_err(|e| e.to_string())?;
                let client = async_openai::Client::with_config(config).with_http_client(http);
                let request = CreateChatCompletionRequest {
                    model: "gpt-4o".to_owned(),
                    messages: vec![ChatCompletionRequestMessage::User(
                        ChatCompletionRequestUserMessage {
                            content: ChatCompletionRequestUserMessageContent::Text(
                                "Tell me a long story.".to_owned(),
                            ),
                            name: None,
                        },
                    )],
                    ..Default::default()
                };
                AsyncClient::AsyncOpenai(client, Arc::new(request))
            }
            Kind::Ureq | Kind::NexllmBlocking => {
                return Err("not an async client".to_owned());
            }
        })
    }

    async fn stream(self) -> Result<Got, String> {
        match self {
            AsyncClient::Raw(client, uri) => {
                let mut body = raw_request(&client, uri).await?;
                let mut bytes = 0;
                while let Some(frame) = body.frame().await {
                    let frame = frame.map_err(|e| e.to_string())?;
                    if let Some(data) = frame.data_ref() {
                        bytes += data.len() as u64;
                    }
                }
                Ok(Got::Bytes(bytes))
            }
            AsyncClient::RawScan(client, uri) => {
                let mut body = raw_request(&client, uri).await?;
                let (mut bytes, mut lines) = (0, 0);
                while let Some(frame) = body.frame().await {
                    let frame = frame.map_err(|e| e.to_string())?;
                    if let Some(data) = frame.data_ref() {
                        bytes += data.len() as u64;
                        lines += memchr::memchr_iter(b'\n', data).count();
                    }
                }
                std::hint::black_box(lines);
                Ok(Got::Bytes(bytes))
            }
            AsyncClient::RawParse(client, uri) => {
                let body = raw_request(&client, uri).await?;
                parse_body(body).await
            }
            AsyncClient::RawJson(client, uri) => {
                let body = raw_request(&client, uri).await?;
                validate_body(body).await
            }
            AsyncClient::Nexllm(client, request) => {
                let mut stream = client
                    .chat()
                    .create_stream(&request)
                    .await
                    .map_err(|e| e.to_string())?;
                // Each chunk lent, as a caller that keeps none reads them
                // (`consume` reads the other clients' streams the same way,
                // but each chunk given).
                let mut n = 0;
                let mut text = 0;
                while let Some(chunk) = stream.next_chunk_ref().await {
                    text += content_len(chunk.map_err(|e| e.to_string())?);
                    n += 1;
                }
                std::hint::black_box(text);
                Ok(Got::Chunks(n))
            }
            AsyncClient::AsyncOpenai(client, request) => {
                let stream = client
                    .chat()
                    .create_stream((*request).clone())
                    .await
                    .map_err(|e| e.to_string())?;
                consume(
                    stream,
                    |chunk: &async_openai::types::chat::CreateChatCompletionStreamResponse| {
                        chunk
                            .choices
                            .first()
                            .and_then(|c| c.delta.content.as_ref())
                            .map_or(0, String::len)
                    },
                )
                .await
            }
        }
    }
}

/// Sends the request with hyper-util's client; the response body.
async fn raw_request(
    client: &HyperClient<HttpConnector, Full<Bytes>>,
    uri: hyper::Uri,
) -> Result<hyper::body::Incoming, String> {
    let request = hyper::Request::post(uri)
        .header("content-type", "application/json")
        .header("authorization", "Bearer sk-bench")
        .body(Full::new(Bytes::from_static(REQUEST_JSON)))
        .map_err(|e| e.to_string())?;
    let response = client.request(request).await.map_err(|e| e.to_string())?;
    Ok(response.into_body())
}

/// The parse floor: every body frame into `ChatStreamDecoder` (as the `Bytes` it is, as
/// nexllm-hyper's driver hands it over), every chunk into
/// `StreamAccumulator` and looked at as [`consume`] does; no exchange, driver or timer.
async fn parse_body(mut body: hyper::body::Incoming) -> Result<Got, String> {
    let mut decoder = nexllm_proto::ChatStreamDecoder::new();
    let mut accumulator = nexllm_proto::StreamAccumulator::new();
    let mut n = 0;
    let mut text = 0;
    let mut take = |chunk: &nexllm_proto::ChatCompletionChunk| {
        accumulator.push(chunk);
        text += content_len(chunk);
        n += 1;
    };
    // Each chunk lent, as nexllm-hyper's consumer reads them.
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| e.to_string())?;
        if let Ok(data) = frame.into_data() {
            decoder.feed_bytes(data);
            while let Some(chunk) = decoder.next_chunk_ref().map_err(|e| e.to_string())? {
                take(chunk);
            }
        }
    }
    decoder.finish().map_err(|e| e.to_string())?;
    while let Some(chunk) = decoder.next_chunk_ref().map_err(|e| e.to_string())? {
        take(chunk);
    }
    std::hint::black_box((text, accumulator.completion()));
    Ok(Got::Chunks(n))
}

/// The JSON floor of part 2 over the network: splits the body into lines (a line
/// cut between frames is carried), and validates each `data:` payload but
/// `[DONE]` with serde_json into nothing. Counts the payloads that validate as chunks.
async fn validate_body(mut body: hyper::body::Incoming) -> Result<Got, String> {
    let mut carried: Vec<u8> = Vec::new();
    let mut n = 0;
    let mut line = |line: &[u8]| {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if let Some(data) = line.strip_prefix(b"data: ") {
            if data != b"[DONE]" && serde_json::from_slice::<serde::de::IgnoredAny>(data).is_ok() {
                n += 1;
            }
        }
    };
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| e.to_string())?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        let mut rest: &[u8] = &data;
        if !carried.is_empty() {
            match memchr::memchr(b'\n', rest) {
                Some(end) => {
                    carried.extend_from_slice(&rest[..end]);
                    line(&carried);
                    carried.clear();
                    rest = &rest[end + 1..];
                }
                None => {
                    carried.extend_from_slice(rest);
                    continue;
                }
            }
        }
        while let Some(end) = memchr::memchr(b'\n', rest) {
            line(&rest[..end]);
            rest = &rest[end + 1..];
        }
        carried.extend_from_slice(rest);
    }
    line(&carried);
    Ok(Got::Chunks(n))
}

/// The length of a chunk's first content delta: what every consumer of this SDK's
/// streams looks at, so that each chunk is read.
fn content_len(chunk: &nexllm_proto::ChatCompletionChunk) -> usize {
    chunk
        .choices
        .first()
        .and_then(|c| c.delta.content.as_ref())
        .map_or(0, String::len)
}

/// Reads a chat stream to its end as a user would: counts the chunks and adds up
/// the content lengths (`content_len`), so every chunk is looked at.
async fn consume<S, C, E>(mut stream: S, content_len: impl Fn(&C) -> usize) -> Result<Got, String>
where
    S: futures_util::Stream<Item = Result<C, E>> + Unpin,
    E: std::fmt::Display,
{
    use futures_util::StreamExt;
    let mut n = 0;
    let mut text = 0;
    while let Some(chunk) = stream.next().await {
        text += content_len(&chunk.map_err(|e| e.to_string())?);
        n += 1;
    }
    std::hint::black_box(text);
    Ok(Got::Chunks(n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_response_holds_every_event_in_its_own_chunk() {
        let corpus = corpus::generate(Shape::Content, 20);
        let response = http_response(&corpus.body);
        let text = String::from_utf8(response).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.contains("transfer-encoding: chunked"));
        // Undo the chunked encoding and compare.
        let mut rest = body;
        let mut decoded = String::new();
        let mut chunks = 0;
        loop {
            let (size, after) = rest.split_once("\r\n").unwrap();
            let size = usize::from_str_radix(size, 16).unwrap();
            if size == 0 {
                break;
            }
            decoded.push_str(&after[..size]);
            rest = &after[size + 2..];
            chunks += 1;
        }
        assert_eq!(decoded.as_bytes(), corpus.body);
        assert_eq!(chunks, corpus.events);
    }
}
