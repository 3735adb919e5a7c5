//! The blocking client against nexllm-mock: whole answers, streams, models,
//! error bodies, request headers and connection reuse.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // helpers outside #[test] fail the test loudly

use std::time::Duration;

use nexllm_blocking::{
    ApiErrorKind, ChatCompletionRequest, Client, Config, Error, FinishReason, Message,
};
use nexllm_mock::MockServer;

const KEY: &str = "sk-test";

fn server() -> MockServer {
    MockServer::builder().api_key(KEY).start_blocking().unwrap()
}

fn client(server: &MockServer) -> Client {
    Client::new(Config::new(KEY).base_url(server.base_url()))
}

fn ask(text: &str) -> ChatCompletionRequest {
    ChatCompletionRequest::new("mock-echo", vec![Message::user(text)])
}

#[test]
fn create_returns_the_completion_with_its_response() {
    let server = server();
    let response = client(&server)
        .chat()
        .create_with_response(&ask("echo this back"))
        .unwrap();
    assert_eq!(response.data.content(), Some("echo this back"));
    assert_eq!(response.status, http::StatusCode::OK);
    assert_eq!(response.attempts(), 1);
    assert_eq!(response.request_id(), Some("req_mock_1"));
    assert!(response.rate_limit().limit_requests.is_some());
    let usage = response.data.usage.clone().unwrap();
    assert!(usage.total_tokens > 0);
}

#[test]
fn create_sends_what_the_core_encoded() {
    let server = server();
    client(&server).chat().create(&ask("hello there")).unwrap();
    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(request.method, http::Method::POST);
    assert_eq!(request.path, "/v1/chat/completions");
    assert_eq!(request.header("authorization"), Some("Bearer sk-test"));
    assert_eq!(request.header("content-type"), Some("application/json"));
    assert!(
        request.header("user-agent").unwrap().starts_with("nexllm"),
        "{:?}",
        request.header("user-agent")
    );
    assert!(request.header("idempotency-key").is_some());
    assert_eq!(request.header("x-nexllm-retry-count"), Some("0"));
    let body = request.body_json().unwrap();
    assert_eq!(body["model"], "mock-echo");
    assert_eq!(body["messages"][0]["content"], "hello there");
    assert!(body.get("stream").is_none());
}

#[test]
fn create_turns_streaming_off() {
    let server = server();
    let request = ask("not streamed").stream(true).include_usage(true);
    let completion = client(&server).chat().create(&request).unwrap();
    assert_eq!(completion.content(), Some("not streamed"));
    let body = server.requests()[0].body_json().unwrap();
    assert!(body.get("stream").is_none() && body.get("stream_options").is_none());
}

#[test]
fn a_stream_hands_out_chunks_and_assembles_the_completion() {
    let server = server();
    let request = ask("one two three four").include_usage(true);
    let mut stream = client(&server).chat().create_stream(&request).unwrap();
    assert_eq!(stream.status(), Some(http::StatusCode::OK));
    assert_eq!(stream.request_id(), Some("req_mock_1"));
    assert!(
        stream
            .headers()
            .unwrap()
            .contains_key("x-ratelimit-limit-requests")
    );
    let mut text = String::new();
    let mut chunks = 0;
    for chunk in &mut stream {
        let chunk = chunk.unwrap();
        chunks += 1;
        for choice in &chunk.choices {
            text.push_str(choice.delta.content.as_deref().unwrap_or(""));
        }
    }
    assert_eq!(text, "one two three four");
    assert!(chunks >= 5, "{chunks} chunks");
    assert!(stream.is_ended());
    assert!(stream.error().is_none());
    assert!(stream.next().is_none(), "a finished stream stays finished");
    let completion = stream.into_completion();
    assert_eq!(completion.content(), Some("one two three four"));
    assert_eq!(completion.finish_reason(), Some(&FinishReason::Stop));
    assert!(completion.usage.unwrap().total_tokens > 0);
    let body = server.requests()[0].body_json().unwrap();
    assert_eq!(body["stream"], true);
    assert_eq!(body["stream_options"]["include_usage"], true);
}

#[test]
fn lent_chunks_are_the_chunks_given_and_the_two_can_be_mixed() {
    let server = server();
    let text = "one two three four five six seven";
    let chat = client(&server);
    let given: Vec<_> = chat
        .chat()
        .create_stream(&ask(text))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert!(given.len() >= 6, "{} chunks", given.len());

    // Lent (the buffered first chunk too), given, lent again.
    let mut mixed = Vec::new();
    let mut stream = chat.chat().create_stream(&ask(text)).unwrap();
    loop {
        let chunk = if mixed.len() % 3 == 1 {
            stream.next()
        } else {
            stream.next_chunk_ref().map(|chunk| chunk.cloned())
        };
        match chunk {
            Some(chunk) => mixed.push(chunk.unwrap()),
            None => break,
        }
    }
    assert!(stream.is_ended() && stream.error().is_none());
    assert!(stream.next_chunk_ref().is_none(), "ended stays ended");
    let mut given = given;
    // The ids of the two calls differ; everything else is the same.
    for chunk in given.iter_mut().chain(mixed.iter_mut()) {
        chunk.id = Default::default();
        chunk.created = 0;
    }
    assert_eq!(mixed, given);
    assert_eq!(stream.into_completion().content(), Some(text));
}

#[test]
fn finish_reads_the_rest_of_a_stream() {
    let server = server();
    let stream = client(&server)
        .chat()
        .create_stream(&ask("to the end"))
        .unwrap();
    let completion = stream.finish().unwrap();
    assert_eq!(completion.content(), Some("to the end"));
}

#[test]
fn models_are_listed() {
    let server = server();
    let models = client(&server).models().list().unwrap();
    let ids: Vec<&str> = models.data.iter().map(|m| m.id.as_str()).collect();
    assert!(ids.contains(&"mock-echo"), "{ids:?}");
    let response = client(&server).models().list_with_response().unwrap();
    assert_eq!(response.status, http::StatusCode::OK);
    assert_eq!(server.requests()[0].path, "/v1/models");
}

#[test]
fn a_json_error_body_reaches_the_caller() {
    let server = server();
    let client = Client::new(Config::new("sk-wrong").base_url(server.base_url()));
    let error = client.chat().create(&ask("hi")).unwrap_err();
    let Error::Api(api) = &error else {
        panic!("{error:?}")
    };
    assert_eq!(api.status, Some(http::StatusCode::UNAUTHORIZED));
    assert_eq!(api.kind, ApiErrorKind::Authentication);
    assert!(api.code_is("invalid_api_key"), "{api:?}");
    assert_eq!(api.request_id.as_deref(), Some("req_mock_1"));
    assert_eq!(error.attempts(), 1, "a 401 is not retried");
    assert!(!error.to_string().contains("sk-wrong"), "{error}");
    assert_eq!(server.requests().len(), 1);
}

#[test]
fn a_stream_error_status_is_returned_by_create_stream() {
    let server = server();
    let request = ChatCompletionRequest::new("no-such-model", vec![Message::user("hi")]);
    let error = client(&server).chat().create_stream(&request).unwrap_err();
    assert_eq!(error.status(), Some(http::StatusCode::NOT_FOUND));
    let Error::Api(api) = error else { panic!() };
    assert!(api.code_is("model_not_found"), "{api:?}");
}

#[test]
fn an_invalid_request_fails_before_any_io() {
    let server = server();
    let client = client(&server);
    let empty_model = ChatCompletionRequest::new("", vec![Message::user("hi")]);
    let error = client.chat().create(&empty_model).unwrap_err();
    assert!(
        matches!(error, Error::InvalidRequest(ref e) if e.field == "model"),
        "{error:?}"
    );
    let error = client
        .chat()
        .create_stream(&ask("hi").temperature(3.0))
        .unwrap_err();
    assert!(
        matches!(error, Error::InvalidRequest(ref e) if e.field == "temperature"),
        "{error:?}"
    );
    let bad_base = Client::new(Config::new(KEY).base_url("ftp://example.com"));
    let error = bad_base.models().list().unwrap_err();
    assert!(
        matches!(error, Error::InvalidRequest(ref e) if e.field == "base_url"),
        "{error:?}"
    );
    assert!(server.requests().is_empty());
}

#[test]
fn a_connect_timeout_too_long_to_count_is_no_limit() {
    // Without a total deadline nothing shortens it; ureq adds it to an
    // `Instant`, which must not overflow.
    let server = server();
    let config = Config::new(KEY)
        .base_url(server.base_url())
        .connect_timeout(Duration::MAX)
        .total_timeout(None);
    let client = Client::new(config);
    assert_eq!(
        client.chat().create(&ask("no limit")).unwrap().content(),
        Some("no limit")
    );
    let stream = client.chat().create_stream(&ask("none at all")).unwrap();
    assert_eq!(stream.finish().unwrap().content(), Some("none at all"));
}

#[test]
fn from_env_needs_a_key() {
    // The variables are not set in the test environment (the CI runs without them).
    if std::env::var_os("NEXLLM_API_KEY").is_none() {
        let error = Client::from_env().unwrap_err();
        assert!(matches!(error, Error::InvalidRequest(ref e) if e.field == "api_key"));
    }
}

#[test]
fn calls_reuse_one_connection() {
    let server = server();
    let client = client(&server);
    for text in ["a", "b", "c"] {
        assert_eq!(
            client.chat().create(&ask(text)).unwrap().content(),
            Some(text)
        );
    }
    let stream = client.chat().create_stream(&ask("d e f")).unwrap();
    assert_eq!(stream.finish().unwrap().content(), Some("d e f"));
    client.models().list().unwrap();
    assert_eq!(server.requests().len(), 5);
    assert_eq!(
        server.open_connections(),
        1,
        "one pooled connection served every call"
    );
    assert_eq!(server.connections_closed(), 0);
}

#[test]
fn clients_work_from_many_threads() {
    let server = server();
    let client = client(&server);
    let handles: Vec<_> = (0..4)
        .map(|i| {
            let client = client.clone();
            std::thread::spawn(move || {
                let text = format!("thread {i}");
                let stream = client.chat().create_stream(&ask(&text)).unwrap();
                assert_eq!(stream.finish().unwrap().content(), Some(text.as_str()));
            })
        })
        .collect();
    for handle in handles {
        handle.join().unwrap();
    }
    assert_eq!(server.requests().len(), 4);
}

/// Answers one request on a loopback port with `response` (a whole HTTP/1.1
/// answer, which closes the connection) and returns the base URL.
fn answer_once(response: String) -> String {
    use std::io::{BufRead, BufReader, Read, Write};

    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut length = 0;
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            if line == "\r\n" {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.trim().parse().unwrap();
                }
            }
        }
        reader.read_exact(&mut vec![0; length]).unwrap();
        let mut stream = stream;
        stream.write_all(response.as_bytes()).unwrap();
    });
    format!("http://{addr}/v1")
}

#[test]
fn debug_shows_the_state_of_a_stream_never_its_content() {
    let chunk = r#"{"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"private words"},"finish_reason":null}]}"#;
    let body = format!("data: {chunk}\n\ndata: {{\"choices\": \"more private words\n\n");
    let base_url = answer_once(format!(
        "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncontent-length: {}\r\n\
         connection: close\r\n\r\n{body}",
        body.len()
    ));
    let client = Client::builder()
        .config(Config::new(KEY).base_url(base_url).max_retries(0))
        .proxy(nexllm_blocking::Proxy::none())
        .build()
        .unwrap();
    let mut stream = client.chat().create_stream(&ask("hello")).unwrap();
    let shown = format!("{stream:?}");
    assert!(!shown.contains("private"), "{shown}");
    assert!(shown.contains("chunk_buffered: true"), "{shown}");
    let first = stream.next().unwrap().unwrap();
    assert_eq!(
        first.choices[0].delta.content.as_deref(),
        Some("private words")
    );
    let error = stream.next().unwrap().unwrap_err();
    assert!(
        format!("{error:?}").contains("more private words"),
        "{error:?}"
    );
    let shown = format!("{stream:?}");
    assert!(!shown.contains("private"), "{shown}");
    assert!(shown.contains("ended: Some(\"failed\")"), "{shown}");
}
