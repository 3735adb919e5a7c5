//! HTTPS: certificates are verified, a private CA can be trusted, the connect
//! timeout covers the handshake, the idle timeout holds over TLS, and calls
//! through an HTTP proxy go through a `CONNECT` tunnel.
//!
//! The server is a minimal HTTPS responder on loopback (rustls over
//! `std::net`). Its certificate, for `localhost` and `127.0.0.1`, is signed by
//! a test CA; both were made once with openssl and live in `tests/fixtures/`
//! (test material only, never trusted outside these tests):
//!
//! ```sh
//! openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout ca.key \
//!   -out test-ca.pem -days 36500 -subj "/CN=nexllm test CA (tests only)" \
//!   -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign
//! openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout leaf.key \
//!   -out leaf.csr -subj "/CN=localhost"
//! openssl x509 -req -in leaf.csr -CA test-ca.pem -CAkey ca.key -CAcreateserial \
//!   -out localhost.pem -days 36500 -extfile ext.txt   # SAN localhost, 127.0.0.1; serverAuth
//! openssl pkcs8 -topk8 -nocrypt -in leaf.key -out localhost.key
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // helpers outside #[test] fail the test loudly

#[path = "support/proxies.rs"]
mod proxies;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nexllm_blocking::{
    ChatCompletionRequest, ChatStream, Client, Config, Error, Message, Proxy, TimeoutKind,
    TransportErrorKind,
};
use proxies::ConnectProxy;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

const KEY: &str = "sk-test";
const TEST_CA: &[u8] = include_bytes!("fixtures/test-ca.pem");
const COMPLETION: &str = r#"{"id":"chatcmpl-tls","object":"chat.completion","created":0,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"over TLS"},"finish_reason":"stop"}]}"#;
const FIRST_CHUNK: &str = r#"data: {"id":"c","object":"chat.completion.chunk","created":0,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":"first"},"finish_reason":null}]}"#;

/// What the HTTPS server answers.
#[derive(Clone, Copy)]
enum Answer {
    /// A whole completion.
    Completion,
    /// An event stream with one chunk, then silence for this long.
    StreamThenStall(Duration),
}

fn server_config() -> Arc<rustls::ServerConfig> {
    let certs =
        vec![CertificateDer::from_pem_slice(include_bytes!("fixtures/localhost.pem")).unwrap()];
    let key = PrivateKeyDer::from_pem_slice(include_bytes!("fixtures/localhost.key")).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
    Arc::new(config)
}

/// Starts the HTTPS server; each connection is served on its own thread.
fn https_server(answer: Answer) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let config = server_config();
    std::thread::spawn(move || {
        for tcp in listener.incoming() {
            let Ok(tcp) = tcp else { return };
            let config = Arc::clone(&config);
            std::thread::spawn(move || serve(tcp, config, answer));
        }
    });
    addr
}

fn serve(tcp: TcpStream, config: Arc<rustls::ServerConfig>, answer: Answer) {
    let connection = rustls::ServerConnection::new(config).unwrap();
    let mut tls = rustls::StreamOwned::new(connection, tcp);
    // Read the request head and its body (the handshake happens on the first read).
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    let body_start = loop {
        let Ok(n) = tls.read(&mut buffer) else { return };
        if n == 0 {
            return;
        }
        received.extend_from_slice(&buffer[..n]);
        if let Some(end) = received.windows(4).position(|w| w == b"\r\n\r\n") {
            break end + 4;
        }
    };
    let head = String::from_utf8_lossy(&received[..body_start]).to_ascii_lowercase();
    let length: usize = head
        .lines()
        .find_map(|line| line.strip_prefix("content-length:"))
        .map_or(0, |v| v.trim().parse().unwrap());
    while received.len() < body_start + length {
        let Ok(n) = tls.read(&mut buffer) else { return };
        if n == 0 {
            return;
        }
        received.extend_from_slice(&buffer[..n]);
    }
    match answer {
        Answer::Completion => {
            let response = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nx-request-id: req_tls\r\ncontent-length: {}\r\n\r\n{COMPLETION}",
                COMPLETION.len()
            );
            let _ = tls.write_all(response.as_bytes());
        }
        Answer::StreamThenStall(stall) => {
            let event = format!("{FIRST_CHUNK}\n\n");
            let response = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n{:x}\r\n{event}\r\n",
                event.len()
            );
            let _ = tls.write_all(response.as_bytes());
            let _ = tls.flush();
            // The server side of the stall: this thread holds the connection silent.
            std::thread::sleep(stall);
        }
    }
    let _ = tls.flush();
}

fn ask() -> ChatCompletionRequest {
    ChatCompletionRequest::new("m", vec![Message::user("hi")])
}

fn trusting_client(config: Config) -> Client {
    Client::builder()
        .config(config)
        .root_certificates_pem(TEST_CA)
        .unwrap()
        .build()
        .unwrap()
}

#[test]
fn a_certificate_from_a_trusted_ca_is_accepted() {
    let addr = https_server(Answer::Completion);
    for host in ["localhost", "127.0.0.1"] {
        let config = Config::new(KEY).base_url(format!("https://{host}:{}/v1", addr.port()));
        let response = trusting_client(config)
            .chat()
            .create_with_response(&ask())
            .unwrap();
        assert_eq!(response.data.content(), Some("over TLS"), "{host}");
        assert_eq!(response.request_id(), Some("req_tls"));
    }
}

#[test]
fn an_unknown_certificate_authority_is_refused() {
    let addr = https_server(Answer::Completion);
    let config = Config::new(KEY)
        .base_url(format!("https://localhost:{}/v1", addr.port()))
        .max_retries(0);
    let error = Client::new(config).chat().create(&ask()).unwrap_err();
    match &error {
        Error::Transport(e) => {
            assert_eq!(e.kind, TransportErrorKind::Tls, "{e:?}");
            assert!(e.message.to_lowercase().contains("certificate"), "{e:?}");
            assert!(!e.message.contains(KEY));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn tls_to_a_plain_http_server_fails_as_tls() {
    let server = nexllm_mock::MockServer::builder()
        .api_key(KEY)
        .start_blocking()
        .unwrap();
    let config = Config::new(KEY)
        .base_url(format!("https://{}/v1", server.addr()))
        .max_retries(0);
    let error = Client::new(config).chat().create(&ask()).unwrap_err();
    assert!(
        matches!(&error, Error::Transport(e) if e.kind == TransportErrorKind::Tls),
        "{error:?}"
    );
}

#[test]
fn the_connect_timeout_covers_the_tls_handshake() {
    // Accepts TCP, then says nothing: the handshake hangs.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for tcp in listener.incoming() {
            held.push(tcp);
        }
    });
    let connect = Duration::from_millis(100);
    let config = Config::new(KEY)
        .base_url(format!("https://{addr}/v1"))
        .connect_timeout(connect)
        .max_retries(0);
    let started = Instant::now();
    let error = Client::new(config).chat().create(&ask()).unwrap_err();
    match &error {
        Error::Timeout(e) => {
            assert_eq!(e.kind, TimeoutKind::Connect, "{e:?}");
            assert_eq!(e.after, connect);
        }
        other => panic!("{other:?}"),
    }
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}

/// Streams from a server that sends one chunk and then stalls for 2 s, with
/// an idle timeout of 80 ms, through the client `make` builds: checks that
/// the first chunk arrives and that the idle timeout ends the stream, and
/// returns how long that took and the stream.
fn first_chunk_then_idle_timeout(make: impl FnOnce(Config) -> Client) -> (Duration, ChatStream) {
    let addr = https_server(Answer::StreamThenStall(Duration::from_secs(2)));
    let config = Config::new(KEY)
        .base_url(format!("https://localhost:{}/v1", addr.port()))
        .idle_timeout(Some(Duration::from_millis(80)));
    let mut stream = make(config).chat().create_stream(&ask()).unwrap();
    let first = stream.next().unwrap().unwrap();
    assert_eq!(first.choices[0].delta.content.as_deref(), Some("first"));
    let started = Instant::now();
    let error = stream.next().unwrap().unwrap_err();
    let waited = started.elapsed();
    assert!(
        matches!(&error, Error::Timeout(t) if t.kind == TimeoutKind::Idle),
        "{error:?}"
    );
    assert!(waited < Duration::from_secs(1), "{waited:?}");
    (waited, stream)
}

#[test]
fn the_idle_timeout_holds_over_tls() {
    let (waited, stream) = first_chunk_then_idle_timeout(trusting_client);
    assert!(waited >= Duration::from_millis(80), "{waited:?}");
    assert_eq!(stream.accumulated().content(), Some("first"));
}

fn client_through(proxy: &ConnectProxy, config: Config) -> Client {
    Client::builder()
        .config(config)
        .root_certificates_pem(TEST_CA)
        .unwrap()
        .proxy(Proxy::all(&proxy.url, "").unwrap())
        .build()
        .unwrap()
}

#[test]
fn https_calls_go_through_the_proxy_tunnel() {
    let addr = https_server(Answer::Completion);
    let proxy = ConnectProxy::start();
    let config = Config::new(KEY).base_url(format!("https://localhost:{}/v1", addr.port()));
    let client = client_through(&proxy, config);
    for _ in 0..2 {
        let response = client.chat().create_with_response(&ask()).unwrap();
        assert_eq!(response.data.content(), Some("over TLS"));
    }
    let heads = proxy.recorded.heads();
    assert!(!heads.is_empty());
    for head in &heads {
        assert!(
            head.starts_with(&format!("CONNECT localhost:{} HTTP/1.1\r\n", addr.port())),
            "{heads:?}"
        );
        // Basic user:secret
        assert!(
            head.contains("Proxy-Authorization: Basic dXNlcjpzZWNyZXQ="),
            "{heads:?}"
        );
        assert!(
            !head.contains(KEY),
            "the API key never reaches the proxy in clear"
        );
    }
}

#[test]
fn the_idle_timeout_holds_inside_the_tunnel() {
    let proxy = ConnectProxy::start();
    first_chunk_then_idle_timeout(|config| client_through(&proxy, config));
    assert_eq!(proxy.recorded.heads().len(), 1);
}
