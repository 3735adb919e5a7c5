//! Fuzzes `nexllm_proto::sse::SseDecoder`: it must never panic, must give the
//! same events and errors however the input is cut (whole, one byte at a
//! time, and in pieces whose sizes the input itself chooses; fed as slices or
//! as `Bytes`; drained as owned, borrowed or alternating events after every
//! piece, or only after the first piece and at the end), and re-encoding the
//! events must decode to the same events.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nexllm_proto::Error;
use nexllm_proto::sse::{DEFAULT_MAX_EVENT_BYTES, SseDecoder, SseEncoder, SseEvent};

/// Everything observable about one decoding run.
#[derive(Debug, PartialEq)]
struct Outcome {
    events: Vec<SseEvent>,
    error: Option<Error>,
    retry: Option<u64>,
    last_event_id: String,
}

fn run<'a>(pieces: impl IntoIterator<Item = &'a [u8]>, limit: usize) -> Outcome {
    run_as(pieces, limit, false, 1)
}

/// `run`, each piece fed as `Bytes` (`feed_bytes`) when `as_bytes`, and events
/// drained borrowed (`mode` 0), owned (1) or alternating (2) after every piece,
/// or owned after the first piece and then only after `finish` (3): the
/// decoder then holds complete events while more input comes.
fn run_as<'a>(
    pieces: impl IntoIterator<Item = &'a [u8]>,
    limit: usize,
    as_bytes: bool,
    mode: u8,
) -> Outcome {
    let mut decoder = SseDecoder::with_max_event_bytes(limit);
    let mut events = Vec::new();
    let mut flip = false;
    let mut drain = |decoder: &mut SseDecoder, events: &mut Vec<SseEvent>| loop {
        flip = !flip;
        let next = if mode == 0 || (mode == 2 && flip) {
            decoder
                .next_event_ref()
                .map(|event| event.map(|event| event.to_event()))
        } else {
            decoder.next_event()
        };
        match next {
            Ok(Some(event)) => events.push(event),
            Ok(None) => return None,
            Err(error) => return Some(error),
        }
    };
    for (i, piece) in pieces.into_iter().enumerate() {
        if as_bytes {
            decoder.feed_bytes(bytes::Bytes::copy_from_slice(piece));
        } else {
            decoder.feed(piece);
        }
        assert!(decoder.buffered_len() <= limit.saturating_mul(4).saturating_add(8));
        if mode == 3 && i > 0 {
            continue;
        }
        if let Some(error) = drain(&mut decoder, &mut events) {
            return Outcome {
                events,
                error: Some(error),
                retry: decoder.retry(),
                last_event_id: decoder.last_event_id().to_owned(),
            };
        }
    }
    decoder.finish();
    let error = drain(&mut decoder, &mut events);
    Outcome {
        events,
        error,
        retry: decoder.retry(),
        last_event_id: decoder.last_event_id().to_owned(),
    }
}

/// Cuts `data` into pieces of 1..=64 bytes, and one in eight of 1 to 2 KiB
/// (reads the decoder may keep whole), sizes drawn from a generator seeded by
/// the input.
fn pieces(data: &[u8]) -> Vec<&[u8]> {
    let mut state = data.iter().fold(0xcbf2_9ce4_8422_2325_u64, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    }) | 1;
    let mut rest = data;
    let mut out = Vec::new();
    while !rest.is_empty() {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let size = if state % 8 == 0 {
            1024 + usize::try_from((state >> 3) % 1024).unwrap_or(0)
        } else {
            usize::try_from(state % 64).unwrap_or(0) + 1
        };
        let (piece, tail) = rest.split_at(size.min(rest.len()));
        out.push(piece);
        rest = tail;
    }
    out
}

fuzz_target!(|data: &[u8]| {
    for limit in [DEFAULT_MAX_EVENT_BYTES, 1 + data.len() % 40] {
        let whole = run([data], limit);
        assert_eq!(
            run(pieces(data), limit),
            whole,
            "random pieces, limit {limit}"
        );
        assert_eq!(
            run(data.chunks(1), limit),
            whole,
            "one-byte pieces, limit {limit}"
        );
        for mode in 0..4 {
            assert_eq!(
                run_as(pieces(data), limit, true, mode),
                whole,
                "random pieces as Bytes, mode {mode}, limit {limit}"
            );
            assert_eq!(
                run_as([data], limit, true, mode),
                whole,
                "whole as Bytes, mode {mode}, limit {limit}"
            );
            assert_eq!(
                run_as(pieces(data), limit, false, mode),
                whole,
                "random pieces, mode {mode}, limit {limit}"
            );
        }

        for event in &whole.events {
            assert!(!event.data().contains('\r'));
            assert!(!event.event_type().contains(['\r', '\n']));
            assert!(!event.last_event_id().contains(['\r', '\n', '\0']));
        }
        if whole.error.is_none() && limit == DEFAULT_MAX_EVENT_BYTES {
            let mut encoder = SseEncoder::new();
            let text: String = whole
                .events
                .iter()
                .map(|event| encoder.encode(event))
                .collect();
            assert_eq!(
                run([text.as_bytes()], limit).events,
                whole.events,
                "re-encoded"
            );
        }
    }
});
