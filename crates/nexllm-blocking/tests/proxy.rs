//! Calls through an HTTP proxy on loopback, between the client and
//! nexllm-mock: a forward proxy for `http://` base URLs (requests in absolute
//! form, never `CONNECT`), a `CONNECT` tunnel for `https://` ones.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // helpers outside #[test] fail the test loudly

#[path = "support/proxies.rs"]
mod proxies;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nexllm_blocking::{
    ChatCompletionRequest, Client, Config, Error, Message, Proxy, TimeoutKind, TransportErrorKind,
};
use nexllm_mock::MockServer;
use proxies::{ConnectProxy, ForwardProxy};

const KEY: &str = "sk-test";

/// A base URL whose host only the proxy can reach: the client must not look
/// it up, and names it (with its port) in each request line.
const UNRESOLVABLE_BASE: &str = "http://api.nexllm.invalid:8000/v1";

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

/// The request line of a recorded head.
fn request_line(head: &str) -> &str {
    head.split("\r\n").next().unwrap_or_default()
}

/// The value of header `name` in a recorded head, if present (first one).
fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.split("\r\n").skip(1).find_map(|line| {
        let (key, value) = line.split_once(':')?;
        key.eq_ignore_ascii_case(name).then(|| value.trim())
    })
}

/// Every value of header `name` in a recorded head, in order.
fn header_values<'a>(head: &'a str, name: &str) -> Vec<&'a str> {
    head.split("\r\n")
        .skip(1)
        .filter_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.eq_ignore_ascii_case(name).then(|| value.trim())
        })
        .collect()
}

fn assert_no_connect(heads: &[String]) {
    assert!(
        heads.iter().all(|head| !head.starts_with("CONNECT ")),
        "a plain http:// call must never open a tunnel: {heads:?}"
    );
}

#[test]
fn plain_http_goes_to_a_forward_proxy_in_absolute_form() {
    let server = MockServer::builder().api_key(KEY).start_blocking().unwrap();
    let proxy = ForwardProxy::start("user:secret@", server.addr());
    let client = client_via(
        Proxy::all(&proxy.url, "").unwrap(),
        Config::new(KEY).base_url(UNRESOLVABLE_BASE).max_retries(0),
    );
    let completion = client.chat().create(&ask("via the proxy")).unwrap();
    assert_eq!(completion.content(), Some("via the proxy"));
    let stream = client.chat().create_stream(&ask("streamed too")).unwrap();
    assert_eq!(stream.finish().unwrap().content(), Some("streamed too"));

    let heads = proxy.recorded.heads();
    assert_no_connect(&heads);
    assert_eq!(heads.len(), 2, "{heads:?}");
    for head in &heads {
        assert_eq!(
            request_line(head),
            "POST http://api.nexllm.invalid:8000/v1/chat/completions HTTP/1.1",
            "{heads:?}"
        );
        assert_eq!(
            header(head, "host"),
            Some("api.nexllm.invalid:8000"),
            "{head}"
        );
        // Basic user:secret
        assert_eq!(
            header(head, "proxy-authorization"),
            Some("Basic dXNlcjpzZWNyZXQ="),
            "{head}"
        );
        assert_eq!(
            header(head, "authorization"),
            Some("Bearer sk-test"),
            "{head}"
        );
    }
    let seen = server.requests();
    assert_eq!(seen.len(), 2);
    for request in &seen {
        assert_eq!(request.path, "/v1/chat/completions");
        assert_eq!(request.header("proxy-authorization"), None);
    }
}

#[test]
fn a_proxy_without_credentials_gets_no_proxy_authorization() {
    let server = MockServer::builder().api_key(KEY).start_blocking().unwrap();
    let proxy = ForwardProxy::start("", server.addr());
    let client = client_via(
        Proxy::all(&proxy.url, "").unwrap(),
        Config::new(KEY).base_url(server.base_url()).max_retries(0),
    );
    let completion = client.chat().create(&ask("no credentials")).unwrap();
    assert_eq!(completion.content(), Some("no credentials"));
    let stream = client.chat().create_stream(&ask("streamed")).unwrap();
    assert_eq!(stream.finish().unwrap().content(), Some("streamed"));
    let models = client.models().list().unwrap();
    assert!(!models.data.is_empty());

    let heads = proxy.recorded.heads();
    assert_no_connect(&heads);
    assert_eq!(heads.len(), 3, "{heads:?}");
    let origin = format!("http://{}", server.addr());
    assert_eq!(
        request_line(&heads[0]),
        format!("POST {origin}/v1/chat/completions HTTP/1.1")
    );
    assert_eq!(
        request_line(&heads[2]),
        format!("GET {origin}/v1/models HTTP/1.1")
    );
    for head in &heads {
        assert_eq!(header(head, "proxy-authorization"), None, "{head}");
    }
}

#[test]
fn calls_share_one_connection_to_the_forward_proxy() {
    let server = MockServer::builder().api_key(KEY).start_blocking().unwrap();
    let proxy = ForwardProxy::start("user:secret@", server.addr());
    let client = client_via(
        Proxy::all(&proxy.url, "").unwrap(),
        Config::new(KEY).base_url(UNRESOLVABLE_BASE).max_retries(0),
    );
    for text in ["first", "second", "third"] {
        let completion = client.chat().create(&ask(text)).unwrap();
        assert_eq!(completion.content(), Some(text));
    }
    let stream = client.chat().create_stream(&ask("then a stream")).unwrap();
    assert_eq!(stream.finish().unwrap().content(), Some("then a stream"));
    let completion = client.chat().create(&ask("and after it")).unwrap();
    assert_eq!(completion.content(), Some("and after it"));

    let heads = proxy.recorded.heads();
    assert_eq!(heads.len(), 5, "{heads:?}");
    // Every request on the reused connection is in absolute form, with the credentials.
    for head in &heads {
        assert!(
            request_line(head).starts_with("POST http://api.nexllm.invalid:8000/"),
            "{heads:?}"
        );
        assert_eq!(
            header(head, "proxy-authorization"),
            Some("Basic dXNlcjpzZWNyZXQ="),
            "{head}"
        );
    }
    assert_eq!(
        proxy.recorded.connections(),
        1,
        "the pooled connection is reused"
    );
}

#[test]
fn a_dropped_stream_does_not_leave_its_connection_to_the_next_call() {
    let server = MockServer::builder().api_key(KEY).start_blocking().unwrap();
    let proxy = ForwardProxy::start("", server.addr());
    let client = client_via(
        Proxy::all(&proxy.url, "").unwrap(),
        Config::new(KEY).base_url(server.base_url()).max_retries(0),
    );
    let mut stream = client
        .chat()
        .create_stream(&ask("one two three four five six"))
        .unwrap();
    assert!(stream.next().unwrap().is_ok());
    drop(stream);
    let completion = client.chat().create(&ask("next call")).unwrap();
    assert_eq!(completion.content(), Some("next call"));
    assert_eq!(proxy.recorded.connections(), 2);
    assert_no_connect(&proxy.recorded.heads());
}

#[test]
fn the_idle_timeout_holds_through_a_forward_proxy() {
    let server = MockServer::builder().api_key(KEY).start_blocking().unwrap();
    let proxy = ForwardProxy::start("", server.addr());
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
    assert_no_connect(&proxy.recorded.heads());
}

#[test]
fn https_still_goes_through_a_connect_tunnel() {
    // The tunnel's far end is the plain-http mock, so the TLS handshake fails
    // after the tunnel is up: enough to see the CONNECT and its credentials
    // (tests/tls.rs completes calls through a tunnel).
    let server = MockServer::builder().api_key(KEY).start_blocking().unwrap();
    let proxy = ConnectProxy::start();
    let client = client_via(
        Proxy::all(&proxy.url, "").unwrap(),
        Config::new(KEY)
            .base_url(format!("https://{}/v1", server.addr()))
            .max_retries(0),
    );
    let error = client.chat().create(&ask("tunnel")).unwrap_err();
    assert!(
        matches!(&error, Error::Transport(e) if e.kind == TransportErrorKind::Tls),
        "{error:?}"
    );
    let heads = proxy.recorded.heads();
    assert_eq!(heads.len(), 1, "{heads:?}");
    let port = server.addr().port();
    assert_eq!(
        request_line(&heads[0]),
        format!("CONNECT 127.0.0.1:{port} HTTP/1.1")
    );
    assert_eq!(
        header(&heads[0], "proxy-authorization"),
        Some("Basic dXNlcjpzZWNyZXQ=")
    );
    assert!(
        !heads[0].contains(KEY),
        "the API key never reaches the proxy in clear"
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
    assert!(proxy.recorded.heads().is_empty());
}

#[test]
fn an_unreachable_proxy_is_a_proxy_error() {
    let server = MockServer::builder().api_key(KEY).start_blocking().unwrap();
    let closed_port = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    // To a forward proxy (http) and through a tunnel (https) alike.
    for base_url in [server.base_url(), format!("https://{}/v1", server.addr())] {
        let client = client_via(
            Proxy::all(&format!("http://127.0.0.1:{closed_port}"), "").unwrap(),
            Config::new(KEY).base_url(&base_url).max_retries(0),
        );
        let error = client.models().list().unwrap_err();
        // As nexllm-hyper says it.
        assert!(
            matches!(&error, Error::Transport(e) if e.kind == TransportErrorKind::Proxy
                && e.message.starts_with("could not connect to the proxy: ")),
            "{base_url}: {error:?}"
        );
    }
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
                  Proxy-Authenticate: Basic realm=\"proxy\"\r\ncontent-length: 0\r\n\
                  connection: close\r\n\r\n",
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
        assert_refused_by_proxy(&error, says);
        let heads = heads.lock().unwrap().clone();
        assert_eq!(heads.len(), 1, "{heads:?}");
        assert!(
            heads[0].starts_with("CONNECT api.nexllm.invalid:443 "),
            "{heads:?}"
        );
    }
}

#[test]
fn the_proxy_urls_credentials_replace_a_proxy_authorization_header_of_the_callers() {
    // As nexllm-hyper does: with credentials in the proxy URL, exactly one
    // `Proxy-Authorization` goes to the proxy, the URL's; without them, the
    // caller's header goes as it is.
    let callers = "Basic bWluZTptaW5l";
    for (credentials, expected) in [("user:secret@", "Basic dXNlcjpzZWNyZXQ="), ("", callers)] {
        let server = MockServer::builder().api_key(KEY).start_blocking().unwrap();
        let proxy = ForwardProxy::start(credentials, server.addr());
        let config = Config::new(KEY)
            .base_url(UNRESOLVABLE_BASE)
            .header("Proxy-Authorization", callers)
            .unwrap()
            .max_retries(0);
        let client = client_via(Proxy::all(&proxy.url, "").unwrap(), config);
        let completion = client.chat().create(&ask("one header")).unwrap();
        assert_eq!(completion.content(), Some("one header"));
        let stream = client.chat().create_stream(&ask("streamed")).unwrap();
        assert_eq!(stream.finish().unwrap().content(), Some("streamed"));
        assert!(!client.models().list().unwrap().data.is_empty());

        let heads = proxy.recorded.heads();
        assert_eq!(heads.len(), 3, "{heads:?}");
        for head in &heads {
            assert_eq!(
                header_values(head, "proxy-authorization"),
                [expected],
                "{credentials:?}: {head}"
            );
        }
    }
}

#[test]
fn a_forward_proxy_refusing_the_credentials_fails_at_once() {
    // A 407 answer to a plain http:// request is the proxy's, as a 407 to
    // CONNECT is: the same error, never retried, for a call and a stream.
    for (credentials, says) in [("user:wrong@", "refused the credentials"), ("", "has none")] {
        let (url, heads) = refusing_proxy(credentials);
        let client = client_via(
            Proxy::all(&url, "").unwrap(),
            Config::new(KEY).base_url("http://api.nexllm.invalid/v1"),
        );
        let errors = [
            client.chat().create(&ask("forward")).unwrap_err(),
            client.chat().create_stream(&ask("forward")).unwrap_err(),
        ];
        for error in &errors {
            assert_refused_by_proxy(error, says);
        }
        let heads = heads.lock().unwrap().clone();
        assert_eq!(heads.len(), 2, "{heads:?}");
        for head in &heads {
            assert!(
                head.starts_with("POST http://api.nexllm.invalid/v1/chat/completions "),
                "{heads:?}"
            );
        }
    }
}

/// `error` is the proxy's 407 refusal (see [`nexllm_scenarios::proxy_refusal`]).
fn assert_refused_by_proxy(error: &Error, says: &str) {
    if let Err(failure) = nexllm_scenarios::proxy_refusal(error, says) {
        panic!("{failure}");
    }
}

#[test]
fn a_407_from_a_server_reached_directly_stays_an_api_error() {
    // Without a proxy, and with one the host is exempt from: the answer is
    // the server's, an API error like any other.
    let server = MockServer::builder().api_key(KEY).start_blocking().unwrap();
    for proxy in [
        Proxy::none(),
        Proxy::all("http://user:secret@127.0.0.1:9", "127.0.0.1").unwrap(),
    ] {
        let config = Config::new(KEY)
            .base_url(server.base_url())
            .header("x-mock-fault", "status=407")
            .unwrap();
        let error = client_via(proxy, config)
            .chat()
            .create(&ask("direct"))
            .unwrap_err();
        assert_eq!(
            error.status(),
            Some(http::StatusCode::PROXY_AUTHENTICATION_REQUIRED),
            "{error:?}"
        );
        assert!(matches!(error, Error::Api(_)), "{error:?}");
    }
}

#[test]
fn a_request_the_forward_proxy_cannot_be_sent_fails_at_once() {
    // A header line longer than the rewriter takes (64 KiB): sending the same
    // request again cannot help, so the call fails on its first attempt.
    let server = MockServer::builder().api_key(KEY).start_blocking().unwrap();
    let proxy = ForwardProxy::start("", server.addr());
    let config = Config::new(KEY)
        .base_url(server.base_url())
        .header("x-long", &"a".repeat(70 * 1024))
        .unwrap()
        .max_retries(2);
    let client = client_via(Proxy::all(&proxy.url, "").unwrap(), config);
    let error = client.chat().create(&ask("too long")).unwrap_err();
    match &error {
        Error::Transport(e) => {
            assert_eq!(e.kind, TransportErrorKind::Request, "{e:?}");
            assert_eq!(e.attempts, 1, "never retried: {e:?}");
            assert!(e.message.contains("too long"), "{e:?}");
        }
        other => panic!("{other:?}"),
    }
    assert!(server.requests().is_empty());
}
