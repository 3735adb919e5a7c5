//! Hyper-only behaviour against nexllm-mock: cancellation on drop, pooling and
//! leaks under 1,000 concurrent streams, proxies, TLS and connect failures.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // helpers outside #[test] fail loudly

use std::sync::Arc;
use std::time::Duration;

use nexllm_hyper::{
    Body, ChatCompletionRequest, Client, Config, Error, HyperTransport, Message, Proxy, SendError,
    StreamErrorKind, TimeoutKind, Transport, TransportErrorKind,
};
use nexllm_mock::MockServer;

const KEY: &str = "sk-client-test-0123456789";
const WAIT: Duration = Duration::from_secs(10);

async fn server() -> MockServer {
    MockServer::builder().api_key(KEY).start().await.unwrap()
}

fn config(server: &MockServer) -> Config {
    Config::new(KEY).base_url(server.base_url())
}

fn client(config: Config) -> Client {
    Client::builder()
        .config(config)
        .proxy(Proxy::none())
        .build()
        .unwrap()
}

fn echo(text: &str) -> ChatCompletionRequest {
    ChatCompletionRequest::new("mock-echo", vec![Message::user(text)])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_a_stream_closes_its_connection() {
    let server = server().await;
    let config = config(&server)
        .header("x-mock-fault", "stall=200ms")
        .unwrap();
    let client = client(config);
    let mut stream = client
        .chat()
        .create_stream(&echo("one two three four five six seven eight"))
        .await
        .unwrap();
    let first = stream.next_chunk().await.unwrap().unwrap();
    assert_eq!(
        first.choices[0].delta.role.as_ref().map(|r| r.as_str()),
        Some("assistant")
    );
    assert_eq!(server.open_connections(), 1);
    drop(stream);
    assert!(
        server.wait_for_closed(1, WAIT).await,
        "the mock never saw the connection close"
    );
    assert_eq!(server.open_connections(), 0);
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_a_whole_call_closes_its_connection() {
    let server = server().await;
    let config = config(&server)
        .header("x-mock-fault", "delay-head=5s")
        .unwrap();
    let client = client(config);
    let request = echo("hello there");
    let call = client.chat().create(&request);
    let outcome = tokio::time::timeout(Duration::from_millis(100), call).await;
    assert!(
        outcome.is_err(),
        "the call should still be waiting for its head"
    );
    assert!(
        server.wait_for_closed(1, WAIT).await,
        "the mock never saw the connection close"
    );
    assert_eq!(server.open_connections(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_streams_share_one_client_without_leaks() {
    const STREAMS: usize = 1000;
    const MAX_IDLE: usize = 16;
    let server = server().await;
    let client = Client::builder()
        .config(config(&server))
        .proxy(Proxy::none())
        .pool_max_idle_per_host(MAX_IDLE)
        .build()
        .unwrap();
    let mut tasks = Vec::with_capacity(STREAMS);
    for i in 0..STREAMS {
        let client = client.clone();
        tasks.push(tokio::spawn(async move {
            let text = format!("stream number {i} says hello");
            let stream = client
                .chat()
                .create_stream(&echo(&text).include_usage(true))
                .await?;
            let completion = stream.finish().await?;
            assert_eq!(completion.content(), Some(text.as_str()));
            assert!(completion.usage.is_some());
            Ok::<_, Error>(())
        }));
    }
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    assert_eq!(server.requests().len(), STREAMS);

    // Connections beyond the pool's idle limit are closed; the rest stay pooled.
    // (hyper-util may finish a connect that lost a race with an idle connection
    // in the background and pool it, so the counts settle rather than jump.)
    assert!(
        settle(&server, MAX_IDLE).await,
        "{} connections stay open with a pool of {MAX_IDLE}",
        server.open_connections()
    );
    let opened = server.open_connections() as u64 + server.connections_closed();
    assert!(opened >= 1, "{opened} connections");

    // Dropping the last handle on the pool closes every connection that carried
    // a request: nothing leaked. (A spare connection that hyper-util's pool
    // opened in the background for a request that then took an idle one, and
    // pooled late, can stay open until the pool's idle timeout; about one run
    // in ten has one. It never carried a request, which is checked.)
    drop(client);
    assert!(
        settle_used(&server).await,
        "{} connections that carried a request leaked",
        server
            .open_connections()
            .saturating_sub(server.open_connections_without_requests())
    );
}

/// Waits (on the mock's close notifications, never by sleeping) until at most
/// `max_open` connections are open; false if they stay open.
async fn settle(server: &MockServer, max_open: usize) -> bool {
    settle_by(server, |server| {
        server.open_connections().saturating_sub(max_open)
    })
    .await
}

/// Waits until every open connection is one that never carried a request;
/// false if others stay open.
async fn settle_used(server: &MockServer) -> bool {
    settle_by(server, |server| {
        server
            .open_connections()
            .saturating_sub(server.open_connections_without_requests())
    })
    .await
}

/// Waits on the mock's close notifications until `excess` (how many open
/// connections are too many) is zero; false if it is still above after
/// `WAIT`. Other connections may close meanwhile (each wakes the wait), so the
/// bound is the time, not a number of rounds.
async fn settle_by(server: &MockServer, excess: impl Fn(&MockServer) -> usize) -> bool {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let excess = excess(server) as u64;
        if excess == 0 {
            return true;
        }
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        if left.is_zero()
            || !server
                .wait_for_closed(server.connections_closed() + 1, left)
                .await
        {
            return false;
        }
    }
}

#[tokio::test(flavor = "current_thread")]
async fn clones_share_one_pooled_connection() {
    let server = server().await;
    let client = client(config(&server));
    let clone = client.clone();
    for i in 0..6 {
        let which = if i % 2 == 0 { &client } else { &clone };
        let text = format!("call {i}");
        let completion = which.chat().create(&echo(&text)).await.unwrap();
        assert_eq!(completion.content(), Some(text.as_str()));
        // Let the connection task hand the connection back to the pool (it
        // does so on its own task, after the body ends).
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
    }
    let models = clone.models().list_with_response().await.unwrap();
    assert!(models.request_id().is_some());
    assert_eq!(models.attempts(), 1);
    assert_eq!(
        server.open_connections() as u64 + server.connections_closed(),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn responses_expose_headers_and_rate_limits() {
    let server = server().await;
    let client = client(config(&server));
    let response = client
        .chat()
        .create_with_response(&echo("headers please"))
        .await
        .unwrap();
    assert_eq!(response.status, http::StatusCode::OK);
    assert_eq!(response.attempts(), 1);
    assert_eq!(
        response.request_id(),
        Some(server.requests()[0].request_id.as_str())
    );
    let limits = response.rate_limit();
    assert!(limits.limit_requests.is_some(), "{limits:?}");
    assert!(limits.remaining_tokens.is_some(), "{limits:?}");
    assert!(response.header("openai-processing-ms").is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_sends_a_whole_request_whatever_the_stream_flag() {
    let server = server().await;
    let client = client(config(&server));
    let request = echo("not streamed").stream(true).include_usage(true);
    let completion = client.chat().create(&request).await.unwrap();
    assert_eq!(completion.content(), Some("not streamed"));
    let sent = server.requests()[0].body_json().unwrap();
    assert!(sent.get("stream").is_none(), "{sent}");
    assert!(sent.get("stream_options").is_none(), "{sent}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_finished_stream_hands_back_its_completion() {
    let server = server().await;
    let client = client(config(&server));
    let mut stream = client
        .chat()
        .create_stream(&echo("alpha beta gamma"))
        .await
        .unwrap();
    assert_eq!(stream.status(), Some(http::StatusCode::OK));
    assert_eq!(stream.attempts(), 1);
    let mut chunks = 0;
    while let Some(chunk) = stream.next_chunk().await {
        chunk.unwrap();
        chunks += 1;
    }
    assert!(chunks >= 4, "{chunks} chunks");
    assert!(stream.is_ended());
    assert!(stream.error().is_none());
    assert!(
        stream.next_chunk().await.is_none(),
        "a finished stream stays finished"
    );
    assert_eq!(stream.accumulated().content(), Some("alpha beta gamma"));
    let completion = stream.finish().await.unwrap();
    assert_eq!(completion.content(), Some("alpha beta gamma"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_futures_outlive_the_chat_handle_they_came_from() {
    // `client.chat()` is a temporary: a `create_stream` future must not borrow
    // it, or it cannot be stored and awaited later (join!, a Vec of calls),
    // as a `create` future can.
    let server = server().await;
    let client = client(config(&server));
    let texts = ["first call", "second call", "third call"];
    let requests: Vec<_> = texts.iter().map(|text| echo(text)).collect();
    let opening: Vec<_> = requests
        .iter()
        .map(|request| client.chat().create_stream(request))
        .collect();
    let mut contents = Vec::new();
    for future in opening {
        let stream = future.await.unwrap();
        contents.push(stream.finish().await.unwrap().content().unwrap().to_owned());
    }
    assert_eq!(contents, texts);

    let whole = client.chat().create(&requests[0]);
    let streamed = client.chat().create_stream(&requests[1]);
    let (whole, streamed) = tokio::join!(whole, streamed);
    assert_eq!(whole.unwrap().content(), Some(texts[0]));
    let streamed = streamed.unwrap().finish().await.unwrap();
    assert_eq!(streamed.content(), Some(texts[1]));
}

/// Reads what a finished stream holds, awaiting in between: its future keeps
/// `&ChatStream` across an `.await`.
async fn summary(stream: &nexllm_hyper::ChatStream) -> String {
    let id = stream.request_id().unwrap_or("none").to_owned();
    tokio::task::yield_now().await;
    format!("{id}: {}", stream.accumulated().content().unwrap_or(""))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spawned_task_can_hold_a_stream_reference_across_an_await() {
    let server = server().await;
    let client = client(config(&server));
    let task = tokio::spawn(async move {
        let mut stream = client
            .chat()
            .create_stream(&echo("shared by reference"))
            .await?;
        while let Some(chunk) = stream.next_chunk().await {
            chunk?;
        }
        Ok::<_, Error>(summary(&stream).await)
    });
    let summary = task.await.unwrap().unwrap();
    let id = &server.requests()[0].request_id;
    assert_eq!(summary, format!("{id}: shared by reference"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finish_returns_the_error_that_ended_the_stream() {
    let server = server().await;
    let config = config(&server)
        .header("x-mock-fault", "close-after=3")
        .unwrap();
    let stream = client(config)
        .chat()
        .create_stream(&echo("a b c d e f g"))
        .await
        .unwrap();
    match stream.finish().await {
        Err(Error::Stream(e)) => {
            assert_eq!(e.kind, StreamErrorKind::Truncated, "{e:?}");
            let cause = e
                .cause
                .as_ref()
                .expect("the connection failure is the cause");
            assert_eq!(cause.kind, TransportErrorKind::Reset, "{e:?}");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hyper_transport_built_with_options_can_be_wrapped() {
    /// Adds a header to every request, then sends it with the transport it wraps.
    #[derive(Debug)]
    struct Tagged(HyperTransport);

    #[async_trait::async_trait]
    impl Transport for Tagged {
        async fn send(
            &self,
            mut request: http::Request<bytes::Bytes>,
        ) -> Result<http::Response<Body>, SendError> {
            request
                .headers_mut()
                .insert("x-tag", http::HeaderValue::from_static("wrapped"));
            self.0.send(request).await
        }
    }

    // The proxy option is what reaches the (unresolvable) host: the mock
    // plays the forward proxy, as above.
    let server = server().await;
    let config = Config::new(KEY).base_url("http://api.nexllm.invalid/v1");
    let proxy_url = format!("http://user:pw@{}", server.addr());
    let transport = HyperTransport::builder(&config)
        .proxy(Proxy::all(&proxy_url, "").unwrap())
        .pool_max_idle_per_host(1)
        .pool_idle_timeout(Some(Duration::from_secs(5)))
        .http2(false)
        .build()
        .unwrap();
    let client = Client::builder()
        .config(config)
        .transport(Arc::new(Tagged(transport)))
        .build()
        .unwrap();
    let completion = client.chat().create(&echo("wrapped")).await.unwrap();
    assert_eq!(completion.content(), Some("wrapped"));
    let seen = &server.requests()[0];
    assert_eq!(seen.header("x-tag"), Some("wrapped"));
    assert_eq!(
        seen.header("proxy-authorization"),
        Some("Basic dXNlcjpwdw==")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forward_proxy_gets_the_absolute_url_and_credentials() {
    // The mock plays the proxy: an http:// request through a forward proxy
    // reaches it in absolute form, whatever the (unresolvable) host.
    let server = server().await;
    let proxy_url = format!("http://user:pw@{}", server.addr());
    let client = Client::builder()
        .config(Config::new(KEY).base_url("http://api.nexllm.invalid/v1"))
        .proxy(Proxy::all(&proxy_url, "").unwrap())
        .build()
        .unwrap();
    let completion = client.chat().create(&echo("via the proxy")).await.unwrap();
    assert_eq!(completion.content(), Some("via the proxy"));
    let seen = &server.requests()[0];
    assert_eq!(seen.path, "/v1/chat/completions");
    assert_eq!(
        seen.header("proxy-authorization"),
        Some("Basic dXNlcjpwdw==")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_goes_through_a_connect_tunnel() {
    let server = server().await;
    let proxy_url = format!("http://user:pw@{}", server.addr());
    let client = Client::builder()
        .config(
            Config::new(KEY)
                .base_url("https://api.nexllm.invalid/v1")
                .max_retries(0),
        )
        .proxy(Proxy::all(&proxy_url, "").unwrap())
        .build()
        .unwrap();
    let error = client.chat().create(&echo("tunnel")).await.unwrap_err();
    // The mock refuses CONNECT, so the tunnel fails: a proxy error, and the
    // mock saw the CONNECT with the proxy's credentials.
    match &error {
        Error::Transport(e) => assert_eq!(e.kind, TransportErrorKind::Proxy, "{e:?}"),
        other => panic!("{other:?}"),
    }
    let seen = &server.requests()[0];
    assert_eq!(seen.method, http::Method::CONNECT);
    assert_eq!(
        seen.header("proxy-authorization"),
        Some("Basic dXNlcjpwdw==")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_proxy_hosts_are_reached_directly() {
    let server = server().await;
    let client = Client::builder()
        .config(config(&server))
        .proxy(Proxy::all("http://127.0.0.1:9", "127.0.0.1,localhost").unwrap())
        .build()
        .unwrap();
    let completion = client.chat().create(&echo("direct")).await.unwrap();
    assert_eq!(completion.content(), Some("direct"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_to_a_plain_http_server_fails_as_tls() {
    let server = server().await;
    let base = format!("https://{}/v1", server.addr());
    let client = client(Config::new(KEY).base_url(base).max_retries(0));
    match client.chat().create(&echo("tls")).await {
        Err(Error::Transport(e)) => {
            assert_eq!(e.kind, TransportErrorKind::Tls, "{e:?}");
            assert!(!e.message.contains(KEY));
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_connection_is_a_connect_error_after_every_retry() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let config = Config::new(KEY)
        .base_url(format!("http://{addr}/v1"))
        .max_retries(1);
    match client(config).chat().create(&echo("nobody home")).await {
        Err(Error::Transport(e)) => {
            assert_eq!(e.kind, TransportErrorKind::Connect, "{e:?}");
            assert_eq!(e.attempts, 2);
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_connect_timeout_covers_the_tls_handshake() {
    // A server that accepts TCP and then says nothing: the TLS handshake hangs.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let held = Arc::new(tokio::sync::Mutex::new(Vec::new()));
    let holder = Arc::clone(&held);
    let accept = tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            holder.lock().await.push(socket);
        }
    });
    let config = Config::new(KEY)
        .base_url(format!("https://{addr}/v1"))
        .connect_timeout(Duration::from_millis(100))
        .max_retries(0);
    match client(config).chat().create(&echo("silence")).await {
        Err(Error::Timeout(e)) => {
            assert_eq!(e.kind, TimeoutKind::Connect, "{e:?}");
            assert_eq!(e.after, Duration::from_millis(100));
        }
        other => panic!("{other:?}"),
    }
    accept.abort();
}

/// A proxy on loopback that answers every request with `answer` and records
/// each request head it gets; its URL is `http://{credentials}{addr}`. It
/// answers one request per connection and closes it, so `answer` says
/// `connection: close` (else the client may pool the connection, and the
/// next request's first attempt find it closed and be retried).
struct OneAnswerProxy {
    url: String,
    heads: Arc<std::sync::Mutex<Vec<String>>>,
}

impl OneAnswerProxy {
    fn start(credentials: &str, answer: &'static str) -> OneAnswerProxy {
        use std::io::{BufRead, BufReader, Write};

        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let heads = Arc::new(std::sync::Mutex::new(Vec::new()));
        let recorded = Arc::clone(&heads);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut head = String::new();
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    head.push_str(&line);
                }
                recorded.lock().unwrap().push(head);
                let _ = stream.write_all(answer.as_bytes());
            }
        });
        OneAnswerProxy {
            url: format!("http://{credentials}{addr}"),
            heads,
        }
    }

    fn heads(&self) -> Vec<String> {
        self.heads.lock().unwrap().clone()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proxy_refusing_the_credentials_fails_at_once() {
    const REFUSED: &str = "HTTP/1.1 407 Proxy Authentication Required\r\n\
        Proxy-Authenticate: Basic realm=\"proxy\"\r\ncontent-length: 0\r\nconnection: close\r\n\r\n";
    for (credentials, says) in [("user:wrong@", "refused the credentials"), ("", "has none")] {
        let proxy = OneAnswerProxy::start(credentials, REFUSED);
        let client = Client::builder()
            .config(Config::new(KEY).base_url("https://api.nexllm.invalid/v1"))
            .proxy(Proxy::all(&proxy.url, "").unwrap())
            .build()
            .unwrap();
        let error = client.chat().create(&echo("tunnel")).await.unwrap_err();
        assert_refused_by_proxy(&error, says);
        let heads = proxy.heads();
        assert_eq!(heads.len(), 1, "{heads:?}");
        assert!(
            heads[0].starts_with("CONNECT api.nexllm.invalid:443 "),
            "{heads:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forward_proxy_refusing_the_credentials_fails_at_once() {
    // A 407 answer to a plain http:// request is the proxy's, as a 407 to
    // CONNECT is: the same error, never retried, for a call and a stream.
    const REFUSED: &str = "HTTP/1.1 407 Proxy Authentication Required\r\n\
        Proxy-Authenticate: Basic realm=\"proxy\"\r\ncontent-length: 0\r\nconnection: close\r\n\r\n";
    for (credentials, says) in [("user:wrong@", "refused the credentials"), ("", "has none")] {
        let proxy = OneAnswerProxy::start(credentials, REFUSED);
        let client = Client::builder()
            .config(Config::new(KEY).base_url("http://api.nexllm.invalid/v1"))
            .proxy(Proxy::all(&proxy.url, "").unwrap())
            .build()
            .unwrap();
        let errors = [
            client.chat().create(&echo("forward")).await.unwrap_err(),
            client
                .chat()
                .create_stream(&echo("forward"))
                .await
                .unwrap_err(),
        ];
        for error in &errors {
            assert_refused_by_proxy(error, says);
        }
        let heads = proxy.heads();
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_407_from_a_server_reached_directly_stays_an_api_error() {
    // Without a proxy, and with one the host is exempt from: the answer is
    // the server's, an API error like any other.
    let server = server().await;
    for proxy in [
        Proxy::none(),
        Proxy::all("http://user:pw@127.0.0.1:9", "127.0.0.1").unwrap(),
    ] {
        let client = Client::builder()
            .config(
                config(&server)
                    .header("x-mock-fault", "status=407")
                    .unwrap(),
            )
            .proxy(proxy)
            .build()
            .unwrap();
        let error = client.chat().create(&echo("direct")).await.unwrap_err();
        assert_eq!(
            error.status(),
            Some(http::StatusCode::PROXY_AUTHENTICATION_REQUIRED),
            "{error:?}"
        );
        assert!(matches!(error, Error::Api(_)), "{error:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_proxy_is_a_proxy_error() {
    let closed_port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    // Through a tunnel (https) and to a forward proxy (http) alike.
    for base_url in [
        "https://api.nexllm.invalid/v1",
        "http://api.nexllm.invalid/v1",
    ] {
        let client = Client::builder()
            .config(Config::new(KEY).base_url(base_url).max_retries(0))
            .proxy(Proxy::all(&format!("http://127.0.0.1:{closed_port}"), "").unwrap())
            .build()
            .unwrap();
        match client.models().list().await.unwrap_err() {
            Error::Transport(e) => {
                assert_eq!(e.kind, TransportErrorKind::Proxy, "{base_url}: {e:?}");
                assert!(
                    e.message.starts_with("could not connect to the proxy: "),
                    "{base_url}: {e:?}"
                );
            }
            other => panic!("{base_url}: {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lent_chunks_are_the_chunks_given_and_the_two_can_be_mixed() {
    let server = server().await;
    let client = client(config(&server));
    let text = "one two three four five six seven";
    let mut given = Vec::new();
    let mut stream = client.chat().create_stream(&echo(text)).await.unwrap();
    while let Some(chunk) = stream.next_chunk().await {
        given.push(chunk.unwrap());
    }
    assert!(given.len() >= 6, "{} chunks", given.len());

    // Lent (the buffered first chunk too), given, lent again.
    let mut mixed = Vec::new();
    let mut stream = client.chat().create_stream(&echo(text)).await.unwrap();
    loop {
        let chunk = if mixed.len() % 3 == 1 {
            stream.next_chunk().await
        } else {
            stream.next_chunk_ref().await.map(|chunk| chunk.cloned())
        };
        match chunk {
            Some(chunk) => mixed.push(chunk.unwrap()),
            None => break,
        }
    }
    assert!(stream.is_ended() && stream.error().is_none());
    assert!(stream.next_chunk_ref().await.is_none(), "ended stays ended");
    // The ids of the two calls differ; everything else is the same.
    for chunk in given.iter_mut().chain(mixed.iter_mut()) {
        chunk.id = Default::default();
        chunk.created = 0;
    }
    assert_eq!(mixed, given);
    assert_eq!(stream.into_completion().content(), Some(text));
}
