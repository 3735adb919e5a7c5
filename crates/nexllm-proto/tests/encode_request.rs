//! Encoding requests: method, URI, headers, body; validation before any I/O.

#![allow(
    clippy::unwrap_used,
    clippy::panic,
    reason = "a test fails loudly on an unexpected value"
)]

use nexllm_proto::encode::{USER_AGENT, chat_request, models_request};
use nexllm_proto::types::{ChatCompletionRequest, Message};
use nexllm_proto::{Config, Error};
use serde_json::{Value, json};

fn hello() -> ChatCompletionRequest {
    ChatCompletionRequest::new("gpt-4o-mini", vec![Message::user("Hello")])
}

fn body_json(request: &http::Request<bytes::Bytes>) -> Value {
    serde_json::from_slice(request.body()).unwrap()
}

#[test]
fn user_agent_names_the_crate_version() {
    assert_eq!(USER_AGENT, format!("nexllm/{}", env!("CARGO_PKG_VERSION")));
}

#[test]
fn chat_request_method_uri_and_headers() {
    let config = Config::new("sk-secret").base_url("https://gw.example/openai/v1/");
    let request = chat_request(&config, &hello()).unwrap();
    assert_eq!(request.method(), http::Method::POST);
    assert_eq!(
        request.uri().to_string(),
        "https://gw.example/openai/v1/chat/completions"
    );
    let h = request.headers();
    assert_eq!(h["authorization"], "Bearer sk-secret");
    assert!(h["authorization"].is_sensitive());
    assert_eq!(h["content-type"], "application/json");
    assert_eq!(h["accept"], "application/json");
    assert_eq!(h["user-agent"], USER_AGENT);
    assert_eq!(h.len(), 4);
    // The key never shows in the request's Debug output.
    assert!(!format!("{request:?}").contains("sk-secret"));
}

#[test]
fn accept_follows_stream() {
    let config = Config::new("k");
    for (request, accept) in [
        (hello().stream(true), "text/event-stream"),
        (hello().stream(false), "application/json"),
        (hello(), "application/json"),
    ] {
        let http_request = chat_request(&config, &request).unwrap();
        assert_eq!(http_request.headers()["accept"], accept, "{request:?}");
    }
}

#[test]
fn no_authorization_without_a_key() {
    for config in [Config::without_key(), Config::new("")] {
        let request = chat_request(&config, &hello()).unwrap();
        assert!(request.headers().get("authorization").is_none());
        let request = models_request(&config).unwrap();
        assert!(request.headers().get("authorization").is_none());
    }
}

#[test]
fn a_key_that_cannot_be_a_header_is_rejected_without_quoting_it() {
    let err = chat_request(&Config::new("sk-bad\nkey"), &hello()).unwrap_err();
    match &err {
        Error::InvalidRequest(e) => assert_eq!(e.field, "api_key"),
        other => panic!("{other:?}"),
    }
    assert!(!err.to_string().contains("sk-bad"));
    // Bytes HTTP could carry but a bearer token never holds: refused up front,
    // for both requests, whichever transport would have sent them.
    for key in ["sk-SECRÉT", "sk-bad key", "sk-bad\u{7f}"] {
        let config = Config::new(key);
        for err in [
            chat_request(&config, &hello()).unwrap_err(),
            nexllm_proto::encode::models_request(&config).unwrap_err(),
        ] {
            match &err {
                Error::InvalidRequest(e) => assert_eq!(e.field, "api_key", "{key:?}"),
                other => panic!("{key:?}: {other:?}"),
            }
            assert!(!err.to_string().contains("sk-"), "{err}");
        }
    }
}

#[test]
fn config_headers_override_defaults_without_duplicates() {
    let config = Config::new("sk-default")
        .header("user-agent", "my-app/1.0")
        .unwrap()
        .header("Authorization", "Bearer sk-override")
        .unwrap()
        .header("x-team", "a")
        .unwrap()
        .header("x-team", "b")
        .unwrap();
    let request = chat_request(&config, &hello()).unwrap();
    let h = request.headers();
    let agents: Vec<_> = h.get_all("user-agent").iter().collect();
    assert_eq!(agents, ["my-app/1.0"]);
    let auth: Vec<_> = h.get_all("authorization").iter().collect();
    assert_eq!(auth, ["Bearer sk-override"]);
    assert!(h["authorization"].is_sensitive());
    let teams: Vec<_> = h.get_all("x-team").iter().collect();
    assert_eq!(teams, ["a", "b"]);
    assert_eq!(h["content-type"], "application/json");
}

#[test]
fn body_omits_unset_options_and_flattens_extra() {
    let request = hello()
        .max_tokens(16)
        .extra_param("top_k", 40)
        .extra_param("chat_template_kwargs", json!({"enable_thinking": false}));
    let http_request = chat_request(&Config::new("k"), &request).unwrap();
    assert_eq!(
        body_json(&http_request),
        json!({
            "model": "gpt-4o-mini",
            "messages": [{"role": "user", "content": "Hello"}],
            "max_tokens": 16,
            "top_k": 40,
            "chat_template_kwargs": {"enable_thinking": false}
        })
    );
    let text = std::str::from_utf8(http_request.body()).unwrap();
    assert!(!text.contains("null"), "{text}");
}

#[test]
fn invalid_requests_fail_before_encoding() {
    let config = Config::new("k");
    let table = [
        (
            ChatCompletionRequest::new("", vec![Message::user("x")]),
            "model",
        ),
        (ChatCompletionRequest::new("m", vec![]), "messages"),
        (hello().temperature(f64::NAN), "temperature"),
        (hello().temperature(2.5), "temperature"),
        (hello().top_p(1.1), "top_p"),
        (hello().n(0), "n"),
        (hello().max_tokens(0), "max_tokens"),
        (hello().max_completion_tokens(0), "max_completion_tokens"),
        (hello().presence_penalty(-3.0), "presence_penalty"),
        (
            hello().frequency_penalty(f64::INFINITY),
            "frequency_penalty",
        ),
        (hello().top_logprobs(21), "top_logprobs"),
        (hello().logit_bias("42", -101.0), "logit_bias"),
    ];
    for (request, field) in table {
        match chat_request(&config, &request) {
            Err(Error::InvalidRequest(e)) => assert_eq!(e.field, field, "{request:?}"),
            other => panic!("{request:?}: {other:?}"),
        }
    }
}

#[test]
fn a_bad_base_url_names_base_url() {
    let config = Config::new("k").base_url("ftp://example.com");
    for result in [
        chat_request(&config, &hello()).map(drop),
        models_request(&config).map(drop),
    ] {
        match result {
            Err(Error::InvalidRequest(e)) => assert_eq!(e.field, "base_url"),
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn models_request_is_a_get_with_an_empty_body() {
    let config = Config::new("sk-m")
        .base_url("http://127.0.0.1:11434/v1")
        .header("x-team", "t")
        .unwrap();
    let request = models_request(&config).unwrap();
    assert_eq!(request.method(), http::Method::GET);
    assert_eq!(request.uri(), "http://127.0.0.1:11434/v1/models");
    assert!(request.body().is_empty());
    let h = request.headers();
    assert_eq!(h["authorization"], "Bearer sk-m");
    assert_eq!(h["accept"], "application/json");
    assert_eq!(h["user-agent"], USER_AGENT);
    assert_eq!(h["x-team"], "t");
    assert!(h.get("content-type").is_none());
}
