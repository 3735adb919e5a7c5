//! Decoding successful answers: captured-style bodies of several providers
//! decode, keep every field through a round trip, and bodies that are not
//! what was asked for become errors quoting them.

#![allow(
    clippy::unwrap_used,
    clippy::panic,
    reason = "a test fails loudly on an unexpected value"
)]

use http::{HeaderMap, HeaderValue, StatusCode};
use nexllm_proto::Error;
use nexllm_proto::decode::{chat_completion, models};
use nexllm_proto::types::{ChatCompletion, ChatCompletionChunk, FinishReason, Role};
use serde_json::{Value, json};

fn fixture(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/tests/fixtures/responses/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The JSON with every `null` member removed: what "keeps every field" means
/// for a type that leaves absent options out.
fn without_nulls(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k, without_nulls(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(without_nulls).collect()),
        other => other,
    }
}

fn ok_headers() -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert("x-request-id", HeaderValue::from_static("req_fixture"));
    headers
}

/// Decodes a fixture, checks it encodes back to the same JSON (nulls aside)
/// and decodes again to the same value.
fn decode_fixture(name: &str) -> ChatCompletion {
    let body = fixture(name);
    let completion = chat_completion(StatusCode::OK, &ok_headers(), &body)
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    let original: Value = serde_json::from_slice(&body).unwrap();
    let encoded = serde_json::to_value(&completion).unwrap();
    assert_eq!(
        without_nulls(encoded.clone()),
        without_nulls(original),
        "{name}"
    );
    let again: ChatCompletion = serde_json::from_value(encoded).unwrap();
    assert_eq!(again, completion, "{name}");
    completion
}

#[test]
fn openai() {
    let c = decode_fixture("openai.json");
    assert_eq!(c.id, "chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT");
    assert_eq!(c.object, "chat.completion");
    assert_eq!(c.created, 1741569952);
    assert_eq!(c.content(), Some("Hello! How can I assist you today?"));
    assert_eq!(c.choices[0].message.role, Role::Assistant);
    assert_eq!(c.finish_reason(), Some(&FinishReason::Stop));
    let usage = c.usage.as_ref().unwrap();
    assert_eq!(
        (
            usage.prompt_tokens,
            usage.completion_tokens,
            usage.total_tokens
        ),
        (19, 10, 29)
    );
    assert_eq!(
        usage.prompt_tokens_details.as_ref().unwrap().cached_tokens,
        Some(0)
    );
    assert_eq!(c.service_tier.as_deref(), Some("default"));
    assert_eq!(c.system_fingerprint.as_deref(), Some("fp_06737a9306"));
    assert_eq!(c.choices[0].message.annotations, Some(vec![]));
}

#[test]
fn openai_tool_calls_and_logprobs() {
    let c = decode_fixture("openai_tool_calls.json");
    assert_eq!(c.content(), None);
    assert_eq!(c.finish_reason(), Some(&FinishReason::ToolCalls));
    let calls = c.tool_calls();
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[0].id, "call_Lp8sWlVP1ZL6zqK0U3kNKzKb");
    assert_eq!(calls[0].r#type, "function");
    assert_eq!(calls[1].function.name, "get_weather");
    let args: Value = serde_json::from_str(&calls[1].function.arguments).unwrap();
    assert_eq!(args["city"], "Tokyo");
    let logprobs = c.choices[0].logprobs.as_ref().unwrap();
    let first = &logprobs.content.as_ref().unwrap()[0];
    assert_eq!(first.bytes.as_deref(), Some(&b"Hi"[..]));
    assert_eq!(first.top_logprobs[1].logprob, -6.25);
}

#[test]
fn vllm_reasoning_content() {
    let c = decode_fixture("vllm.json");
    let message = &c.choices[0].message;
    assert_eq!(
        message.reasoning(),
        Some("The user greets me. I should greet back briefly.")
    );
    assert_eq!(message.tool_calls, Some(vec![]));
    assert!(c.choices[0].extra.contains_key("stop_reason"));
    assert!(c.extra.contains_key("kv_transfer_params"));
    assert_eq!(c.usage.as_ref().unwrap().prompt_tokens_details, None);
}

#[test]
fn ollama_reasoning() {
    let c = decode_fixture("ollama.json");
    assert_eq!(c.content(), Some("Paris."));
    assert_eq!(
        c.choices[0].message.reasoning(),
        Some("The capital of France is Paris.")
    );
    assert_eq!(c.system_fingerprint.as_deref(), Some("fp_ollama"));
}

#[test]
fn llamacpp_timings_are_kept() {
    let c = decode_fixture("llamacpp.json");
    assert_eq!(c.content(), Some("The answer is 4."));
    assert_eq!(c.extra["timings"]["predicted_n"], 6);
}

#[test]
fn litellm_nulls_and_extra_usage() {
    let c = decode_fixture("litellm.json");
    assert_eq!(c.system_fingerprint, None);
    assert_eq!(c.choices[0].message.tool_calls, None);
    let usage = c.usage.as_ref().unwrap();
    let details = usage.prompt_tokens_details.as_ref().unwrap();
    assert_eq!(details.audio_tokens, None);
    assert_eq!(details.cached_tokens, Some(0));
    assert!(details.extra.contains_key("text_tokens"));
    assert_eq!(usage.extra["cache_read_input_tokens"], 0);
    assert!(
        c.choices[0]
            .message
            .extra
            .contains_key("provider_specific_fields")
    );
}

#[test]
fn openrouter_provider_and_cost() {
    let c = decode_fixture("openrouter.json");
    assert_eq!(c.extra["provider"], "OpenAI");
    assert_eq!(c.usage.as_ref().unwrap().extra["cost"], json!(0.00000405));
    assert_eq!(c.choices[0].extra["native_finish_reason"], "stop");
    assert_eq!(c.choices[0].message.reasoning(), None);
}

#[test]
fn gemini_thought_signature_survives() {
    let c = decode_fixture("gemini_openai_compat.json");
    let call = &c.tool_calls()[0];
    assert_eq!(call.id, "function-call-4417356214930437781");
    assert_eq!(
        call.extra["extra_content"]["google"]["thought_signature"],
        "CiQB0e2Kb7xQyYjJd3m9sWb1nLw5Xk0H5r4F2pQzZx3uQ8vG0aEKYgHR7Ypv"
    );
    assert_eq!(
        c.usage
            .as_ref()
            .unwrap()
            .completion_tokens_details
            .as_ref()
            .unwrap()
            .reasoning_tokens,
        Some(65)
    );
}

#[test]
fn groq_and_deepseek_reasoning() {
    let groq = decode_fixture("groq_reasoning.json");
    assert!(
        groq.choices[0]
            .message
            .reasoning()
            .unwrap()
            .starts_with("Check")
    );
    assert_eq!(groq.extra["x_groq"]["id"], "req_01jt0000000000000000000000");
    assert_eq!(
        groq.usage.as_ref().unwrap().extra["queue_time"],
        json!(0.052)
    );
    let deepseek = decode_fixture("deepseek_reasoning.json");
    assert!(
        deepseek.choices[0]
            .message
            .reasoning()
            .unwrap()
            .starts_with("Compare")
    );
    assert_eq!(
        deepseek.usage.as_ref().unwrap().extra["prompt_cache_miss_tokens"],
        18
    );
}

#[test]
fn model_lists() {
    for name in ["models_openai.json", "models_openrouter.json"] {
        let body = fixture(name);
        let list = models(StatusCode::OK, &HeaderMap::new(), &body).unwrap();
        assert!(!list.data.is_empty(), "{name}");
        let original: Value = serde_json::from_slice(&body).unwrap();
        let encoded = serde_json::to_value(&list).unwrap();
        // `object` and `owned_by` are written even when the server left them out.
        let mut expected = original.clone();
        if name == "models_openrouter.json" {
            expected["object"] = json!("");
            expected["data"][0]["object"] = json!("");
            expected["data"][0]["owned_by"] = json!("");
        }
        assert_eq!(without_nulls(encoded), without_nulls(expected), "{name}");
    }
    let bare = models(
        StatusCode::OK,
        &HeaderMap::new(),
        br#"[{"id": "a"}, {"id": "b", "owned_by": "me"}]"#,
    )
    .unwrap();
    assert_eq!(bare.object, "list");
    assert_eq!(bare.data.len(), 2);
    assert_eq!(bare.data[1].owned_by, "me");
}

#[test]
fn streamed_chunks_round_trip() {
    let chunks = [
        r#"{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1741569952,"model":"gpt-4o-mini","service_tier":"default","system_fingerprint":"fp_1","choices":[{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}],"usage":null,"obfuscation":"abc"}"#,
        r#"{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1741569952,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"f","arguments":""}}]},"finish_reason":null}]}"#,
        r#"{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1741569952,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"a\":"}}]},"finish_reason":null}]}"#,
        r#"{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1741569952,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}"#,
        r#"{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1741569952,"model":"gpt-4o-mini","choices":[],"usage":{"prompt_tokens":5,"completion_tokens":7,"total_tokens":12}}"#,
        r#"{"id":"chatcmpl-2","object":"chat.completion.chunk","created":1746600000,"model":"deepseek-reasoner","choices":[{"index":0,"delta":{"content":null,"reasoning_content":"Let"},"logprobs":null,"finish_reason":null}]}"#,
        r#"{"choices":[{"delta":{"role":"assistant","tool_calls":[{"extra_content":{"google":{"thought_signature":"sig"}},"function":{"arguments":"{}","name":"f"},"id":"fc-1","type":"function"}]},"index":0}],"created":1746400000,"id":"g1","model":"gemini-2.5-flash","object":"chat.completion.chunk"}"#,
    ];
    for text in chunks {
        let chunk: ChatCompletionChunk = serde_json::from_str(text).unwrap();
        let original: Value = serde_json::from_str(text).unwrap();
        let encoded = serde_json::to_value(&chunk).unwrap();
        assert_eq!(
            without_nulls(encoded.clone()),
            without_nulls(original),
            "{text}"
        );
        let again: ChatCompletionChunk = serde_json::from_value(encoded).unwrap();
        assert_eq!(again, chunk);
    }
}

fn decode_failure(body: &[u8]) -> Error {
    chat_completion(StatusCode::OK, &ok_headers(), body).unwrap_err()
}

#[test]
fn a_success_status_with_an_error_body_is_an_api_error() {
    let body =
        br#"{"error": {"message": "upstream timed out", "type": "server_error", "code": 504}}"#;
    match decode_failure(body) {
        Error::Api(e) => {
            assert_eq!(e.message, "upstream timed out");
            assert_eq!(e.status, None);
            assert_eq!(e.request_id.as_deref(), Some("req_fixture"));
            assert_eq!(e.raw_body, std::str::from_utf8(body).unwrap());
        }
        other => panic!("{other:?}"),
    }
    match decode_failure(br#"{"object": "error", "message": "oom", "code": 500}"#) {
        Error::Api(e) => assert_eq!(e.message, "oom"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn bodies_that_are_not_completions_are_decode_errors_quoting_them() {
    let table: [(&[u8], &str); 12] = [
        (b"", "empty"),
        (b"   \n", "empty"),
        (b"\xff\xfe not utf-8", "UTF-8"),
        (b"Internal error", "not JSON"),
        (br#"{"id": "x", "choices": [{"index": 0"#, "not JSON"),
        (b"[]", "got an array"),
        (b"null", "got null"),
        (br#"{"detail": "Not Found"}"#, "not a chat completion"),
        (br#"{"status": "ok"}"#, "not a chat completion"),
        // An `id` or a `model` alone is not enough: it takes both.
        (br#"{"id": "x"}"#, "not a chat completion"),
        (br#"{"model": "m"}"#, "not a chat completion"),
        (
            br#"{"id": "x", "choices": "nope"}"#,
            "not a valid chat completion",
        ),
    ];
    for (body, expected) in table {
        match decode_failure(body) {
            Error::Decode(e) => {
                assert!(e.message.contains(expected), "{body:?}: {}", e.message);
                assert_eq!(e.raw, String::from_utf8_lossy(body), "{body:?}");
                assert_eq!(e.request_id.as_deref(), Some("req_fixture"));
            }
            other => panic!("{body:?}: {other:?}"),
        }
    }
    match models(StatusCode::OK, &HeaderMap::new(), br#"{"object": "list"}"#) {
        Err(Error::Decode(e)) => assert!(e.message.contains("model list")),
        other => panic!("{other:?}"),
    }
}

#[test]
fn lenient_completions_decode() {
    let table: [&[u8]; 5] = [
        br#"{"id": "", "choices": null}"#,
        br#"{"object": "chat.completion"}"#,
        br#"{"id": "x", "model": "m"}"#,
        br#"{"id": "x", "created": 1.7e9, "choices": [{"message": {"content": "hi"}}], "usage": {}}"#,
        br#"{"choices": [], "usage": null}"#,
    ];
    for body in table {
        chat_completion(StatusCode::OK, &HeaderMap::new(), body)
            .unwrap_or_else(|e| panic!("{}: {e}", String::from_utf8_lossy(body)));
    }
}

#[test]
fn other_success_statuses_decode_too() {
    let c = chat_completion(
        StatusCode::CREATED,
        &HeaderMap::new(),
        &fixture("openai.json"),
    )
    .unwrap();
    assert_eq!(c.choices.len(), 1);
}
