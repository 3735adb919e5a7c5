//! Calls through an HTTP proxy: a minimal `CONNECT` proxy on loopback sits
//! between the client and nexllm-mock.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // helpers outside #[test] fail the test loudly

use std::io::{BufRead, BufReader, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nexllm_blocking::{
    ChatCompletionRequest, Client, Config, Error, Message, Proxy, TimeoutKind, TransportErrorKind,
};
use nexllm_mock::MockServer;

const KEY: &str = "sk-test";

/// A `CONNECT`-only proxy. It records each request head it receives and
/// pipes the tunnel both ways until either side closes.
struct ConnectProxy {
    url: String,
    heads: Arc<Mutex<Vec<String>>>,
}

impl ConnectProxy {
    fn start() -> ConnectProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let heads = Arc::new(Mutex::new(Vec::new()));
        let recorded = Arc::clone(&heads);
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { return };
                let recorded = Arc::clone(&recorded);
                std::thread::spawn(move || tunnel(client, &recorded));
            }
        });
        ConnectProxy {
            url: format!("http://user:secret@{addr}"),
            heads,
        }
    }

    fn heads(&self) -> Vec<String> {
        self.heads.lock().unwrap().clone()
    }
}

fn tunnel(client: TcpStream, recorded: &Mutex<Vec<String>>) {
    let mut reader = BufReader::new(client.try_clone().unwrap());
    let mut head = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        if line == "\r\n" {
            break;
        }
        head.push_str(&line);
    }
    recorded.lock().unwrap().push(head.clone());
    let target = head
        .strip_prefix("CONNECT ")
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap()
        .to_owned();
    let upstream = TcpStream::connect(target).unwrap();
    let mut answer = client.try_clone().unwrap();
    answer
        .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
        .unwrap();
    let mut from_upstream = upstream.try_clone().unwrap();
    let mut to_client = client.try_clone().unwrap();
    let downstream = std::thread::spawn(move || {
        let _ = std::io::copy(&mut from_upstream, &mut to_client);
        let _ = to_client.shutdown(Shutdown::Write);
    });
    let mut to_upstream = upstream;
    // Bytes the client sent right after the CONNECT head are in the reader's buffer.
    let _ = std::io::copy(&mut reader, &mut to_upstream);
    let _ = to_upstream.shutdown(Shutdown::Write);
    let _ = downstream.join();
}

fn ask(text: &str) -> ChatCompletionRequest {
    ChatCompletionRequest::new("mock-echo", vec![Message::user(text)])
}

fn client_via(proxy: Proxy, config: Config) -> Client {
    Client::builder()
        .config(config)
        .proxy(proxy)
        .build()
        .unwrap()
}

#[test]
fn calls_go_through_the_proxy_tunnel() {
    let server = MockServer::builder().api_key(KEY).start_blocking().unwrap();
    let proxy = ConnectProxy::start();
    let client = client_via(
        Proxy::all(&proxy.url, "").unwrap(),
        Config::new(KEY).base_url(server.base_url()),
    );
    let completion = client.chat().create(&ask("via the proxy")).unwrap();
    assert_eq!(completion.content(), Some("via the proxy"));
    let stream = client.chat().create_stream(&ask("streamed too")).unwrap();
    assert_eq!(stream.finish().unwrap().content(), Some("streamed too"));

    let heads = proxy.heads();
    assert!(!heads.is_empty());
    let port = server.addr().port();
    assert!(
        heads[0].starts_with(&format!("CONNECT 127.0.0.1:{port} HTTP/1.1\r\n")),
        "{heads:?}"
    );
    // Basic user:secret
    assert!(
        heads[0].contains("Proxy-Authorization: Basic dXNlcjpzZWNyZXQ="),
        "{heads:?}"
    );
    assert!(
        !heads[0].contains(KEY),
        "the API key never reaches the proxy in clear"
    );
    assert_eq!(server.requests().len(), 2);
}

#[test]
fn the_idle_timeout_holds_inside_the_tunnel() {
    let server = MockServer::builder().api_key(KEY).start_blocking().unwrap();
    let proxy = ConnectProxy::start();
    let config = Config::new(KEY)
        .base_url(server.base_url())
        .header("x-mock-fault", "stall=1500ms")
        .unwrap()
        .idle_timeout(Some(Duration::from_millis(80)));
    let client = client_via(Proxy::all(&proxy.url, "").unwrap(), config);
    let mut stream = client.chat().create_stream(&ask("one two three")).unwrap();
    let started = Instant::now();
    let error = stream.find_map(Result::err).unwrap();
    assert!(
        matches!(&error, Error::Timeout(t) if t.kind == TimeoutKind::Idle),
        "{error:?}"
    );
    assert!(
        started.elapsed() < Duration::from_millis(750),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn no_proxy_hosts_are_reached_directly() {
    let server = MockServer::builder().api_key(KEY).start_blocking().unwrap();
    let proxy = ConnectProxy::start();
    let client = client_via(
        Proxy::all(&proxy.url, "example.com, 127.0.0.0/8").unwrap(),
        Config::new(KEY).base_url(server.base_url()),
    );
    let completion = client.chat().create(&ask("direct")).unwrap();
    assert_eq!(completion.content(), Some("direct"));
    assert!(proxy.heads().is_empty());
}

#[test]
fn an_unreachable_proxy_is_a_proxy_error() {
    let server = MockServer::builder().api_key(KEY).start_blocking().unwrap();
    let closed_port = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let client = client_via(
        Proxy::all(&format!("http://127.0.0.1:{closed_port}"), "").unwrap(),
        Config::new(KEY).base_url(server.base_url()).max_retries(0),
    );
    let error = client.models().list().unwrap_err();
    // As nexllm-hyper says it.
    assert!(
        matches!(&error, Error::Transport(e) if e.kind == TransportErrorKind::Proxy
            && e.message.starts_with("could not connect to the proxy: ")),
        "{error:?}"
    );
    assert!(server.requests().is_empty());
}

/// A proxy that answers every request with `407 Proxy Authentication
/// Required`, and counts the requests it got.
fn refusing_proxy(credentials: &str) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let heads = Arc::new(Mutex::new(Vec::new()));
    let recorded = Arc::clone(&heads);
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(mut client) = client else { return };
            let mut reader = BufReader::new(client.try_clone().unwrap());
            let mut head = String::new();
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                head.push_str(&line);
            }
            recorded.lock().unwrap().push(head);
            let _ = client.write_all(
                b"HTTP/1.1 407 Proxy Authentication Required\r\n\
                  Proxy-Authenticate: Basic realm=\"proxy\"\r\ncontent-length: 0\r\n\r\n",
            );
        }
    });
    (format!("http://{credentials}{addr}"), heads)
}

#[test]
fn a_proxy_refusing_the_credentials_fails_at_once() {
    for (credentials, says) in [("user:wrong@", "refused the credentials"), ("", "has none")] {
        let (url, heads) = refusing_proxy(credentials);
        let client = client_via(
            Proxy::all(&url, "").unwrap(),
            Config::new(KEY).base_url("https://api.nexllm.invalid/v1"),
        );
        let error = client.chat().create(&ask("tunnel")).unwrap_err();
        match &error {
            Error::Transport(e) => {
                assert_eq!(e.kind, TransportErrorKind::Proxy, "{e:?}");
                assert_eq!(
                    e.proxy_status,
                    Some(http::StatusCode::PROXY_AUTHENTICATION_REQUIRED),
                    "{e:?}"
                );
                assert_eq!(e.attempts, 1, "never retried: {e:?}");
                let shown = e.to_string();
                assert!(shown.contains("407"), "{shown}");
                assert!(shown.contains(says), "{shown}");
                assert!(!shown.contains("wrong"), "{shown}");
            }
            other => panic!("{other:?}"),
        }
        let heads = heads.lock().unwrap().clone();
        assert_eq!(heads.len(), 1, "{heads:?}");
        assert!(
            heads[0].starts_with("CONNECT api.nexllm.invalid:443 "),
            "{heads:?}"
        );
    }
}
