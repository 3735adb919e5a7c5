//! Every fault nexllm-mock can inject, against the blocking client: retries,
//! broken connections, broken streams, and each deadline, with the timing of
//! the idle and total timeouts checked against the clock.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // helpers outside #[test] fail the test loudly

use std::time::{Duration, Instant};

use nexllm_blocking::nexllm_proto::exchange::MAX_DRAIN_TIME;
use nexllm_blocking::{
    ChatCompletionRequest, ChatStream, Client, Config, Error, Limits, Message, Proxy,
    StreamErrorKind, TimeoutKind, TransportErrorKind,
};
use nexllm_mock::MockServer;

const KEY: &str = "sk-test";

fn server() -> MockServer {
    MockServer::builder().api_key(KEY).start_blocking().unwrap()
}

/// A config for `server` whose requests carry the fault `spec`.
fn faulty(server: &MockServer, spec: &str) -> Config {
    Config::new(KEY)
        .base_url(server.base_url())
        .header("x-mock-fault", spec)
        .unwrap()
}

fn ask(text: &str) -> ChatCompletionRequest {
    ChatCompletionRequest::new("mock-echo", vec![Message::user(text)])
}

const WORDS: &str = "one two three four five six seven eight nine ten";

fn stream(config: Config, text: &str) -> Result<ChatStream, Error> {
    Client::new(config).chat().create_stream(&ask(text))
}

/// Reads a stream to its end: the text, and the error that ended it, if any.
fn drain(stream: &mut ChatStream) -> (String, Option<Error>) {
    let mut text = String::new();
    for item in stream {
        match item {
            Ok(chunk) => {
                for choice in &chunk.choices {
                    text.push_str(choice.delta.content.as_deref().unwrap_or(""));
                }
            }
            Err(error) => return (text, Some(error)),
        }
    }
    (text, None)
}

fn timeout_kind(error: &Error) -> TimeoutKind {
    match error {
        Error::Timeout(timeout) => timeout.kind,
        other => panic!("not a timeout: {other:?}"),
    }
}

// ----- retries -----

#[test]
fn retry_after_is_waited_for_then_the_call_is_retried() {
    let server = server();
    let config = faulty(&server, "fail-first=1;status=429;retry-after-ms=80");
    let started = Instant::now();
    let response = Client::new(config)
        .chat()
        .create_with_response(&ask("again"))
        .unwrap();
    assert!(started.elapsed() >= Duration::from_millis(80));
    assert_eq!(response.data.content(), Some("again"));
    assert_eq!(response.attempts(), 2);
    let requests = server.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[0].header("x-nexllm-retry-count"), Some("0"));
    assert_eq!(requests[1].header("x-nexllm-retry-count"), Some("1"));
    assert_eq!(
        requests[0].header("idempotency-key"),
        requests[1].header("idempotency-key"),
        "every attempt of one call carries the same key"
    );
}

#[test]
fn a_retry_after_beyond_the_limit_fails_at_once() {
    let server = server();
    let started = Instant::now();
    let error = Client::new(faulty(&server, "status=429;retry-after=120"))
        .chat()
        .create(&ask("hi"))
        .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(error.retry_after(), Some(Duration::from_secs(120)));
    assert_eq!(error.attempts(), 1);
}

#[test]
fn the_call_gives_up_after_max_retries() {
    let server = server();
    let config = faulty(&server, "status=503;retry-after-ms=5").max_retries(3);
    let error = Client::new(config).chat().create(&ask("hi")).unwrap_err();
    assert_eq!(error.status(), Some(http::StatusCode::SERVICE_UNAVAILABLE));
    assert_eq!(error.attempts(), 4);
    assert!(error.to_string().contains("after 4 attempts"), "{error}");
    assert_eq!(server.requests().len(), 4);
}

#[test]
fn x_should_retry_false_is_obeyed() {
    let server = server();
    let error = Client::new(faulty(&server, "status=500;should-retry=false"))
        .chat()
        .create(&ask("hi"))
        .unwrap_err();
    assert_eq!(
        error.status(),
        Some(http::StatusCode::INTERNAL_SERVER_ERROR)
    );
    assert_eq!(error.attempts(), 1);
}

#[test]
fn a_connection_closed_before_the_head_is_retried() {
    let server = server();
    let config = faulty(&server, "fail-first=1;close-before-head");
    let response = Client::new(config.clone())
        .chat()
        .create_with_response(&ask("whole"))
        .unwrap();
    assert_eq!(response.data.content(), Some("whole"));
    assert_eq!(response.attempts(), 2);

    let mut streamed = stream(config, "streamed").unwrap();
    assert_eq!(streamed.attempts(), 2);
    assert_eq!(drain(&mut streamed), ("streamed".to_owned(), None));
}

#[test]
fn a_connection_closed_before_the_head_without_retries_is_a_transport_error() {
    let server = server();
    let error = Client::new(faulty(&server, "close-before-head").max_retries(0))
        .chat()
        .create(&ask("hi"))
        .unwrap_err();
    match &error {
        Error::Transport(e) => assert_eq!(e.kind, TransportErrorKind::Reset, "{e}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(error.attempts(), 1);
}

#[test]
fn a_refused_connection_is_a_connect_error() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let config = Config::new(KEY)
        .base_url(format!("http://127.0.0.1:{port}/v1"))
        .max_retries(0);
    let error = Client::new(config).models().list().unwrap_err();
    match &error {
        Error::Transport(e) => assert_eq!(e.kind, TransportErrorKind::Connect, "{e}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_host_that_does_not_resolve_is_a_dns_error() {
    // `.invalid` never resolves (RFC 2606); no proxy, so the lookup is ours.
    let config = Config::new(KEY)
        .base_url("http://nexllm-test-host.invalid/v1")
        .max_retries(0);
    let client = Client::builder()
        .config(config)
        .proxy(Proxy::none())
        .build()
        .unwrap();
    let error = client.models().list().unwrap_err();
    match &error {
        Error::Transport(e) => assert_eq!(e.kind, TransportErrorKind::Dns, "{e}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn an_html_error_page_keeps_its_text() {
    let server = server();
    let config = faulty(&server, "status=502;raw-body=<html>Bad gateway</html>").max_retries(0);
    let error = Client::new(config).chat().create(&ask("hi")).unwrap_err();
    let Error::Api(api) = &error else {
        panic!("{error:?}")
    };
    assert_eq!(api.status, Some(http::StatusCode::BAD_GATEWAY));
    assert!(api.raw_body.contains("Bad gateway"), "{api:?}");
}

// ----- broken streams -----

#[test]
fn a_stream_cut_midway_ends_with_an_error_and_keeps_what_arrived() {
    let server = server();
    let mut stream = stream(faulty(&server, "close-after=3"), WORDS).unwrap();
    let (text, error) = drain(&mut stream);
    assert_eq!(text, "one two");
    let error = error.expect("the stream must fail");
    assert!(
        matches!(&error, Error::Stream(e) if e.kind == StreamErrorKind::Truncated
            && e.chunks_received == 3
            && e.cause.as_ref().is_some_and(|c| c.kind == TransportErrorKind::Reset)),
        "{error:?}"
    );
    assert_eq!(
        error.attempts(),
        1,
        "a stream is not retried once chunks were handed out"
    );
    assert_eq!(stream.accumulated().content(), Some("one two"));
    assert_eq!(stream.error(), Some(&error));
    assert!(stream.next().is_none());
    assert_eq!(server.requests().len(), 1);
}

#[test]
fn a_whole_answer_cut_midway_is_a_transport_error() {
    let server = server();
    let error = Client::new(faulty(&server, "close-after=1").max_retries(0))
        .chat()
        .create(&ask("hi"))
        .unwrap_err();
    assert!(
        matches!(&error, Error::Transport(e) if e.kind == TransportErrorKind::Reset),
        "{error:?}"
    );
}

#[test]
fn an_error_event_mid_stream_is_an_api_error_after_the_chunks() {
    let server = server();
    let mut stream = stream(faulty(&server, "error-event-after=3"), WORDS).unwrap();
    let (text, error) = drain(&mut stream);
    assert_eq!(text, "one two");
    assert!(matches!(error, Some(Error::Api(_))), "{error:?}");
    assert_eq!(stream.accumulated().content(), Some("one two"));
}

#[test]
fn a_json_error_answering_a_stream_is_returned_by_create_stream() {
    let server = server();
    let error = stream(faulty(&server, "json-error-200"), "hi").unwrap_err();
    assert!(matches!(error, Error::Api(_)), "{error:?}");
    assert_eq!(server.requests().len(), 1);
}

#[test]
fn a_malformed_chunk_is_a_decode_error_keeping_the_text() {
    let server = server();
    let mut stream = stream(faulty(&server, "malformed-after=2"), WORDS).unwrap();
    let (text, error) = drain(&mut stream);
    assert_eq!(text, "one");
    match error {
        Some(Error::Decode(e)) => assert!(!e.raw.is_empty(), "{e:?}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn an_endless_line_hits_the_event_limit_and_the_connection_is_closed() {
    let server = server();
    let mut limits = Limits::default();
    limits.max_event_bytes = 4096;
    let mut stream = stream(faulty(&server, "endless-line").limits(limits), WORDS).unwrap();
    let (_, error) = drain(&mut stream);
    assert!(matches!(error, Some(Error::LimitExceeded(_))), "{error:?}");
    wait_for_closed(&server, 1);
}

#[test]
fn a_body_over_the_limit_is_refused_and_its_connection_closed() {
    let server = server();
    let mut limits = Limits::default();
    limits.max_body_bytes = 256;
    let config = Config::new(KEY).base_url(server.base_url()).limits(limits);
    let error = Client::new(config)
        .chat()
        .create(&ask(&WORDS.repeat(20)))
        .unwrap_err();
    assert!(
        matches!(error, Error::LimitExceeded(ref e) if e.limit == 256),
        "{error:?}"
    );
    assert_eq!(error.attempts(), 1);
    wait_for_closed(&server, 1);
}

#[test]
fn odd_framing_gives_the_same_text() {
    let server = server();
    for spec in [
        "split=3,1,7",
        "split=seed:9",
        "one-byte",
        "crlf",
        "crlf;split=5",
        "no-done",
    ] {
        let mut stream = stream(faulty(&server, spec), WORDS).unwrap();
        assert_eq!(drain(&mut stream), (WORDS.to_owned(), None), "{spec}");
    }
}

// ----- deadlines -----

#[test]
fn the_idle_timeout_fires_after_the_configured_gap() {
    let server = server();
    let idle = Duration::from_millis(80);
    let stall = Duration::from_millis(1500);
    let config = faulty(&server, "stall=1500ms").idle_timeout(Some(idle));
    let mut stream = stream(config, WORDS).unwrap();
    // The first chunk comes at once; the mock then stalls before each next one.
    let started = Instant::now();
    let (text, error) = drain(&mut stream);
    let waited = started.elapsed();
    let error = error.expect("the stall must time out");
    assert_eq!(timeout_kind(&error), TimeoutKind::Idle, "{error}");
    assert!(
        waited >= idle,
        "fired after {waited:?}, before the idle timeout"
    );
    assert!(
        waited < stall / 2,
        "fired after {waited:?}: the idle timeout did not cut the read"
    );
    assert_eq!(error.attempts(), 1);
    assert_eq!(text, "");
    assert_eq!(
        stream.accumulated().choices.len(),
        1,
        "the first chunk is kept"
    );
    wait_for_closed(&server, 1);
}

#[test]
fn a_body_held_open_after_done_ends_the_stream_well_after_the_drain_time() {
    // The mock sends `[DONE]`, then a keep-alive comment every 100 ms and never
    // ends the body. Neither the idle deadline (an hour) nor a total deadline
    // (none) would ever end the stream; the drain limit does, and the
    // connection, whose body was not read to its end, is closed.
    let server = server();
    let config = faulty(&server, "keep-open-after-done")
        .idle_timeout(Some(Duration::from_secs(3600)))
        .total_timeout(None);
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let started = Instant::now();
        let mut stream = stream(config, WORDS).unwrap();
        let (text, error) = drain(&mut stream);
        let _ = sender.send((text, error, started.elapsed()));
    });
    // A guard against hanging forever, far beyond the 1 s drain time.
    let (text, error, waited) = receiver
        .recv_timeout(Duration::from_secs(60))
        .expect("the stream never ended");
    assert_eq!(error.map(|e| e.to_string()), None);
    assert_eq!(text, WORDS);
    assert!(waited >= MAX_DRAIN_TIME, "ended after {waited:?}");
    wait_for_closed(&server, 1);
}

#[test]
fn the_idle_timeout_follows_a_stream_to_another_thread() {
    let server = server();
    let idle = Duration::from_millis(80);
    let config = faulty(&server, "stall=1500ms").idle_timeout(Some(idle));
    let mut stream = stream(config, WORDS).unwrap();
    assert!(stream.next().unwrap().is_ok());
    let (waited, error) = std::thread::spawn(move || {
        let started = Instant::now();
        let error = stream.find_map(Result::err).unwrap();
        (started.elapsed(), error)
    })
    .join()
    .unwrap();
    assert_eq!(timeout_kind(&error), TimeoutKind::Idle, "{error}");
    assert!(
        waited >= idle && waited < Duration::from_millis(750),
        "{waited:?}"
    );
}

#[test]
fn gaps_shorter_than_the_idle_timeout_add_up_past_it() {
    let server = server();
    let idle = Duration::from_millis(250);
    let config = faulty(&server, "stall=40ms").idle_timeout(Some(idle));
    let started = Instant::now();
    let mut stream = stream(config, WORDS).unwrap();
    assert_eq!(drain(&mut stream), (WORDS.to_owned(), None));
    let took = started.elapsed();
    assert!(
        took > idle,
        "the stream took {took:?}: not a test of the idle timeout"
    );
}

#[test]
fn an_idle_timeout_before_any_chunk_is_retried() {
    let server = server();
    // Not streamed: the mock stalls before the body.
    let config =
        faulty(&server, "fail-first=1;stall=1500ms").idle_timeout(Some(Duration::from_millis(80)));
    let started = Instant::now();
    let response = Client::new(config)
        .chat()
        .create_with_response(&ask("patience"))
        .unwrap();
    assert_eq!(response.data.content(), Some("patience"));
    assert_eq!(response.attempts(), 2);
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "the first attempt was not cut"
    );
}

#[test]
fn the_total_deadline_ends_a_slow_stream() {
    let server = server();
    let total = Duration::from_millis(300);
    let config = faulty(&server, "stall=60ms").total_timeout(Some(total));
    let started = Instant::now();
    let mut stream = stream(config, &WORDS.repeat(3)).unwrap();
    let (text, error) = drain(&mut stream);
    let took = started.elapsed();
    let error = error.expect("the total deadline must pass");
    assert_eq!(timeout_kind(&error), TimeoutKind::Total, "{error}");
    assert!(took >= total && took < total * 3, "ended after {took:?}");
    assert!(
        !text.is_empty(),
        "the chunks before the deadline were handed out"
    );
}

#[test]
fn the_total_deadline_cuts_the_wait_for_the_head() {
    let server = server();
    let total = Duration::from_millis(200);
    let config = faulty(&server, "delay-head=3s").total_timeout(Some(total));
    let started = Instant::now();
    let error = Client::new(config).chat().create(&ask("hi")).unwrap_err();
    let took = started.elapsed();
    assert_eq!(timeout_kind(&error), TimeoutKind::Total, "{error}");
    assert!(
        took >= total && took < Duration::from_secs(2),
        "ended after {took:?}"
    );
    assert_eq!(error.attempts(), 1);
}

#[test]
fn the_first_byte_timeout_is_retried_then_reported() {
    let server = server();
    let config = faulty(&server, "delay-head=2s")
        .first_byte_timeout(Some(Duration::from_millis(60)))
        .max_retries(1);
    let started = Instant::now();
    let error = Client::new(config).chat().create(&ask("hi")).unwrap_err();
    assert_eq!(timeout_kind(&error), TimeoutKind::FirstByte, "{error}");
    assert_eq!(error.attempts(), 2);
    assert!(started.elapsed() < Duration::from_secs(2));
}

// ----- cancellation -----

#[test]
fn dropping_a_stream_closes_its_connection() {
    let server = server();
    let mut stream = stream(faulty(&server, "stall=100ms"), WORDS).unwrap();
    assert!(stream.next().unwrap().is_ok());
    assert_eq!(server.open_connections(), 1);
    assert_eq!(server.connections_closed(), 0);
    drop(stream);
    wait_for_closed(&server, 1);
    assert_eq!(server.open_connections(), 0);
}

#[test]
fn a_stream_read_to_the_end_leaves_its_connection_for_reuse() {
    let server = server();
    let client = Client::new(Config::new(KEY).base_url(server.base_url()));
    let mut first = client.chat().create_stream(&ask("first")).unwrap();
    assert_eq!(drain(&mut first), ("first".to_owned(), None));
    drop(first);
    let second = client.chat().create_stream(&ask("second")).unwrap();
    assert_eq!(second.finish().unwrap().content(), Some("second"));
    assert_eq!(server.connections_closed(), 0);
    assert_eq!(server.open_connections(), 1);
}

/// Polls the mock's counter (its own waiter is async) until `n` connections
/// have closed, for at most five seconds.
fn wait_for_closed(server: &MockServer, n: u64) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while server.connections_closed() < n {
        assert!(
            Instant::now() < deadline,
            "{} of {n} connections closed",
            server.connections_closed()
        );
        std::thread::yield_now();
    }
}
