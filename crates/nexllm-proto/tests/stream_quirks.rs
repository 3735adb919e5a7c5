//! Streams shaped as real OpenAI-compatible servers send them, decoded and
//! accumulated: what each server adds must reach the assembled completion as
//! a non-streamed answer would carry it, and nothing may be merged wrongly.
//! (The streams are written for these tests; their shapes follow the servers.)
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test helpers fail loudly"
)]

use nexllm_proto::Error;
use nexllm_proto::stream::{ChatStreamDecoder, StreamAccumulator};
use nexllm_proto::types::{ChatCompletion, FinishReason, ResponseAudio};
use serde_json::json;

/// A body of one `data:` event per JSON text (and SSE comments for lines
/// starting with `:`), then `[DONE]`.
fn body(events: &[&str]) -> String {
    let mut body = String::new();
    for event in events {
        if event.starts_with(':') {
            body.push_str(event);
        } else {
            body.push_str("data: ");
            body.push_str(event);
        }
        body.push_str("\n\n");
    }
    body.push_str("data: [DONE]\n\n");
    body
}

/// Decodes `body` fed in pieces of `size` bytes, accumulating every chunk;
/// returns the completion and how the stream ended.
fn decode_in_pieces(body: &str, size: usize) -> (ChatCompletion, Result<(), Error>) {
    let mut decoder = ChatStreamDecoder::new();
    let mut accumulator = StreamAccumulator::new();
    for piece in body.as_bytes().chunks(size) {
        decoder.feed(piece);
        loop {
            match decoder.next_chunk() {
                Ok(Some(chunk)) => accumulator.push(&chunk),
                Ok(None) => break,
                Err(e) => return (accumulator.into_completion(), Err(e)),
            }
        }
    }
    let end = decoder.finish();
    while let Ok(Some(chunk)) = decoder.next_chunk() {
        accumulator.push(&chunk);
    }
    (accumulator.into_completion(), end)
}

/// [`decode_in_pieces`] whole, checked to give the same in small pieces.
fn decode(body: &str) -> (ChatCompletion, Result<(), Error>) {
    let whole = decode_in_pieces(body, body.len().max(1));
    let small = decode_in_pieces(body, 7);
    assert_eq!(whole.0, small.0);
    assert_eq!(format!("{:?}", whole.1), format!("{:?}", small.1));
    whole
}

#[test]
fn azure_filter_results_reach_the_completion() {
    // Azure OpenAI: a first chunk with no choices, no id and no model that
    // carries the prompt's filter results; content filter results on every
    // choice; with the asynchronous filter, a late choice without a delta
    // (and again no id or model) with results and offsets.
    let safe = r#"{"hate":{"filtered":false,"severity":"safe"},"self_harm":{"filtered":false,"severity":"safe"},"sexual":{"filtered":false,"severity":"safe"},"violence":{"filtered":false,"severity":"safe"}}"#;
    let events = [
        format!(
            r#"{{"choices":[],"created":0,"id":"","model":"","object":"","prompt_filter_results":[{{"prompt_index":0,"content_filter_results":{safe}}}]}}"#
        ),
        r#"{"choices":[{"content_filter_results":{},"delta":{"content":"","refusal":null,"role":"assistant"},"finish_reason":null,"index":0,"logprobs":null}],"created":1736407895,"id":"chatcmpl-Az1","model":"gpt-4o-2024-11-20","object":"chat.completion.chunk","system_fingerprint":"fp_az"}"#.to_owned(),
        format!(
            r#"{{"choices":[{{"content_filter_results":{safe},"delta":{{"content":"Blue"}},"finish_reason":null,"index":0,"logprobs":null}}],"created":1736407895,"id":"chatcmpl-Az1","model":"gpt-4o-2024-11-20","object":"chat.completion.chunk","system_fingerprint":"fp_az"}}"#
        ),
        r#"{"choices":[{"content_filter_results":{},"delta":{},"finish_reason":"stop","index":0,"logprobs":null}],"created":1736407895,"id":"chatcmpl-Az1","model":"gpt-4o-2024-11-20","object":"chat.completion.chunk","system_fingerprint":"fp_az"}"#.to_owned(),
        format!(
            r#"{{"id":"","object":"","created":0,"model":"","choices":[{{"index":0,"finish_reason":null,"content_filter_results":{safe},"content_filter_offsets":{{"check_offset":0,"start_offset":0,"end_offset":4}}}}]}}"#
        ),
    ];
    let events: Vec<&str> = events.iter().map(String::as_str).collect();
    let (completion, end) = decode(&body(&events));
    end.unwrap();
    assert_eq!(completion.id, "chatcmpl-Az1");
    assert_eq!(completion.model, "gpt-4o-2024-11-20");
    assert_eq!(completion.created, 1736407895);
    assert_eq!(completion.content(), Some("Blue"));
    assert_eq!(completion.finish_reason(), Some(&FinishReason::Stop));
    let safe: serde_json::Value = serde_json::from_str(safe).unwrap();
    assert_eq!(
        completion.extra.get("prompt_filter_results"),
        Some(&json!([{"prompt_index": 0, "content_filter_results": safe}]))
    );
    // The results are kept: an empty object from a later chunk takes nothing away.
    let choice = &completion.choices[0];
    assert_eq!(choice.extra.get("content_filter_results"), Some(&safe));
    assert_eq!(
        choice.extra["content_filter_offsets"]["end_offset"],
        json!(4)
    );
}

#[test]
fn vllm_stop_reason_reaches_the_completion() {
    // vLLM: `stop_reason` on every choice, null until the choice ends (the
    // stop string or token id that ended it).
    let (completion, end) = decode(&body(&[
        r#"{"id":"chatcmpl-v1","object":"chat.completion.chunk","created":1745000000,"model":"Qwen/Qwen3-8B","choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]}"#,
        r#"{"id":"chatcmpl-v1","object":"chat.completion.chunk","created":1745000000,"model":"Qwen/Qwen3-8B","choices":[{"index":0,"delta":{"reasoning":"Short."},"logprobs":null,"finish_reason":null,"stop_reason":null}]}"#,
        r#"{"id":"chatcmpl-v1","object":"chat.completion.chunk","created":1745000000,"model":"Qwen/Qwen3-8B","choices":[{"index":0,"delta":{"content":"Paris"},"logprobs":null,"finish_reason":null,"stop_reason":null}]}"#,
        r#"{"id":"chatcmpl-v1","object":"chat.completion.chunk","created":1745000000,"model":"Qwen/Qwen3-8B","choices":[{"index":0,"delta":{"content":""},"logprobs":null,"finish_reason":"stop","stop_reason":"</answer>"}]}"#,
        r#"{"id":"chatcmpl-v1","object":"chat.completion.chunk","created":1745000000,"model":"Qwen/Qwen3-8B","choices":[],"usage":{"prompt_tokens":12,"total_tokens":20,"completion_tokens":8,"prompt_tokens_details":null}}"#,
    ]));
    end.unwrap();
    let choice = &completion.choices[0];
    assert_eq!(choice.message.content.as_deref(), Some("Paris"));
    assert_eq!(choice.message.reasoning(), Some("Short."));
    assert_eq!(choice.extra.get("stop_reason"), Some(&json!("</answer>")));
    assert_eq!(completion.usage.map(|u| u.total_tokens), Some(20));
}

#[test]
fn groq_and_llama_cpp_chunk_fields_reach_the_completion() {
    // Groq: `x_groq` with the request id on the first chunk, and with the
    // usage (and timings) on the last.
    let (completion, end) = decode(&body(&[
        r#"{"id":"chatcmpl-g1","object":"chat.completion.chunk","created":1746000000,"model":"llama-3.3-70b-versatile","system_fingerprint":"fp_g","choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}],"x_groq":{"id":"req_01abc"}}"#,
        r#"{"id":"chatcmpl-g1","object":"chat.completion.chunk","created":1746000000,"model":"llama-3.3-70b-versatile","system_fingerprint":"fp_g","choices":[{"index":0,"delta":{"content":"Hi"},"logprobs":null,"finish_reason":null}]}"#,
        r#"{"id":"chatcmpl-g1","object":"chat.completion.chunk","created":1746000000,"model":"llama-3.3-70b-versatile","system_fingerprint":"fp_g","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}],"x_groq":{"id":"req_01abc","usage":{"queue_time":0.02,"prompt_tokens":9,"prompt_time":0.001,"completion_tokens":2,"completion_time":0.004,"total_tokens":11,"total_time":0.005}}}"#,
    ]));
    end.unwrap();
    assert_eq!(completion.content(), Some("Hi"));
    let groq = &completion.extra["x_groq"];
    assert_eq!(groq["id"], "req_01abc");
    assert_eq!(groq["usage"]["total_tokens"], 11);

    // llama.cpp: `timings` on the usage chunk, after the finish.
    let (completion, end) = decode(&body(&[
        r#"{"choices":[{"finish_reason":null,"index":0,"delta":{"role":"assistant","content":null}}],"created":1747000000,"id":"chatcmpl-l1","model":"qwen2.5-0.5b","system_fingerprint":"b5000-abc","object":"chat.completion.chunk"}"#,
        r#"{"choices":[{"finish_reason":null,"index":0,"delta":{"content":"Salut"}}],"created":1747000000,"id":"chatcmpl-l1","model":"qwen2.5-0.5b","system_fingerprint":"b5000-abc","object":"chat.completion.chunk"}"#,
        r#"{"choices":[{"finish_reason":"stop","index":0,"delta":{}}],"created":1747000000,"id":"chatcmpl-l1","model":"qwen2.5-0.5b","system_fingerprint":"b5000-abc","object":"chat.completion.chunk"}"#,
        r#"{"choices":[],"created":1747000000,"id":"chatcmpl-l1","model":"qwen2.5-0.5b","system_fingerprint":"b5000-abc","object":"chat.completion.chunk","usage":{"completion_tokens":2,"prompt_tokens":10,"total_tokens":12},"timings":{"prompt_n":10,"prompt_ms":5.1,"predicted_n":2,"predicted_ms":9.8}}"#,
    ]));
    end.unwrap();
    assert_eq!(completion.content(), Some("Salut"));
    assert_eq!(completion.extra["timings"]["predicted_n"], 2);
}

#[test]
fn openrouter_reasoning_details_provider_and_native_finish_reason_are_kept() {
    // OpenRouter: processing comments while it waits; `provider` on every
    // chunk; `reasoning` text and `reasoning_details` fragments (a list per
    // chunk, the signature in the last); `native_finish_reason` on the
    // choice; `cost` in the usage.
    let (completion, end) = decode(&body(&[
        ": OPENROUTER PROCESSING",
        r#"{"id":"gen-17-abc","provider":"Anthropic","model":"anthropic/claude-sonnet-4","object":"chat.completion.chunk","created":1750000000,"choices":[{"index":0,"delta":{"role":"assistant","content":"","reasoning":"Two","reasoning_details":[{"type":"reasoning.text","text":"Two","format":"anthropic-claude-v1","index":0}]},"finish_reason":null,"native_finish_reason":null,"logprobs":null}]}"#,
        r#"{"id":"gen-17-abc","provider":"Anthropic","model":"anthropic/claude-sonnet-4","object":"chat.completion.chunk","created":1750000000,"choices":[{"index":0,"delta":{"role":"assistant","content":"","reasoning":" plus two.","reasoning_details":[{"type":"reasoning.text","text":" plus two.","format":"anthropic-claude-v1","index":0}]},"finish_reason":null,"native_finish_reason":null,"logprobs":null}]}"#,
        r#"{"id":"gen-17-abc","provider":"Anthropic","model":"anthropic/claude-sonnet-4","object":"chat.completion.chunk","created":1750000000,"choices":[{"index":0,"delta":{"role":"assistant","content":"","reasoning":null,"reasoning_details":[{"type":"reasoning.text","signature":"EqQB","format":"anthropic-claude-v1","index":0}]},"finish_reason":null,"native_finish_reason":null,"logprobs":null}]}"#,
        ": OPENROUTER PROCESSING",
        r#"{"id":"gen-17-abc","provider":"Anthropic","model":"anthropic/claude-sonnet-4","object":"chat.completion.chunk","created":1750000000,"choices":[{"index":0,"delta":{"role":"assistant","content":"4"},"finish_reason":"stop","native_finish_reason":"end_turn","logprobs":null}]}"#,
        r#"{"id":"gen-17-abc","provider":"Anthropic","model":"anthropic/claude-sonnet-4","object":"chat.completion.chunk","created":1750000000,"choices":[],"usage":{"prompt_tokens":14,"completion_tokens":20,"total_tokens":34,"cost":0.00034,"prompt_tokens_details":{"cached_tokens":0},"completion_tokens_details":{"reasoning_tokens":12}}}"#,
    ]));
    end.unwrap();
    let choice = &completion.choices[0];
    assert_eq!(choice.message.content.as_deref(), Some("4"));
    assert_eq!(choice.message.reasoning(), Some("Two plus two."));
    // Every fragment is kept, in order: the signature must go back to the model.
    assert_eq!(
        choice.message.extra.get("reasoning_details"),
        Some(&json!([
            {"type": "reasoning.text", "text": "Two", "format": "anthropic-claude-v1", "index": 0},
            {"type": "reasoning.text", "text": " plus two.", "format": "anthropic-claude-v1", "index": 0},
            {"type": "reasoning.text", "signature": "EqQB", "format": "anthropic-claude-v1", "index": 0},
        ]))
    );
    assert_eq!(
        choice.extra.get("native_finish_reason"),
        Some(&json!("end_turn"))
    );
    assert_eq!(completion.extra.get("provider"), Some(&json!("Anthropic")));
    assert_eq!(completion.usage.unwrap().extra["cost"], json!(0.00034));
}

#[test]
fn openrouter_error_after_the_stream_started_is_the_error_and_keeps_the_text() {
    // OpenRouter: a provider failing mid-stream ends it with a chunk that has
    // both a top-level `error` and a choice finished with "error".
    let events = [
        r#"{"id":"gen-18-def","provider":"Google","model":"google/gemini-2.5-flash","object":"chat.completion.chunk","created":1750000001,"choices":[{"index":0,"delta":{"role":"assistant","content":"Once upon"},"finish_reason":null,"native_finish_reason":null,"logprobs":null}]}"#,
        r#"{"id":"gen-18-def","provider":"Google","model":"google/gemini-2.5-flash","object":"chat.completion.chunk","created":1750000001,"error":{"code":502,"message":"Provider returned error","metadata":{"provider_name":"Google"}},"choices":[{"index":0,"delta":{"content":""},"finish_reason":"error","native_finish_reason":"error"}]}"#,
    ];
    let (completion, end) = decode(&body(&events));
    assert_eq!(completion.content(), Some("Once upon"));
    match end {
        Err(Error::Api(e)) => {
            assert_eq!(e.message, "Provider returned error");
            assert!(e.code_is("502"), "{e:?}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn streamed_annotations_are_the_message_annotations() {
    // OpenAI's search models send the citations in a last delta of their own
    // (OpenRouter's web plugin may spread them over several deltas).
    let (completion, end) = decode(&body(&[
        r#"{"id":"chatcmpl-s1","object":"chat.completion.chunk","created":1741700000,"model":"gpt-4o-search-preview-2025-03-11","choices":[{"index":0,"delta":{"role":"assistant","content":"","refusal":null,"annotations":[]},"finish_reason":null}],"obfuscation":"x1"}"#,
        r#"{"id":"chatcmpl-s1","object":"chat.completion.chunk","created":1741700000,"model":"gpt-4o-search-preview-2025-03-11","choices":[{"index":0,"delta":{"content":"Rust 1.90 is out (example.com)."},"finish_reason":null}],"obfuscation":"x2"}"#,
        r#"{"id":"chatcmpl-s1","object":"chat.completion.chunk","created":1741700000,"model":"gpt-4o-search-preview-2025-03-11","choices":[{"index":0,"delta":{"annotations":[{"type":"url_citation","url_citation":{"end_index":30,"start_index":17,"title":"Example","url":"https://example.com/?utm_source=openai"}}]},"finish_reason":null}],"obfuscation":"x3"}"#,
        r#"{"id":"chatcmpl-s1","object":"chat.completion.chunk","created":1741700000,"model":"gpt-4o-search-preview-2025-03-11","choices":[{"index":0,"delta":{"annotations":[{"type":"url_citation","url_citation":{"end_index":30,"start_index":0,"title":"Release notes","url":"https://example.org/notes"}}]},"finish_reason":null}],"obfuscation":"x4"}"#,
        r#"{"id":"chatcmpl-s1","object":"chat.completion.chunk","created":1741700000,"model":"gpt-4o-search-preview-2025-03-11","choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"obfuscation":"x5"}"#,
    ]));
    end.unwrap();
    let message = &completion.choices[0].message;
    let urls: Vec<&str> = message
        .annotations
        .as_deref()
        .unwrap_or_default()
        .iter()
        .filter_map(|a| a["url_citation"]["url"].as_str())
        .collect();
    assert_eq!(
        urls,
        [
            "https://example.com/?utm_source=openai",
            "https://example.org/notes"
        ]
    );
    assert!(!message.extra.contains_key("annotations"), "{message:?}");
}

#[test]
fn streamed_audio_is_the_message_audio() {
    // OpenAI audio output (`modalities: ["text", "audio"]`): the audio id and
    // pieces of the transcript and of the base64 data arrive in `delta.audio`,
    // the expiry last.
    let (completion, end) = decode(&body(&[
        r#"{"id":"chatcmpl-a1","object":"chat.completion.chunk","created":1733000000,"model":"gpt-4o-audio-preview-2024-12-17","choices":[{"index":0,"delta":{"role":"assistant","content":null,"refusal":null,"audio":{"id":"audio_abc","transcript":"Hel"}},"finish_reason":null}]}"#,
        r#"{"id":"chatcmpl-a1","object":"chat.completion.chunk","created":1733000000,"model":"gpt-4o-audio-preview-2024-12-17","choices":[{"index":0,"delta":{"audio":{"transcript":"lo."}},"finish_reason":null}]}"#,
        r#"{"id":"chatcmpl-a1","object":"chat.completion.chunk","created":1733000000,"model":"gpt-4o-audio-preview-2024-12-17","choices":[{"index":0,"delta":{"audio":{"data":"UklG"}},"finish_reason":null}]}"#,
        r#"{"id":"chatcmpl-a1","object":"chat.completion.chunk","created":1733000000,"model":"gpt-4o-audio-preview-2024-12-17","choices":[{"index":0,"delta":{"audio":{"data":"RiQA"}},"finish_reason":null}]}"#,
        r#"{"id":"chatcmpl-a1","object":"chat.completion.chunk","created":1733000000,"model":"gpt-4o-audio-preview-2024-12-17","choices":[{"index":0,"delta":{"audio":{"expires_at":1733003600}},"finish_reason":null}]}"#,
        r#"{"id":"chatcmpl-a1","object":"chat.completion.chunk","created":1733000000,"model":"gpt-4o-audio-preview-2024-12-17","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}"#,
    ]));
    end.unwrap();
    let message = &completion.choices[0].message;
    assert_eq!(
        message.audio,
        Some(ResponseAudio {
            id: "audio_abc".to_owned(),
            data: Some("UklGRiQA".to_owned()),
            expires_at: Some(1733003600),
            transcript: Some("Hello.".to_owned()),
            extra: Default::default(),
        })
    );
    assert!(!message.extra.contains_key("audio"), "{message:?}");
}

/// `(id, name, arguments)` of each tool call of the first choice.
fn calls(completion: &ChatCompletion) -> Vec<(&str, &str, &str)> {
    completion
        .tool_calls()
        .iter()
        .map(|c| {
            (
                c.id.as_str(),
                c.function.name.as_str(),
                c.function.arguments.as_str(),
            )
        })
        .collect()
}

#[test]
fn gemini_parallel_calls_without_index_or_id_in_one_chunk_stay_apart() {
    // Gemini's OpenAI compatibility layer sends each call whole, without an
    // `index`, several in one chunk when the model calls tools in parallel,
    // and not always with an id; a thought signature rides on the first call;
    // the choice finishes with "stop".
    let (completion, end) = decode(&body(&[
        r#"{"choices":[{"delta":{"role":"assistant","tool_calls":[{"extra_content":{"google":{"thought_signature":"CiQB"}},"function":{"arguments":"{\"city\":\"London\"}","name":"get_weather"},"type":"function"},{"function":{"arguments":"{\"tz\":\"UTC\"}","name":"get_time"},"type":"function"}]},"finish_reason":"stop","index":0}],"created":1752000000,"id":"aGVsbG8","model":"gemini-2.5-flash","object":"chat.completion.chunk","usage":{"completion_tokens":30,"prompt_tokens":50,"total_tokens":80}}"#,
    ]));
    end.unwrap();
    assert_eq!(
        calls(&completion),
        [
            ("", "get_weather", r#"{"city":"London"}"#),
            ("", "get_time", r#"{"tz":"UTC"}"#),
        ]
    );
    assert_eq!(
        completion.tool_calls()[0].extra.get("extra_content"),
        Some(&json!({"google": {"thought_signature": "CiQB"}}))
    );
    assert!(completion.tool_calls()[1].extra.is_empty());

    // Index-less fragments in later chunks still continue the current call.
    let (completion, end) = decode(&body(&[
        r#"{"choices":[{"delta":{"role":"assistant","tool_calls":[{"function":{"arguments":"{\"city\":","name":"get_weather"},"id":"function-call-1","type":"function"}]},"index":0}],"created":1752000000,"id":"aGVsbG9","model":"gemini-2.5-flash","object":"chat.completion.chunk"}"#,
        r#"{"choices":[{"delta":{"tool_calls":[{"function":{"arguments":"\"Oslo\"}"}}]},"index":0}],"created":1752000000,"id":"aGVsbG9","model":"gemini-2.5-flash","object":"chat.completion.chunk"}"#,
        r#"{"choices":[{"delta":{"tool_calls":[{"extra_content":{"google":{"thought_signature":"CiQC"}}}]},"finish_reason":"stop","index":0}],"created":1752000000,"id":"aGVsbG9","model":"gemini-2.5-flash","object":"chat.completion.chunk"}"#,
    ]));
    end.unwrap();
    assert_eq!(
        calls(&completion),
        [("function-call-1", "get_weather", r#"{"city":"Oslo"}"#)]
    );
    assert!(
        completion.tool_calls()[0]
            .extra
            .contains_key("extra_content")
    );
}

#[test]
fn whole_calls_that_share_an_index_but_not_an_id_stay_apart() {
    // Gateways that translate Gemini's parallel calls (LiteLLM before 1.72,
    // new-api) gave every whole call index 0, each with its own id.
    let (completion, end) = decode(&body(&[
        r#"{"id":"chatcmpl-x","created":1750755309,"model":"gemini-2.5-pro","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"role":"assistant","tool_calls":[{"id":"call_5e3a","function":{"arguments":"{\"q\":\"bitcoin\"}","name":"search"},"type":"function","index":0},{"id":"call_aa08","function":{"arguments":"{\"q\":\"ether\"}","name":"search"},"type":"function","index":0}]}}]}"#,
        r#"{"id":"chatcmpl-x","created":1750755309,"model":"gemini-2.5-pro","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"tool_calls":[{"id":"call_c1d2","function":{"arguments":"{}","name":"now"},"type":"function","index":0}]}}]}"#,
        r#"{"id":"chatcmpl-x","created":1750755309,"model":"gemini-2.5-pro","object":"chat.completion.chunk","choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}"#,
    ]));
    end.unwrap();
    assert_eq!(
        calls(&completion),
        [
            ("call_5e3a", "search", r#"{"q":"bitcoin"}"#),
            ("call_aa08", "search", r#"{"q":"ether"}"#),
            ("call_c1d2", "now", "{}"),
        ]
    );

    // Poolside repeats another id on the later fragments of one call: no
    // name there, so they continue it.
    let (completion, end) = decode(&body(&[
        r#"{"id":"c","object":"chat.completion.chunk","created":1,"model":"malibu","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_first","type":"function","function":{"name":"read_file","arguments":""}}]}}]}"#,
        r#"{"id":"c","object":"chat.completion.chunk","created":1,"model":"malibu","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_other","type":"function","function":{"arguments":"{\"path\":"}}]}}]}"#,
        r#"{"id":"c","object":"chat.completion.chunk","created":1,"model":"malibu","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_other","type":"function","function":{"arguments":"\"a.rs\"}"}}]},"finish_reason":"tool_calls"}]}"#,
    ]));
    end.unwrap();
    assert_eq!(
        calls(&completion),
        [("call_first", "read_file", r#"{"path":"a.rs"}"#)]
    );
}

#[test]
fn foundry_local_error_null_on_every_chunk_is_no_error() {
    // Microsoft Foundry Local puts `"error": null` (and a few status fields
    // of its own) on every chunk of a healthy stream.
    let chunk = |content: &str, finish: &str| {
        format!(
            r#"{{"model":"qwen2.5-1.5b-instruct-generic-gpu","choices":[{{"delta":{{"role":"assistant","content":"{content}","name":null,"tool_call_id":null,"function_call":null,"tool_calls":[]}},"message":{{"role":"assistant","content":"{content}","name":null,"tool_call_id":null,"function_call":null,"tool_calls":[]}},"index":0,"finish_reason":{finish},"finish_details":null,"logprobs":null}}],"usage":null,"system_fingerprint":null,"service_tier":null,"created":1754980336,"CreatedAt":"2025-08-12T06:32:16+00:00","id":"chat.id.1","StreamEvent":null,"IsDelta":false,"Successful":true,"error":null,"HttpStatusCode":0,"HeaderValues":null,"object":"chat.completion.chunk"}}"#
        )
    };
    let events = [chunk("Moon", "null"), chunk("light", r#""stop""#)];
    let events: Vec<&str> = events.iter().map(String::as_str).collect();
    let (completion, end) = decode(&body(&events));
    end.unwrap();
    assert_eq!(completion.content(), Some("Moonlight"));
    assert_eq!(completion.tool_calls(), []);
    assert_eq!(completion.extra["Successful"], true);
}

#[test]
fn an_openai_refusal_streams_into_refusal_and_leaves_content_unset() {
    // With structured outputs, OpenAI streams a refusal in `delta.refusal`
    // (its log probabilities in `logprobs.refusal`) and `content` stays null.
    let (completion, end) = decode(&body(&[
        r#"{"id":"chatcmpl-r1","object":"chat.completion.chunk","created":1741000000,"model":"gpt-4o-2024-08-06","service_tier":"default","system_fingerprint":"fp_r","choices":[{"index":0,"delta":{"role":"assistant","content":null,"refusal":""},"logprobs":null,"finish_reason":null}],"obfuscation":"a"}"#,
        r#"{"id":"chatcmpl-r1","object":"chat.completion.chunk","created":1741000000,"model":"gpt-4o-2024-08-06","service_tier":"default","system_fingerprint":"fp_r","choices":[{"index":0,"delta":{"refusal":"I can't"},"logprobs":{"content":null,"refusal":[{"token":"I can't","logprob":-0.01,"bytes":[73],"top_logprobs":[]}]},"finish_reason":null}],"obfuscation":"b"}"#,
        r#"{"id":"chatcmpl-r1","object":"chat.completion.chunk","created":1741000000,"model":"gpt-4o-2024-08-06","service_tier":"default","system_fingerprint":"fp_r","choices":[{"index":0,"delta":{"refusal":" help."},"logprobs":null,"finish_reason":null}],"obfuscation":"c"}"#,
        r#"{"id":"chatcmpl-r1","object":"chat.completion.chunk","created":1741000000,"model":"gpt-4o-2024-08-06","service_tier":"default","system_fingerprint":"fp_r","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}],"obfuscation":"d"}"#,
    ]));
    end.unwrap();
    let choice = &completion.choices[0];
    assert_eq!(choice.message.refusal.as_deref(), Some("I can't help."));
    assert_eq!(choice.message.content, None);
    let refusal_tokens = choice.logprobs.as_ref().and_then(|l| l.refusal.as_ref());
    assert_eq!(refusal_tokens.map(Vec::len), Some(1));
    assert_eq!(completion.service_tier.as_deref(), Some("default"));
    assert!(completion.extra.is_empty(), "{:?}", completion.extra);
}

#[test]
fn deepinfra_flat_error_fields_in_a_chunk_are_the_error() {
    // DeepInfra reports a request it refuses after the stream started (a
    // prompt past the context window) as a chunk without choices whose
    // `error_type` and `error_message` say what went wrong.
    let (completion, end) = decode(&body(&[
        r#"{"id":"chatcmpl-di1","object":"chat.completion.chunk","created":1752500000,"model":"deepseek-ai/DeepSeek-V3","choices":null,"error_type":"BadRequestError","error_message":"This model's maximum context length is 163840 tokens. However, you requested 170000 tokens."}"#,
    ]));
    assert!(completion.choices.is_empty());
    match end {
        Err(Error::Api(e)) => {
            assert!(e.message.contains("maximum context length"), "{e:?}");
            assert_eq!(e.error_type.as_deref(), Some("BadRequestError"));
            assert!(e.raw_body.contains("error_message"), "{e:?}");
        }
        other => panic!("{other:?}"),
    }
}
