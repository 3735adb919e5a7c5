//! Properties of the response decoders: nothing a server sends makes them
//! panic, and whatever decodes encodes back to the same value.

#![allow(
    clippy::unwrap_used,
    reason = "a property fails loudly on an unexpected value"
)]

use http::{HeaderMap, HeaderValue, StatusCode};
use nexllm_proto::Error;
use nexllm_proto::decode::{api_error, chat_completion, error_from_value, models, request_id};
use nexllm_proto::types::{ChatCompletion, ChatCompletionChunk, ModelList};
use proptest::collection::vec;
use proptest::prelude::*;
use serde_json::{Map, Value};

/// Keys that steer the decoders into their interesting paths.
fn arb_key() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop_oneof![
            Just("id"), Just("object"), Just("created"), Just("model"), Just("choices"),
            Just("usage"), Just("index"), Just("message"), Just("delta"), Just("finish_reason"),
            Just("role"), Just("content"), Just("tool_calls"), Just("function"), Just("arguments"),
            Just("name"), Just("type"), Just("logprobs"), Just("token"), Just("logprob"),
            Just("bytes"), Just("top_logprobs"), Just("prompt_tokens"), Just("total_tokens"),
            Just("prompt_tokens_details"), Just("cached_tokens"), Just("error"), Just("message"),
            Just("code"), Just("param"), Just("detail"), Just("msg"), Just("loc"), Just("errors"),
            Just("metadata"), Just("raw"), Just("data"), Just("owned_by"), Just("audio"),
            Just("status"), Just("refusal"),
        ].prop_map(str::to_owned),
        1 => "[a-z_]{1,6}",
    ]
}

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        prop_oneof![
            Just("error"),
            Just("stop"),
            Just("assistant"),
            Just(""),
            Just("None"),
            Just("chat.completion"),
            Just("<html><title>x</title></html>"),
            Just("1.5e3"),
        ]
        .prop_map(Value::from),
        ".{0,12}".prop_map(Value::from),
    ];
    leaf.prop_recursive(5, 48, 6, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..5).prop_map(Value::Array),
            vec((arb_key(), inner), 0..6)
                .prop_map(|pairs| Value::Object(pairs.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

fn arb_status() -> impl Strategy<Value = StatusCode> {
    (100u16..=999).prop_map(|code| StatusCode::from_u16(code).unwrap())
}

fn headers() -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert("x-request-id", HeaderValue::from_static("req_prop"));
    headers
}

/// Runs every decoder over one body.
fn decode_all(status: StatusCode, body: &[u8]) {
    let headers = headers();
    let completion = chat_completion(status, &headers, body);
    let list = models(status, &headers, body);
    let err = api_error(status, &headers, body);
    assert_eq!(err.request_id.as_deref(), Some("req_prop"));
    assert!(err.raw_body.chars().count() <= nexllm_proto::error::RAW_EXCERPT_CHARS + 1);
    assert!(err.message.chars().count() <= 513);
    assert!(!err.message.is_empty());
    for result in [completion.map(drop), list.map(drop)] {
        if let Err(e) = result {
            assert_eq!(e.request_id(), Some("req_prop"), "{e:?}");
            if !status.is_success() {
                assert!(matches!(e, Error::Api(_)), "{e:?}");
            }
            let _ = e.to_string();
        }
    }
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(status in arb_status(), body in vec(any::<u8>(), 0..256)) {
        decode_all(status, &body);
    }

    #[test]
    fn arbitrary_json_never_panics(status in arb_status(), value in arb_json()) {
        let body = serde_json::to_vec(&value).unwrap();
        decode_all(status, &body);
        if let Some(err) = error_from_value(&value) {
            prop_assert_eq!(err.status, None);
            prop_assert!(!err.message.is_empty());
        }
        let _ = serde_json::from_value::<ChatCompletionChunk>(value);
    }

    #[test]
    fn what_decodes_encodes_back(value in arb_json()) {
        let body = serde_json::to_vec(&value).unwrap();
        if let Ok(completion) = chat_completion(StatusCode::OK, &HeaderMap::new(), &body) {
            let encoded = serde_json::to_value(&completion).unwrap();
            let again: ChatCompletion = serde_json::from_value(encoded).unwrap();
            prop_assert_eq!(again, completion);
        }
        if let Ok(list) = models(StatusCode::OK, &HeaderMap::new(), &body) {
            let encoded = serde_json::to_value(&list).unwrap();
            let again: ModelList = serde_json::from_value(encoded).unwrap();
            prop_assert_eq!(again, list);
        }
        if let Ok(chunk) = serde_json::from_value::<ChatCompletionChunk>(value) {
            let encoded = serde_json::to_value(&chunk).unwrap();
            let again: ChatCompletionChunk = serde_json::from_value(encoded).unwrap();
            prop_assert_eq!(again, chunk);
        }
    }

    #[test]
    fn request_id_never_panics(values in vec(vec(any::<u8>(), 0..16), 0..4)) {
        let mut headers = HeaderMap::new();
        for value in values {
            if let Ok(value) = HeaderValue::from_bytes(&value) {
                headers.append("x-request-id", value);
            }
        }
        if let Some(id) = request_id(&headers) {
            prop_assert!(!id.is_empty());
            prop_assert_eq!(id.trim(), id);
        }
    }
}
