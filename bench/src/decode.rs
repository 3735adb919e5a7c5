//! Part 1: SSE decoding only. `SseDecoder` against eventsource-stream (what
//! async-openai uses), sse-stream, and two floors over the same reads: a memchr
//! count of `\n` (the issue's floor) and a line floor that also does the work
//! any owned-event decoder must do per line (split, UTF-8 check, copy).

use std::hint::black_box;

use bytes::Bytes;
use memchr::memchr;
use nexllm_proto::sse::SseDecoder;

use crate::corpus::{self, Shape};
use crate::reads::{Contender, ReadSize, Reads, compete, drain};
use crate::report::{Role, Row, Section};

/// The memchr scan for `\n` over every read: the floor the issue names. Returns
/// the line ends over two (every event of the corpora ends with two), so that it
/// is checked against the events like every other row.
pub fn newline_scan(reads: &Reads) -> u64 {
    let mut lines = 0;
    for piece in reads.handles() {
        lines += memchr::memchr_iter(b'\n', black_box(&piece)).count() as u64;
    }
    lines / 2
}

/// Splits the reads into lines (carrying a line cut between reads), and calls
/// `each` with every complete line, without its line end.
pub fn for_each_line(reads: &Reads, mut each: impl FnMut(&[u8])) {
    let mut carry: Vec<u8> = Vec::new();
    for piece in reads.handles() {
        let mut rest: &[u8] = &piece;
        while let Some(end) = memchr(b'\n', rest) {
            let (head, tail) = rest.split_at(end);
            if carry.is_empty() {
                each(head.strip_suffix(b"\r").unwrap_or(head));
            } else {
                carry.extend_from_slice(head);
                each(carry.strip_suffix(b"\r").unwrap_or(&carry));
                carry.clear();
            }
            rest = &tail[1..];
        }
        carry.extend_from_slice(rest);
    }
}

/// The line floor: every non-empty line checked as UTF-8 (with SIMD, as sse-stream
/// does) and copied into a `String` (one allocation per event, as an owned event
/// needs). Returns the non-empty lines.
pub fn line_floor(reads: &Reads) -> u64 {
    let mut lines = 0;
    for_each_line(reads, |line| {
        if !line.is_empty() {
            if let Ok(text) = simdutf8::basic::from_utf8(line) {
                black_box(text.to_owned());
                lines += 1;
            }
        }
    });
    lines
}

/// The shared floor: the least a decoder handing out owned events that are `Send`
/// and allocate nothing per event must do. Lines are split with `memchr2` (CR or
/// LF, as SSE needs), each read's complete lines are checked as UTF-8 once with
/// simdutf8 where they are (no copy), and every non-empty line takes one shared
/// reference to its read (`Bytes::slice`: an atomic increment, and a decrement
/// when dropped). A line cut between reads is copied, checked and allocated, as in
/// the line floor. Nothing of SSE is interpreted. Returns the non-empty lines.
pub fn shared_floor(reads: &Reads) -> u64 {
    let mut lines = 0;
    let mut carry: Vec<u8> = Vec::new();
    for piece in reads.handles() {
        let mut start = 0;
        if !carry.is_empty() {
            match memchr::memchr2(b'\r', b'\n', &piece) {
                Some(end) => {
                    carry.extend_from_slice(&piece[..end]);
                    if let Ok(text) = simdutf8::basic::from_utf8(&carry) {
                        black_box(text.to_owned());
                        lines += 1;
                    }
                    carry.clear();
                    start = end + 1;
                }
                None => {
                    carry.extend_from_slice(&piece);
                    continue;
                }
            }
        }
        let Some(last) = memchr::memrchr2(b'\r', b'\n', &piece[start..]).map(|i| start + i) else {
            carry.extend_from_slice(&piece[start..]);
            continue;
        };
        let base = start;
        if simdutf8::basic::from_utf8(&piece[base..=last]).is_ok() {
            for end in memchr::memchr2_iter(b'\r', b'\n', &piece[base..=last]).map(|i| base + i) {
                if end > start {
                    black_box(piece.slice(start..end));
                    lines += 1;
                }
                start = end + 1;
            }
        }
        carry.extend_from_slice(&piece[last + 1..]);
    }
    lines
}

/// `SseDecoder` with borrowed events: feed each read, drain `next_event_ref`
/// (no allocation per event; the data is read from the decoder's buffer).
pub fn sse_decoder_borrowed(reads: &Reads) -> u64 {
    borrowed_events(reads, |decoder, piece| decoder.feed(&piece))
}

/// `SseDecoder` with borrowed events, each read handed over as the `Bytes` it is
/// (`feed_bytes`): complete lines are decoded where they are, not copied.
pub fn sse_decoder_bytes(reads: &Reads) -> u64 {
    borrowed_events(reads, |decoder, piece| decoder.feed_bytes(piece))
}

/// Feeds every read with `feed`, drains `next_event_ref` after each and at the
/// end, and adds up the data lengths. Returns the events.
#[inline(always)]
fn borrowed_events(reads: &Reads, mut feed: impl FnMut(&mut SseDecoder, Bytes)) -> u64 {
    let mut decoder = SseDecoder::new();
    let mut events = 0;
    let mut bytes = 0;
    for piece in reads.handles() {
        feed(&mut decoder, piece);
        while let Ok(Some(event)) = decoder.next_event_ref() {
            bytes += event.data().len();
            events += 1;
        }
    }
    decoder.finish();
    while let Ok(Some(event)) = decoder.next_event_ref() {
        bytes += event.data().len();
        events += 1;
    }
    black_box(bytes);
    events
}

/// `SseDecoder`: feed each read, drain the events.
pub fn sse_decoder(reads: &Reads) -> u64 {
    let mut decoder = SseDecoder::new();
    let mut events = 0;
    let mut bytes = 0;
    for piece in reads.handles() {
        decoder.feed(&piece);
        while let Ok(Some(event)) = decoder.next_event() {
            bytes += event.data().len();
            events += 1;
        }
    }
    decoder.finish();
    while let Ok(Some(event)) = decoder.next_event() {
        bytes += event.data().len();
        events += 1;
    }
    black_box(bytes);
    events
}

/// eventsource-stream's `EventStream` over the reads as a byte stream.
pub fn eventsource_stream(reads: &Reads) -> u64 {
    let mut events = 0;
    let mut bytes = 0;
    drain(
        eventsource_stream::EventStream::new(reads.stream()),
        |item| {
            if let Ok(event) = item {
                bytes += event.data.len();
                events += 1;
            }
        },
    );
    black_box(bytes);
    events
}

/// sse-stream's `SseByteStream` over the reads as a byte stream (blocks without data
/// are not events).
pub fn sse_stream(reads: &Reads) -> u64 {
    let mut events = 0;
    let mut bytes = 0;
    drain(sse_stream::SseByteStream::new(reads.stream()), |item| {
        if let Ok(sse_stream::Sse {
            data: Some(data), ..
        }) = item
        {
            bytes += data.len();
            events += 1;
        }
    });
    black_box(bytes);
    events
}

/// Every scenario of part 1.
pub fn run(runs: usize, quick: bool) -> Vec<Row> {
    let deltas = if quick { 2_000 } else { 20_000 };
    let small = if quick { 200 } else { 2_000 };
    let mut scenarios = Vec::new();
    for shape in [Shape::Content, Shape::ToolCall, Shape::Crlf] {
        for size in [ReadSize::Fixed(16 * 1024), ReadSize::PerEvent] {
            scenarios.push((shape, deltas, size));
        }
    }
    scenarios.push((Shape::Content, small, ReadSize::Fixed(1)));

    let mut rows = Vec::new();
    for (shape, deltas, size) in scenarios {
        let corpus = corpus::generate(shape, deltas);
        let reads = Reads::new(&corpus.body, size);
        let scenario = format!("{}, {}", shape.name(), size.name());
        let scenario = if deltas == small {
            format!("{scenario} ({deltas} chunks)")
        } else {
            scenario
        };
        let contenders = [
            Contender {
                role: Role::Floor,
                name: "memchr `\\n` scan",
                run: Box::new(|| newline_scan(&reads)),
            },
            Contender {
                role: Role::Reference,
                name: "line floor (memchr split + simdutf8 + copy)",
                run: Box::new(|| line_floor(&reads)),
            },
            Contender {
                role: Role::Reference,
                name: "shared floor (memchr2 split + simdutf8 per read + a shared reference per line)",
                run: Box::new(|| shared_floor(&reads)),
            },
            Contender {
                role: Role::Ours,
                name: "SseDecoder",
                run: Box::new(|| sse_decoder(&reads)),
            },
            Contender {
                role: Role::Reference,
                name: "SseDecoder, borrowed events (next_event_ref)",
                run: Box::new(|| sse_decoder_borrowed(&reads)),
            },
            Contender {
                role: Role::Reference,
                name: "SseDecoder, borrowed events, reads as Bytes (feed_bytes + next_event_ref)",
                run: Box::new(|| sse_decoder_bytes(&reads)),
            },
            Contender {
                role: Role::Peer,
                name: "sse-stream 0.3.0",
                run: Box::new(|| sse_stream(&reads)),
            },
            Contender {
                role: Role::Peer,
                name: "eventsource-stream 0.2.3",
                run: Box::new(|| eventsource_stream(&reads)),
            },
        ];
        rows.extend(compete(
            Section::Decode,
            &scenario,
            &reads,
            corpus.events,
            runs,
            &contenders,
        ));
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_decoder_sees_every_event_however_the_body_is_read() {
        for shape in [Shape::Content, Shape::ToolCall, Shape::Crlf] {
            let corpus = corpus::generate(shape, 100);
            for size in [ReadSize::Fixed(1), ReadSize::Fixed(777), ReadSize::PerEvent] {
                let reads = Reads::new(&corpus.body, size);
                assert_eq!(sse_decoder(&reads), corpus.events, "{shape:?} {size:?}");
                assert_eq!(
                    sse_decoder_bytes(&reads),
                    corpus.events,
                    "{shape:?} {size:?}"
                );
                assert_eq!(
                    sse_decoder_borrowed(&reads),
                    corpus.events,
                    "{shape:?} {size:?}"
                );
                assert_eq!(sse_stream(&reads), corpus.events, "{shape:?} {size:?}");
                assert_eq!(
                    eventsource_stream(&reads),
                    corpus.events,
                    "{shape:?} {size:?}"
                );
                assert_eq!(line_floor(&reads), corpus.events, "{shape:?} {size:?}");
                assert_eq!(shared_floor(&reads), corpus.events, "{shape:?} {size:?}");
                assert_eq!(newline_scan(&reads), corpus.events, "{shape:?} {size:?}");
            }
        }
    }
}
