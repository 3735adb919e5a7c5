//! The limits on what a stream may open: choices (`Limits::max_choices`) and
//! tool calls (`Limits::max_tool_calls`). Every choice and tool call costs a
//! search for each chunk or fragment that names it, so a server that opened
//! them without end would cost quadratic time. A chunk that would pass a limit
//! is refused whole with `Error::LimitExceeded`; every chunk before it is kept.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test helpers fail loudly"
)]

use nexllm_proto::stream::{ChatStreamDecoder, StreamAccumulator};
use nexllm_proto::types::{ChatCompletion, ChatCompletionChunk};
use nexllm_proto::{Error, LimitError, Limits};
use serde_json::{Value, json};

fn choices_error(limit: usize) -> LimitError {
    LimitError::count("streamed answer", limit, "choices")
}

fn tool_calls_error(limit: usize) -> LimitError {
    LimitError::count("streamed answer", limit, "tool calls")
}

/// One `data:` event for a chunk with these choices.
fn event(choices: &Value) -> String {
    format!(
        "data: {}\n\n",
        json!({"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m", "choices": choices})
    )
}

fn content_choice(index: u32, text: &str) -> Value {
    json!({"index": index, "delta": {"content": text}, "finish_reason": null})
}

/// Decodes `body` in one read with `decoder`, accumulating every chunk;
/// returns the chunks delivered, the completion and the first error.
fn decode(
    mut decoder: ChatStreamDecoder,
    body: &str,
) -> (Vec<ChatCompletionChunk>, ChatCompletion, Option<Error>) {
    let mut accumulator = StreamAccumulator::new();
    let mut chunks = Vec::new();
    decoder.feed(body.as_bytes());
    let mut error = None;
    loop {
        match decoder.next_chunk() {
            Ok(Some(chunk)) => {
                accumulator.try_push(&chunk).unwrap();
                chunks.push(chunk);
            }
            Ok(None) => break,
            Err(e) => {
                error = Some(e);
                break;
            }
        }
    }
    if error.is_none() {
        error = decoder.finish().err();
    }
    while let Ok(Some(chunk)) = decoder.next_chunk() {
        accumulator.try_push(&chunk).unwrap();
        chunks.push(chunk);
    }
    (chunks, accumulator.into_completion(), error)
}

#[test]
fn the_defaults_are_1024_choices_and_1024_tool_calls() {
    let limits = Limits::default();
    assert_eq!(limits.max_choices, 1024);
    assert_eq!(limits.max_tool_calls, 1024);
}

#[test]
fn a_count_limit_error_says_what_it_counts() {
    assert_eq!(
        choices_error(1024).to_string(),
        "the streamed answer would hold more than the limit of 1024 choices"
    );
    assert_eq!(
        tool_calls_error(3).to_string(),
        "the streamed answer would hold more than the limit of 3 tool calls"
    );
    // Byte limits read as before.
    assert_eq!(
        LimitError::new("SSE line", 10).to_string(),
        "the SSE line is larger than the limit of 10 bytes"
    );
    assert_eq!(LimitError::new("SSE line", 10).unit, "bytes");
}

#[test]
fn the_decoder_refuses_the_chunk_that_opens_one_choice_too_many() {
    // Ascending, descending and scattered indices: chunk `i` opens one new choice.
    let limit = 5;
    let orders: [Vec<u32>; 3] = [
        (0..=5).collect(),
        (0..=5).rev().collect(),
        vec![7, 1_000_000, 3, u32::MAX, 0, 42],
    ];
    for order in orders {
        let mut body = String::new();
        for &index in &order {
            body.push_str(&event(&json!([content_choice(index, "x")])));
            // A choice seen before opens nothing.
            body.push_str(&event(&json!([content_choice(order[0], "y")])));
        }
        body.push_str("data: [DONE]\n\n");
        let decoder = ChatStreamDecoder::new().max_choices(limit);
        let (chunks, completion, error) = decode(decoder, &body);
        assert_eq!(chunks.len(), 2 * limit, "{order:?}");
        assert_eq!(
            error,
            Some(Error::LimitExceeded(Box::new(choices_error(limit)))),
            "{order:?}"
        );
        assert_eq!(completion.choices.len(), limit, "{order:?}");
        let mut opened: Vec<u32> = order[..limit].to_vec();
        opened.sort_unstable();
        let held: Vec<u32> = completion.choices.iter().map(|c| c.index).collect();
        assert_eq!(held, opened, "the choices in index order");
    }
}

#[test]
fn the_decoder_refuses_one_chunk_with_too_many_choices_and_keeps_the_chunks_before() {
    let limit = 4;
    let too_many: Vec<Value> = (0..=4).rev().map(|i| content_choice(i, "b")).collect();
    let body = format!(
        "{}{}data: [DONE]\n\n",
        event(&json!([content_choice(0, "a")])),
        event(&Value::Array(too_many))
    );
    let (chunks, completion, error) = decode(ChatStreamDecoder::new().max_choices(limit), &body);
    assert_eq!(chunks.len(), 1);
    assert_eq!(
        error,
        Some(Error::LimitExceeded(Box::new(choices_error(limit))))
    );
    assert_eq!(completion.choices[0].message.content.as_deref(), Some("a"));
    // The same chunk repeating one choice opens one choice only.
    let repeated: Vec<Value> = (0..100).map(|_| content_choice(3, "b")).collect();
    let body = format!("{}data: [DONE]\n\n", event(&Value::Array(repeated)));
    let (chunks, _, error) = decode(ChatStreamDecoder::new().max_choices(1), &body);
    assert_eq!((chunks.len(), error), (1, None));
}

#[test]
fn the_default_decoder_takes_1024_choices_and_refuses_the_1025th() {
    let mut body = String::new();
    for index in (0..1025).rev() {
        body.push_str(&event(&json!([content_choice(index, "x")])));
    }
    let (chunks, completion, error) = decode(ChatStreamDecoder::new(), &body);
    assert_eq!(chunks.len(), 1024);
    assert_eq!(completion.choices.len(), 1024);
    assert_eq!(
        error,
        Some(Error::LimitExceeded(Box::new(choices_error(1024))))
    );
}

#[test]
fn a_json_body_with_too_many_choices_gives_the_chunks_before_then_the_error() {
    // A server that ignores `stream: true` answers with a whole completion:
    // one chunk per choice.
    let choices: Vec<Value> = (0..4)
        .map(|i| json!({"index": i, "message": {"role": "assistant", "content": format!("c{i}")}, "finish_reason": "stop"}))
        .collect();
    let body = json!({"id": "x", "object": "chat.completion", "created": 1, "model": "m", "choices": choices})
        .to_string();
    let (chunks, completion, error) = decode(ChatStreamDecoder::new().max_choices(3), &body);
    assert_eq!(chunks.len(), 3);
    assert_eq!(completion.choices.len(), 3);
    assert_eq!(
        error,
        Some(Error::LimitExceeded(Box::new(choices_error(3))))
    );
}

/// A chunk of one choice (index 0) with these tool-call fragments.
fn tool_chunk(fragments: &Value) -> ChatCompletionChunk {
    serde_json::from_value(json!({
        "choices": [{"index": 0, "delta": {"tool_calls": fragments}}]
    }))
    .unwrap()
}

/// The first fragment of a call with this stream index.
fn call_start(index: u32) -> Value {
    json!({"index": index, "id": format!("call_{index}"), "type": "function",
           "function": {"name": "f", "arguments": ""}})
}

fn arguments(index: u32, text: &str) -> Value {
    json!({"index": index, "function": {"arguments": text}})
}

#[test]
fn the_accumulator_refuses_the_chunk_that_opens_one_tool_call_too_many() {
    let limit = 4;
    for order in [[0, 1, 2, 3, 4], [4, 3, 2, 1, 0], [9, 0, 5, 7, 1]] {
        let mut accumulator = StreamAccumulator::new().max_tool_calls(limit);
        for &index in &order[..limit] {
            accumulator
                .try_push(&tool_chunk(&json!([call_start(index)])))
                .unwrap();
            // Arguments for a call already open: nothing new, even at the limit.
            accumulator
                .try_push(&tool_chunk(&json!([arguments(index, "{}")])))
                .unwrap();
        }
        let refused = accumulator.try_push(&tool_chunk(&json!([call_start(order[limit])])));
        assert_eq!(refused, Err(tool_calls_error(limit)), "{order:?}");
        assert_eq!(accumulator.refused(), Some(&tool_calls_error(limit)));
        // Refused whole, and every chunk after it too.
        let later = accumulator.try_push(&tool_chunk(&json!([arguments(order[0], "more")])));
        assert_eq!(later, Err(tool_calls_error(limit)));
        assert_eq!(accumulator.chunks(), 2 * limit as u64);
        let calls = accumulator.completion().choices[0]
            .message
            .tool_calls
            .clone()
            .unwrap();
        let mut opened = order[..limit].to_vec();
        opened.sort_unstable();
        let ids: Vec<String> = opened.iter().map(|i| format!("call_{i}")).collect();
        let held: Vec<&str> = calls.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(held, ids, "{order:?}");
        assert!(calls.iter().all(|c| c.function.arguments == "{}"));
    }
}

#[test]
fn a_refused_chunk_leaves_nothing_behind() {
    // The limit is passed by the second choice of the chunk: its first
    // choice's text, the chunk's usage and fields are not taken either.
    let mut accumulator = StreamAccumulator::new().max_tool_calls(1);
    accumulator
        .try_push(&tool_chunk(&json!([call_start(0)])))
        .unwrap();
    let before = accumulator.completion().clone();
    let held = accumulator.held_bytes();
    let chunk: ChatCompletionChunk = serde_json::from_value(json!({
        "id": "late", "model": "other", "x_extra": 1,
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
        "choices": [
            {"index": 0, "delta": {"content": "text", "tool_calls": [arguments(0, "{}")]}},
            {"index": 1, "delta": {"tool_calls": [call_start(0)]}}
        ]
    }))
    .unwrap();
    assert_eq!(accumulator.try_push(&chunk), Err(tool_calls_error(1)));
    assert_eq!(accumulator.completion(), &before);
    assert_eq!(accumulator.held_bytes(), held);
    assert_eq!(accumulator.chunks(), 1);
    // `push` leaves it out the same way.
    let mut pushed = StreamAccumulator::new().max_choices(1);
    pushed.push(&serde_json::from_value(json!({"choices": [content_choice(0, "a")]})).unwrap());
    pushed.push(
        &serde_json::from_value(
            json!({"choices": [content_choice(0, "b"), content_choice(1, "c")]}),
        )
        .unwrap(),
    );
    assert_eq!(pushed.text(), "a");
    assert_eq!(pushed.refused(), Some(&choices_error(1)));
}

/// Chunks (each a list of fragments for choice 0) whose calls are told apart
/// in every way the accumulator knows: by index, by a new id without index,
/// by a name without id later in a list, by another id and name at a taken index.
fn tricky_streams() -> Vec<Vec<Value>> {
    vec![
        // Gemini: whole calls without index, in one list, some without id.
        vec![json!([
            {"id": "a", "type": "function", "function": {"name": "f", "arguments": "{}"}},
            {"type": "function", "function": {"name": "g", "arguments": "{}"}},
            {"type": "function", "function": {"name": "h", "arguments": "{}"}}
        ])],
        // Gateways that give every whole call index 0, each with its id.
        vec![
            json!([{"index": 0, "id": "a", "function": {"name": "f", "arguments": "{}"}}]),
            json!([{"index": 0, "id": "b", "function": {"name": "g", "arguments": "{}"}}]),
            json!([{"index": 0, "id": "c", "function": {"name": "h", "arguments": "{}"}}]),
        ],
        // Poolside: another id repeated on later fragments continues the call.
        vec![
            json!([{"index": 0, "id": "a", "function": {"name": "f", "arguments": ""}}]),
            json!([{"index": 0, "id": "z", "function": {"arguments": "{"}}]),
            json!([{"index": 1, "id": "b", "function": {"name": "g", "arguments": "{}"}}]),
            json!([{"index": 0, "id": "z", "function": {"arguments": "}"}}]),
        ],
        // Ollama: whole calls without index, one per chunk, each with an id.
        vec![
            json!([{"id": "a", "function": {"name": "f", "arguments": "{}"}}]),
            json!([{"id": "b", "function": {"name": "g", "arguments": "{}"}}]),
            json!([{"function": {"arguments": " "}}]),
        ],
        // Everything in one chunk: indexed calls out of order, continuations,
        // an id that arrives after its call opened, calls without index.
        vec![json!([
            {"index": 2, "function": {"name": "c", "arguments": "{"}},
            {"index": 0, "id": "a", "function": {"name": "a", "arguments": "{"}},
            {"index": 2, "id": "c", "function": {"arguments": "}"}},
            {"index": 2, "id": "d", "function": {"name": "d", "arguments": "{}"}},
            {"id": "e", "function": {"name": "e", "arguments": "{}"}},
            {"function": {"name": "f", "arguments": "{}"}},
            {"index": 0, "function": {"arguments": "}"}}
        ])],
    ]
}

#[test]
fn the_tool_call_limit_counts_exactly_the_calls_the_accumulator_opens() {
    // Pushed with no room to spare, each chunk is counted call by call before it
    // is taken: the count must be the one the accumulator then makes.
    for stream in tricky_streams() {
        let chunks: Vec<ChatCompletionChunk> = stream.iter().map(tool_chunk).collect();
        let mut unlimited = StreamAccumulator::new();
        for chunk in &chunks {
            unlimited.try_push(chunk).unwrap();
        }
        let opened = unlimited.completion().choices[0]
            .message
            .tool_calls
            .as_ref()
            .map_or(0, Vec::len);
        assert!(opened >= 2, "{stream:?}");
        let mut exact = StreamAccumulator::new().max_tool_calls(opened);
        for chunk in &chunks {
            exact.try_push(chunk).unwrap();
        }
        assert_eq!(exact.completion(), unlimited.completion(), "{stream:?}");
        let mut short = StreamAccumulator::new().max_tool_calls(opened - 1);
        let first_refused = chunks
            .iter()
            .position(|chunk| short.try_push(chunk).is_err());
        assert!(first_refused.is_some(), "{stream:?}");
        assert_eq!(short.refused(), Some(&tool_calls_error(opened - 1)));
    }
}

/// `n` choices, each making `calls` tool calls in parallel, streamed as
/// OpenAI streams them (the call's start, then its arguments in pieces), the
/// choices interleaved; then the finish reasons and `[DONE]`.
fn parallel_calls_stream(n: u32, calls: u32) -> String {
    let mut body = String::new();
    for choice in 0..n {
        body.push_str(&event(
            &json!([{"index": choice, "delta": {"role": "assistant", "content": null}}]),
        ));
    }
    for call in 0..calls {
        for choice in 0..n {
            body.push_str(&event(
                &json!([{"index": choice, "delta": {"tool_calls": [call_start(call)]}}]),
            ));
        }
        for piece in ["{\"city\":", "\"Paris\"}"] {
            for choice in 0..n {
                body.push_str(&event(
                    &json!([{"index": choice, "delta": {"tool_calls": [arguments(call, piece)]}}]),
                ));
            }
        }
    }
    for choice in 0..n {
        body.push_str(&event(
            &json!([{"index": choice, "delta": {}, "finish_reason": "tool_calls"}]),
        ));
    }
    body.push_str("data: [DONE]\n\n");
    body
}

#[test]
fn the_defaults_take_128_choices_of_8_parallel_tool_calls() {
    // OpenAI's largest `n`, each choice with 8 calls: 1,024 calls in all.
    let body = parallel_calls_stream(128, 8);
    let (chunks, completion, error) = decode(ChatStreamDecoder::new().expecting(128, false), &body);
    assert_eq!(error, None);
    assert_eq!(chunks.len(), 128 + 8 * 3 * 128 + 128);
    assert_eq!(completion.choices.len(), 128);
    for choice in &completion.choices {
        let calls = choice.message.tool_calls.as_ref().unwrap();
        assert_eq!(calls.len(), 8);
        assert!(
            calls
                .iter()
                .all(|c| c.function.arguments == "{\"city\":\"Paris\"}")
        );
    }
}
