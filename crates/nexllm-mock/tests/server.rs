//! The mock's answers, validation, models, recording and lifecycle, seen from a raw client.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // helpers outside #[test] fail the test loudly

mod common;

use std::time::Duration;

use common::{CHAT, RawRequest, chat_body};
use nexllm_mock::{Answer, MAX_ANSWER_TOKENS, MockServer, Script};
use serde_json::{Value, json};
use tokio::net::TcpStream;

#[tokio::test]
async fn answers_a_chat_completion_in_openai_format() {
    let server = MockServer::start().await.unwrap();
    let response = RawRequest::post(
        CHAT,
        chat_body("mock-echo", "Repeat after me please", json!({})),
    )
    .send(server.addr())
    .await;
    assert_eq!(response.status, 200);
    assert!(response.complete);
    assert_eq!(response.header("content-type"), Some("application/json"));
    assert_eq!(response.header("x-request-id"), Some("req_mock_1"));
    assert_eq!(response.header("x-ratelimit-limit-requests"), Some("10000"));
    assert_eq!(
        response.header("x-ratelimit-remaining-requests"),
        Some("9999")
    );
    for name in [
        "x-ratelimit-reset-requests",
        "x-ratelimit-limit-tokens",
        "x-ratelimit-remaining-tokens",
        "x-ratelimit-reset-tokens",
    ] {
        assert!(response.header(name).is_some(), "{name} missing");
    }
    let body = response.json();
    assert_eq!(body["object"], "chat.completion");
    assert_eq!(body["id"], "chatcmpl-mock-1");
    assert_eq!(body["model"], "mock-echo");
    assert!(body["created"].is_u64());
    assert!(body["system_fingerprint"].is_string());
    let choice = &body["choices"][0];
    assert_eq!(choice["index"], 0);
    assert_eq!(choice["finish_reason"], "stop");
    assert_eq!(choice["message"]["role"], "assistant");
    assert_eq!(choice["message"]["content"], "Repeat after me please");
    let usage = &body["usage"];
    assert_eq!(usage["completion_tokens"], 6);
    assert_eq!(
        usage["total_tokens"].as_u64().unwrap(),
        usage["prompt_tokens"].as_u64().unwrap() + usage["completion_tokens"].as_u64().unwrap()
    );

    let second = RawRequest::post(CHAT, chat_body("mock-echo", "x", json!({})))
        .send(server.addr())
        .await;
    assert_eq!(second.header("x-request-id"), Some("req_mock_2"));
    assert_eq!(
        second.header("x-ratelimit-remaining-requests"),
        Some("9998")
    );
}

#[tokio::test]
async fn serves_chat_completions_under_any_prefix() {
    let server = MockServer::start().await.unwrap();
    let response = RawRequest::post(
        "/v/anything/chat/completions",
        chat_body("gpt-4o", "hi there", json!({})),
    )
    .send(server.addr())
    .await;
    assert_eq!(response.status, 200);
    assert_eq!(response.json()["model"], "gpt-4o");
    let response = RawRequest::post("/v1/nothing/here", "{}")
        .send(server.addr())
        .await;
    assert_eq!(response.status, 404);
    assert_eq!(
        response.json()["error"]["message"],
        "Invalid URL (POST /v1/nothing/here)"
    );
}

#[tokio::test]
async fn streams_word_by_word_with_usage_and_two_choices() {
    let server = MockServer::start().await.unwrap();
    let extra = json!({"stream": true, "stream_options": {"include_usage": true}, "n": 2});
    let response = RawRequest::post(CHAT, chat_body("mock-echo", "one two three", extra))
        .send(server.addr())
        .await;
    assert_eq!(response.status, 200);
    assert!(response.complete, "chunked body must end cleanly");
    assert_eq!(
        response.header("content-type"),
        Some("text/event-stream; charset=utf-8")
    );
    assert!(response.text().ends_with("data: [DONE]\n\n"));
    let events = response.events();
    assert_eq!(events.last().map(String::as_str), Some("[DONE]"));
    let chunks = response.chunks();
    for chunk in &chunks {
        assert_eq!(chunk["object"], "chat.completion.chunk");
        assert_eq!(chunk["id"], chunks[0]["id"]);
        assert!(
            chunk.get("usage").is_some(),
            "usage must be present (null) on every chunk"
        );
    }
    assert_eq!(
        chunks[0]["choices"][0]["delta"],
        json!({"role": "assistant", "content": "", "refusal": null})
    );
    // Words are interleaved: choice 0 then choice 1 for each word.
    let indices: Vec<u64> = chunks
        .iter()
        .filter_map(|chunk| chunk["choices"][0]["index"].as_u64())
        .collect();
    assert_eq!(indices, vec![0, 1, 0, 1, 0, 1, 0, 1, 0, 1]);
    assert_eq!(response.streamed_text(0), "one two three");
    assert_eq!(response.streamed_text(1), "one two three");
    let usage_chunk = chunks.last().unwrap();
    assert_eq!(usage_chunk["choices"], json!([]));
    let finish: Vec<&Value> = chunks
        .iter()
        .map(|chunk| &chunk["choices"][0]["finish_reason"])
        .filter(|reason| !reason.is_null())
        .collect();
    assert_eq!(finish, vec!["stop", "stop"]);

    let whole = RawRequest::post(
        CHAT,
        chat_body("mock-echo", "one two three", json!({"n": 2})),
    )
    .send(server.addr())
    .await
    .json();
    assert_eq!(
        usage_chunk["usage"], whole["usage"],
        "stream and whole answers count tokens the same"
    );
}

#[tokio::test]
async fn stream_without_include_usage_has_no_usage() {
    let server = MockServer::start().await.unwrap();
    let response = RawRequest::post(CHAT, chat_body("mock-echo", "a b", json!({"stream": true})))
        .send(server.addr())
        .await;
    let chunks = response.chunks();
    assert!(chunks.iter().all(|chunk| chunk.get("usage").is_none()));
    assert!(
        chunks
            .iter()
            .all(|chunk| !chunk["choices"].as_array().unwrap().is_empty())
    );
}

#[tokio::test]
async fn max_tokens_caps_the_answer_with_length() {
    let server = MockServer::start().await.unwrap();
    let text = "one two three four five six seven eight nine ten";
    for key in ["max_tokens", "max_completion_tokens"] {
        let whole = RawRequest::post(CHAT, chat_body("mock-echo", text, json!({key: 4})))
            .send(server.addr())
            .await
            .json();
        assert_eq!(whole["choices"][0]["finish_reason"], "length");
        assert_eq!(whole["choices"][0]["message"]["content"], "one two three");
        assert_eq!(whole["usage"]["completion_tokens"], 4);
    }
    let streamed = RawRequest::post(
        CHAT,
        chat_body("mock-echo", text, json!({"max_tokens": 4, "stream": true})),
    )
    .send(server.addr())
    .await;
    assert_eq!(streamed.streamed_text(0), "one two three");
    let chunks = streamed.chunks();
    assert_eq!(
        chunks.last().unwrap()["choices"][0]["finish_reason"],
        "length"
    );
    let roomy = RawRequest::post(
        CHAT,
        chat_body("mock-echo", "short", json!({"max_tokens": 100})),
    )
    .send(server.addr())
    .await
    .json();
    assert_eq!(roomy["choices"][0]["finish_reason"], "stop");
}

#[tokio::test]
async fn a_configured_key_is_required() {
    let server = MockServer::builder()
        .api_key("sk-test-1234567")
        .start()
        .await
        .unwrap();
    let body = chat_body("mock-echo", "hi", json!({}));
    let missing = RawRequest::post(CHAT, body.clone())
        .send(server.addr())
        .await;
    assert_eq!(missing.status, 401);
    assert!(missing.header("x-request-id").is_some());
    let error = &missing.json()["error"];
    assert_eq!(error["type"], "invalid_request_error");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("didn't provide an API key")
    );

    let wrong = RawRequest::post(CHAT, body.clone())
        .header("authorization", "Bearer sk-wrong-98765")
        .send(server.addr())
        .await;
    assert_eq!(wrong.status, 401);
    let error = &wrong.json()["error"];
    assert_eq!(error["code"], "invalid_api_key");
    assert!(
        !error["message"]
            .as_str()
            .unwrap()
            .contains("sk-wrong-98765"),
        "the key must be masked"
    );

    let right = RawRequest::post(CHAT, body)
        .header("authorization", "Bearer sk-test-1234567")
        .send(server.addr())
        .await;
    assert_eq!(right.status, 200);
    let models = RawRequest::get("/v1/models").send(server.addr()).await;
    assert_eq!(models.status, 401);
}

#[tokio::test]
async fn invalid_requests_get_400_and_unknown_models_404() {
    let server = MockServer::start().await.unwrap();
    let cases = [
        ("{\"model\": \"mock-echo\",", None, None),
        (
            "{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}]}",
            None,
            None,
        ),
        (
            "{\"model\": \"mock-echo\"}",
            Some("messages"),
            Some("missing_required_parameter"),
        ),
        (
            "{\"model\": \"mock-echo\", \"messages\": [{\"role\": \"user\", \"content\": \"x\"}], \"temperature\": 3}",
            Some("temperature"),
            Some("decimal_above_max_value"),
        ),
        (
            "{\"model\": \"mock-echo\", \"messages\": []}",
            Some("messages"),
            Some("empty_array"),
        ),
        (
            "{\"model\": \"mock-tools\", \"messages\": [{\"role\": \"user\", \"content\": \"x\"}], \"tools\": []}",
            Some("tools"),
            Some("empty_array"),
        ),
    ];
    for (body, param, code) in cases {
        let response = RawRequest::post(CHAT, body).send(server.addr()).await;
        assert_eq!(response.status, 400, "{body}");
        let error = &response.json()["error"];
        assert_eq!(error["type"], "invalid_request_error", "{body}");
        assert_eq!(error["param"].as_str(), param, "{body}");
        assert_eq!(error["code"].as_str(), code, "{body}");
        assert!(!error["message"].as_str().unwrap().is_empty());
    }
    let unknown = RawRequest::post(CHAT, chat_body("gpt-9", "hi", json!({})))
        .send(server.addr())
        .await;
    assert_eq!(unknown.status, 404);
    assert_eq!(unknown.json()["error"]["code"], "model_not_found");
}

#[tokio::test]
async fn lists_models_and_configured_aliases() {
    let server = MockServer::start().await.unwrap();
    let response = RawRequest::get("/v1/models").send(server.addr()).await;
    assert_eq!(response.status, 200);
    let body = response.json();
    assert_eq!(body["object"], "list");
    let ids: Vec<&str> = body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|model| model["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        vec![
            "mock-echo",
            "mock-tools",
            "gpt-4o",
            "aws/claude-haiku-4-5",
            "gemini-2.5-flash"
        ]
    );
    let one = RawRequest::get("/v1/models/aws/claude-haiku-4-5")
        .send(server.addr())
        .await;
    assert_eq!(one.json()["id"], "aws/claude-haiku-4-5");
    assert_eq!(
        RawRequest::get("/v1/models/nope")
            .send(server.addr())
            .await
            .status,
        404
    );

    let custom = MockServer::builder()
        .models(["my-model"])
        .start()
        .await
        .unwrap();
    let answer = RawRequest::post(CHAT, chat_body("my-model", "hi there", json!({})))
        .send(custom.addr())
        .await;
    assert_eq!(answer.status, 200);
    let replaced = RawRequest::post(CHAT, chat_body("gpt-4o", "hi", json!({})))
        .send(custom.addr())
        .await;
    assert_eq!(replaced.status, 404);
}

fn weather_tools() -> Value {
    json!([{"type": "function", "function": {"name": "get_weather", "parameters": {
        "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]
    }}}])
}

#[tokio::test]
async fn tools_model_calls_a_tool_then_uses_its_result() {
    let server = MockServer::start().await.unwrap();
    let first = RawRequest::post(
        CHAT,
        chat_body(
            "mock-tools",
            "weather in Paris?",
            json!({"tools": weather_tools()}),
        ),
    )
    .send(server.addr())
    .await
    .json();
    let choice = &first["choices"][0];
    assert_eq!(choice["finish_reason"], "tool_calls");
    assert!(choice["message"]["content"].is_null());
    let call = &choice["message"]["tool_calls"][0];
    assert_eq!(call["type"], "function");
    assert_eq!(call["function"]["name"], "get_weather");
    let arguments: Value =
        serde_json::from_str(call["function"]["arguments"].as_str().unwrap()).unwrap();
    assert_eq!(arguments, json!({"city": "Paris"}));

    let follow_up = json!({"model": "mock-tools", "tools": weather_tools(), "messages": [
        {"role": "user", "content": "weather in Paris?"},
        {"role": "assistant", "content": null, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": call["id"], "content": "18C and cloudy"}
    ]});
    let second = RawRequest::post(CHAT, follow_up.to_string())
        .send(server.addr())
        .await
        .json();
    assert_eq!(second["choices"][0]["finish_reason"], "stop");
    assert_eq!(
        second["choices"][0]["message"]["content"],
        "Based on get_weather: 18C and cloudy"
    );
}

#[tokio::test]
async fn streamed_tool_calls_come_in_fragments() {
    let server = MockServer::start().await.unwrap();
    let response = RawRequest::post(
        CHAT,
        chat_body(
            "mock-tools",
            "weather?",
            json!({"tools": weather_tools(), "stream": true}),
        ),
    )
    .send(server.addr())
    .await;
    let chunks = response.chunks();
    let first = &chunks[0]["choices"][0]["delta"]["tool_calls"][0];
    assert_eq!(first["index"], 0);
    assert_eq!(first["function"]["name"], "get_weather");
    assert!(first["id"].as_str().unwrap().starts_with("call_"));
    let fragments: Vec<&str> = chunks[1..]
        .iter()
        .filter_map(|chunk| {
            chunk["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"].as_str()
        })
        .collect();
    assert!(
        fragments.len() >= 2,
        "arguments should be split: {fragments:?}"
    );
    assert_eq!(fragments.concat(), "{\"city\":\"Paris\"}");
    assert_eq!(
        chunks.last().unwrap()["choices"][0]["finish_reason"],
        "tool_calls"
    );
}

#[tokio::test]
async fn scripted_answers_are_used_in_order() {
    let script = Script::new()
        .then(Answer::text("first scripted"))
        .then(Answer::tool_call("lookup", "{\"q\":1}"));
    let server = MockServer::builder().script(script).start().await.unwrap();
    server.push_script(Answer::text("third scripted"));
    assert_eq!(server.pending_script_steps(), 3);
    let body = chat_body("mock-echo", "ignored", json!({}));
    let first = RawRequest::post(CHAT, body.clone())
        .send(server.addr())
        .await
        .json();
    assert_eq!(first["choices"][0]["message"]["content"], "first scripted");
    let second = RawRequest::post(CHAT, body.clone())
        .send(server.addr())
        .await
        .json();
    assert_eq!(
        second["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"],
        "{\"q\":1}"
    );
    let third = RawRequest::post(CHAT, chat_body("mock-echo", "x", json!({"stream": true})))
        .send(server.addr())
        .await;
    assert_eq!(third.streamed_text(0), "third scripted");
    let fourth = RawRequest::post(CHAT, body)
        .send(server.addr())
        .await
        .json();
    assert_eq!(fourth["choices"][0]["message"]["content"], "ignored");
    assert_eq!(server.pending_script_steps(), 0);
}

#[tokio::test]
async fn records_every_request() {
    let server = MockServer::start().await.unwrap();
    let body = chat_body("mock-echo", "remember me", json!({"temperature": 0.5}));
    RawRequest::post("/v1/chat/completions?trace=1", body)
        .header("x-custom", "yes")
        .send(server.addr())
        .await;
    RawRequest::get("/v1/models").send(server.addr()).await;
    let requests = server.requests();
    assert_eq!(requests.len(), 2);
    let first = &requests[0];
    assert_eq!(first.method, http::Method::POST);
    assert_eq!(first.path, "/v1/chat/completions");
    assert_eq!(first.query.as_deref(), Some("trace=1"));
    assert_eq!(first.header("x-custom"), Some("yes"));
    assert_eq!(first.request_id, "req_mock_1");
    let json = first.body_json().unwrap();
    assert_eq!(json["messages"][0]["content"], "remember me");
    assert_eq!(json["temperature"], 0.5);
    assert_eq!(requests[1].method, http::Method::GET);
    assert!(requests[1].body_json().is_none());
    server.clear_requests();
    assert!(server.requests().is_empty());
}

#[tokio::test]
async fn counts_open_and_closed_connections() {
    let server = MockServer::start().await.unwrap();
    assert_eq!(server.open_connections(), 0);
    let mut stream = TcpStream::connect(server.addr()).await.unwrap();
    let response = RawRequest::get("/v1/models")
        .send_keep_alive(&mut stream)
        .await;
    assert_eq!(response.status, 200);
    assert_eq!(
        server.open_connections(),
        1,
        "a kept-alive connection stays open"
    );
    let response = RawRequest::get("/v1/models")
        .send_keep_alive(&mut stream)
        .await;
    assert_eq!(response.status, 200);
    assert_eq!(server.connections_closed(), 0);
    drop(stream);
    assert!(server.wait_for_closed(1, Duration::from_secs(5)).await);
    assert_eq!(server.open_connections(), 0);
    assert_eq!(server.connections_closed(), 1);
    assert!(
        !server.wait_for_closed(2, Duration::from_millis(50)).await,
        "no second connection was opened"
    );
}

#[tokio::test]
async fn tells_connections_that_carried_a_request_from_spare_ones() {
    let server = MockServer::start().await.unwrap();
    let spare = TcpStream::connect(server.addr()).await.unwrap();
    let mut used = TcpStream::connect(server.addr()).await.unwrap();
    let response = RawRequest::get("/v1/models")
        .send_keep_alive(&mut used)
        .await;
    assert_eq!(response.status, 200);
    // The spare connection was accepted first; its task counts it when it runs.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while server.open_connections() < 2 && tokio::time::Instant::now() < deadline {
        tokio::task::yield_now().await;
    }
    assert_eq!(server.open_connections(), 2);
    assert_eq!(server.open_connections_without_requests(), 1);
    drop(spare);
    assert!(server.wait_for_closed(1, Duration::from_secs(5)).await);
    assert_eq!(server.open_connections(), 1);
    assert_eq!(server.open_connections_without_requests(), 0);
    drop(used);
    assert!(server.wait_for_closed(2, Duration::from_secs(5)).await);
    assert_eq!(server.open_connections(), 0);
}

#[tokio::test]
async fn many_concurrent_streams_leave_no_connection_open() {
    let server = MockServer::start().await.unwrap();
    let addr = server.addr();
    let mut tasks = tokio::task::JoinSet::new();
    for index in 0..100 {
        tasks.spawn(async move {
            let body = chat_body(
                "mock-echo",
                &format!("stream number {index}"),
                json!({"stream": true}),
            );
            RawRequest::post(CHAT, body).send(addr).await
        });
    }
    while let Some(response) = tasks.join_next().await {
        let response = response.unwrap();
        assert!(response.complete);
        assert!(response.streamed_text(0).starts_with("stream number"));
    }
    assert!(server.wait_for_closed(100, Duration::from_secs(10)).await);
    assert_eq!(server.open_connections(), 0);
    assert_eq!(server.requests().len(), 100);
}

#[tokio::test]
async fn shutdown_closes_the_listener_and_every_connection() {
    let server = MockServer::builder()
        .shutdown_grace(Duration::from_millis(100))
        .start()
        .await
        .unwrap();
    let addr = server.addr();
    let mut idle = TcpStream::connect(addr).await.unwrap();
    RawRequest::get("/v1/models")
        .send_keep_alive(&mut idle)
        .await;
    assert_eq!(server.open_connections(), 1);
    server.shutdown().await;
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "nothing may listen after shutdown"
    );
    let mut buf = [0u8; 16];
    let read = tokio::io::AsyncReadExt::read(&mut idle, &mut buf).await;
    assert!(
        matches!(read, Ok(0) | Err(_)),
        "the idle connection must be closed"
    );
}

#[tokio::test]
async fn shutdown_ends_a_stalled_stream_after_the_grace() {
    let server = MockServer::builder()
        .shutdown_grace(Duration::from_millis(50))
        .start()
        .await
        .unwrap();
    let addr = server.addr();
    let client = tokio::spawn(async move {
        let body = chat_body("mock-echo", "a b c", json!({"stream": true}));
        RawRequest::post(CHAT, body)
            .header("x-mock-fault", "stall=30s")
            .send(addr)
            .await
    });
    // The request is recorded before the answer starts, so once it shows up the stream is live.
    while server.requests().is_empty() {
        tokio::task::yield_now().await;
    }
    server.shutdown().await;
    let response = tokio::time::timeout(Duration::from_secs(5), client)
        .await
        .expect("client must finish")
        .unwrap();
    assert_eq!(response.status, 200);
    assert!(
        !response.complete,
        "a stream cut by shutdown does not end cleanly"
    );
    assert!(TcpStream::connect(addr).await.is_err());
}

#[test]
fn blocking_server_serves_sync_code_and_stops() {
    use std::io::{Read, Write};
    let server = MockServer::start_blocking().unwrap();
    let addr = server.addr();
    assert_eq!(
        server.base_url(),
        format!("http://127.0.0.1:{}/v1", addr.port())
    );
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    let body = chat_body("mock-echo", "sync hello", json!({}));
    let request = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\nconnection: close\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let response = common::parse(raw);
    assert_eq!(response.status, 200);
    assert_eq!(
        response.json()["choices"][0]["message"]["content"],
        "sync hello"
    );
    server.shutdown_blocking();
    assert!(std::net::TcpStream::connect(addr).is_err());
}

#[test]
fn dropping_a_blocking_server_stops_it() {
    let server = MockServer::builder().start_blocking().unwrap();
    let addr = server.addr();
    assert!(std::net::TcpStream::connect(addr).is_ok());
    drop(server);
    assert!(std::net::TcpStream::connect(addr).is_err());
}

#[tokio::test]
async fn shutdown_blocking_closes_the_listener_of_an_async_server() {
    // A current-thread runtime: the server task cannot run while shutdown_blocking blocks.
    let server = MockServer::start().await.unwrap();
    let addr = server.addr();
    server.shutdown_blocking();
    assert!(
        std::net::TcpStream::connect(addr).is_err(),
        "nothing may listen once shutdown_blocking has returned"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_blocking_waits_for_the_connections_of_an_async_server() {
    let server = MockServer::start().await.unwrap();
    let addr = server.addr();
    let mut idle = std::net::TcpStream::connect(addr).unwrap();
    while server.open_connections() == 0 {
        tokio::task::yield_now().await;
    }
    server.shutdown_blocking();
    assert!(std::net::TcpStream::connect(addr).is_err());
    assert_closed_by_server(&mut idle);
}

#[test]
fn shutdown_blocking_from_a_plain_thread_waits_for_the_server_task() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let server = runtime.block_on(MockServer::start()).unwrap();
    let addr = server.addr();
    let mut idle = std::net::TcpStream::connect(addr).unwrap();
    while server.open_connections() == 0 {
        std::thread::yield_now();
    }
    server.shutdown_blocking();
    assert!(std::net::TcpStream::connect(addr).is_err());
    assert_closed_by_server(&mut idle);
}

/// Fails unless the server has already closed `connection`: a read that does not
/// wait finds its end (or a reset), where an open idle connection would have
/// nothing yet (`WouldBlock`).
#[track_caller]
fn assert_closed_by_server(connection: &mut std::net::TcpStream) {
    use std::io::Read;
    connection.set_nonblocking(true).unwrap();
    let read = connection.read(&mut [0u8; 16]);
    assert!(
        matches!(&read, Ok(0))
            || read
                .as_ref()
                .is_err_and(|e| e.kind() != std::io::ErrorKind::WouldBlock),
        "the connection is still open: {read:?}"
    );
}

#[tokio::test]
async fn dropping_an_async_server_closes_its_listener_at_once() {
    let server = MockServer::start().await.unwrap();
    let addr = server.addr();
    drop(server);
    assert!(std::net::TcpStream::connect(addr).is_err());
}

#[tokio::test]
async fn a_long_prompt_gets_a_bounded_echo() {
    let server = MockServer::start().await.unwrap();
    let words = 20_000;
    let prompt = "word ".repeat(words);
    let extra = json!({"stream": true, "stream_options": {"include_usage": true}});
    let response = RawRequest::post(CHAT, chat_body("mock-echo", &prompt, extra))
        .max_bytes(64 << 20)
        .send(server.addr())
        .await;
    assert_eq!(response.status, 200);
    assert!(response.complete && !response.truncated);
    let keep = usize::try_from(MAX_ANSWER_TOKENS * 3 / 4).unwrap();
    assert_eq!(response.streamed_text(0).split_whitespace().count(), keep);
    let chunks = response.chunks();
    assert_eq!(
        chunks[chunks.len() - 2]["choices"][0]["finish_reason"],
        "length"
    );
    assert_eq!(
        chunks[chunks.len() - 1]["usage"]["completion_tokens"],
        MAX_ANSWER_TOKENS
    );
    server.shutdown().await;
}
