//! Fuzzes `ChatStreamDecoder` + `StreamAccumulator`: no panic on any body, the
//! same chunks and the same ending however the body is cut, whether it is
//! fed as slices or as `Bytes` (cut at line ends, as servers' frames are),
//! and whether chunks are given (`next_chunk`) or lent (`next_chunk_ref`,
//! each lent chunk's buffers passed on to the next, as the exchange reads
//! them), and memory bounded by the configured limit.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use nexllm_proto::stream::{ChatStreamDecoder, StreamAccumulator};
use nexllm_proto::{ChatCompletion, Error};

const LIMIT: usize = 64 * 1024;

#[derive(Debug, PartialEq)]
struct Run {
    chunks: usize,
    completion: ChatCompletion,
    end: Result<(), Error>,
}

/// How a run feeds the body and takes the chunks.
#[derive(Clone, Copy)]
struct Mode {
    /// Each piece handed over as `Bytes` (`feed_bytes`) rather than a slice.
    as_bytes: bool,
    /// Chunks lent (`next_chunk_ref`) rather than given (`next_chunk`).
    lent: bool,
}

const SLICES: Mode = Mode {
    as_bytes: false,
    lent: false,
};

/// The next chunk, given or lent, pushed into `acc`: `Ok(false)` when there is none yet.
fn take_one(
    decoder: &mut ChatStreamDecoder,
    acc: &mut StreamAccumulator,
    lent: bool,
) -> Result<bool, Error> {
    if lent {
        let Some(chunk) = decoder.next_chunk_ref()? else {
            return Ok(false);
        };
        acc.push(chunk);
    } else {
        let Some(chunk) = decoder.next_chunk()? else {
            return Ok(false);
        };
        acc.push(&chunk);
    }
    Ok(true)
}

fn run<'a>(pieces: impl IntoIterator<Item = &'a [u8]>, expect: (u32, bool), mode: Mode) -> Run {
    let mut decoder = ChatStreamDecoder::with_max_event_bytes(LIMIT).expecting(expect.0, expect.1);
    let mut acc = StreamAccumulator::new();
    let mut chunks = 0;
    for piece in pieces {
        if mode.as_bytes {
            decoder.feed_bytes(Bytes::copy_from_slice(piece));
        } else {
            decoder.feed(piece);
        }
        loop {
            match take_one(&mut decoder, &mut acc, mode.lent) {
                Ok(true) => chunks += 1,
                Ok(false) => break,
                Err(e) => {
                    return Run {
                        chunks,
                        completion: acc.into_completion(),
                        end: Err(e),
                    };
                }
            }
        }
    }
    let end = decoder.finish();
    while let Ok(true) = take_one(&mut decoder, &mut acc, mode.lent) {
        chunks += 1;
    }
    Run {
        chunks,
        completion: acc.into_completion(),
        end,
    }
}

/// `body` cut after every blank line (an LF after LF or after CRLF).
fn events(body: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = body;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let end = (1..rest.len())
            .find(|&at| {
                rest[at] == b'\n' && (rest[at - 1] == b'\n' || rest[..at].ends_with(b"\n\r"))
            })
            .map_or(rest.len(), |at| at + 1);
        let (event, after) = rest.split_at(end);
        rest = after;
        Some(event)
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&control, body)) = data.split_first() else {
        return;
    };
    let expect = (u32::from(control & 3) + 1, control & 4 != 0);
    let whole = run([body], expect, SLICES);
    // Pieces whose sizes come from the control byte, then one byte at a time.
    let size = usize::from(control >> 3) + 1;
    let pieced = run(body.chunks(size), expect, SLICES);
    assert_eq!(whole, pieced, "pieces of {size}");
    let frames_mode = Mode {
        as_bytes: true,
        lent: false,
    };
    let frames = run(body.split_inclusive(|&b| b == b'\n'), expect, frames_mode);
    assert_eq!(whole, frames, "Bytes cut after every LF");
    // As the exchange reads a server's frames: each chunk lent, its buffers
    // passed on (the direct parser's result is also checked against serde's
    // for every chunk, in the lent chunk where nothing of the one before may remain).
    let lent_mode = Mode {
        as_bytes: true,
        lent: true,
    };
    let lent = run(body.split_inclusive(|&b| b == b'\n'), expect, lent_mode);
    assert_eq!(whole, lent, "chunks lent, Bytes cut after every LF");
    // A server's frames of one whole event each (`data: ..` and a blank
    // line): those the decoder reads past its SSE decoder.
    let events = run(events(body), expect, lent_mode);
    assert_eq!(whole, events, "chunks lent, Bytes of one event each");
    let pieced_bytes = run(
        body.chunks(size),
        expect,
        Mode {
            as_bytes: true,
            lent: size % 2 == 0,
        },
    );
    assert_eq!(whole, pieced_bytes, "Bytes in pieces of {size}");
    if body.len() <= 4096 {
        let bytewise = run(body.chunks(1), expect, SLICES);
        assert_eq!(whole, bytewise, "one byte at a time");
    }
    // The accumulated text is never longer than the body it came from.
    let text: usize = whole
        .completion
        .choices
        .iter()
        .map(|c| c.message.content.as_ref().map_or(0, String::len))
        .sum();
    assert!(text <= body.len() * 3 + 16);
});
