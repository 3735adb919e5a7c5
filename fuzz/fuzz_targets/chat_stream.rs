//! Fuzzes `ChatStreamDecoder` + `StreamAccumulator`: no panic on any body, the
//! same chunks and the same ending however the body is cut and whether it is
//! fed as slices or as `Bytes` (cut at line ends, as servers' frames are), and
//! memory bounded by the configured limit.
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

fn run<'a>(pieces: impl IntoIterator<Item = &'a [u8]>, expect: (u32, bool), as_bytes: bool) -> Run {
    let mut decoder = ChatStreamDecoder::with_max_event_bytes(LIMIT).expecting(expect.0, expect.1);
    let mut acc = StreamAccumulator::new();
    let mut chunks = 0;
    for piece in pieces {
        if as_bytes {
            decoder.feed_bytes(Bytes::copy_from_slice(piece));
        } else {
            decoder.feed(piece);
        }
        loop {
            match decoder.next_chunk() {
                Ok(Some(chunk)) => {
                    acc.push(&chunk);
                    chunks += 1;
                }
                Ok(None) => break,
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
    while let Ok(Some(chunk)) = decoder.next_chunk() {
        acc.push(&chunk);
        chunks += 1;
    }
    Run {
        chunks,
        completion: acc.into_completion(),
        end,
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&control, body)) = data.split_first() else {
        return;
    };
    let expect = (u32::from(control & 3) + 1, control & 4 != 0);
    let whole = run([body], expect, false);
    // Pieces whose sizes come from the control byte, then one byte at a time.
    let size = usize::from(control >> 3) + 1;
    let pieced = run(body.chunks(size), expect, false);
    assert_eq!(whole, pieced, "pieces of {size}");
    let frames = run(body.split_inclusive(|&b| b == b'\n'), expect, true);
    assert_eq!(whole, frames, "Bytes cut after every LF");
    let pieced_bytes = run(body.chunks(size), expect, true);
    assert_eq!(whole, pieced_bytes, "Bytes in pieces of {size}");
    if body.len() <= 4096 {
        let bytewise = run(body.chunks(1), expect, false);
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
