//! Response types accept the deviations real servers send, and never lose
//! unknown fields.

#![allow(
    clippy::unwrap_used,
    clippy::panic,
    reason = "a test fails loudly on an unexpected value"
)]

use nexllm_proto::types::{
    ChatCompletion, ChatCompletionChunk, FinishReason, Model, ModelList, ResponseMessage, Role,
    ToolCall, Usage,
};
use serde_json::{Value, json};

fn completion(value: Value) -> ChatCompletion {
    serde_json::from_value(value).unwrap()
}

fn minimal_choice() -> Value {
    json!({"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"})
}

#[test]
fn missing_object_created_and_usage_are_tolerated() {
    let c = completion(json!({"id": "x", "model": "m", "choices": [minimal_choice()]}));
    assert_eq!(c.object, "");
    assert_eq!(c.created, 0);
    assert_eq!(c.usage, None);
    assert_eq!(c.content(), Some("hi"));
    assert_eq!(c.finish_reason(), Some(&FinishReason::Stop));
}

#[test]
fn created_as_float_string_or_null() {
    for (created, expected) in [
        (json!(1712345678.0), 1712345678),
        (json!(1712345678.9), 1712345678),
        (json!("1712345678"), 1712345678),
        (json!(null), 0),
        (json!(-5), 0),
        (json!(1e300), u64::MAX),
    ] {
        let c = completion(json!({"id": "x", "created": created, "choices": []}));
        assert_eq!(c.created, expected, "{created}");
    }
}

#[test]
fn usage_null_empty_partial_and_float() {
    assert_eq!(completion(json!({"id": "x", "usage": null})).usage, None);
    assert_eq!(
        completion(json!({"id": "x", "usage": {}})).usage,
        Some(Usage::default())
    );
    let u = completion(
        json!({"id": "x", "usage": {"prompt_tokens": 3.0, "completion_tokens": null,
        "prompt_tokens_details": null, "completion_tokens_details": {"reasoning_tokens": 7},
        "cost": 0.0012}}),
    )
    .usage
    .unwrap();
    assert_eq!(
        (u.prompt_tokens, u.completion_tokens, u.total_tokens),
        (3, 0, 0)
    );
    assert_eq!(u.prompt_tokens_details, None);
    assert_eq!(
        u.completion_tokens_details
            .as_ref()
            .unwrap()
            .reasoning_tokens,
        Some(7)
    );
    assert_eq!(u.extra["cost"], json!(0.0012));
}

#[test]
fn choices_null_or_missing_and_empty_id() {
    let c = completion(json!({"id": "", "choices": null}));
    assert!(c.choices.is_empty());
    assert_eq!(c.id, "");
    let c = completion(json!({"object": "chat.completion"}));
    assert!(c.choices.is_empty());
    let chunk: ChatCompletionChunk =
        serde_json::from_value(json!({"id": "c", "choices": null, "usage": {"prompt_tokens": 1}}))
            .unwrap();
    assert!(chunk.choices.is_empty());
    let chunk: ChatCompletionChunk = serde_json::from_value(json!({"id": "c"})).unwrap();
    assert!(chunk.choices.is_empty());
}

#[test]
fn numeric_id_and_null_strings() {
    let c = completion(json!({"id": 12345, "model": null, "object": null, "choices": []}));
    assert_eq!(c.id, "12345");
    assert_eq!(c.model, "");
}

#[test]
fn finish_reasons_never_fail() {
    for (value, expected) in [
        (json!("stop"), Some(FinishReason::Stop)),
        (json!("length"), Some(FinishReason::Length)),
        (json!("tool_calls"), Some(FinishReason::ToolCalls)),
        (json!("content_filter"), Some(FinishReason::ContentFilter)),
        (json!("function_call"), Some(FinishReason::FunctionCall)),
        (json!("eos"), Some(FinishReason::Other("eos".into()))),
        (json!("STOP"), Some(FinishReason::Other("STOP".into()))),
        (json!(""), None),
        (json!(null), None),
        (json!(3), Some(FinishReason::Other("3".into()))),
    ] {
        let mut choice = minimal_choice();
        choice["finish_reason"] = value.clone();
        let c = completion(json!({"id": "x", "choices": [choice]}));
        assert_eq!(c.choices[0].finish_reason, expected, "{value}");
    }
    assert_eq!(FinishReason::ToolCalls.as_str(), "tool_calls");
    assert_eq!(FinishReason::Other("eos".into()).as_str(), "eos");
}

#[test]
fn message_and_delta_defaults() {
    let c = completion(json!({"id": "x", "choices": [{"index": 0}]}));
    assert_eq!(c.choices[0].message, ResponseMessage::default());
    assert_eq!(c.choices[0].message.role, Role::Assistant);
    let chunk: ChatCompletionChunk = serde_json::from_value(json!({"id": "x", "choices": [
        {"index": 0, "finish_reason": "stop"},
        {"index": 1, "delta": null},
        {"index": 2, "delta": {"role": "", "content": null}}
    ]}))
    .unwrap();
    for choice in &chunk.choices {
        assert_eq!(choice.delta, Default::default());
    }
}

#[test]
fn content_as_parts_is_joined() {
    let c = completion(
        json!({"id": "x", "choices": [{"index": 0, "message": {"role": "assistant",
        "content": [{"type": "thinking", "thinking": "hmm"}, {"type": "text", "text": "Hello"}, {"type": "text", "text": " world"}]}}]}),
    );
    assert_eq!(c.content(), Some("Hello world"));
}

#[test]
fn tool_call_leniency() {
    let call: ToolCall =
        serde_json::from_value(json!({"function": {"name": "f", "arguments": {"a": 1}}})).unwrap();
    assert_eq!(call.id, "");
    assert_eq!(call.r#type, "function");
    assert_eq!(call.function.arguments, r#"{"a":1}"#);
    let call: ToolCall = serde_json::from_value(
        json!({"id": "c", "type": null, "function": {"name": "f", "arguments": null}}),
    )
    .unwrap();
    assert_eq!(call.r#type, "function");
    assert_eq!(call.function.arguments, "");
}

#[test]
fn reasoning_fields_are_kept_and_readable() {
    let c = completion(
        json!({"id": "x", "choices": [{"index": 0, "message": {"role": "assistant",
        "content": "4", "reasoning_content": "2+2"}, "finish_reason": "stop"}]}),
    );
    assert_eq!(c.choices[0].message.reasoning(), Some("2+2"));
    let back = serde_json::to_value(&c).unwrap();
    assert_eq!(back["choices"][0]["message"]["reasoning_content"], "2+2");
    let chunk: ChatCompletionChunk = serde_json::from_value(json!({"id": "x", "choices": [
        {"index": 0, "delta": {"reasoning": "thinking"}}]}))
    .unwrap();
    assert_eq!(chunk.choices[0].delta.reasoning(), Some("thinking"));
}

#[test]
fn logprobs_null_is_negative_infinity() {
    let c = completion(
        json!({"id": "x", "choices": [{"index": 0, "message": {"content": "a"},
        "logprobs": {"content": [{"token": "a", "logprob": null, "bytes": [97], "top_logprobs": null}]}}]}),
    );
    let lp = &c.choices[0]
        .logprobs
        .as_ref()
        .unwrap()
        .content
        .as_ref()
        .unwrap()[0];
    assert_eq!(lp.logprob, f64::NEG_INFINITY);
    assert!(lp.top_logprobs.is_empty());
}

#[test]
fn token_bytes_that_are_not_bytes_do_not_fail_the_answer() {
    // djl-serving (SageMaker LMI) wrote `[ord(c) for c in token]`: code
    // points, past 255 for most non-Latin text. The bytes are dropped, the
    // rest of the log probabilities kept.
    let logprobs = json!({"content": [{"token": "中", "logprob": -0.5, "bytes": [20013],
        "top_logprobs": [{"token": "中", "logprob": -0.5, "bytes": [20013]},
                         {"token": "a", "logprob": -2.0, "bytes": [-97]},
                         {"token": "b", "logprob": -3.0, "bytes": [98]}]}]});
    let c = completion(json!({"choices": [{"message": {"content": "中"}, "logprobs": logprobs}]}));
    let chunk: ChatCompletionChunk = serde_json::from_value(
        json!({"choices": [{"index": 0, "delta": {"content": "中"}, "logprobs": logprobs}]}),
    )
    .unwrap();
    for lp in [
        c.choices[0].logprobs.as_ref().unwrap(),
        chunk.choices[0].logprobs.as_ref().unwrap(),
    ] {
        let token = &lp.content.as_ref().unwrap()[0];
        assert_eq!(
            (token.token.as_str(), token.logprob, &token.bytes),
            ("中", -0.5, &None)
        );
        let top: Vec<_> = token.top_logprobs.iter().map(|t| t.bytes.clone()).collect();
        assert_eq!(top, [None, None, Some(vec![98])]);
    }
}

#[test]
fn models_are_lenient() {
    let list: ModelList = serde_json::from_value(json!({"data": [
        {"id": "gpt-4o", "object": "model", "created": 1686935002, "owned_by": "openai"},
        {"id": "llama3", "created": 1.7e9, "context_length": 8192}
    ]}))
    .unwrap();
    assert_eq!(list.data.len(), 2);
    assert_eq!(list.data[1].created, 1_700_000_000);
    assert_eq!(list.data[1].owned_by, "");
    assert_eq!(list.data[1].extra["context_length"], 8192);
    let empty: ModelList = serde_json::from_value(json!({"object": "list", "data": null})).unwrap();
    assert!(empty.data.is_empty());
    let m: Model = serde_json::from_value(json!({"id": "x"})).unwrap();
    assert_eq!(m.id, "x");
}

#[test]
fn responses_serialize_content_and_finish_reason_as_null() {
    let json = serde_json::to_value(ChatCompletion {
        choices: vec![Default::default()],
        ..Default::default()
    })
    .unwrap();
    assert_eq!(
        json,
        json!({"id": "", "object": "", "created": 0, "model": "", "choices": [
            {"index": 0, "message": {"role": "assistant", "content": null}, "finish_reason": null}]})
    );
}

#[test]
fn a_custom_tool_call_goes_back_as_it_came() {
    // A call of type `custom` has no `function`: it is sent back without one.
    let call =
        json!({"id": "call_1", "type": "custom", "custom": {"name": "sql", "input": "SELECT 1"}});
    let body = json!({
        "id": "c", "object": "chat.completion", "created": 1, "model": "m",
        "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
            "role": "assistant", "content": null, "tool_calls": [call.clone()]
        }}]
    });
    let completion = completion(body);
    let calls = completion.choices[0].message.tool_calls.clone().unwrap();
    assert_eq!(serde_json::to_value(&calls[0]).unwrap(), call);
    let sent = serde_json::to_value(nexllm_proto::types::Message::from(
        completion.choices[0].message.clone(),
    ))
    .unwrap();
    assert_eq!(sent["tool_calls"][0], call);
    // A function call keeps its `function`, arguments or not.
    let function = ToolCall::function("call_2", "now", "");
    assert_eq!(
        serde_json::to_value(&function).unwrap()["function"],
        json!({"name": "now", "arguments": ""})
    );
}

#[test]
fn token_counts_read_any_json_value_as_a_count() {
    // Whole numbers as they are; anything that is no count reads as 0.
    let usage = |value: Value| serde_json::from_value::<Usage>(value).unwrap();
    let u = usage(json!({"prompt_tokens": 7, "completion_tokens": -5, "total_tokens": [1, 2]}));
    assert_eq!(
        (u.prompt_tokens, u.completion_tokens, u.total_tokens),
        (7, 0, 0)
    );
    let u = usage(
        json!({"prompt_tokens": null, "completion_tokens": {"n": 3}, "total_tokens": " 12 "}),
    );
    assert_eq!(
        (u.prompt_tokens, u.completion_tokens, u.total_tokens),
        (0, 0, 12)
    );
    let u = usage(json!({"prompt_tokens": 9.9, "completion_tokens": true, "total_tokens": "4.5"}));
    assert_eq!(
        (u.prompt_tokens, u.completion_tokens, u.total_tokens),
        (9, 0, 4)
    );
}
