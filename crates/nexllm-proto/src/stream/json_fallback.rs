//! A streaming request answered with a plain JSON body instead of an event stream.
//!
//! Some gateways answer errors this way, and some servers ignore `stream: true`
//! and send a whole completion. An error body becomes its error; a completion
//! becomes one chunk per choice (with usage on the last), so a caller of the
//! streaming API sees the answer instead of an empty stream.

use http::{HeaderMap, StatusCode};

use crate::error::Error;
use crate::types::{
    ChatCompletion, ChatCompletionChunk, ChunkChoice, Delta, FunctionCallDelta, SharedStr,
    ToolCallDelta,
};

pub(super) fn chunks_from_json_body(body: &[u8]) -> Result<Vec<ChatCompletionChunk>, Error> {
    let completion = crate::decode::chat_completion(StatusCode::OK, &HeaderMap::new(), body)?;
    Ok(chunks_from_completion(completion))
}

fn chunks_from_completion(completion: ChatCompletion) -> Vec<ChatCompletionChunk> {
    let ChatCompletion {
        id,
        created,
        model,
        choices,
        usage,
        system_fingerprint,
        service_tier,
        extra,
        object: _,
    } = completion;
    let count = choices.len();
    let mut chunks = Vec::with_capacity(count.max(1));
    let id = SharedStr::from(id);
    let object = SharedStr::from("chat.completion.chunk");
    let model = SharedStr::from(model);
    let system_fingerprint = system_fingerprint.map(SharedStr::from);
    let service_tier = service_tier.map(SharedStr::from);
    let template = |choices: Vec<ChunkChoice>| ChatCompletionChunk {
        id: id.clone(),
        object: object.clone(),
        created,
        model: model.clone(),
        choices,
        system_fingerprint: system_fingerprint.clone(),
        service_tier: service_tier.clone(),
        ..ChatCompletionChunk::default()
    };
    for choice in choices {
        let message = choice.message;
        let tool_calls = message.tool_calls.map(|calls| {
            calls
                .into_iter()
                .enumerate()
                .map(|(i, call)| ToolCallDelta {
                    index: u32::try_from(i).ok(),
                    id: Some(call.id),
                    r#type: Some(call.r#type),
                    function: Some(FunctionCallDelta {
                        name: Some(call.function.name),
                        arguments: Some(call.function.arguments),
                        extra: call.function.extra,
                    }),
                    extra: call.extra,
                })
                .collect()
        });
        let delta = Delta {
            role: Some(message.role),
            content: message.content,
            refusal: message.refusal,
            tool_calls,
            extra: message.extra,
        };
        chunks.push(template(vec![ChunkChoice {
            index: choice.index,
            delta,
            finish_reason: choice.finish_reason,
            logprobs: choice.logprobs,
            extra: choice.extra,
        }]));
    }
    if let Some(usage) = usage {
        match chunks.last_mut() {
            Some(last) => last.usage = Some(Box::new(usage)),
            None => {
                let mut only = template(Vec::new());
                only.usage = Some(Box::new(usage));
                chunks.push(only);
            }
        }
    }
    // The completion's unknown fields ride on the first chunk, so that the
    // accumulated completion has them too.
    if !extra.is_empty() {
        match chunks.first_mut() {
            Some(first) => first.extra = extra,
            None => {
                let mut only = template(Vec::new());
                only.extra = extra;
                chunks.push(only);
            }
        }
    }
    chunks
}
