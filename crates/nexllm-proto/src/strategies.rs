//! proptest strategies (feature `proptest`): generated chat streams with the
//! completion they must add up to, so you can property-test code that
//! consumes chunks (or bytes) the way we test ours.
//!
//! ```
//! use proptest::prelude::*;
//! use nexllm_proto::strategies::chat_stream;
//! use nexllm_proto::stream::{ChatStreamDecoder, StreamAccumulator};
//!
//! proptest!(|(stream in chat_stream())| {
//!     let mut decoder = ChatStreamDecoder::new();
//!     let mut acc = StreamAccumulator::new();
//!     decoder.feed(stream.body.as_bytes());
//!     while let Some(chunk) = decoder.next_chunk().unwrap() { acc.push(&chunk); }
//!     decoder.finish().unwrap();
//!     prop_assert_eq!(&acc.completion().choices, &stream.expected.choices);
//! });
//! ```
//!
//! SSE-level strategies (arbitrary events, bodies and split points) are in
//! [`crate::sse::strategies`].

use proptest::prelude::*;

use crate::types::{
    ChatCompletion, ChatCompletionChunk, Choice, ChunkChoice, Delta, FinishReason, FunctionCall,
    FunctionCallDelta, ResponseMessage, Role, ToolCall, ToolCallDelta, Usage,
};

/// A generated stream: its chunks, its SSE body, and what it must assemble into.
#[derive(Debug, Clone)]
pub struct GeneratedStream {
    /// The chunks, in the order they are sent.
    pub chunks: Vec<ChatCompletionChunk>,
    /// The chunks as an SSE body (`data: {..}\n\n` each, then `data: [DONE]\n\n`).
    pub body: String,
    /// The completion the chunks add up to.
    pub expected: ChatCompletion,
}

/// Text that exercises JSON escaping and Unicode: quotes, backslashes, control
/// characters, line separators, accents, CJK and emoji.
pub fn delta_text() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[a-zA-Z ,.!?]{0,12}",
        1 => "[\"\\\\\n\t\u{7f}]{1,3}",
        1 => "[éüß日本語🙂\u{2028}\u{2029}\u{85}]{1,4}",
        1 => any::<String>().prop_map(|s| s.chars().take(8).collect()),
    ]
}

#[derive(Debug, Clone)]
struct ToolPlan {
    name: String,
    id: String,
    fragments: Vec<String>,
}

#[derive(Debug, Clone)]
struct ChoicePlan {
    pieces: Vec<String>,
    tools: Vec<ToolPlan>,
    finish: FinishReason,
}

fn tool_plan() -> impl Strategy<Value = ToolPlan> {
    (
        "[a-z_]{1,12}",
        "call_[a-zA-Z0-9]{4,12}",
        prop::collection::vec("[{}\":, a-z0-9]{0,6}", 0..6),
    )
        .prop_map(|(name, id, fragments)| ToolPlan {
            name,
            id,
            fragments,
        })
}

fn choice_plan() -> impl Strategy<Value = ChoicePlan> {
    (
        prop::collection::vec(delta_text(), 0..10),
        prop::collection::vec(tool_plan(), 0..3),
        prop_oneof![
            Just(FinishReason::Stop),
            Just(FinishReason::Length),
            Just(FinishReason::ContentFilter),
            "[a-z_]{3,10}".prop_map(FinishReason::Other),
        ],
    )
        .prop_map(|(pieces, tools, finish)| {
            let finish = if tools.is_empty() {
                finish
            } else {
                FinishReason::ToolCalls
            };
            ChoicePlan {
                pieces,
                tools,
                finish,
            }
        })
}

/// A valid chat stream of 1 to 3 interleaved choices, with content deltas,
/// tool calls split into argument fragments, finish reasons, and sometimes a
/// final usage chunk with `choices: []` (as `stream_options.include_usage` gives).
pub fn chat_stream() -> impl Strategy<Value = GeneratedStream> {
    (
        prop::collection::vec(choice_plan(), 1..4),
        prop::collection::vec(any::<u8>(), 0..64),
        prop::option::of((0u64..10_000, 0u64..10_000)),
        "chatcmpl-[a-zA-Z0-9]{6}",
        "[a-z0-9.-]{1,16}",
    )
        .prop_map(|(plans, order, usage, id, model)| build(plans, &order, usage, id, model))
}

fn build(
    plans: Vec<ChoicePlan>,
    order: &[u8],
    usage: Option<(u64, u64)>,
    id: String,
    model: String,
) -> GeneratedStream {
    let chunk = |choices: Vec<ChunkChoice>| ChatCompletionChunk {
        id: id.as_str().into(),
        object: "chat.completion.chunk".into(),
        created: 1_700_000_000,
        model: model.as_str().into(),
        choices,
        ..ChatCompletionChunk::default()
    };
    // Every choice's deltas in order; the queues are then interleaved.
    let mut queues: Vec<std::collections::VecDeque<ChunkChoice>> = Vec::new();
    let mut expected_choices = Vec::new();
    for (index, plan) in plans.iter().enumerate() {
        let index = index as u32;
        let mut q = std::collections::VecDeque::new();
        let delta_choice = |delta: Delta, finish: Option<FinishReason>| ChunkChoice {
            index,
            delta,
            finish_reason: finish,
            ..ChunkChoice::default()
        };
        q.push_back(delta_choice(
            Delta {
                role: Some(Role::Assistant),
                content: Some(String::new()),
                ..Delta::default()
            },
            None,
        ));
        for piece in &plan.pieces {
            q.push_back(delta_choice(
                Delta {
                    content: Some(piece.clone()),
                    ..Delta::default()
                },
                None,
            ));
        }
        let mut calls = Vec::new();
        for (call_index, tool) in plan.tools.iter().enumerate() {
            let call_index = call_index as u32;
            q.push_back(delta_choice(
                Delta {
                    tool_calls: Some(vec![ToolCallDelta {
                        index: Some(call_index),
                        id: Some(tool.id.clone()),
                        r#type: Some("function".to_owned()),
                        function: Some(FunctionCallDelta {
                            name: Some(tool.name.clone()),
                            arguments: Some(String::new()),
                            ..FunctionCallDelta::default()
                        }),
                        ..ToolCallDelta::default()
                    }]),
                    ..Delta::default()
                },
                None,
            ));
            for fragment in &tool.fragments {
                q.push_back(delta_choice(
                    Delta {
                        tool_calls: Some(vec![ToolCallDelta {
                            index: Some(call_index),
                            function: Some(FunctionCallDelta {
                                arguments: Some(fragment.clone()),
                                ..FunctionCallDelta::default()
                            }),
                            ..ToolCallDelta::default()
                        }]),
                        ..Delta::default()
                    },
                    None,
                ));
            }
            calls.push(ToolCall {
                id: tool.id.clone(),
                r#type: "function".to_owned(),
                function: FunctionCall {
                    name: tool.name.clone(),
                    arguments: tool.fragments.concat(),
                    ..FunctionCall::default()
                },
                ..ToolCall::default()
            });
        }
        q.push_back(delta_choice(Delta::default(), Some(plan.finish.clone())));
        queues.push(q);
        expected_choices.push(Choice {
            index,
            message: ResponseMessage {
                role: Role::Assistant,
                content: Some(plan.pieces.concat()),
                tool_calls: (!calls.is_empty()).then_some(calls),
                ..ResponseMessage::default()
            },
            finish_reason: Some(plan.finish.clone()),
            ..Choice::default()
        });
    }
    let mut chunks = Vec::new();
    let mut step = 0usize;
    loop {
        let live: Vec<usize> = (0..queues.len())
            .filter(|&i| !queues[i].is_empty())
            .collect();
        if live.is_empty() {
            break;
        }
        let pick = order.get(step % order.len().max(1)).copied().unwrap_or(0) as usize;
        step += 1;
        let which = live[pick % live.len()];
        if let Some(choice) = queues[which].pop_front() {
            chunks.push(chunk(vec![choice]));
        }
    }
    let usage = usage.map(|(prompt, completion)| Usage {
        prompt_tokens: prompt,
        completion_tokens: completion,
        total_tokens: prompt + completion,
        ..Usage::default()
    });
    if let Some(usage) = &usage {
        let mut last = chunk(Vec::new());
        last.usage = Some(Box::new(usage.clone()));
        chunks.push(last);
    }
    let mut body = String::new();
    for c in &chunks {
        body.push_str("data: ");
        body.push_str(&serde_json::to_string(c).unwrap_or_default());
        body.push_str("\n\n");
    }
    body.push_str("data: [DONE]\n\n");
    let expected = ChatCompletion {
        id,
        object: "chat.completion".to_owned(),
        created: 1_700_000_000,
        model,
        choices: expected_choices,
        usage,
        ..ChatCompletion::default()
    };
    GeneratedStream {
        chunks,
        body,
        expected,
    }
}
