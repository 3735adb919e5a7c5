//! Driving `nexllm-proto` over your own HTTP stack: a complete streaming
//! client on `std::net::TcpStream`, no HTTP library at all.
//!
//! It speaks just enough HTTP/1.1 for a plain `http://` base URL (one request
//! per connection, `Content-Length` or chunked bodies). Everything else
//! (retries, backoff, deadlines, SSE, errors) comes from the `Exchange`.
//!
//! ```text
//! cargo run -p nexllm-mock -- --port 0          # prints http://127.0.0.1:PORT/v1
//! NEXLLM_BASE_URL=http://127.0.0.1:PORT/v1 cargo run -p nexllm-proto --example std_tcp -- "Hello there"
//! ```
#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    clippy::disallowed_methods,
    reason = "an example program: it prints, and it is the transport, so it reads the clock"
)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant, SystemTime};

use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use nexllm_proto::exchange::ChunkDelivery;
use nexllm_proto::{
    Action, AttemptId, ChatCompletionRequest, Config, Error, Exchange, Message, Outcome,
    TransportError, TransportErrorKind,
};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let base_url =
        std::env::var("NEXLLM_BASE_URL").unwrap_or_else(|_| "http://127.0.0.1:8080/v1".into());
    let key = std::env::var("NEXLLM_API_KEY").unwrap_or_default();
    let model = std::env::var("NEXLLM_MODEL").unwrap_or_else(|_| "mock-echo".into());
    let prompt = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "Hello from a TcpStream".into());

    let config = Config::new(key).base_url(base_url);
    let request = ChatCompletionRequest::new(model, vec![Message::user(prompt)])
        .stream(true)
        .include_usage(true);
    match stream_chat(&config, &request) {
        Ok(()) => Ok(()),
        Err(e) => {
            eprintln!("\nerror: {e}");
            std::process::exit(1);
        }
    }
}

/// One streaming call: the drive loop of `nexllm_proto::exchange`.
fn stream_chat(config: &Config, request: &ChatCompletionRequest) -> Result<(), Error> {
    let seed = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let mut exchange =
        Exchange::chat(config, request, Instant::now(), seed)?.with_wall_clock(SystemTime::now());
    // The chunks are printed, not kept: each is lent where it was parsed.
    exchange.set_chunk_delivery(ChunkDelivery::Lent);
    // The attempt in flight: its id and its connection (after the head).
    let mut in_flight: Option<(AttemptId, Option<Connection>)> = None;
    let mut pending_request = None;

    while let Some(action) = exchange.poll() {
        match action {
            Action::Send { attempt, request } => {
                in_flight = Some((attempt, None));
                pending_request = Some(request);
            }
            Action::Abandon(attempt) => {
                if in_flight.as_ref().is_some_and(|(a, _)| *a == attempt) {
                    in_flight = None; // dropping the TcpStream closes it
                }
            }
            // Each chunk is lent (see `set_chunk_delivery` above): printed, not kept.
            Action::ChunkLent => {
                if let Some(text) = exchange
                    .lent_chunk()
                    .and_then(|chunk| chunk.choices.first())
                    .and_then(|c| c.delta.content.as_deref())
                {
                    print!("{text}");
                    let _ = std::io::stdout().flush();
                }
            }
            Action::Chunk(_) => {}
            Action::Done(result) => {
                println!();
                if let (Ok(Outcome::StreamEnded), Some(done)) = (&result, exchange.accumulated()) {
                    if let Some(usage) = &done.usage {
                        eprintln!(
                            "[{} prompt + {} completion tokens, {} attempt(s)]",
                            usage.prompt_tokens,
                            usage.completion_tokens,
                            exchange.attempts()
                        );
                    }
                }
                return result.map(|_| ());
            }
            Action::Wait(wait) => {
                let now = Instant::now();
                if wait.until.is_some_and(|until| until <= now) {
                    exchange.handle_timeout(now);
                    continue;
                }
                let Some((attempt, connection)) = in_flight.as_mut() else {
                    // Backing off between attempts: just sleep until the deadline.
                    if let Some(d) = wait.duration_from(now) {
                        std::thread::sleep(d);
                    }
                    exchange.handle_timeout(Instant::now());
                    continue;
                };
                let attempt = *attempt;
                // Every blocking read is bounded by the exchange's next deadline.
                let read_timeout = wait
                    .duration_from(now)
                    .map(|d| d.max(Duration::from_millis(1)));
                match connection {
                    None => {
                        let Some(request) = pending_request.take() else {
                            continue;
                        };
                        match Connection::open(&request, config.timeouts.connect, read_timeout) {
                            Ok((conn, status, headers)) => {
                                *connection = Some(conn);
                                exchange.handle_head(attempt, status, headers, Instant::now());
                            }
                            Err(Failure::TimedOut) => exchange.handle_timeout(Instant::now()),
                            Err(Failure::Io(kind, message)) => exchange.handle_transport_error(
                                attempt,
                                TransportError::new(kind, message),
                                Instant::now(),
                            ),
                        }
                    }
                    Some(conn) => match conn.read_body(read_timeout) {
                        Ok(Some(bytes)) => exchange.handle_body(attempt, &bytes, Instant::now()),
                        Ok(None) => exchange.handle_end(attempt, Instant::now()),
                        Err(Failure::TimedOut) => exchange.handle_timeout(Instant::now()),
                        Err(Failure::Io(kind, message)) => exchange.handle_transport_error(
                            attempt,
                            TransportError::new(kind, message),
                            Instant::now(),
                        ),
                    },
                }
            }
        }
    }
    Ok(())
}

enum Failure {
    TimedOut,
    Io(TransportErrorKind, String),
}

fn io_failure(e: std::io::Error) -> Failure {
    use std::io::ErrorKind::*;
    match e.kind() {
        WouldBlock | TimedOut => Failure::TimedOut,
        ConnectionRefused => Failure::Io(TransportErrorKind::Connect, e.to_string()),
        ConnectionReset | ConnectionAborted | BrokenPipe | UnexpectedEof => {
            Failure::Io(TransportErrorKind::Reset, e.to_string())
        }
        _ => Failure::Io(TransportErrorKind::Io, e.to_string()),
    }
}

/// One HTTP/1.1 response being read.
struct Connection {
    reader: BufReader<TcpStream>,
    body: BodyFraming,
}

enum BodyFraming {
    Length(u64),
    Chunked { left_in_chunk: u64, done: bool },
    UntilClose,
}

impl Connection {
    fn open(
        request: &http::Request<bytes::Bytes>,
        connect_timeout: Duration,
        read_timeout: Option<Duration>,
    ) -> Result<(Connection, StatusCode, HeaderMap), Failure> {
        let uri = request.uri();
        if uri.scheme_str() != Some("http") {
            return Err(Failure::Io(
                TransportErrorKind::Connect,
                "this example speaks plain http:// only".into(),
            ));
        }
        let host = uri.host().unwrap_or("localhost");
        let port = uri.port_u16().unwrap_or(80);
        let addr = (host, port)
            .to_socket_addrs()
            .map_err(|e| Failure::Io(TransportErrorKind::Dns, e.to_string()))?
            .next()
            .ok_or_else(|| {
                Failure::Io(TransportErrorKind::Dns, format!("{host} has no address"))
            })?;
        let mut stream = TcpStream::connect_timeout(&addr, connect_timeout).map_err(io_failure)?;
        stream.set_read_timeout(read_timeout).map_err(io_failure)?;

        let path = uri.path_and_query().map_or("/", |p| p.as_str());
        let mut head = format!(
            "{} {path} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n",
            request.method()
        );
        for (name, value) in request.headers() {
            head.push_str(name.as_str());
            head.push_str(": ");
            head.push_str(value.to_str().unwrap_or(""));
            head.push_str("\r\n");
        }
        head.push_str(&format!("Content-Length: {}\r\n\r\n", request.body().len()));
        stream.write_all(head.as_bytes()).map_err(io_failure)?;
        stream.write_all(request.body()).map_err(io_failure)?;

        let mut reader = BufReader::new(stream);
        let status_line = read_line(&mut reader)?;
        let code = status_line
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse::<u16>().ok())
            .and_then(|c| StatusCode::from_u16(c).ok())
            .ok_or_else(|| {
                Failure::Io(
                    TransportErrorKind::Io,
                    format!("bad status line {status_line:?}"),
                )
            })?;
        let mut headers = HeaderMap::new();
        loop {
            let line = read_line(&mut reader)?;
            if line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                if let (Ok(n), Ok(v)) = (
                    HeaderName::from_bytes(name.trim().as_bytes()),
                    HeaderValue::from_str(value.trim()),
                ) {
                    headers.append(n, v);
                }
            }
        }
        let chunked = headers
            .get("transfer-encoding")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("chunked"));
        let body = if chunked {
            BodyFraming::Chunked {
                left_in_chunk: 0,
                done: false,
            }
        } else if let Some(len) = headers
            .get("content-length")
            .and_then(|v| v.to_str().ok()?.parse().ok())
        {
            BodyFraming::Length(len)
        } else {
            BodyFraming::UntilClose
        };
        Ok((Connection { reader, body }, code, headers))
    }

    /// The next piece of the body, `None` at its end.
    fn read_body(&mut self, read_timeout: Option<Duration>) -> Result<Option<Vec<u8>>, Failure> {
        self.reader
            .get_ref()
            .set_read_timeout(read_timeout)
            .map_err(io_failure)?;
        let mut buf = vec![0u8; 16 * 1024];
        match &mut self.body {
            BodyFraming::Length(0) => Ok(None),
            BodyFraming::Length(left) => {
                let want = buf.len().min(usize::try_from(*left).unwrap_or(usize::MAX));
                let n = self.reader.read(&mut buf[..want]).map_err(io_failure)?;
                if n == 0 {
                    return Err(Failure::Io(
                        TransportErrorKind::Reset,
                        "the body ended early".into(),
                    ));
                }
                *left -= n as u64;
                buf.truncate(n);
                Ok(Some(buf))
            }
            BodyFraming::UntilClose => {
                let n = self.reader.read(&mut buf).map_err(io_failure)?;
                buf.truncate(n);
                Ok((n > 0).then_some(buf))
            }
            BodyFraming::Chunked {
                left_in_chunk,
                done,
            } => {
                if *done {
                    return Ok(None);
                }
                if *left_in_chunk == 0 {
                    let size_line = read_line(&mut self.reader)?;
                    let size_line = if size_line.is_empty() {
                        read_line(&mut self.reader)?
                    } else {
                        size_line
                    };
                    let size =
                        u64::from_str_radix(size_line.split(';').next().unwrap_or("").trim(), 16)
                            .map_err(|_| {
                            Failure::Io(
                                TransportErrorKind::Io,
                                format!("bad chunk size {size_line:?}"),
                            )
                        })?;
                    if size == 0 {
                        *done = true;
                        return Ok(None);
                    }
                    *left_in_chunk = size;
                }
                let want = buf
                    .len()
                    .min(usize::try_from(*left_in_chunk).unwrap_or(usize::MAX));
                let n = self.reader.read(&mut buf[..want]).map_err(io_failure)?;
                if n == 0 {
                    return Err(Failure::Io(
                        TransportErrorKind::Reset,
                        "unexpected end of a chunked body".into(),
                    ));
                }
                *left_in_chunk -= n as u64;
                buf.truncate(n);
                Ok(Some(buf))
            }
        }
    }
}

fn read_line(reader: &mut BufReader<TcpStream>) -> Result<String, Failure> {
    let mut line = String::new();
    let n = reader.read_line(&mut line).map_err(io_failure)?;
    if n == 0 {
        return Err(Failure::Io(
            TransportErrorKind::Reset,
            "unexpected end of the response".into(),
        ));
    }
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}
