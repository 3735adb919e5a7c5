//! Chat completion responses in OpenAI's exact wire format: whole objects and stream chunks.

use serde_json::{Value, json};

use crate::models::{count_argument_tokens, count_tokens};
use crate::script::Answer;

/// The `system_fingerprint` of every answer.
pub(crate) const SYSTEM_FINGERPRINT: &str = "fp_nexllm_mock";
/// The `created` timestamp of every answer (fixed, so answers are deterministic).
pub(crate) const CREATED: u64 = 1_735_689_600;
/// Characters per streamed tool call argument fragment.
const ARGUMENT_FRAGMENT_CHARS: usize = 6;
/// The most completion tokens one answer holds, shared equally by its `n` choices: a
/// longer answer (an echoed prompt, tool call arguments, a scripted text) is cut with
/// `finish_reason: "length"`, as `max_tokens` cuts it. Every chunk of a stream is built
/// before the response head is sent, so this bounds the memory of any answer.
pub const MAX_ANSWER_TOKENS: u64 = 16_384;

/// Everything about one answer besides its content.
#[derive(Debug, Clone)]
pub(crate) struct CompletionMeta {
    /// `chatcmpl-mock-<n>`.
    pub(crate) id: String,
    /// The counter `n` in the id, reused for tool call ids.
    pub(crate) serial: u64,
    pub(crate) model: String,
    pub(crate) n: u32,
    pub(crate) max_tokens: Option<u64>,
    pub(crate) include_usage: bool,
    pub(crate) prompt_tokens: u64,
}

/// One choice, shaped: the text pieces or the tool calls, the finish reason, the tokens.
#[derive(Debug)]
struct ShapedChoice {
    pieces: Vec<String>,
    tool_calls: Vec<ShapedToolCall>,
    finish_reason: &'static str,
    completion_tokens: u64,
}

#[derive(Debug)]
struct ShapedToolCall {
    id: String,
    name: String,
    arguments: String,
}

/// Splits text into words, each with the whitespace before it, so the pieces join back
/// to the text exactly; or only its first `limit` words.
pub(crate) fn word_pieces(text: &str, limit: usize) -> Vec<String> {
    let mut pieces: Vec<String> = Vec::new();
    let mut start = 0;
    let mut previous: Option<char> = None;
    for (index, character) in text.char_indices() {
        let word_ends =
            character.is_whitespace() && previous.is_some_and(|previous| !previous.is_whitespace());
        let piece = text.get(start..index).unwrap_or_default();
        if word_ends && !piece.trim().is_empty() {
            pieces.push(piece.to_owned());
            if pieces.len() >= limit {
                return pieces;
            }
            start = index;
        }
        previous = Some(character);
    }
    let rest = text.get(start..).unwrap_or_default();
    match pieces.last_mut() {
        Some(last) if rest.trim().is_empty() => last.push_str(rest),
        _ if rest.is_empty() => {}
        _ => pieces.push(rest.to_owned()),
    }
    pieces
}

fn shape(meta: &CompletionMeta, answer: &Answer, choice: u32) -> ShapedChoice {
    let limit = (MAX_ANSWER_TOKENS / u64::from(meta.n.max(1))).max(1);
    match answer {
        Answer::Text(text) => {
            let total = count_tokens(text);
            let cap = meta
                .max_tokens
                .map_or(limit, |max_tokens| max_tokens.min(limit));
            if total > cap {
                let keep =
                    usize::try_from((cap.saturating_mul(3) / 4).max(1)).unwrap_or(usize::MAX);
                ShapedChoice {
                    pieces: word_pieces(text, keep),
                    tool_calls: Vec::new(),
                    finish_reason: "length",
                    completion_tokens: cap,
                }
            } else {
                ShapedChoice {
                    pieces: word_pieces(text, usize::MAX),
                    tool_calls: Vec::new(),
                    finish_reason: "stop",
                    completion_tokens: total,
                }
            }
        }
        Answer::ToolCalls(calls) => {
            // Arguments past the limit (about four characters a token) are cut, as a
            // model's are when it runs out of tokens; calls after that are left out.
            let mut room = usize::try_from(limit.saturating_mul(4)).unwrap_or(usize::MAX);
            let mut cut = false;
            let mut tool_calls = Vec::new();
            for (index, call) in calls.iter().enumerate() {
                if cut {
                    break;
                }
                let arguments: String = call.arguments.chars().take(room).collect();
                cut = arguments.len() < call.arguments.len();
                room = room.saturating_sub(arguments.chars().count());
                tool_calls.push(ShapedToolCall {
                    id: format!("call_mock_{}_{choice}_{index}", meta.serial),
                    name: call.name.clone(),
                    arguments,
                });
            }
            let completion_tokens = if cut {
                limit
            } else {
                tool_calls
                    .iter()
                    .map(|call| 3 + count_argument_tokens(&call.arguments))
                    .sum()
            };
            ShapedChoice {
                pieces: Vec::new(),
                tool_calls,
                finish_reason: if cut { "length" } else { "tool_calls" },
                completion_tokens,
            }
        }
    }
}

fn usage(prompt_tokens: u64, completion_tokens: u64) -> Value {
    json!({
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0
        }
    })
}

/// The whole `chat.completion` object.
pub(crate) fn completion(meta: &CompletionMeta, answer: &Answer) -> Value {
    let mut completion_tokens = 0;
    let choices: Vec<Value> = (0..meta.n)
        .map(|index| {
            let shaped = shape(meta, answer, index);
            completion_tokens += shaped.completion_tokens;
            let message = if shaped.tool_calls.is_empty() {
                json!({"role": "assistant", "content": shaped.pieces.concat(), "refusal": null, "annotations": []})
            } else {
                let calls: Vec<Value> = shaped
                    .tool_calls
                    .iter()
                    .map(|call| json!({"id": call.id, "type": "function", "function": {"name": call.name, "arguments": call.arguments}}))
                    .collect();
                json!({"role": "assistant", "content": null, "tool_calls": calls, "refusal": null, "annotations": []})
            };
            json!({"index": index, "message": message, "logprobs": null, "finish_reason": shaped.finish_reason})
        })
        .collect();
    json!({
        "id": meta.id,
        "object": "chat.completion",
        "created": CREATED,
        "model": meta.model,
        "choices": choices,
        "usage": usage(meta.prompt_tokens, completion_tokens),
        "service_tier": "default",
        "system_fingerprint": SYSTEM_FINGERPRINT,
    })
}

/// The `chat.completion.chunk` objects of a streamed answer, in order (without `[DONE]`).
pub(crate) fn chunks(meta: &CompletionMeta, answer: &Answer) -> Vec<Value> {
    let chunk = |choices: Vec<Value>| {
        let mut chunk = json!({
            "id": meta.id,
            "object": "chat.completion.chunk",
            "created": CREATED,
            "model": meta.model,
            "service_tier": "default",
            "system_fingerprint": SYSTEM_FINGERPRINT,
            "choices": choices,
        });
        if meta.include_usage {
            if let Some(object) = chunk.as_object_mut() {
                object.insert("usage".to_owned(), Value::Null);
            }
        }
        chunk
    };
    let choice = |index: u32, delta: Value, finish_reason: Option<&str>| json!({"index": index, "delta": delta, "logprobs": null, "finish_reason": finish_reason});
    let shaped: Vec<ShapedChoice> = (0..meta.n)
        .map(|index| shape(meta, answer, index))
        .collect();
    // Per choice, the deltas after the first one.
    let deltas: Vec<Vec<Value>> = shaped
        .iter()
        .map(|shaped| {
            if shaped.tool_calls.is_empty() {
                shaped.pieces.iter().map(|piece| json!({"content": piece})).collect()
            } else {
                shaped
                    .tool_calls
                    .iter()
                    .enumerate()
                    .flat_map(|(index, call)| {
                        argument_fragments(&call.arguments)
                            .into_iter()
                            .map(move |fragment| json!({"tool_calls": [{"index": index, "function": {"arguments": fragment}}]}))
                    })
                    .collect()
            }
        })
        .collect();
    let mut out = Vec::new();
    for (index, shaped) in (0u32..).zip(&shaped) {
        let first = if shaped.tool_calls.is_empty() {
            json!({"role": "assistant", "content": "", "refusal": null})
        } else {
            let calls: Vec<Value> = shaped
                .tool_calls
                .iter()
                .enumerate()
                .map(|(call_index, call)| {
                    json!({"index": call_index, "id": call.id, "type": "function", "function": {"name": call.name, "arguments": ""}})
                })
                .collect();
            json!({"role": "assistant", "content": null, "tool_calls": calls, "refusal": null})
        };
        out.push(chunk(vec![choice(index, first, None)]));
    }
    let longest = deltas.iter().map(Vec::len).max().unwrap_or(0);
    for step in 0..longest {
        for (index, choice_deltas) in (0u32..).zip(&deltas) {
            if let Some(delta) = choice_deltas.get(step) {
                out.push(chunk(vec![choice(index, delta.clone(), None)]));
            }
        }
    }
    for (index, shaped) in (0u32..).zip(&shaped) {
        out.push(chunk(vec![choice(
            index,
            json!({}),
            Some(shaped.finish_reason),
        )]));
    }
    if meta.include_usage {
        let completion_tokens = shaped.iter().map(|shaped| shaped.completion_tokens).sum();
        let mut last = chunk(Vec::new());
        if let Some(object) = last.as_object_mut() {
            object.insert(
                "usage".to_owned(),
                usage(meta.prompt_tokens, completion_tokens),
            );
        }
        out.push(last);
    }
    out
}

fn argument_fragments(arguments: &str) -> Vec<String> {
    let characters: Vec<char> = arguments.chars().collect();
    characters
        .chunks(ARGUMENT_FRAGMENT_CHARS)
        .map(|fragment| fragment.iter().collect())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(n: u32, max_tokens: Option<u64>, include_usage: bool) -> CompletionMeta {
        CompletionMeta {
            id: "chatcmpl-mock-1".into(),
            serial: 1,
            model: "mock-echo".into(),
            n,
            max_tokens,
            include_usage,
            prompt_tokens: 10,
        }
    }

    #[test]
    fn pieces_join_back_to_the_text() {
        for text in [
            "Hello world",
            "  lead and trail  ",
            "one\n\ntwo  three",
            "",
            "x",
            "héllo wörld ok",
        ] {
            assert_eq!(word_pieces(text, usize::MAX).concat(), text);
        }
        assert_eq!(
            word_pieces("Hello big world", usize::MAX),
            vec!["Hello", " big", " world"]
        );
        assert_eq!(word_pieces("  a b  ", usize::MAX), vec!["  a", " b  "]);
        assert_eq!(word_pieces("Hello big world", 2), vec!["Hello", " big"]);
    }

    #[test]
    fn stream_and_whole_answer_agree() {
        let answer = Answer::text("The quick brown fox jumps");
        let whole = completion(&meta(2, None, true), &answer);
        let chunks = chunks(&meta(2, None, true), &answer);
        let mut texts = [String::new(), String::new()];
        for chunk in &chunks {
            for choice in chunk["choices"].as_array().unwrap() {
                let index = choice["index"].as_u64().unwrap() as usize;
                if let Some(content) = choice["delta"]["content"].as_str() {
                    texts[index].push_str(content);
                }
            }
        }
        assert_eq!(
            texts,
            ["The quick brown fox jumps", "The quick brown fox jumps"]
        );
        assert_eq!(
            whole["choices"][1]["message"]["content"],
            "The quick brown fox jumps"
        );
        let last = chunks.last().unwrap();
        assert_eq!(last["choices"], json!([]));
        assert_eq!(last["usage"], whole["usage"]);
        assert_eq!(whole["usage"]["completion_tokens"], 14);
    }

    #[test]
    fn max_tokens_cuts_with_length() {
        let answer = Answer::text("one two three four five six seven eight");
        let whole = completion(&meta(1, Some(4), false), &answer);
        assert_eq!(whole["choices"][0]["finish_reason"], "length");
        assert_eq!(whole["choices"][0]["message"]["content"], "one two three");
        assert_eq!(whole["usage"]["completion_tokens"], 4);
    }

    #[test]
    fn a_long_answer_is_cut_at_the_answer_limit() {
        let answer = Answer::text("word ".repeat(20_000));
        let keep = usize::try_from(MAX_ANSWER_TOKENS * 3 / 4).unwrap();
        let streamed = chunks(&meta(1, None, true), &answer);
        // The role chunk, one chunk a word, the finish chunk, the usage chunk.
        assert_eq!(streamed.len(), 1 + keep + 2);
        assert_eq!(streamed[keep + 1]["choices"][0]["finish_reason"], "length");
        assert_eq!(
            streamed[keep + 2]["usage"]["completion_tokens"],
            MAX_ANSWER_TOKENS
        );
        // The choices share the limit.
        let whole = completion(&meta(4, None, false), &answer);
        for choice in whole["choices"].as_array().unwrap() {
            let content = choice["message"]["content"].as_str().unwrap();
            assert_eq!(content.split_whitespace().count(), keep / 4);
            assert_eq!(choice["finish_reason"], "length");
        }
        assert_eq!(whole["usage"]["completion_tokens"], MAX_ANSWER_TOKENS);
        // A smaller max_tokens still wins.
        let capped = completion(&meta(1, Some(8), false), &answer);
        assert_eq!(capped["usage"]["completion_tokens"], 8);
        // Tool call arguments are cut too (about four characters a token).
        let long_call = Answer::tool_call("f", format!("{{\"a\":\"{}\"}}", "x".repeat(100_000)));
        let whole = completion(&meta(1, None, false), &long_call);
        let arguments = whole["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"]
            .as_str()
            .unwrap();
        assert_eq!(
            arguments.len(),
            usize::try_from(MAX_ANSWER_TOKENS * 4).unwrap()
        );
        assert_eq!(whole["choices"][0]["finish_reason"], "length");
        assert_eq!(whole["usage"]["completion_tokens"], MAX_ANSWER_TOKENS);
        // Answers within the limit are untouched.
        let short = completion(&meta(128, None, false), &Answer::text("a b c"));
        assert_eq!(short["choices"][127]["message"]["content"], "a b c");
        assert_eq!(short["choices"][127]["finish_reason"], "stop");
    }

    #[test]
    fn tool_calls_stream_in_fragments() {
        let answer = Answer::tool_call("get_weather", "{\"city\":\"Paris\"}");
        let chunks = chunks(&meta(1, None, false), &answer);
        let first = &chunks[0]["choices"][0]["delta"]["tool_calls"][0];
        assert_eq!(first["function"]["name"], "get_weather");
        assert_eq!(first["id"], "call_mock_1_0_0");
        let arguments: String = chunks[1..]
            .iter()
            .filter_map(|chunk| {
                chunk["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"].as_str()
            })
            .collect();
        assert_eq!(arguments, "{\"city\":\"Paris\"}");
        assert!(chunks.len() > 3);
        assert_eq!(
            chunks.last().unwrap()["choices"][0]["finish_reason"],
            "tool_calls"
        );
    }
}
