//! Real provider stream shapes (tests/fixtures/sse/) decode to the expected
//! events, however the bytes are cut.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // helpers outside #[test] fail the test loudly

use std::path::PathBuf;

use nexllm_proto::sse::{SseDecoder, SseEvent};

fn fixture(name: &str) -> Vec<u8> {
    let path: PathBuf = [env!("CARGO_MANIFEST_DIR"), "tests", "fixtures", "sse", name]
        .iter()
        .collect();
    std::fs::read(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

fn decode<'a>(pieces: impl IntoIterator<Item = &'a [u8]>) -> Vec<SseEvent> {
    let mut decoder = SseDecoder::new();
    let mut events = Vec::new();
    for piece in pieces {
        decoder.feed(piece);
        while let Some(event) = decoder.next_event().unwrap() {
            events.push(event);
        }
    }
    decoder.finish();
    while let Some(event) = decoder.next_event().unwrap() {
        events.push(event);
    }
    events
}

/// Decodes a fixture whole, and checks every other way of cutting it gives the same.
fn decode_fixture(name: &str) -> Vec<SseEvent> {
    let bytes = fixture(name);
    let whole = decode([bytes.as_slice()]);
    assert_eq!(decode(bytes.chunks(1)), whole, "{name}: one-byte pieces");
    for size in [2, 3, 7, 64, 1000] {
        assert_eq!(
            decode(bytes.chunks(size)),
            whole,
            "{name}: pieces of {size}"
        );
    }
    for at in 0..=bytes.len() {
        let (head, tail) = bytes.split_at(at);
        assert_eq!(decode([head, tail]), whole, "{name}: split at {at}");
    }
    whole
}

/// The `data` of each event as JSON, `None` for the `[DONE]` sentinel.
fn json_payloads(events: &[SseEvent]) -> Vec<Option<serde_json::Value>> {
    events
        .iter()
        .map(|event| {
            if event.data() == "[DONE]" {
                None
            } else {
                Some(
                    serde_json::from_str(event.data())
                        .unwrap_or_else(|error| panic!("not JSON ({error}): {}", event.data())),
                )
            }
        })
        .collect()
}

/// The streamed text of an OpenAI-style stream: every `delta.content` joined.
fn content(payloads: &[Option<serde_json::Value>]) -> String {
    payloads
        .iter()
        .flatten()
        .filter_map(|chunk| chunk["choices"][0]["delta"]["content"].as_str())
        .collect()
}

/// Checks the common shape of an OpenAI-compatible stream and returns its payloads.
fn openai_compatible(name: &str, chunks: usize, text: &str) -> Vec<Option<serde_json::Value>> {
    let events = decode_fixture(name);
    assert_eq!(events.len(), chunks + 1, "{name}: event count");
    assert!(events.iter().all(|event| event.event_type() == "message"));
    assert!(events.iter().all(|event| event.last_event_id().is_empty()));
    assert_eq!(events.last().map(SseEvent::data), Some("[DONE]"), "{name}");
    let payloads = json_payloads(&events);
    assert_eq!(content(&payloads), text, "{name}: content");
    payloads
}

#[test]
fn openai_with_a_usage_chunk() {
    let payloads = openai_compatible("openai_usage.sse", 12, "Hello! How can I help you today?");
    let usage_chunk = payloads[11].as_ref().unwrap();
    assert_eq!(usage_chunk["choices"].as_array().map(Vec::len), Some(0));
    assert_eq!(usage_chunk["usage"]["total_tokens"], 29);
    assert_eq!(
        payloads[10].as_ref().unwrap()["choices"][0]["finish_reason"],
        "stop"
    );
}

#[test]
fn openai_tool_call_fragments() {
    let payloads = openai_compatible("openai_tool_calls.sse", 14, "");
    let arguments: String = payloads
        .iter()
        .flatten()
        .filter_map(|chunk| {
            chunk["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"].as_str()
        })
        .collect();
    assert_eq!(
        arguments,
        r#"{"location":"Paris, France","unit":"celsius"}"#
    );
}

#[test]
fn vllm() {
    let payloads = openai_compatible("vllm.sse", 10, "The capital of France is Paris.");
    assert_eq!(
        payloads[9].as_ref().unwrap()["usage"]["completion_tokens"],
        8
    );
}

#[test]
fn ollama() {
    openai_compatible("ollama.sse", 6, "Hi there! \u{1F44B}");
}

#[test]
fn llama_cpp() {
    let payloads = openai_compatible("llamacpp.sse", 8, "Bonjour le monde \u{2014} \u{e7}a va?");
    assert!(payloads[7].as_ref().unwrap()["timings"].is_object());
}

#[test]
fn litellm() {
    openai_compatible("litellm.sse", 7, "This is a test.");
}

#[test]
fn openrouter_processing_comments_are_not_events() {
    let bytes = fixture("openrouter.sse");
    assert!(bytes.starts_with(b": OPENROUTER PROCESSING\n\n"));
    let payloads = openai_compatible("openrouter.sse", 8, "Sure, here you go.");
    assert_eq!(payloads[7].as_ref().unwrap()["usage"]["total_tokens"], 18);
}

#[test]
fn gemini_openai_compatibility_with_crlf_line_ends() {
    let bytes = fixture("gemini_openai_compat_crlf.sse");
    assert!(bytes.windows(4).any(|w| w == b"\r\n\r\n"));
    assert!(!bytes.windows(2).any(|w| w[1] == b'\n' && w[0] != b'\r'));
    openai_compatible(
        "gemini_openai_compat_crlf.sse",
        6,
        "Gemini says hello from CRLF land.",
    );
}

#[test]
fn anthropic_style_typed_events() {
    let events = decode_fixture("anthropic_events.sse");
    let types: Vec<&str> = events.iter().map(SseEvent::event_type).collect();
    assert_eq!(
        types,
        [
            "message_start",
            "content_block_start",
            "ping",
            "content_block_delta",
            "content_block_delta",
            "content_block_delta",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop",
        ]
    );
    let payloads = json_payloads(&events);
    for (event, payload) in events.iter().zip(&payloads) {
        assert_eq!(payload.as_ref().unwrap()["type"], event.event_type());
    }
    let text: String = payloads
        .iter()
        .flatten()
        .filter_map(|payload| payload["delta"]["text"].as_str())
        .collect();
    assert_eq!(text, "Hello! How can I help?");
}

#[test]
fn an_error_event_in_the_middle_of_a_stream_is_just_data_here() {
    let events = decode_fixture("openai_error_midstream.sse");
    assert_eq!(events.len(), 2);
    let payloads = json_payloads(&events);
    assert_eq!(
        payloads[1].as_ref().unwrap()["error"]["type"],
        "server_error"
    );
}

#[test]
fn every_fixture_survives_crlf_and_cr_conversion() {
    let dir: PathBuf = [env!("CARGO_MANIFEST_DIR"), "tests", "fixtures", "sse"]
        .iter()
        .collect();
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        if !name.ends_with(".sse") {
            continue;
        }
        let bytes = fixture(&name);
        let lf: Vec<u8> = String::from_utf8(bytes.clone())
            .unwrap()
            .replace("\r\n", "\n")
            .into_bytes();
        let expected = decode([bytes.as_slice()]);
        assert!(!expected.is_empty(), "{name}");
        for line_end in ["\r\n", "\r"] {
            let converted = String::from_utf8(lf.clone())
                .unwrap()
                .replace('\n', line_end);
            assert_eq!(
                decode(converted.as_bytes().chunks(5)),
                expected,
                "{name} with {line_end:?}"
            );
        }
        checked += 1;
    }
    assert!(checked >= 10, "only {checked} fixtures");
}
