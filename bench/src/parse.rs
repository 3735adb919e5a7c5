//! Part 2: decode + parse + accumulate. `ChatStreamDecoder` + `StreamAccumulator`
//! against what async-openai does with a stream (eventsource-stream, then
//! `serde_json::from_str` into its `CreateChatCompletionStreamResponse`, stopping at
//! `[DONE]`), plus the few lines a user adds to join the text. The floor splits lines
//! and has serde_json validate each payload without building anything.

use std::hint::black_box;

use async_openai::types::chat::CreateChatCompletionStreamResponse;
use bytes::Bytes;
use nexllm_proto::stream::{ChatStreamDecoder, StreamAccumulator};
use serde::de::IgnoredAny;

use crate::corpus::{self, Shape};
use crate::decode::for_each_line;
use crate::reads::{Contender, ReadSize, Reads, compete, drain};
use crate::report::{Role, Row, Section};

/// The JSON floor: lines split, every `data:` payload but `[DONE]` parsed by serde_json
/// into nothing (`IgnoredAny`). Returns the events: `[DONE]` and the payloads that
/// validated (a payload serde_json gives up on early is not an event).
pub fn json_floor(reads: &Reads) -> u64 {
    let mut events = 0;
    for_each_line(reads, |line| {
        if let Some(data) = line.strip_prefix(b"data: ") {
            if data == b"[DONE]" || serde_json::from_slice::<IgnoredAny>(data).is_ok() {
                events += 1;
            }
        }
    });
    events
}

/// This SDK: `ChatStreamDecoder` fed each read, every chunk lent
/// (`next_chunk_ref`, so the next chunk reuses its buffers) and pushed into a
/// `StreamAccumulator`. Returns the events (chunks and `[DONE]`).
pub fn nexllm(reads: &Reads) -> u64 {
    let mut decoder = ChatStreamDecoder::new();
    let mut accumulator = StreamAccumulator::new();
    for piece in reads.handles() {
        decoder.feed(&piece);
        while let Ok(Some(chunk)) = decoder.next_chunk_ref() {
            accumulator.push(chunk);
        }
    }
    if decoder.finish().is_ok() {
        while let Ok(Some(chunk)) = decoder.next_chunk_ref() {
            accumulator.push(chunk);
        }
    }
    let events = accumulator.chunks() + u64::from(decoder.saw_done());
    black_box(accumulator.into_completion());
    events
}

/// [`nexllm`] with every chunk given away (`next_chunk`) and dropped after
/// it was pushed, as a caller that keeps chunks gets them.
pub fn nexllm_owned(reads: &Reads) -> u64 {
    decode_and_accumulate(reads, |decoder, piece| decoder.feed(&piece))
}

/// [`nexllm`] with each read handed over as the `Bytes` it is
/// (`ChatStreamDecoder::feed_bytes`): the complete lines of a large read are
/// decoded where they are instead of being copied into the decoder's buffer.
pub fn nexllm_bytes(reads: &Reads) -> u64 {
    decode_and_accumulate(reads, |decoder, piece| decoder.feed_bytes(piece))
}

/// Feeds every read with `feed`, pushes each chunk into a `StreamAccumulator`
/// (also after `finish`). Returns the events (chunks and `[DONE]`).
#[inline(always)]
fn decode_and_accumulate(
    reads: &Reads,
    mut feed: impl FnMut(&mut ChatStreamDecoder, Bytes),
) -> u64 {
    let mut decoder = ChatStreamDecoder::new();
    let mut accumulator = StreamAccumulator::new();
    for piece in reads.handles() {
        feed(&mut decoder, piece);
        while let Ok(Some(chunk)) = decoder.next_chunk() {
            accumulator.push(&chunk);
        }
    }
    if decoder.finish().is_ok() {
        while let Ok(Some(chunk)) = decoder.next_chunk() {
            accumulator.push(&chunk);
        }
    }
    let events = accumulator.chunks() + u64::from(decoder.saw_done());
    black_box(accumulator.into_completion());
    events
}

/// async-openai's path: eventsource-stream, `[DONE]` ends it, each event's data parsed
/// into `CreateChatCompletionStreamResponse`; the content and tool-call arguments are
/// joined into strings (what a user of async-openai writes, as it has no accumulator).
pub fn async_openai_path(reads: &Reads) -> u64 {
    let mut events = 0;
    let mut text = String::new();
    let mut arguments = String::new();
    let mut done = false;
    drain(
        eventsource_stream::EventStream::new(reads.stream()),
        |item| {
            let Ok(event) = item else { return };
            if done {
                return;
            }
            if event.data == "[DONE]" {
                events += 1;
                done = true;
                return;
            }
            let Ok(chunk) = serde_json::from_str::<CreateChatCompletionStreamResponse>(&event.data)
            else {
                return;
            };
            events += 1;
            for choice in &chunk.choices {
                if let Some(content) = &choice.delta.content {
                    text.push_str(content);
                }
                for call in choice.delta.tool_calls.iter().flatten() {
                    if let Some(fragment) =
                        call.function.as_ref().and_then(|f| f.arguments.as_ref())
                    {
                        arguments.push_str(fragment);
                    }
                }
            }
        },
    );
    black_box((text, arguments));
    events
}

/// Where the allocations of one content chunk go (`nexllm-bench allocs`): the SSE
/// event, the chunk's deserialization, the accumulator, for this SDK and for
/// async-openai's chunk type. Each step is counted over 1,000 content chunks of the
/// corpus and averaged.
pub fn allocation_breakdown() -> String {
    use crate::alloc_count::Counting;
    use nexllm_proto::sse::SseDecoder;
    use nexllm_proto::types::ChatCompletionChunk;

    let corpus = corpus::generate(Shape::Content, 1_000);
    // The content chunks only (not the role, finish and usage chunks, nor [DONE]).
    let mut lines: Vec<String> = Vec::new();
    let text = String::from_utf8_lossy(&corpus.body).into_owned();
    for line in text.lines().filter_map(|l| l.strip_prefix("data: ")) {
        if line.contains(r#""delta":{"content""#) {
            lines.push(line.to_owned());
        }
    }
    let n = lines.len() as f64;
    let events: Vec<Vec<u8>> = lines
        .iter()
        .map(|l| format!("data: {l}\n\n").into_bytes())
        .collect();
    let mut out = format!("allocations per content chunk, averaged over {n} chunks:\n");

    let mut decoder = SseDecoder::new();
    let counting = Counting::start();
    for event in &events {
        decoder.feed(event);
        while let Ok(Some(event)) = decoder.next_event() {
            black_box(event);
        }
    }
    let sse = counting.stop().count as f64 / n;
    out.push_str(&format!(
        "  SseDecoder event (data String)                 {sse:.2}\n"
    ));

    let mut chunks: Vec<ChatCompletionChunk> = Vec::with_capacity(lines.len());
    let counting = Counting::start();
    for line in &lines {
        if let Ok(chunk) = serde_json::from_str(line) {
            chunks.push(chunk);
        }
    }
    let parse = counting.stop().count as f64 / n;
    out.push_str(&format!(
        "  serde_json → ChatCompletionChunk               {parse:.2}\n"
    ));

    let mut accumulator = StreamAccumulator::new();
    accumulator.push(&chunks[0]);
    let counting = Counting::start();
    for chunk in &chunks[1..] {
        accumulator.push(chunk);
    }
    let push = counting.stop().count as f64 / (n - 1.0);
    out.push_str(&format!(
        "  StreamAccumulator::push                        {push:.2}\n"
    ));

    drop(chunks);
    let mut theirs: Vec<CreateChatCompletionStreamResponse> = Vec::with_capacity(lines.len());
    let counting = Counting::start();
    for line in &lines {
        if let Ok(chunk) = serde_json::from_str(line) {
            theirs.push(chunk);
        }
    }
    let parse_theirs = counting.stop().count as f64 / n;
    black_box(theirs);
    out.push_str(&format!(
        "  serde_json → async-openai chunk (reference)    {parse_theirs:.2}\n"
    ));
    out
}

/// Every scenario of part 2.
pub fn run(runs: usize, quick: bool) -> Vec<Row> {
    let deltas = if quick { 2_000 } else { 20_000 };
    let mut rows = Vec::new();
    for shape in [Shape::Content, Shape::ToolCall] {
        let corpus = corpus::generate(shape, deltas);
        for size in [ReadSize::Fixed(16 * 1024), ReadSize::PerEvent] {
            let reads = Reads::new(&corpus.body, size);
            let scenario = format!("{}, {}", shape.name(), size.name());
            let contenders = [
                Contender {
                    role: Role::Floor,
                    name: "JSON floor (lines + serde_json IgnoredAny)",
                    run: Box::new(|| json_floor(&reads)),
                },
                Contender {
                    role: Role::Ours,
                    name: "ChatStreamDecoder + StreamAccumulator",
                    run: Box::new(|| nexllm(&reads)),
                },
                Contender {
                    role: Role::Reference,
                    name: "ChatStreamDecoder, chunks given away (next_chunk)",
                    run: Box::new(|| nexllm_owned(&reads)),
                },
                Contender {
                    role: Role::Reference,
                    name: "ChatStreamDecoder via feed_bytes (reads as Bytes)",
                    run: Box::new(|| nexllm_bytes(&reads)),
                },
                Contender {
                    role: Role::Peer,
                    name: "eventsource-stream + serde_json → async-openai 0.43 chunk",
                    run: Box::new(|| async_openai_path(&reads)),
                },
            ];
            rows.extend(compete(
                Section::Parse,
                &scenario,
                &reads,
                corpus.events,
                runs,
                &contenders,
            ));
        }
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_path_sees_every_event() {
        for shape in [Shape::Content, Shape::ToolCall] {
            let corpus = corpus::generate(shape, 200);
            for size in [ReadSize::Fixed(3), ReadSize::PerEvent] {
                let reads = Reads::new(&corpus.body, size);
                assert_eq!(json_floor(&reads), corpus.events, "{shape:?} {size:?}");
                assert_eq!(nexllm(&reads), corpus.events, "{shape:?} {size:?}");
                assert_eq!(nexllm_owned(&reads), corpus.events, "{shape:?} {size:?}");
                assert_eq!(nexllm_bytes(&reads), corpus.events, "{shape:?} {size:?}");
                assert_eq!(
                    async_openai_path(&reads),
                    corpus.events,
                    "{shape:?} {size:?}"
                );
            }
        }
    }

    #[test]
    fn async_openai_parses_every_chunk() {
        let corpus = corpus::generate(Shape::ToolCall, 50);
        let text = String::from_utf8(corpus.body).unwrap();
        for line in text.lines().filter_map(|l| l.strip_prefix("data: ")) {
            if line != "[DONE]" {
                serde_json::from_str::<CreateChatCompletionStreamResponse>(line).unwrap();
            }
        }
    }
}
