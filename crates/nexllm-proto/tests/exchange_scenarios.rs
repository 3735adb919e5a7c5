//! Table-driven scenarios of the request lifecycle, on a fake clock, without sockets.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::disallowed_methods,
    reason = "test helpers fail loudly; the fake clock needs one real Instant to start from"
)]

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{HeaderMap, StatusCode};
use nexllm_proto::exchange::{
    Action, AttemptId, ChunkDelivery, Exchange, MAX_DRAIN_BYTES, MAX_DRAIN_TIME, Outcome, Wait,
    WaitReason,
};
use nexllm_proto::types::{ChatCompletionChunk, ChatCompletionRequest, Message};
use nexllm_proto::{
    Config, Error, StreamErrorKind, TimeoutKind, TransportError, TransportErrorKind,
};

const COMPLETION: &str = r#"{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}"#;

fn chunk_event(content: &str, finish: Option<&str>) -> String {
    let finish = finish.map_or("null".to_owned(), |f| format!("\"{f}\""));
    format!(
        "data: {{\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":{}}},\"finish_reason\":{finish}}}]}}\n\n",
        serde_json::to_string(content).unwrap()
    )
}

fn error_body(message: &str, code: &str) -> String {
    format!(r#"{{"error":{{"message":"{message}","type":"error","param":null,"code":"{code}"}}}}"#)
}

fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.append(
            http::header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            v.parse().unwrap(),
        );
    }
    h
}

/// Drives an exchange on a fake clock and records everything it asks for.
struct Harness {
    ex: Exchange,
    now: Instant,
    start: Instant,
    sent: Vec<(AttemptId, http::Request<Bytes>, Instant)>,
    abandoned: Vec<AttemptId>,
    chunks: Vec<ChatCompletionChunk>,
    /// Copies of the chunks lent (`ChunkDelivery::Lent`).
    lent: Vec<ChatCompletionChunk>,
    done: Option<Result<Outcome, Error>>,
    last_wait: Option<Wait>,
}

impl Harness {
    fn new(config: Config, stream: bool) -> Self {
        let start = Instant::now();
        let request = ChatCompletionRequest::new("m", vec![Message::user("hello")]).stream(stream);
        let ex = Exchange::chat(&config, &request, start, 7).unwrap();
        let mut h = Harness {
            ex,
            now: start,
            start,
            sent: Vec::new(),
            abandoned: Vec::new(),
            chunks: Vec::new(),
            lent: Vec::new(),
            done: None,
            last_wait: None,
        };
        h.drain();
        h
    }

    fn drain(&mut self) {
        for _ in 0..10_000 {
            match self.ex.poll() {
                Some(Action::Send { attempt, request }) => {
                    self.sent.push((attempt, *request, self.now))
                }
                Some(Action::Abandon(a)) => self.abandoned.push(a),
                Some(Action::Chunk(c)) => self.chunks.push(c),
                Some(Action::ChunkLent) => {
                    let chunk = self.ex.lent_chunk().expect("a lent chunk to read");
                    self.lent.push(chunk.clone());
                }
                Some(Action::Wait(w)) => {
                    if let Some(until) = w.until {
                        let total = self.start + Duration::from_secs(3600);
                        assert!(until <= total.max(until), "waits are bounded");
                    }
                    self.last_wait = Some(w);
                    return;
                }
                Some(Action::Done(r)) => {
                    assert!(self.done.is_none(), "Done twice");
                    self.done = Some(r);
                }
                None => {
                    self.last_wait = None;
                    return;
                }
            }
        }
        panic!("the exchange never settled");
    }

    fn current(&self) -> AttemptId {
        self.sent.last().expect("something was sent").0
    }

    fn respond(&mut self, status: u16, hs: &[(&str, &str)], body: &str) {
        let a = self.current();
        self.ex.handle_head(
            a,
            StatusCode::from_u16(status).unwrap(),
            headers(hs),
            self.now,
        );
        self.drain();
        self.ex.handle_body(a, body.as_bytes(), self.now);
        self.drain();
        self.ex.handle_end(a, self.now);
        self.drain();
    }

    fn head(&mut self, status: u16) {
        let a = self.current();
        self.ex.handle_head(
            a,
            StatusCode::from_u16(status).unwrap(),
            HeaderMap::new(),
            self.now,
        );
        self.drain();
    }

    fn body(&mut self, bytes: &str) {
        let a = self.current();
        self.ex.handle_body(a, bytes.as_bytes(), self.now);
        self.drain();
    }

    /// Body bytes handed over as a `Bytes` (`handle_body_bytes`), as nexllm-hyper does.
    fn body_bytes(&mut self, bytes: Bytes) {
        let a = self.current();
        self.ex.handle_body_bytes(a, bytes, self.now);
        self.drain();
    }

    /// The body cut into reads of `size` bytes, each a view of one buffer.
    fn body_in_reads(&mut self, body: &str, size: usize) {
        let whole = Bytes::copy_from_slice(body.as_bytes());
        let mut start = 0;
        while start < whole.len() && self.done.is_none() {
            let end = (start + size).min(whole.len());
            self.body_bytes(whole.slice(start..end));
            start = end;
        }
    }

    /// Ends the body; the stream must end well.
    fn end_of_stream(&mut self) {
        let a = self.current();
        self.ex.handle_end(a, self.now);
        self.drain();
        assert!(
            matches!(self.done, Some(Ok(Outcome::StreamEnded))),
            "{:?}",
            self.done
        );
    }

    fn reset(&mut self) {
        let a = self.current();
        self.ex.handle_transport_error(
            a,
            TransportError::new(TransportErrorKind::Reset, "connection reset by peer"),
            self.now,
        );
        self.drain();
    }

    /// Moves the clock to the pending deadline and reports it.
    fn fire_wait(&mut self) -> WaitReason {
        let wait = self.last_wait.expect("waiting");
        let until = wait.until.expect("a deadline");
        assert!(until >= self.now, "deadlines are never in the past");
        self.now = until;
        self.ex.handle_timeout(self.now);
        self.drain();
        wait.reason
    }

    fn advance(&mut self, by: Duration) {
        self.now += by;
        self.ex.handle_timeout(self.now);
        self.drain();
    }

    fn error(&self) -> &Error {
        match &self.done {
            Some(Err(e)) => e,
            other => panic!("expected an error, got {other:?}"),
        }
    }
}

#[test]
fn rate_limited_with_retry_after_then_ok() {
    let mut h = Harness::new(Config::new("k"), false);
    assert_eq!(h.sent.len(), 1);
    h.respond(
        429,
        &[("retry-after", "1"), ("x-request-id", "req_1")],
        &error_body("slow down", "rate_limit_exceeded"),
    );
    assert!(h.done.is_none());
    let wait = h.last_wait.unwrap();
    assert_eq!(wait.reason, WaitReason::Backoff);
    assert_eq!(wait.until, Some(h.now + Duration::from_secs(1)));
    // Nothing happens before the deadline.
    h.advance(Duration::from_millis(999));
    assert_eq!(h.sent.len(), 1);
    h.advance(Duration::from_millis(1));
    assert_eq!(h.sent.len(), 2);
    h.respond(200, &[("x-request-id", "req_2")], COMPLETION);
    match h.done.as_ref().unwrap() {
        Ok(Outcome::Completion(c)) => {
            assert_eq!(c.choices[0].message.content.as_deref(), Some("hi"))
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(h.ex.attempts(), 2);
    assert_eq!(h.ex.request_id(), Some("req_2"));
    assert!(h.ex.poll().is_none(), "nothing after Done");
}

#[test]
fn gives_up_after_max_retries_saying_how_many_attempts() {
    let mut h = Harness::new(Config::new("k").max_retries(2), false);
    for _ in 0..3 {
        h.respond(
            503,
            &[("x-request-id", "req_x")],
            &error_body("overloaded", "server_error"),
        );
        if h.done.is_none() {
            assert_eq!(h.fire_wait(), WaitReason::Backoff);
        }
    }
    assert_eq!(h.sent.len(), 3);
    let e = h.error();
    assert_eq!(e.attempts(), 3);
    assert_eq!(e.status(), Some(StatusCode::SERVICE_UNAVAILABLE));
    assert_eq!(e.request_id(), Some("req_x"));
    assert!(e.to_string().ends_with("after 3 attempts"), "{e}");
}

#[test]
fn backoff_grows_exponentially_with_jitter() {
    let mut h = Harness::new(Config::new("k").max_retries(4), false);
    let mut delays = Vec::new();
    for _ in 0..4 {
        h.respond(500, &[], "oops");
        let until = h.last_wait.unwrap().until.unwrap();
        delays.push(until - h.now);
        h.fire_wait();
    }
    for (i, d) in delays.iter().enumerate() {
        let max = 0.5 * f64::from(1u32 << i);
        let secs = d.as_secs_f64();
        assert!(
            secs <= max && secs >= max * 0.75,
            "retry {i}: {secs} not in [{}, {max}]",
            max * 0.75
        );
    }
}

#[test]
fn should_retry_header_overrides_the_status() {
    let mut h = Harness::new(Config::new("k"), false);
    h.respond(500, &[("x-should-retry", "false")], &error_body("no", "x"));
    assert_eq!(h.sent.len(), 1);
    assert_eq!(h.error().status(), Some(StatusCode::INTERNAL_SERVER_ERROR));

    let mut h = Harness::new(Config::new("k"), false);
    h.respond(
        400,
        &[("x-should-retry", "true")],
        &error_body("retry me", "x"),
    );
    assert!(h.done.is_none());
    h.fire_wait();
    assert_eq!(h.sent.len(), 2);
}

#[test]
fn client_errors_and_insufficient_quota_are_not_retried() {
    for (status, code) in [
        (400, "bad"),
        (401, "invalid_api_key"),
        (404, "model_not_found"),
        (429, "insufficient_quota"),
    ] {
        let mut h = Harness::new(Config::new("k"), false);
        h.respond(status, &[], &error_body("nope", code));
        assert_eq!(h.sent.len(), 1, "{status}");
        assert_eq!(h.error().attempts(), 1);
    }
}

#[test]
fn http_date_retry_after_uses_the_wall_clock() {
    let start = Instant::now();
    let wall = UNIX_EPOCH + Duration::from_secs(1_795_597_200); // Wed, 25 Nov 2026 09:00:00 GMT
    let request = ChatCompletionRequest::new("m", vec![Message::user("x")]);
    let mut ex = Exchange::chat(&Config::new("k"), &request, start, 1)
        .unwrap()
        .with_wall_clock(wall);
    let Some(Action::Send { attempt, .. }) = ex.poll() else {
        panic!()
    };
    let at = start + Duration::from_secs(2);
    ex.handle_head(
        attempt,
        StatusCode::TOO_MANY_REQUESTS,
        headers(&[("retry-after", "Wed, 25 Nov 2026 09:00:07 GMT")]),
        at,
    );
    ex.handle_end(attempt, at);
    match ex.poll() {
        Some(Action::Wait(w)) => {
            assert_eq!(w.reason, WaitReason::Backoff);
            // 7 s after the start of the call on the wall clock = 5 s after the response.
            assert_eq!(w.until, Some(at + Duration::from_secs(5)));
        }
        other => panic!("{other:?}"),
    }
    let _ = SystemTime::now; // the test never reads the real wall clock
}

#[test]
fn a_long_retry_after_fails_at_once_with_the_delay() {
    let mut h = Harness::new(Config::new("k"), false);
    h.respond(
        429,
        &[("retry-after", "120")],
        &error_body("wait two minutes", "rate_limit_exceeded"),
    );
    assert_eq!(h.sent.len(), 1);
    let e = h.error();
    assert_eq!(e.retry_after(), Some(Duration::from_secs(120)));
    assert!(e.to_string().contains("retry after 2m0s"), "{e}");
}

#[test]
fn a_reset_before_the_head_is_retried() {
    let mut h = Harness::new(Config::new("k"), false);
    h.reset();
    assert_eq!(h.abandoned, [h.sent[0].0]);
    assert_eq!(h.fire_wait(), WaitReason::Backoff);
    assert_eq!(h.sent.len(), 2);
    h.respond(200, &[], COMPLETION);
    assert!(matches!(h.done, Some(Ok(Outcome::Completion(_)))));
}

#[test]
fn a_proxy_refusing_the_credentials_fails_at_once_and_other_refusals_are_retried() {
    let refusal = |status: StatusCode| {
        let mut h = Harness::new(Config::new("k"), false);
        let a = h.current();
        h.ex.handle_transport_error(
            a,
            TransportError::proxy_refused(status, status.to_string()),
            h.now,
        );
        h.drain();
        h
    };
    let h = refusal(StatusCode::PROXY_AUTHENTICATION_REQUIRED);
    assert_eq!(h.sent.len(), 1);
    match h.error() {
        Error::Transport(e) => {
            assert_eq!(e.kind, TransportErrorKind::Proxy);
            assert_eq!(
                e.proxy_status,
                Some(StatusCode::PROXY_AUTHENTICATION_REQUIRED)
            );
            assert_eq!(e.attempts, 1);
        }
        other => panic!("{other:?}"),
    }
    let mut h = refusal(StatusCode::BAD_GATEWAY);
    assert!(h.done.is_none());
    assert_eq!(h.fire_wait(), WaitReason::Backoff);
    assert_eq!(h.sent.len(), 2);
}

#[test]
fn a_request_the_transport_cannot_write_fails_at_once() {
    let mut h = Harness::new(Config::new("k"), false);
    let a = h.current();
    h.ex.handle_transport_error(
        a,
        TransportError::new(TransportErrorKind::Request, "a header line is too long"),
        h.now,
    );
    h.drain();
    assert_eq!(h.sent.len(), 1);
    match h.error() {
        Error::Transport(e) => {
            assert_eq!(e.kind, TransportErrorKind::Request);
            assert_eq!(e.attempts, 1);
            assert_eq!(
                e.to_string(),
                "could not send the request: a header line is too long"
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_total_deadline_stops_retries_midway() {
    let config = Config::new("k")
        .max_retries(10)
        .total_timeout(Some(Duration::from_secs(5)));
    let mut h = Harness::new(config, false);
    h.respond(503, &[("retry-after", "2")], "busy");
    h.fire_wait(); // t = 2
    h.respond(503, &[("retry-after", "2")], "busy");
    h.fire_wait(); // t = 4
    // The next wait would end at 6 s, past the 5 s deadline: fail now with the real error.
    h.respond(503, &[("retry-after", "2")], "busy");
    assert_eq!(h.sent.len(), 3);
    assert_eq!(h.error().status(), Some(StatusCode::SERVICE_UNAVAILABLE));
    assert_eq!(h.error().attempts(), 3);
    assert!(h.now - h.start < Duration::from_secs(5));
}

#[test]
fn the_total_deadline_ends_a_hanging_attempt() {
    let config = Config::new("k").total_timeout(Some(Duration::from_secs(30)));
    let mut h = Harness::new(config, false);
    let wait = h.last_wait.unwrap();
    assert_eq!(wait.reason, WaitReason::Total);
    assert_eq!(h.fire_wait(), WaitReason::Total);
    assert!(matches!(h.error(), Error::Timeout(t) if t.kind == TimeoutKind::Total));
    assert_eq!(h.abandoned.len(), 1);
}

#[test]
fn first_byte_timeout_is_retried() {
    let config = Config::new("k").first_byte_timeout(Some(Duration::from_secs(10)));
    let mut h = Harness::new(config, false);
    assert_eq!(h.last_wait.unwrap().reason, WaitReason::FirstByte);
    h.fire_wait();
    assert_eq!(h.abandoned.len(), 1);
    h.fire_wait(); // backoff
    assert_eq!(h.sent.len(), 2);
}

#[test]
fn a_stream_that_failed_after_its_first_chunk_is_not_retried() {
    let mut h = Harness::new(Config::new("k"), true);
    h.head(200);
    h.body(&chunk_event("Hello", None));
    assert_eq!(h.chunks.len(), 1);
    h.reset();
    assert_eq!(h.sent.len(), 1);
    // A connection failure after a chunk reached the caller is a cut stream,
    // with the transport's reason kept as its cause.
    match h.error() {
        Error::Stream(e) => {
            assert_eq!(e.kind, StreamErrorKind::Truncated);
            assert_eq!(e.chunks_received, 1);
            assert_eq!(e.attempts, 1);
            let cause = e.cause.as_ref().unwrap();
            assert_eq!(cause.kind, TransportErrorKind::Reset);
            assert!(e.to_string().contains("cut short after 1 chunk ("), "{e}");
        }
        other => panic!("expected a truncated stream, got {other:?}"),
    }
    assert!(std::error::Error::source(h.error()).is_some());
    assert_eq!(
        h.ex.accumulated().unwrap().choices[0]
            .message
            .content
            .as_deref(),
        Some("Hello")
    );
}

#[test]
fn a_stream_cut_before_any_chunk_is_retried() {
    let mut h = Harness::new(Config::new("k"), true);
    h.respond(200, &[], ": keep-alive\n\n");
    assert!(h.done.is_none());
    h.fire_wait();
    assert_eq!(h.sent.len(), 2);
    h.respond(
        200,
        &[],
        &format!("{}data: [DONE]\n\n", chunk_event("ok", Some("stop"))),
    );
    assert!(matches!(h.done, Some(Ok(Outcome::StreamEnded))));
    assert_eq!(
        h.ex.accumulated().unwrap().choices[0]
            .message
            .content
            .as_deref(),
        Some("ok")
    );
}

#[test]
fn a_stream_cut_after_chunks_is_a_truncation_error_keeping_the_text() {
    let mut h = Harness::new(Config::new("k"), true);
    h.respond(
        200,
        &[("x-request-id", "req_s")],
        &format!("{}{}", chunk_event("Hel", None), chunk_event("lo", None)),
    );
    let e = h.error();
    assert!(matches!(e, Error::Stream(_)), "{e:?}");
    assert_eq!(e.request_id(), Some("req_s"));
    assert_eq!(h.chunks.len(), 2);
    assert_eq!(
        h.ex.accumulated().unwrap().choices[0]
            .message
            .content
            .as_deref(),
        Some("Hello")
    );
}

#[test]
fn idle_timeout_fires_only_after_the_configured_gap() {
    let config = Config::new("k").idle_timeout(Some(Duration::from_secs(5)));
    let mut h = Harness::new(config, true);
    h.head(200);
    h.advance(Duration::from_secs(4));
    h.body(&chunk_event("a", None));
    let wait = h.last_wait.unwrap();
    assert_eq!(wait.reason, WaitReason::Idle);
    assert_eq!(wait.until, Some(h.now + Duration::from_secs(5)));
    h.advance(Duration::from_millis(4_999));
    assert!(h.done.is_none());
    h.advance(Duration::from_millis(1));
    assert!(
        matches!(h.error(), Error::Timeout(t) if t.kind == TimeoutKind::Idle),
        "{:?}",
        h.done
    );
    assert_eq!(
        h.sent.len(),
        1,
        "a stream with chunks delivered is not retried"
    );
}

#[test]
fn a_stale_input_from_an_abandoned_attempt_is_ignored() {
    let config = Config::new("k").first_byte_timeout(Some(Duration::from_secs(1)));
    let mut h = Harness::new(config, false);
    let first = h.current();
    h.fire_wait(); // first byte timeout: attempt 1 abandoned
    h.fire_wait(); // backoff
    let second = h.current();
    assert_ne!(first, second);
    // The late answer of attempt 1 changes nothing.
    h.ex.handle_head(first, StatusCode::OK, HeaderMap::new(), h.now);
    h.ex.handle_body(first, COMPLETION.as_bytes(), h.now);
    h.ex.handle_end(first, h.now);
    h.ex.handle_transport_error(
        first,
        TransportError::new(TransportErrorKind::Reset, "late"),
        h.now,
    );
    h.drain();
    assert!(h.done.is_none());
    assert_eq!(h.ex.current_attempt(), Some(second));
    h.respond(200, &[], COMPLETION);
    assert!(matches!(h.done, Some(Ok(_))));
}

#[test]
fn every_attempt_carries_the_same_idempotency_key_and_its_retry_count() {
    let mut h = Harness::new(Config::new("k"), false);
    h.respond(500, &[], "x");
    h.fire_wait();
    h.respond(500, &[], "x");
    h.fire_wait();
    let keys: Vec<_> = h
        .sent
        .iter()
        .map(|(_, r, _)| r.headers()["idempotency-key"].clone())
        .collect();
    assert_eq!(keys.len(), 3);
    assert!(keys.iter().all(|k| *k == keys[0]));
    let counts: Vec<_> = h
        .sent
        .iter()
        .map(|(_, r, _)| {
            r.headers()["x-nexllm-retry-count"]
                .to_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(counts, ["0", "1", "2"]);
    assert_eq!(h.ex.idempotency_key(), keys[0].to_str().ok());
}

#[test]
fn a_stream_ends_after_done_and_the_rest_of_the_body() {
    let mut h = Harness::new(Config::new("k"), true);
    h.head(200);
    h.body(&chunk_event("a", None));
    h.body(&format!(
        "{}data: [DONE]\n\n",
        chunk_event("b", Some("stop"))
    ));
    assert_eq!(h.chunks.len(), 2);
    assert!(h.done.is_none(), "waits for the end of the body");
    assert_eq!(h.last_wait.unwrap().reason, WaitReason::Drain);
    let a = h.current();
    h.ex.handle_end(a, h.now);
    h.drain();
    assert!(matches!(h.done, Some(Ok(Outcome::StreamEnded))));
}

#[test]
fn an_error_event_mid_stream_ends_it_with_that_error() {
    let mut h = Harness::new(Config::new("k"), true);
    h.head(200);
    h.body(&chunk_event("part", None));
    h.body("data: {\"error\":{\"message\":\"upstream failed\",\"code\":\"502\"}}\n\n");
    assert_eq!(h.abandoned.len(), 1);
    match h.error() {
        Error::Api(e) => assert_eq!(e.message, "upstream failed"),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        h.ex.accumulated().unwrap().choices[0]
            .message
            .content
            .as_deref(),
        Some("part")
    );
}

#[test]
fn cancellation_abandons_the_attempt_and_ends_the_call() {
    let mut h = Harness::new(Config::new("k"), true);
    h.head(200);
    h.ex.cancel(h.now);
    h.drain();
    assert_eq!(h.abandoned.len(), 1);
    assert!(matches!(h.error(), Error::Cancelled));
}

#[test]
fn an_invalid_request_fails_before_any_io() {
    let request = ChatCompletionRequest::new("", vec![Message::user("x")]);
    let err = Exchange::chat(&Config::new("k"), &request, Instant::now(), 0).unwrap_err();
    assert!(matches!(err, Error::InvalidRequest(e) if e.field == "model"));
}

#[test]
fn a_huge_body_hits_the_limit() {
    let mut limits = nexllm_proto::Limits::default();
    limits.max_body_bytes = 1024;
    let mut h = Harness::new(Config::new("k").limits(limits), false);
    h.head(200);
    h.body(&"x".repeat(1000));
    assert!(h.done.is_none());
    h.body(&"x".repeat(1000));
    assert!(matches!(h.error(), Error::LimitExceeded(_)));
    assert_eq!(h.abandoned.len(), 1);
}

#[test]
fn a_streaming_request_answered_with_an_error_status_reads_the_error() {
    let mut h = Harness::new(Config::new("k"), true);
    h.respond(
        401,
        &[("x-request-id", "req_a")],
        &error_body("Incorrect API key provided", "invalid_api_key"),
    );
    let e = h.error();
    assert_eq!(
        e.to_string(),
        "401 Unauthorized (invalid_api_key): Incorrect API key provided [request id req_a]"
    );
}

/// A stream of `n` content chunks (`"w0 "`, `"w1 "`, …), a finish chunk, `[DONE]`.
fn long_stream(n: usize) -> String {
    let mut body: String = (0..n)
        .map(|i| chunk_event(&format!("w{i} "), None))
        .collect();
    body.push_str(&chunk_event("", Some("stop")));
    body.push_str("data: [DONE]\n\n");
    body
}

fn accumulated_text(h: &Harness) -> String {
    h.ex.accumulated().unwrap().choices[0]
        .message
        .content
        .clone()
        .unwrap_or_default()
}

#[test]
fn body_bytes_give_the_chunks_body_slices_give_at_any_read_size() {
    let body = long_stream(100);
    let expected: String = (0..100).map(|i| format!("w{i} ")).collect();
    let mut reference = Harness::new(Config::new("k"), true);
    reference.head(200);
    reference.body(&body);
    let a = reference.current();
    reference.ex.handle_end(a, reference.now);
    reference.drain();
    assert!(matches!(reference.done, Some(Ok(Outcome::StreamEnded))));
    assert_eq!(accumulated_text(&reference), expected);
    for size in [1, 100, 1023, 1024, 3000, 16 * 1024, body.len()] {
        let mut h = Harness::new(Config::new("k"), true);
        h.head(200);
        h.body_in_reads(&body, size);
        let a = h.current();
        h.ex.handle_end(a, h.now);
        h.drain();
        assert!(matches!(h.done, Some(Ok(Outcome::StreamEnded))), "{size}");
        assert_eq!(h.chunks, reference.chunks, "{size}");
        assert_eq!(accumulated_text(&h), expected, "{size}");
    }
}

#[test]
fn body_bytes_keep_the_chunks_before_an_error_in_the_same_read() {
    // One large read: 20 chunks, an error event, more chunks. The 20 reach the
    // caller and the accumulated answer; the call ends with the error.
    let mut body: String = (0..20)
        .map(|i| chunk_event(&format!("w{i} "), None))
        .collect();
    body.push_str("data: {\"error\":{\"message\":\"upstream failed\",\"code\":\"502\"}}\n\n");
    body.push_str(&long_stream(20));
    let mut h = Harness::new(Config::new("k"), true);
    h.head(200);
    h.body_bytes(Bytes::from(body));
    assert_eq!(h.chunks.len(), 20);
    assert_eq!(h.abandoned.len(), 1);
    match h.error() {
        Error::Api(e) => assert_eq!(e.message, "upstream failed"),
        other => panic!("{other:?}"),
    }
    let expected: String = (0..20).map(|i| format!("w{i} ")).collect();
    assert_eq!(accumulated_text(&h), expected);
}

#[test]
fn body_bytes_keep_the_event_limit() {
    // Chunks, then a data line that never ends, in large reads: the chunks
    // reach the caller, then the call fails at the limit instead of buffering on.
    let mut limits = nexllm_proto::Limits::default();
    limits.max_event_bytes = 4096;
    let mut body: String = (0..10)
        .map(|i| chunk_event(&format!("w{i} "), None))
        .collect();
    body.push_str("data: ");
    body.push_str(&"x".repeat(100_000));
    for size in [1500, 16 * 1024] {
        let mut h = Harness::new(Config::new("k").limits(limits), true);
        h.head(200);
        h.body_in_reads(&body, size);
        assert_eq!(h.chunks.len(), 10, "{size}");
        match h.error() {
            Error::LimitExceeded(e) => assert_eq!(e.limit, 4096, "{size}"),
            other => panic!("{size}: {other:?}"),
        }
        assert_eq!(h.abandoned.len(), 1, "{size}");
        let expected: String = (0..10).map(|i| format!("w{i} ")).collect();
        assert_eq!(accumulated_text(&h), expected, "{size}");
    }
}

#[test]
fn body_bytes_of_a_whole_body_keep_the_body_limit() {
    let mut limits = nexllm_proto::Limits::default();
    limits.max_body_bytes = 1024;
    let mut h = Harness::new(Config::new("k").limits(limits), false);
    h.head(200);
    h.body_bytes(Bytes::from("x".repeat(1000)));
    assert!(h.done.is_none());
    h.body_bytes(Bytes::from("x".repeat(1000)));
    assert!(matches!(h.error(), Error::LimitExceeded(_)));
    assert_eq!(h.abandoned.len(), 1);

    // Under the limit, the body read as Bytes is the completion.
    let mut h = Harness::new(Config::new("k"), false);
    h.head(200);
    let (first, rest) = COMPLETION.split_at(40);
    h.body_bytes(Bytes::from(first.to_owned()));
    h.body_bytes(Bytes::from(rest.to_owned()));
    let a = h.current();
    h.ex.handle_end(a, h.now);
    h.drain();
    match &h.done {
        Some(Ok(Outcome::Completion(c))) => {
            assert_eq!(c.choices[0].message.content.as_deref(), Some("hi"));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_stream_that_ends_empty_backs_off_from_its_end() {
    // The body ends with nothing in it 30 s after the head: the retry waits
    // its backoff from then, not from the head (which would be no wait at all).
    let mut h = Harness::new(Config::new("k"), true);
    h.head(200);
    h.now += Duration::from_secs(30);
    let a = h.current();
    h.ex.handle_end(a, h.now);
    h.drain();
    let wait = h.last_wait.expect("waiting to retry");
    assert_eq!(wait.reason, WaitReason::Backoff);
    let until = wait.until.expect("a deadline");
    assert!(
        until > h.now,
        "{:?} after the end",
        until.checked_duration_since(h.now)
    );
    assert_eq!(h.sent.len(), 1);
    h.fire_wait();
    assert_eq!(h.sent.len(), 2, "retried after the backoff");
}

#[test]
fn the_total_deadline_after_done_ends_the_call_well() {
    // `[DONE]` came; the rest of the body is being read when the total
    // deadline passes: the answer is complete, so the call ends with it.
    let config = Config::new("k").total_timeout(Some(Duration::from_secs(10)));
    let mut h = Harness::new(config, true);
    h.head(200);
    h.now += Duration::from_secs(9);
    h.body(&format!(
        "{}data: [DONE]\n\n",
        chunk_event("all", Some("stop"))
    ));
    assert_eq!(h.chunks.len(), 1);
    assert!(h.done.is_none(), "still reading the tail");
    assert_eq!(h.fire_wait(), WaitReason::Total);
    assert_ended_and_abandoned(&h);
}

/// The head, one finished chunk of `text` and `[DONE]`: the call is draining.
fn answer_then_done(h: &mut Harness, text: &str) {
    h.head(200);
    h.body(&format!(
        "{}data: [DONE]\n\n",
        chunk_event(text, Some("stop"))
    ));
}

/// The call ended well and dropped its connection instead of reading on.
fn assert_ended_and_abandoned(h: &Harness) {
    assert!(
        matches!(h.done, Some(Ok(Outcome::StreamEnded))),
        "{:?}",
        h.done
    );
    assert_eq!(h.abandoned, [h.current()]);
}

#[test]
fn a_body_held_open_after_done_ends_the_call_well_at_the_drain_deadline() {
    // `[DONE]` came, then the server keeps the body open and sends keep-alive
    // comments: reads do not move the drain deadline (they would the idle
    // one), so the finished stream ends MAX_DRAIN_TIME after `[DONE]`, not at
    // the idle deadline after the last comment.
    let mut h = Harness::new(Config::new("k"), true);
    h.head(200);
    h.now += Duration::from_secs(3);
    h.body(&format!(
        "{}data: [DONE]\n\n",
        chunk_event("all", Some("stop"))
    ));
    let done_at = h.now;
    assert_eq!(h.chunks.len(), 1);
    assert!(h.done.is_none(), "still reading the tail");
    let wait = h.last_wait.expect("waiting");
    assert_eq!(wait.reason, WaitReason::Drain);
    assert_eq!(wait.until, Some(done_at + MAX_DRAIN_TIME));
    for _ in 0..3 {
        h.now += MAX_DRAIN_TIME / 4;
        h.body(": keep-alive\n\n");
        assert!(h.done.is_none());
        assert_eq!(
            h.last_wait.expect("waiting").until,
            Some(done_at + MAX_DRAIN_TIME)
        );
    }
    assert_eq!(h.fire_wait(), WaitReason::Drain);
    assert!(
        matches!(h.done, Some(Ok(Outcome::StreamEnded))),
        "{:?}",
        h.done
    );
    assert_eq!(h.abandoned, [h.current()], "the connection is not reused");
    assert_eq!(accumulated_text(&h), "all");
}

#[test]
fn bytes_after_the_drain_deadline_end_the_call_without_a_timeout() {
    // A transport whose reads keep returning bytes may never see its wait
    // time out: the first read after the drain deadline ends the call.
    let mut h = Harness::new(Config::new("k"), true);
    answer_then_done(&mut h, "x");
    h.now += MAX_DRAIN_TIME - Duration::from_millis(1);
    h.body(": keep-alive\n\n");
    assert!(h.done.is_none());
    h.now += Duration::from_millis(1);
    h.body(": keep-alive\n\n");
    assert_ended_and_abandoned(&h);
}

#[test]
fn a_tail_after_done_longer_than_max_drain_bytes_is_abandoned() {
    let mut h = Harness::new(Config::new("k"), true);
    answer_then_done(&mut h, "x");
    let tail = ":".repeat(MAX_DRAIN_BYTES / 2);
    h.body(&tail);
    h.body(&tail);
    assert!(h.done.is_none(), "exactly MAX_DRAIN_BYTES is still read");
    assert!(h.abandoned.is_empty());
    h.body(":");
    assert_ended_and_abandoned(&h);
}

#[test]
fn a_body_that_ends_soon_after_done_keeps_its_connection() {
    let mut h = Harness::new(Config::new("k"), true);
    answer_then_done(&mut h, "x");
    h.now += MAX_DRAIN_TIME / 2;
    h.body(": bye\n\n");
    h.end_of_stream();
    assert!(h.abandoned.is_empty(), "the body was read to its end");
}

#[test]
fn a_stream_that_would_outgrow_the_body_limit_ends_with_what_it_held() {
    // A server that streams without end: the assembled answer is bounded by
    // `max_body_bytes` (text plus 64 bytes per choice of a chunk); the chunks
    // up to the one that passed it are delivered and kept, and the connection
    // is dropped.
    let mut limits = nexllm_proto::Limits::default();
    limits.max_body_bytes = 1000;
    let mut h = Harness::new(Config::new("k").limits(limits), true);
    h.head(200);
    let word = "x".repeat(100);
    for _ in 0..10 {
        h.body(&chunk_event(&word, None));
    }
    // 164 bytes a chunk: six fit in 1000, the seventh passes it.
    assert_eq!(h.chunks.len(), 7);
    match h.error() {
        Error::LimitExceeded(e) => {
            assert_eq!(e.what, "streamed answer");
            assert_eq!(e.limit, 1000);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(accumulated_text(&h), word.repeat(7));
    assert_eq!(h.abandoned, [h.current()]);
    assert_eq!(h.sent.len(), 1, "not retried");
}

#[test]
fn a_stream_that_opens_too_many_choices_or_tool_calls_ends_with_what_it_held() {
    // Every choice and tool call costs a search per chunk or fragment that
    // names it: a server opening them without end would cost quadratic time.
    // The chunk that would pass a limit is refused, not delivered; the chunks
    // before it are delivered and kept, and the connection is dropped.
    let choice = |index: u32| {
        format!(
            "data: {{\"id\":\"c\",\"choices\":[{{\"index\":{index},\"delta\":{{\"content\":\"x\"}}}}]}}\n\n"
        )
    };
    let call = |index: u32| {
        format!(
            "data: {{\"id\":\"c\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"x\",\"tool_calls\":[{{\"index\":{index},\"id\":\"call_{index}\",\"function\":{{\"name\":\"f\",\"arguments\":\"{{}}\"}}}}]}}}}]}}\n\n"
        )
    };
    let cases: [(&str, &dyn Fn(u32) -> String); 2] = [("choices", &choice), ("tool calls", &call)];
    // Chunks handed out, and only added up (`ChunkDelivery::AccumulateOnly`).
    for ((unit, event), quiet) in cases.into_iter().flat_map(|c| [(c, false), (c, true)]) {
        let mut limits = nexllm_proto::Limits::default();
        limits.max_choices = 3;
        limits.max_tool_calls = 3;
        let mut h = Harness::new(Config::new("k").limits(limits), true);
        if quiet {
            h.ex.set_chunk_delivery(ChunkDelivery::AccumulateOnly);
        }
        h.head(200);
        for index in (0..10).rev() {
            h.body(&event(index));
        }
        assert_eq!(h.chunks.len(), if quiet { 0 } else { 3 }, "{unit}");
        assert_eq!(h.ex.chunks_delivered(), 3, "{unit}");
        match h.error() {
            Error::LimitExceeded(e) => {
                assert_eq!((e.what, e.limit, e.unit), ("streamed answer", 3, unit));
                assert_eq!(e.attempts, 1);
            }
            other => panic!("{unit}: {other:?}"),
        }
        let completion = h.ex.accumulated().unwrap();
        let text: String = completion
            .choices
            .iter()
            .filter_map(|c| c.message.content.as_deref())
            .collect();
        assert_eq!(text, "xxx", "{unit}: the chunks delivered, and only those");
        assert_eq!(h.abandoned, [h.current()], "{unit}");
        assert_eq!(h.sent.len(), 1, "{unit}: not retried");
    }
}

#[test]
fn a_retry_after_beyond_any_wait_fails_at_once() {
    // However large the number, it asks for more than `max_retry_after`.
    for value in ["120", "100000000", "99999999999999999999"] {
        let mut h = Harness::new(Config::new("k"), false);
        h.respond(
            429,
            &[("retry-after", value)],
            &error_body("slow down", "rate_limit_exceeded"),
        );
        assert_eq!(h.sent.len(), 1, "{value}: no retry");
        match h.error() {
            Error::Api(e) => assert!(e.retry_after.is_some(), "{value}: {e:?}"),
            other => panic!("{value}: {other:?}"),
        }
    }
}

#[test]
fn a_json_answer_to_a_stream_may_be_exactly_the_event_limit() {
    for (limit, accepted) in [(COMPLETION.len(), true), (COMPLETION.len() - 1, false)] {
        let mut limits = nexllm_proto::Limits::default();
        limits.max_event_bytes = limit;
        let mut h = Harness::new(Config::new("k").limits(limits), true);
        h.respond(200, &[], COMPLETION);
        if accepted {
            assert!(
                matches!(h.done, Some(Ok(Outcome::StreamEnded))),
                "{:?}",
                h.done
            );
            assert_eq!(accumulated_text(&h), "hi");
        } else {
            assert!(matches!(h.error(), Error::LimitExceeded(_)), "{:?}", h.done);
        }
    }
}

#[test]
fn the_getters_report_the_call_and_its_latest_response() {
    let mut h = Harness::new(Config::new("k").max_retries(0), false);
    assert!(!h.ex.is_streaming());
    assert_eq!(h.ex.response_status(), None);
    assert!(h.ex.response_headers().is_none());
    h.respond(
        503,
        &[("x-ratelimit-remaining-requests", "7")],
        &error_body("overloaded", "server_error"),
    );
    assert_eq!(
        h.ex.response_status(),
        Some(StatusCode::SERVICE_UNAVAILABLE)
    );
    let seen = h.ex.response_headers().unwrap();
    assert_eq!(seen["x-ratelimit-remaining-requests"], "7");

    let mut h = Harness::new(Config::new("k"), true);
    assert!(h.ex.is_streaming());
    h.head(200);
    h.body(&format!(
        "{}{}",
        chunk_event("a", None),
        chunk_event("b", None)
    ));
    assert_eq!(h.ex.chunks_delivered(), 2);
}

#[test]
fn a_stale_attempt_cannot_touch_the_body_of_the_next_one() {
    // Attempt 1 gets no head in time and is abandoned; attempt 2 is answered.
    // Late body bytes and a late end of attempt 1 change nothing, whether
    // attempt 2 is read whole, streamed, or drained after `[DONE]`.
    let config = Config::new("k")
        .first_byte_timeout(Some(Duration::from_secs(1)))
        .idle_timeout(Some(Duration::from_secs(5)));
    let late = |h: &mut Harness, first: AttemptId, bytes: &str| {
        h.ex.handle_body(first, bytes.as_bytes(), h.now);
        h.ex.handle_end(first, h.now);
        h.drain();
    };

    let mut h = Harness::new(config.clone(), false);
    let first = h.current();
    h.fire_wait(); // first byte timeout
    h.fire_wait(); // backoff
    h.head(200);
    let (start, rest) = COMPLETION.split_at(40);
    h.body(start);
    // Bytes that would break the JSON anywhere they landed.
    late(&mut h, first, "\"}");
    assert!(h.done.is_none(), "{:?}", h.done);
    h.body(rest);
    let second = h.current();
    h.ex.handle_end(second, h.now);
    h.drain();
    assert!(
        matches!(h.done, Some(Ok(Outcome::Completion(_)))),
        "{:?}",
        h.done
    );

    let mut h = Harness::new(config, true);
    let first = h.current();
    h.fire_wait();
    h.fire_wait();
    let second = h.current();
    h.head(200);
    late(&mut h, first, &chunk_event("stale", None));
    assert!(h.chunks.is_empty());
    assert!(h.done.is_none(), "{:?}", h.done);
    assert_eq!(h.sent.len(), 2);
    h.body(&format!(
        "{}data: [DONE]\n\n",
        chunk_event("ok", Some("stop"))
    ));
    let drained_from = h.now;
    h.now += MAX_DRAIN_TIME / 2;
    late(&mut h, first, ": tail\n");
    assert!(h.done.is_none(), "{:?}", h.done);
    // The drain deadline still counts from attempt 2's `[DONE]`.
    assert_eq!(
        h.last_wait.unwrap().until,
        Some(drained_from + MAX_DRAIN_TIME)
    );
    h.ex.handle_end(second, h.now);
    h.drain();
    assert!(
        matches!(h.done, Some(Ok(Outcome::StreamEnded))),
        "{:?}",
        h.done
    );
    assert_eq!(accumulated_text(&h), "ok");
}

#[test]
fn after_done_the_tail_is_read_until_the_idle_deadline_then_abandoned() {
    // An idle timeout shorter than the drain time ends the drain first.
    let config = Config::new("k").idle_timeout(Some(Duration::from_millis(400)));
    let mut h = Harness::new(config, true);
    h.head(200);
    h.body(&format!(
        "{}data: [DONE]\n\n",
        chunk_event("all", Some("stop"))
    ));
    h.advance(Duration::from_millis(300));
    assert!(h.done.is_none(), "{:?}", h.done);
    // A read of the tail moves the idle deadline (before the drain deadline).
    h.body(": tail\n");
    let wait = h.last_wait.unwrap();
    assert_eq!(wait.reason, WaitReason::Idle);
    assert_eq!(wait.until, Some(h.now + Duration::from_millis(400)));
    h.advance(Duration::from_millis(399));
    assert!(h.done.is_none(), "{:?}", h.done);
    h.advance(Duration::from_millis(1));
    // The answer is whole: the call ends well, and the tail is dropped.
    assert_ended_and_abandoned(&h);
    assert_eq!(accumulated_text(&h), "all");
}

#[test]
fn a_body_may_be_exactly_the_body_limit() {
    for (limit, accepted) in [(COMPLETION.len(), true), (COMPLETION.len() - 1, false)] {
        let mut limits = nexllm_proto::Limits::default();
        limits.max_body_bytes = limit;
        let mut h = Harness::new(Config::new("k").limits(limits), false);
        h.respond(200, &[], COMPLETION);
        if accepted {
            assert!(
                matches!(h.done, Some(Ok(Outcome::Completion(_)))),
                "{:?}",
                h.done
            );
        } else {
            assert!(matches!(h.error(), Error::LimitExceeded(_)), "{:?}", h.done);
        }
    }
}

#[test]
fn a_connect_timeout_is_retried_then_reported_with_its_length() {
    let config = Config::new("k")
        .max_retries(1)
        .connect_timeout(Duration::from_secs(3));
    let mut h = Harness::new(config, false);
    for _ in 0..2 {
        let a = h.current();
        h.ex.handle_connect_timeout(a, h.now);
        h.drain();
        assert_eq!(h.abandoned.last(), Some(&a));
        if h.done.is_none() {
            assert_eq!(h.fire_wait(), WaitReason::Backoff);
        }
    }
    assert_eq!(h.sent.len(), 2);
    match h.error() {
        Error::Timeout(t) => {
            assert_eq!(t.kind, TimeoutKind::Connect);
            assert_eq!(t.after, Duration::from_secs(3));
            assert_eq!(t.attempts, 2);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn when_deadlines_coincide_the_wait_names_the_total_one_that_fires() {
    let config = Config::new("k")
        .total_timeout(Some(Duration::from_secs(10)))
        .idle_timeout(Some(Duration::from_secs(10)));
    let mut h = Harness::new(config, true);
    h.head(200);
    assert_eq!(h.fire_wait(), WaitReason::Total);
    assert!(matches!(h.error(), Error::Timeout(t) if t.kind == TimeoutKind::Total));
}

#[test]
fn an_absurd_timeout_waits_a_year_instead_of_overflowing() {
    let config = Config::new("k")
        .total_timeout(None)
        .idle_timeout(Some(Duration::MAX));
    let mut h = Harness::new(config, true);
    h.head(200);
    let wait = h.last_wait.unwrap();
    assert_eq!(wait.reason, WaitReason::Idle);
    assert_eq!(wait.until, Some(h.now + Duration::from_secs(365 * 86_400)));
}

#[test]
fn chunks_only_accumulated_are_not_handed_out_and_assemble_the_same_completion() {
    let body = long_stream(50);
    let mut reference = Harness::new(Config::new("k"), true);
    reference.head(200);
    reference.body_in_reads(&body, 700);
    let a = reference.current();
    reference.ex.handle_end(a, reference.now);
    reference.drain();
    assert!(matches!(reference.done, Some(Ok(Outcome::StreamEnded))));
    assert_eq!(reference.chunks.len(), 51);

    let mut h = Harness::new(Config::new("k"), true);
    h.head(200);
    // The first three chunks are handed out; from then on they are only added up.
    let fourth = body[..body.find("w3 ").unwrap()].rfind("data:").unwrap();
    h.body(&body[..fourth]);
    let handed_out = h.chunks.len();
    assert_eq!(handed_out, 3);
    h.ex.set_chunk_delivery(ChunkDelivery::AccumulateOnly);
    h.body_in_reads(&body[fourth..], 700);
    h.end_of_stream();
    assert_eq!(h.chunks.len(), handed_out, "no chunk once only accumulated");
    assert_eq!(h.ex.chunks_delivered(), 51);
    assert_eq!(h.ex.accumulated(), reference.ex.accumulated());
    let completion = h.ex.take_accumulated().unwrap();
    assert_eq!(Some(&completion), reference.ex.accumulated());
    assert!(h.ex.take_accumulated().is_none(), "taken once");
}

#[test]
fn chunks_only_accumulated_keep_what_came_before_an_error_and_are_not_retried() {
    let mut h = Harness::new(Config::new("k"), true);
    h.ex.set_chunk_delivery(ChunkDelivery::AccumulateOnly);
    h.head(200);
    h.body(&format!(
        "{}{}",
        chunk_event("Hel", None),
        chunk_event("lo", None)
    ));
    assert!(h.chunks.is_empty());
    h.reset();
    assert_eq!(h.sent.len(), 1, "chunks were added up: not retried");
    match h.error() {
        Error::Stream(e) => assert_eq!(e.chunks_received, 2),
        other => panic!("expected a truncated stream, got {other:?}"),
    }
    assert_eq!(accumulated_text(&h), "Hello");

    let mut h = Harness::new(Config::new("k"), true);
    h.ex.set_chunk_delivery(ChunkDelivery::AccumulateOnly);
    h.head(200);
    h.body(&format!(
        "{}data: {{\"error\":{{\"message\":\"overloaded\"}}}}\n\n",
        chunk_event("Hi", None)
    ));
    assert!(matches!(h.error(), Error::Api(_)), "{:?}", h.error());
    assert_eq!(accumulated_text(&h), "Hi");
}

#[test]
fn every_chunk_of_a_read_is_handed_out_before_the_exchange_waits_for_more() {
    let body = long_stream(12);
    let events: Vec<&str> = body.split_inclusive("\n\n").collect();
    // Reads as a server's frames come: one event (read past the SSE
    // decoder), two, one and the start of the next, the rest of it.
    let (half, rest) = events[7].split_at(20);
    let reads: Vec<String> = vec![
        events[0].to_owned(),
        events[1].to_owned(),
        events[2].to_owned(),
        format!("{}{}", events[3], events[4]),
        events[5].to_owned(),
        format!("{}{half}", events[6]),
        rest.to_owned(),
        events[8].to_owned(),
        events[9..].concat(),
    ];
    let complete_after = [1, 2, 3, 5, 6, 7, 8, 9, events.len() - 1];
    for delivery in [ChunkDelivery::Lent, ChunkDelivery::Owned] {
        let mut h = Harness::new(Config::new("k"), true);
        h.head(200);
        h.ex.set_chunk_delivery(delivery);
        for (read, &complete) in reads.iter().zip(&complete_after) {
            h.body_bytes(Bytes::copy_from_slice(read.as_bytes()));
            // `[DONE]` is an event but not a chunk.
            let expected = complete.min(events.len() - 1);
            assert_eq!(
                h.chunks.len() + h.lent.len(),
                expected,
                "{delivery:?} after {read:?}"
            );
            if h.done.is_none() {
                assert!(h.last_wait.is_some(), "waits for bytes");
            }
        }
        h.end_of_stream();
        assert_eq!(h.chunks.len() + h.lent.len(), events.len() - 1);
    }
}

#[test]
fn lent_chunks_are_the_chunks_given_and_each_delivery_can_follow_another() {
    let body = long_stream(30);
    let mut reference = Harness::new(Config::new("k"), true);
    reference.head(200);
    reference.body_in_reads(&body, 500);
    assert_eq!(reference.chunks.len(), 31);

    // Given, then lent, then given again, then only accumulated: every chunk
    // once, in order, and the same completion.
    let mut h = Harness::new(Config::new("k"), true);
    h.head(200);
    let events: Vec<&str> = body.split_inclusive("\n\n").collect();
    for (i, event) in events.iter().enumerate() {
        h.ex.set_chunk_delivery(match i {
            0..10 => ChunkDelivery::Owned,
            10..20 => ChunkDelivery::Lent,
            20..25 => ChunkDelivery::Owned,
            _ => ChunkDelivery::AccumulateOnly,
        });
        // The harness copies each lent chunk when `ChunkLent` announces it.
        h.body(event);
    }
    h.end_of_stream();
    assert_eq!(h.lent[..], reference.chunks[10..20]);
    assert_eq!(h.chunks[..10], reference.chunks[..10]);
    assert_eq!(h.chunks[10..], reference.chunks[20..25]);
    assert_eq!(h.ex.chunks_delivered(), 31);
    assert_eq!(h.ex.accumulated(), reference.ex.accumulated());
    assert!(
        h.ex.lent_chunk().is_none(),
        "nothing lent once the stream is over"
    );
}
