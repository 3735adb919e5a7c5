//! Properties of ChatStreamDecoder + StreamAccumulator over generated chat streams.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::disallowed_methods,
    reason = "test helpers fail loudly; the fake clock needs one real Instant to start from"
)]

use bytes::Bytes;
use nexllm_proto::strategies::{GeneratedStream, chat_stream};
use nexllm_proto::stream::{ChatStreamDecoder, StreamAccumulator};
use nexllm_proto::types::{ChatCompletion, ChatCompletionChunk};
use proptest::prelude::*;

/// How the pieces of a body reach the decoder.
#[derive(Debug, Clone, Copy)]
enum Feed {
    /// `feed(&[u8])`.
    Slices,
    /// `feed_bytes(Bytes)`, each piece a view of one shared buffer (as hyper's frames are).
    Bytes,
}

/// Feeds `body` split at `cuts` and returns the accumulated completion and the chunk count.
fn decode_split(body: &[u8], cuts: &[usize]) -> (ChatCompletion, usize) {
    decode_split_as(body, cuts, Feed::Slices)
}

/// [`decode_split`], feeding the pieces as `how` says.
fn decode_split_as(body: &[u8], cuts: &[usize], how: Feed) -> (ChatCompletion, usize) {
    let whole = Bytes::copy_from_slice(body);
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (body.len() + 1)).collect();
    points.sort_unstable();
    let mut decoder = ChatStreamDecoder::new();
    let mut acc = StreamAccumulator::new();
    let mut count = 0;
    let mut start = 0;
    for end in points.into_iter().chain(std::iter::once(body.len())) {
        match how {
            Feed::Slices => decoder.feed(&body[start..end.max(start)]),
            Feed::Bytes => decoder.feed_bytes(whole.slice(start..end.max(start))),
        }
        start = end.max(start);
        while let Some(chunk) = decoder.next_chunk().expect("valid stream") {
            acc.push(&chunk);
            count += 1;
        }
    }
    decoder.finish().expect("the stream is complete");
    while let Some(chunk) = decoder.next_chunk().expect("valid stream") {
        acc.push(&chunk);
        count += 1;
    }
    (acc.into_completion(), count)
}

/// Every chunk of `body` split at `cuts`, each taken in the way `ways` says
/// in turn: 0 `next_chunk`, 1 `next_chunk_ref` (cloned), 2 `next_chunk` and
/// the chunk handed back with `recycle` (after a clone); lent chunks pass
/// their buffers on when `reuse` says so.
fn collect_chunks(
    body: &[u8],
    cuts: &[usize],
    ways: &[u8],
    reuse: bool,
) -> Vec<ChatCompletionChunk> {
    collect_chunks_as(body, cuts, ways, reuse, Feed::Slices)
}

/// [`collect_chunks`], feeding the pieces as `how` says.
fn collect_chunks_as(
    body: &[u8],
    cuts: &[usize],
    ways: &[u8],
    reuse: bool,
    how: Feed,
) -> Vec<ChatCompletionChunk> {
    let whole = Bytes::copy_from_slice(body);
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (body.len() + 1)).collect();
    points.sort_unstable();
    let mut decoder = ChatStreamDecoder::new().reuse_buffers(reuse);
    let mut chunks = Vec::new();
    let mut take = |decoder: &mut ChatStreamDecoder| loop {
        let chunk = match ways[chunks.len() % ways.len()] {
            0 => decoder.next_chunk().expect("valid stream"),
            1 => decoder.next_chunk_ref().expect("valid stream").cloned(),
            _ => decoder.next_chunk().expect("valid stream").map(|chunk| {
                let copy = chunk.clone();
                decoder.recycle(chunk);
                copy
            }),
        };
        match chunk {
            Some(chunk) => chunks.push(chunk),
            None => break,
        }
    };
    let mut start = 0;
    for end in points.into_iter().chain(std::iter::once(body.len())) {
        match how {
            Feed::Slices => decoder.feed(&body[start..end.max(start)]),
            Feed::Bytes => decoder.feed_bytes(whole.slice(start..end.max(start))),
        }
        start = end.max(start);
        // Now and then two reads before the chunks are taken.
        if end % 3 != 0 {
            take(&mut decoder);
        }
    }
    decoder.finish().expect("the stream is complete");
    take(&mut decoder);
    chunks
}

/// Where each event of `body` ends (after its blank line), but those
/// `merge` drops (reads of several events), and `cuts` (reads cut inside one).
fn event_reads(body: &str, merge: &[bool], cuts: &[usize]) -> Vec<usize> {
    let mut points: Vec<usize> = body
        .match_indices("\n\n")
        .map(|(at, _)| at + 2)
        .enumerate()
        .filter(|(i, _)| !merge.get(i % merge.len().max(1)).copied().unwrap_or(false))
        .map(|(_, at)| at)
        .collect();
    points.extend(cuts.iter().map(|c| c % (body.len() + 1)));
    points
}

/// `body` with an SSE comment of `pad[i]` bytes after its `i`-th event (comments
/// change nothing): long enough reads take the path where `feed_bytes` keeps a
/// read as it is instead of copying it (1 KiB and more).
fn padded(body: &str, pad: &[usize]) -> String {
    let mut out = String::with_capacity(body.len() + pad.iter().sum::<usize>());
    for (i, event) in body.split_inclusive("\n\n").enumerate() {
        out.push_str(event);
        if let Some(&n) = pad.get(i % pad.len().max(1)).filter(|&&n| n > 0) {
            out.push(':');
            out.push_str(&"p".repeat(n));
            out.push_str("\n\n");
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn accumulates_to_the_expected_completion_at_any_split(
        stream in chat_stream(),
        cuts in prop::collection::vec(any::<usize>(), 0..24),
    ) {
        let GeneratedStream { chunks, body, expected } = stream;
        let (got, count) = decode_split(body.as_bytes(), &cuts);
        prop_assert_eq!(count, chunks.len());
        prop_assert_eq!(&got.choices, &expected.choices);
        prop_assert_eq!(&got.usage, &expected.usage);
        prop_assert_eq!(&got.id, &expected.id);
        prop_assert_eq!(&got.model, &expected.model);
    }

    #[test]
    fn feeding_bytes_gives_what_feeding_slices_gives_at_any_split(
        stream in chat_stream(),
        pad in prop::collection::vec(prop_oneof![Just(0usize), 1usize..3000], 1..6),
        cuts in prop::collection::vec(any::<usize>(), 0..12),
    ) {
        let GeneratedStream { chunks, body, expected } = stream;
        let body = padded(&body, &pad);
        let slices = decode_split_as(body.as_bytes(), &cuts, Feed::Slices);
        let (got, count) = decode_split_as(body.as_bytes(), &cuts, Feed::Bytes);
        prop_assert_eq!(count, chunks.len());
        prop_assert_eq!(&got.choices, &expected.choices);
        prop_assert_eq!(&got.usage, &expected.usage);
        prop_assert_eq!(&got.id, &expected.id);
        prop_assert_eq!(&got.model, &expected.model);
        prop_assert_eq!((got, count), slices);
    }

    #[test]
    fn lent_and_recycled_chunks_are_the_chunks_given_away_at_any_split(
        stream in chat_stream(),
        cuts in prop::collection::vec(any::<usize>(), 0..12),
        lend in prop::collection::vec(0u8..3, 1..8),
        reuse in any::<bool>(),
    ) {
        let GeneratedStream { chunks, body, .. } = stream;
        let owned = collect_chunks(body.as_bytes(), &cuts, &[0], true);
        // Lent (1) and recycled (2) chunks, mixed with owned ones (0) in turn.
        let mixed = collect_chunks(body.as_bytes(), &cuts, &lend, reuse);
        prop_assert_eq!(owned.len(), chunks.len());
        prop_assert_eq!(&mixed, &owned);
        prop_assert_eq!(&owned, &chunks);
    }

    #[test]
    fn reads_of_whole_events_give_the_chunks_given_away(
        stream in chat_stream(),
        merge in prop::collection::vec(prop::bool::weighted(0.2), 1..8),
        cuts in prop::collection::vec(any::<usize>(), 0..3),
        lend in prop::collection::vec(0u8..3, 1..8),
        reuse in any::<bool>(),
        crlf in any::<bool>(),
    ) {
        // A server's frames: one event each (read past the SSE decoder),
        // now and then several, or one cut inside.
        let GeneratedStream { chunks, body, .. } = stream;
        let body = if crlf { body.replace('\n', "\r\n") } else { body };
        let points = event_reads(&body.replace("\r\n", "\n"), &merge, &cuts);
        let points: Vec<usize> = if crlf {
            // The same events, each LF of the LF body two bytes.
            let lf = body.replace("\r\n", "\n");
            let lf = lf.as_bytes();
            points
                .iter()
                .map(|&at| at + lf[..at.min(lf.len())].iter().filter(|&&b| b == b'\n').count())
                .collect()
        } else {
            points
        };
        let read = collect_chunks_as(body.as_bytes(), &points, &lend, reuse, Feed::Bytes);
        prop_assert_eq!(&read, &chunks);
        let (got, count) = decode_split_as(body.as_bytes(), &points, Feed::Bytes);
        prop_assert_eq!(count, chunks.len());
        prop_assert_eq!(got, decode_split(body.as_bytes(), &[]).0);
    }

    #[test]
    fn one_byte_feeds_give_the_same_chunks(stream in chat_stream()) {
        let whole = decode_split(stream.body.as_bytes(), &[]);
        let cuts: Vec<usize> = (1..stream.body.len()).collect();
        let bytewise = decode_split(stream.body.as_bytes(), &cuts);
        prop_assert_eq!(whole, bytewise);
    }

    #[test]
    fn accumulated_text_is_the_concatenation_of_the_deltas(stream in chat_stream()) {
        let mut acc = StreamAccumulator::new();
        let mut texts: Vec<String> = vec![String::new(); stream.expected.choices.len()];
        for chunk in &stream.chunks {
            acc.push(chunk);
            for choice in &chunk.choices {
                if let Some(t) = &choice.delta.content {
                    texts[choice.index as usize].push_str(t);
                }
            }
        }
        for (i, text) in texts.iter().enumerate() {
            prop_assert_eq!(acc.completion().choices[i].message.content.as_deref(), Some(text.as_str()));
        }
    }

    #[test]
    fn a_stream_cut_anywhere_before_done_is_never_complete_unless_every_choice_finished(
        stream in chat_stream(),
        cut in any::<prop::sample::Index>(),
    ) {
        // Cut strictly inside the body before the final [DONE] event.
        let done_at = stream.body.len() - "data: [DONE]\n\n".len();
        let at = cut.index(done_at.max(1));
        let choices = stream.expected.choices.len() as u32;
        let mut decoder = ChatStreamDecoder::new().expecting(choices, stream.expected.usage.is_some());
        let mut acc = StreamAccumulator::new();
        decoder.feed(&stream.body.as_bytes()[..at]);
        while let Ok(Some(c)) = decoder.next_chunk() { acc.push(&c); }
        let end = decoder.finish();
        while let Ok(Some(c)) = decoder.next_chunk() { acc.push(&c); }
        let all_finished = !acc.completion().choices.is_empty()
            && acc.completion().choices.len() == stream.expected.choices.len()
            && acc.completion().choices.iter().all(|c| c.finish_reason.is_some())
            && acc.completion().usage == stream.expected.usage;
        prop_assert_eq!(end.is_ok(), all_finished, "cut at {} of {}", at, stream.body.len());
    }
}

#[test]
fn tool_call_fragments_without_index_continue_the_current_call() {
    // Some servers (older vLLM, some gateways) omit the index on continuation fragments.
    let body = concat!(
        "data: {\"id\":\"x\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"tool_calls\":[{\"id\":\"call_a\",\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"arguments\":\"\"}}]}}]}\n\n",
        "data: {\"id\":\"x\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"function\":{\"arguments\":\"{\\\"city\\\":\"}}]}}]}\n\n",
        "data: {\"id\":\"x\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":null,\"function\":{\"arguments\":\"\\\"Paris\\\"}\"}}]}}]}\n\n",
        "data: {\"id\":\"x\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"id\":\"call_b\",\"type\":\"function\",\"function\":{\"name\":\"get_time\",\"arguments\":\"{}\"}}]}}]}\n\n",
        "data: {\"id\":\"x\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"tool_calls\"}]}\n\n",
        "data: [DONE]\n\n",
    );
    let (c, _) = decode_split(body.as_bytes(), &[]);
    let calls = c.choices[0].message.tool_calls.as_ref().unwrap();
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[0].id, "call_a");
    assert_eq!(calls[0].function.name, "get_weather");
    assert_eq!(calls[0].function.arguments, "{\"city\":\"Paris\"}");
    assert_eq!(calls[1].id, "call_b");
    assert_eq!(calls[1].function.arguments, "{}");
}

#[test]
fn role_is_taken_once_and_reasoning_content_is_concatenated() {
    let body = concat!(
        "data: {\"id\":\"x\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"reasoning_content\":\"Let me \"}}]}\n\n",
        "data: {\"id\":\"x\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"reasoning_content\":\"think.\"}}]}\n\n",
        "data: {\"id\":\"x\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"42\"},\"finish_reason\":\"stop\"}]}\n\n",
        "data: [DONE]\n\n",
    );
    let (c, _) = decode_split(body.as_bytes(), &[]);
    let m = &c.choices[0].message;
    assert_eq!(m.role, nexllm_proto::Role::Assistant);
    assert_eq!(m.content.as_deref(), Some("42"));
    assert_eq!(m.extra["reasoning_content"], "Let me think.");
}
