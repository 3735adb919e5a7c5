//! Every fault, asked for by header, by model name and by script, seen from a raw client.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // helpers outside #[test] fail the test loudly

mod common;

use std::time::Duration;

use common::{CHAT, RawRequest, RawResponse, chat_body};
use http::StatusCode;
use nexllm_mock::{Fault, MockServer, SplitPattern, StatusFault};
use serde_json::{Value, json};

fn stream_body(text: &str) -> String {
    chat_body("mock-echo", text, json!({"stream": true}))
}

async fn with_fault(server: &MockServer, spec: &str, body: String) -> RawResponse {
    RawRequest::post(CHAT, body)
        .header("x-mock-fault", spec)
        .send(server.addr())
        .await
}

/// Chunks without their ids (which count up per answer), to compare two answers.
fn without_ids(chunks: Vec<Value>) -> Vec<Value> {
    chunks
        .into_iter()
        .map(|mut chunk| {
            chunk.as_object_mut().unwrap().remove("id");
            chunk
        })
        .collect()
}

#[tokio::test]
async fn status_fault_sends_an_openai_error_with_retry_headers() {
    let server = MockServer::start().await.unwrap();
    let response = with_fault(
        &server,
        "status=429;retry-after=2;retry-after-ms=1500;should-retry=true",
        chat_body("mock-echo", "hi", json!({})),
    )
    .await;
    assert_eq!(response.status, 429);
    assert_eq!(response.header("retry-after"), Some("2"));
    assert_eq!(response.header("retry-after-ms"), Some("1500"));
    assert_eq!(response.header("x-should-retry"), Some("true"));
    assert_eq!(response.header("x-request-id"), Some("req_mock_1"));
    let error = &response.json()["error"];
    assert_eq!(error["code"], "rate_limit_exceeded");
    assert!(error["message"].is_string());
    assert!(error.get("param").is_some());

    let custom = with_fault(
        &server,
        "status=400;message=nope;type=custom_type;code=c1;param=p1",
        stream_body("x"),
    )
    .await;
    assert_eq!(custom.status, 400);
    assert_eq!(
        custom.json(),
        json!({"error": {"message": "nope", "type": "custom_type", "param": "p1", "code": "c1"}})
    );

    let html = with_fault(
        &server,
        "status=502;raw-body=<html>bad gateway</html>",
        stream_body("x"),
    )
    .await;
    assert_eq!(html.status, 502);
    assert_eq!(html.text(), "<html>bad gateway</html>");
    assert!(
        html.header("content-type")
            .unwrap()
            .starts_with("text/html")
    );
}

#[tokio::test]
async fn faults_can_be_chosen_by_model_name() {
    let server = MockServer::start().await.unwrap();
    let response = RawRequest::post(CHAT, chat_body("mock-fault:status=500", "hi", json!({})))
        .send(server.addr())
        .await;
    assert_eq!(response.status, 500);
    assert_eq!(response.json()["error"]["type"], "server_error");
    let bad = RawRequest::post(CHAT, chat_body("mock-fault:explode", "hi", json!({})))
        .send(server.addr())
        .await;
    assert_eq!(bad.status, 400);
    assert_eq!(bad.json()["error"]["param"], "model");
}

#[tokio::test]
async fn an_invalid_fault_header_is_a_400() {
    let server = MockServer::start().await.unwrap();
    let response = with_fault(
        &server,
        "status=abc",
        chat_body("mock-echo", "hi", json!({})),
    )
    .await;
    assert_eq!(response.status, 400);
    assert_eq!(response.json()["error"]["param"], "x-mock-fault");
}

#[tokio::test]
async fn an_informational_status_is_refused_as_a_fault() {
    // hyper cannot send a 1xx as the final response: 100 went out as an empty 500 and
    // 101 as a protocol switch, neither of which is the fault asked for.
    let server = MockServer::start().await.unwrap();
    for spec in ["status=100", "status=101", "status=199"] {
        let response = with_fault(&server, spec, chat_body("mock-echo", "hi", json!({}))).await;
        assert_eq!(response.status, 400, "{spec}");
        let error = &response.json()["error"];
        assert_eq!(error["param"], "x-mock-fault", "{spec}");
        assert!(
            error["message"].as_str().unwrap().contains("200"),
            "{spec}: {error}"
        );
    }
}

#[tokio::test]
async fn a_fault_header_may_carry_utf8_text() {
    let server = MockServer::start().await.unwrap();
    let response = with_fault(
        &server,
        "status=400;message=Le modèle est surchargé",
        chat_body("mock-echo", "hi", json!({})),
    )
    .await;
    assert_eq!(response.status, 400, "{}", response.text());
    assert_eq!(
        response.json()["error"]["message"],
        "Le modèle est surchargé"
    );

    // Bytes that are not UTF-8 get an error that says so.
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let body = chat_body("mock-echo", "hi", json!({}));
    let mut request = format!(
        "POST {CHAT} HTTP/1.1\r\nhost: x\r\nconnection: close\r\ncontent-length: {}\r\nx-mock-fault: message=",
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(b"\xff\xfe\r\n\r\n");
    request.extend_from_slice(body.as_bytes());
    let mut stream = tokio::net::TcpStream::connect(server.addr()).await.unwrap();
    stream.write_all(&request).await.unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    let response = common::parse(raw);
    assert_eq!(response.status, 400);
    let error = &response.json()["error"];
    assert_eq!(error["param"], "x-mock-fault");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("not valid UTF-8"),
        "{error}"
    );
}

#[tokio::test]
async fn fail_first_counts_attempts_by_idempotency_key() {
    let server = MockServer::start().await.unwrap();
    let body = chat_body("mock-echo", "retry me", json!({}));
    let addr = server.addr();
    let attempt = |key: &'static str| {
        let request = RawRequest::post(CHAT, body.clone())
            .header("x-mock-fault", "fail-first=2;status=503;retry-after-ms=10")
            .header("idempotency-key", key);
        async move { request.send(addr).await }
    };
    assert_eq!(attempt("call-1").await.status, 503);
    assert_eq!(attempt("call-1").await.status, 503);
    let third = attempt("call-1").await;
    assert_eq!(third.status, 200);
    assert_eq!(third.json()["choices"][0]["message"]["content"], "retry me");
    assert_eq!(attempt("call-1").await.status, 200);
    assert_eq!(
        attempt("call-2").await.status,
        503,
        "another call counts on its own"
    );

    // Without a key, attempts are counted per spec string.
    let unkeyed = |spec: &'static str| with_fault(&server, spec, body.clone());
    assert_eq!(unkeyed("fail-first=1;status=500").await.status, 500);
    assert_eq!(unkeyed("fail-first=1;status=500").await.status, 200);
    assert_eq!(
        unkeyed("fail-first=1; status=500").await.status,
        500,
        "a different spec string counts on its own"
    );
}

#[tokio::test]
async fn a_rejected_request_is_not_a_fail_first_attempt() {
    let server = MockServer::start().await.unwrap();
    let spec = "fail-first=1;status=503";
    let not_json = with_fault(&server, spec, "{not json".to_owned()).await;
    assert_eq!(not_json.status, 400);
    let unknown_model = with_fault(&server, spec, chat_body("gpt-9", "hi", json!({}))).await;
    assert_eq!(unknown_model.status, 404);
    let first = with_fault(&server, spec, chat_body("mock-echo", "hi", json!({}))).await;
    assert_eq!(
        first.status, 503,
        "requests rejected by validation must not use up the failing attempt"
    );
    let second = with_fault(&server, spec, chat_body("mock-echo", "hi", json!({}))).await;
    assert_eq!(second.status, 200);

    let spec = "fail-first=1;status=502";
    let missing = RawRequest::get("/v1/models/nope")
        .header("x-mock-fault", spec)
        .send(server.addr())
        .await;
    assert_eq!(missing.status, 404);
    let found = RawRequest::get("/v1/models/mock-echo")
        .header("x-mock-fault", spec)
        .send(server.addr())
        .await;
    assert_eq!(
        found.status, 502,
        "a 404 for an unknown model is no attempt"
    );
}

#[tokio::test]
async fn scripted_faults_are_used_in_order_and_fail_first_stays_queued() {
    let server = MockServer::start().await.unwrap();
    server.push_script(Fault::FailFirst {
        attempts: 2,
        failure: Box::new(Fault::Status(
            StatusFault::new(StatusCode::BAD_GATEWAY).should_retry(true),
        )),
    });
    server.push_script(Fault::Status(
        StatusFault::new(StatusCode::TOO_MANY_REQUESTS).retry_after("0"),
    ));
    let body = chat_body("mock-echo", "scripted", json!({}));
    let statuses = [
        RawRequest::post(CHAT, body.clone())
            .send(server.addr())
            .await
            .status,
        RawRequest::post(CHAT, body.clone())
            .send(server.addr())
            .await
            .status,
        RawRequest::post(CHAT, body.clone())
            .send(server.addr())
            .await
            .status,
        RawRequest::post(CHAT, body.clone())
            .send(server.addr())
            .await
            .status,
        RawRequest::post(CHAT, body.clone())
            .send(server.addr())
            .await
            .status,
    ];
    assert_eq!(statuses, [502, 502, 200, 429, 200]);
    assert_eq!(server.pending_script_steps(), 0);
}

#[tokio::test]
async fn header_faults_leave_the_script_alone() {
    let server = MockServer::start().await.unwrap();
    server.push_script(Fault::Status(StatusFault::new(
        StatusCode::INTERNAL_SERVER_ERROR,
    )));
    let response = with_fault(&server, "no-done", stream_body("x")).await;
    assert_eq!(response.status, 200);
    assert_eq!(server.pending_script_steps(), 1);
    let models = RawRequest::get("/v1/models").send(server.addr()).await;
    assert_eq!(models.status, 200, "scripts apply to chat completions only");
    assert_eq!(server.pending_script_steps(), 1);
}

#[tokio::test]
async fn close_before_head_sends_nothing() {
    let server = MockServer::start().await.unwrap();
    for body in [stream_body("x"), chat_body("mock-echo", "x", json!({}))] {
        let response = with_fault(&server, "close-before-head", body).await;
        assert!(
            response.raw.is_empty(),
            "got {:?}",
            String::from_utf8_lossy(&response.raw)
        );
        assert_eq!(response.status, 0);
    }
    server.push_script(Fault::CloseBeforeHead);
    let response = RawRequest::post(CHAT, stream_body("x"))
        .send(server.addr())
        .await;
    assert!(response.raw.is_empty());
    assert!(server.wait_for_closed(3, Duration::from_secs(5)).await);
}

#[tokio::test]
async fn close_after_chunks_cuts_the_stream_uncleanly() {
    let server = MockServer::start().await.unwrap();
    let response = with_fault(&server, "close-after=2", stream_body("a b c d e")).await;
    assert_eq!(response.status, 200);
    assert!(!response.complete, "the chunked body must not end cleanly");
    let events = response.events();
    assert_eq!(events.len(), 2, "{events:?}");
    assert_eq!(response.streamed_text(0), "a");

    let whole = with_fault(
        &server,
        "close-after=1",
        chat_body("mock-echo", "a b c", json!({})),
    )
    .await;
    assert_eq!(whole.status, 200);
    assert!(!whole.complete);
    assert!(
        serde_json::from_slice::<Value>(&whole.body).is_err(),
        "half a JSON body"
    );

    let past_the_end = with_fault(&server, "close-after=99", stream_body("a b")).await;
    assert!(!past_the_end.complete);
    assert!(!past_the_end.events().contains(&"[DONE]".to_owned()));
    assert_eq!(past_the_end.streamed_text(0), "a b");
}

#[tokio::test]
async fn stall_waits_between_chunks() {
    let server = MockServer::start().await.unwrap();
    let normal = with_fault(&server, "no-done", stream_body("a b")).await;
    let stalled = with_fault(&server, "stall=40ms", stream_body("a b")).await;
    // role, "a", " b", finish, [DONE]: four gaps.
    assert_eq!(stalled.events().len(), 5);
    assert!(
        stalled.elapsed >= Duration::from_millis(160),
        "took {:?}",
        stalled.elapsed
    );
    assert!(stalled.complete);
    assert_eq!(stalled.streamed_text(0), normal.streamed_text(0));
    let head = with_fault(
        &server,
        "delay-head=60ms",
        chat_body("mock-echo", "x", json!({})),
    )
    .await;
    assert!(head.elapsed >= Duration::from_millis(60));
    assert_eq!(head.status, 200);
}

#[tokio::test]
async fn error_event_mid_stream_ends_without_done() {
    let server = MockServer::start().await.unwrap();
    let response = with_fault(&server, "error-event-after=2", stream_body("a b c d")).await;
    assert!(response.complete);
    let events = response.events();
    assert_eq!(events.len(), 3);
    let error: Value = serde_json::from_str(&events[2]).unwrap();
    assert_eq!(error["error"]["type"], "server_error");
    assert!(error["error"]["message"].is_string());
}

#[tokio::test]
async fn malformed_chunk_is_not_json_and_the_stream_goes_on() {
    let server = MockServer::start().await.unwrap();
    let response = with_fault(&server, "malformed-after=1", stream_body("a b")).await;
    let events = response.events();
    assert!(serde_json::from_str::<Value>(&events[0]).is_ok());
    assert!(
        serde_json::from_str::<Value>(&events[1]).is_err(),
        "{}",
        events[1]
    );
    assert_eq!(events.last().map(String::as_str), Some("[DONE]"));
    let whole = with_fault(
        &server,
        "malformed-after=0",
        chat_body("mock-echo", "a", json!({})),
    )
    .await;
    assert_eq!(whole.status, 200);
    assert!(whole.complete);
    assert!(serde_json::from_slice::<Value>(&whole.body).is_err());
}

#[tokio::test]
async fn framing_faults_change_bytes_but_not_content() {
    let server = MockServer::start().await.unwrap();
    let text = "the same words every time";
    let normal = with_fault(&server, "no-done", stream_body(text)).await;
    let normal_chunks = without_ids(normal.chunks());

    let split = with_fault(&server, "split=7", stream_body(text)).await;
    assert!(split.chunk_sizes.len() > 20);
    assert!(
        split.chunk_sizes.iter().all(|size| *size <= 7),
        "{:?}",
        split.chunk_sizes
    );
    assert!(
        split.chunk_sizes.iter().filter(|size| **size == 7).count() > split.chunk_sizes.len() / 2
    );
    assert_eq!(without_ids(split.chunks()), normal_chunks);

    let seeded = with_fault(&server, "split=seed:3", stream_body(text)).await;
    assert!(
        seeded
            .chunk_sizes
            .iter()
            .all(|size| (1..=16).contains(size))
    );
    assert_eq!(without_ids(seeded.chunks()), normal_chunks);

    let one_byte = with_fault(&server, "one-byte", stream_body(text)).await;
    assert!(one_byte.chunk_sizes.iter().all(|size| *size == 1));
    assert_eq!(one_byte.chunk_sizes.len(), one_byte.body.len());
    assert_eq!(without_ids(one_byte.chunks()), normal_chunks);

    let crlf = with_fault(&server, "crlf", stream_body(text)).await;
    let crlf_text = crlf.text();
    assert!(crlf_text.ends_with("data: [DONE]\r\n\r\n"));
    assert_eq!(
        crlf_text.matches('\n').count(),
        crlf_text.matches("\r\n").count(),
        "every line ends with CRLF"
    );
    assert_eq!(without_ids(crlf.chunks()), normal_chunks);

    let whole = with_fault(&server, "split=5", chat_body("mock-echo", text, json!({}))).await;
    assert_eq!(whole.json()["choices"][0]["message"]["content"], text);
}

#[tokio::test]
async fn endless_line_never_ends() {
    let server = MockServer::start().await.unwrap();
    let response = RawRequest::post(CHAT, stream_body("a b"))
        .header("x-mock-fault", "endless-line")
        .max_bytes(256 * 1024)
        .send(server.addr())
        .await;
    assert!(response.truncated, "the server kept writing");
    let text = response.text();
    let first_event_end = text.find("\n\n").unwrap();
    assert!(
        !text[first_event_end + 2..].contains('\n'),
        "no newline after the first event"
    );
    assert!(text.len() > 200 * 1024);
    assert!(
        server.wait_for_closed(1, Duration::from_secs(5)).await,
        "the server stops once the client leaves"
    );
}

#[tokio::test]
async fn json_error_with_status_200_for_a_stream_request() {
    let server = MockServer::start().await.unwrap();
    let response = with_fault(&server, "json-error-200", stream_body("x")).await;
    assert_eq!(response.status, 200);
    assert_eq!(response.header("content-type"), Some("application/json"));
    assert!(response.json()["error"]["message"].is_string());
}

#[tokio::test]
async fn no_done_ends_cleanly_without_done() {
    let server = MockServer::start().await.unwrap();
    let response = with_fault(&server, "no-done", stream_body("a b")).await;
    assert!(response.complete);
    assert!(!response.events().contains(&"[DONE]".to_owned()));
    assert_eq!(response.streamed_text(0), "a b");
}

#[tokio::test]
async fn keep_open_after_done_sends_comments_after_done_until_the_client_leaves() {
    let server = MockServer::start().await.unwrap();
    let normal = RawRequest::post(CHAT, stream_body("a b"))
        .send(server.addr())
        .await;
    assert!(normal.complete);
    // Room for the same answer and a few comments: then the client hangs up.
    let response = RawRequest::post(CHAT, stream_body("a b"))
        .header("x-mock-fault", "keep-open-after-done")
        .max_bytes(normal.raw.len() + 60)
        .send(server.addr())
        .await;
    assert!(response.truncated, "the body never ended");
    assert!(!response.complete);
    let text = response.text();
    let done = text.find("data: [DONE]\n\n").expect("[DONE] was sent");
    let tail = &text[done + "data: [DONE]\n\n".len()..];
    assert!(tail.matches(": keep-alive\n\n").count() >= 2, "{tail:?}");
    assert_eq!(
        text[..done].matches("data: ").count(),
        normal.text().matches("data: ").count() - 1,
        "the whole answer came before [DONE]"
    );
    assert!(
        server.wait_for_closed(2, Duration::from_secs(5)).await,
        "the server stops once the client leaves"
    );
}

#[tokio::test]
async fn faults_combine() {
    let server = MockServer::start().await.unwrap();
    server.push_script(Fault::All(vec![
        Fault::Crlf,
        Fault::SplitFrames(SplitPattern::Sizes(vec![3])),
        Fault::NoDone,
    ]));
    let response = RawRequest::post(CHAT, stream_body("a b"))
        .send(server.addr())
        .await;
    assert!(response.chunk_sizes.iter().all(|size| *size <= 3));
    assert!(response.text().contains("\r\n\r\n"));
    assert!(!response.events().contains(&"[DONE]".to_owned()));
    assert_eq!(response.streamed_text(0), "a b");
}

#[tokio::test]
async fn a_client_that_hangs_up_mid_stream_closes_the_server_side() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let server = MockServer::start().await.unwrap();
    let body = stream_body("a b c d");
    let request = format!(
        "POST {CHAT} HTTP/1.1\r\nhost: x\r\nx-mock-fault: stall=30s\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    let mut stream = tokio::net::TcpStream::connect(server.addr()).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut received = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&received).contains("\n\n") {
        let read = stream.read(&mut buf).await.unwrap();
        assert!(read > 0);
        received.extend_from_slice(&buf[..read]);
    }
    assert_eq!(server.open_connections(), 1);
    drop(stream);
    assert!(
        server.wait_for_closed(1, Duration::from_secs(5)).await,
        "the stalled stream must end when the client leaves"
    );
    assert_eq!(server.open_connections(), 0);
}
