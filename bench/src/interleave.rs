//! `nexllm-bench interleave`: part 2 with K streams decoded in turn, one event
//! each, the way a client with K concurrent streams meets them. Every stream has
//! its own copy of the body, decoder and accumulator, so what one stream keeps
//! between its events has gone cold by its next turn. This shows in process,
//! without the network's noise, what part 4's K = 512 rows pay for that state:
//! compare `--streams 512 --chunks 200` with `--streams 1 --chunks 102400` (the
//! same number of events), and profile either with `perf record`.

use std::hint::black_box;

use bytes::Bytes;
use nexllm_proto::stream::{ChatStreamDecoder, StreamAccumulator};
use serde::de::IgnoredAny;

use crate::corpus::{self, Shape};
use crate::measure::thread_cpu;

/// What each stream does with its events.
#[derive(Debug, Clone, Copy)]
pub enum Work {
    /// `ChatStreamDecoder::feed_bytes` + `next_chunk_ref` + `StreamAccumulator`
    /// (part 4's "raw hyper 1 + ChatStreamDecoder + StreamAccumulator", and
    /// what nexllm-hyper's exchange does).
    Chat,
    /// As `Chat`, with one decoder and accumulator for all the streams (each
    /// frame holds whole events, so they decode the same): the frames are as
    /// cold as with `Chat`, the decoder's state is not.
    ChatShared,
    /// serde_json validates each payload into nothing (part 4's
    /// "raw hyper 1 + lines + serde_json IgnoredAny").
    Json,
    /// memchr counts the `\n` of each event (part 4's "raw hyper 1 + memchr
    /// `\n` scan").
    Scan,
}

/// Thread CPU ns per event of `times` passes over `streams` streams of a
/// `chunks`-chunk content corpus, each pass with fresh decoders.
pub fn run(work: Work, streams: usize, chunks: usize, times: usize) -> Vec<f64> {
    let frames = frames(streams, chunks);
    (0..times)
        .map(|_| {
            let (cpu_ns, events) = once(work, &frames);
            cpu_ns / events.max(1) as f64
        })
        .collect()
}

/// Each stream's own copy of the corpus, cut into one `Bytes` per event, all
/// slices of that copy (as hyper hands out the frames of part 4's server:
/// slices of its read buffer, sharing one reference count).
fn frames(streams: usize, chunks: usize) -> Vec<Vec<Bytes>> {
    let corpus = corpus::generate(Shape::Content, chunks);
    let mut ends = Vec::new();
    let mut at = 0;
    while let Some(end) = memchr::memmem::find(&corpus.body[at..], b"\n\n") {
        at += end + 2;
        ends.push(at);
    }
    (0..streams)
        .map(|_| {
            let body = Bytes::copy_from_slice(&corpus.body);
            let mut start = 0;
            ends.iter()
                .map(|&end| {
                    let frame = body.slice(start..end);
                    start = end;
                    frame
                })
                .collect()
        })
        .collect()
}

/// One pass, stream after stream for each event: thread CPU ns and the events seen
/// (chat chunks, JSON payloads but `[DONE]`, or events).
fn once(work: Work, frames: &[Vec<Bytes>]) -> (f64, u64) {
    let turns = frames.first().map_or(0, Vec::len);
    // Each frame is handed over and dropped, as a client does with hyper's:
    // clones made before the clock starts.
    let mut frames: Vec<Vec<Bytes>> = frames.to_vec();
    // As the exchange of nexllm-hyper makes and reads them: each chunk lent,
    // its buffers passed on through the thread's spare buffers.
    let mut decoders: Vec<ChatStreamDecoder> = frames
        .iter()
        .map(|_| ChatStreamDecoder::new())
        .collect();
    let mut accumulators: Vec<StreamAccumulator> =
        frames.iter().map(|_| StreamAccumulator::new()).collect();
    let mut seen = 0u64;
    let start = thread_cpu();
    for turn in 0..turns {
        for (s, stream) in frames.iter_mut().enumerate() {
            let frame = std::mem::take(&mut stream[turn]);
            match work {
                Work::Chat | Work::ChatShared => {
                    let s = if matches!(work, Work::ChatShared) {
                        0
                    } else {
                        s
                    };
                    let decoder = &mut decoders[s];
                    decoder.feed_bytes(frame);
                    while let Ok(Some(chunk)) = decoder.next_chunk_ref() {
                        accumulators[s].push(chunk);
                        seen += 1;
                    }
                }
                Work::Json => {
                    let mut line_start = 0;
                    for end in memchr::memchr_iter(b'\n', &frame) {
                        let line = &frame[line_start..end];
                        line_start = end + 1;
                        if let Some(data) = line.strip_prefix(b"data: ") {
                            if data != b"[DONE]" {
                                black_box(serde_json::from_slice::<IgnoredAny>(data).is_ok());
                                seen += 1;
                            }
                        }
                    }
                }
                Work::Scan => seen += memchr::memchr_iter(b'\n', &frame).count() as u64 / 2,
            }
        }
    }
    let cpu = thread_cpu() - start;
    black_box(&accumulators);
    (cpu.as_nanos() as f64, seen)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_stream_sees_every_event() {
        let corpus = corpus::generate(Shape::Content, 50);
        let frames = frames(3, 50);
        assert_eq!(frames[2].len() as u64, corpus.events);
        for (work, expected) in [
            (Work::Chat, corpus.chunks),
            (Work::ChatShared, corpus.chunks),
            (Work::Json, corpus.chunks),
            (Work::Scan, corpus.events),
        ] {
            assert_eq!(once(work, &frames).1, 3 * expected, "{work:?}");
        }
    }
}
