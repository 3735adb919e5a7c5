//! Properties of the SSE decoder: a generated body decodes to the events it
//! was written from, however it is split, and encoding then decoding is the
//! identity.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // helpers outside #[test] fail the test loudly
#![cfg(feature = "proptest")]

use nexllm_proto::sse::strategies::{SseBody, body, body_with_splits, events};
use nexllm_proto::sse::{SseDecoder, SseEncoder, SseEvent, encode_event};
use proptest::prelude::*;

/// Feeds the pieces (draining after each), finishes, and returns the events and the decoder.
fn decode<'a>(pieces: impl IntoIterator<Item = &'a [u8]>) -> (Vec<SseEvent>, SseDecoder) {
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
    (events, decoder)
}

/// As `decode`, but each piece is handed over as `Bytes` (`feed_bytes`), and
/// events are drained borrowed, owned, or switching between the two at every
/// event (`mode` 0, 1, 2): the decoder keeps reads whole differently in each.
fn decode_bytes<'a>(
    pieces: impl IntoIterator<Item = &'a [u8]>,
    mode: u8,
) -> (Vec<SseEvent>, SseDecoder) {
    let mut decoder = SseDecoder::new();
    let mut events = Vec::new();
    let mut flip = false;
    let mut drain = |decoder: &mut SseDecoder, events: &mut Vec<SseEvent>| loop {
        flip = !flip;
        let borrowed = match mode {
            0 => true,
            1 => false,
            _ => flip,
        };
        let event = if borrowed {
            decoder
                .next_event_ref()
                .unwrap()
                .map(|event| event.to_event())
        } else {
            decoder.next_event().unwrap()
        };
        match event {
            Some(event) => events.push(event),
            None => return,
        }
    };
    for piece in pieces {
        decoder.feed_bytes(bytes::Bytes::copy_from_slice(piece));
        drain(&mut decoder, &mut events);
    }
    decoder.finish();
    drain(&mut decoder, &mut events);
    (events, decoder)
}

fn assert_decodes_to(body: &SseBody, (events, decoder): (Vec<SseEvent>, SseDecoder)) {
    assert_eq!(events, body.events);
    assert_eq!(decoder.retry(), body.retry);
    assert_eq!(decoder.last_event_id(), body.last_event_id);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn a_body_decodes_to_its_events_fed_whole(body in body()) {
        assert_decodes_to(&body, decode([body.bytes.as_slice()]));
    }

    #[test]
    fn splitting_anywhere_changes_nothing((body, splits) in body_with_splits()) {
        assert_decodes_to(&body, decode(body.pieces(&splits)));
    }

    #[test]
    fn reads_as_bytes_split_anywhere_change_nothing((body, splits) in body_with_splits(), mode in 0u8..3) {
        assert_decodes_to(&body, decode_bytes(body.pieces(&splits), mode));
        assert_decodes_to(&body, decode_bytes([body.bytes.as_slice()], mode));
    }

    #[test]
    fn one_byte_feeds_change_nothing(body in body()) {
        assert_decodes_to(&body, decode(body.bytes.chunks(1)));
    }

    #[test]
    fn encoding_then_decoding_is_the_identity(events in events()) {
        let mut encoder = SseEncoder::new();
        let text: String = events.iter().map(|event| encoder.encode(event)).collect();
        let (decoded, _) = decode(text.as_bytes().chunks(5));
        prop_assert_eq!(decoded, events);
    }

    #[test]
    fn one_event_encodes_and_decodes_alone(event in events().prop_filter_map("one event", |events| events.into_iter().next())) {
        let text = encode_event(&event);
        let (decoded, _) = decode([text.as_bytes()]);
        prop_assert_eq!(decoded, vec![event]);
    }

    #[test]
    fn arbitrary_bytes_split_anywhere_decode_the_same(
        bytes in proptest::collection::vec(
            prop_oneof![
                4 => proptest::sample::select(&b"data: \r\n:idevntry0\xEF\xBB\xBF\xE2\x80\xA8\xC3"[..]),
                1 => any::<u8>(),
            ],
            0..200,
        ),
        cuts in proptest::collection::vec(0usize..200, 0..8),
    ) {
        let body = SseBody { bytes, events: Vec::new(), retry: None, last_event_id: String::new() };
        let (whole, whole_decoder) = decode([body.bytes.as_slice()]);
        let (split, split_decoder) = decode(body.pieces(&cuts));
        prop_assert_eq!(&split, &whole);
        prop_assert_eq!(split_decoder.retry(), whole_decoder.retry());
        prop_assert_eq!(split_decoder.last_event_id(), whole_decoder.last_event_id());
        let (bytewise, _) = decode(body.bytes.chunks(1));
        prop_assert_eq!(&bytewise, &whole);
        for mode in 0..3 {
            let (as_bytes, bytes_decoder) = decode_bytes(body.pieces(&cuts), mode);
            prop_assert_eq!(&as_bytes, &whole);
            prop_assert_eq!(bytes_decoder.last_event_id(), whole_decoder.last_event_id());
        }
        for event in &whole {
            prop_assert!(!event.data().contains('\r'));
            prop_assert!(!event.event_type().contains(['\r', '\n']));
            prop_assert!(!event.last_event_id().contains(['\r', '\n', '\0']));
        }
    }
}

#[test]
fn splits_inside_the_bom_a_character_and_a_crlf() {
    let body =
        "\u{feff}data: \u{1F600}\u{2028}\r\ndata: \u{e9}\r\n\r\nevent: t\rdata: x\r\r".as_bytes();
    let expected = vec![
        SseEvent::message("\u{1F600}\u{2028}\n\u{e9}"),
        SseEvent::new("t", "x", ""),
    ];
    for first in 0..=body.len() {
        for second in first..=body.len() {
            let pieces = [&body[..first], &body[first..second], &body[second..]];
            assert_eq!(decode(pieces).0, expected, "cut at {first} and {second}");
        }
    }
}
