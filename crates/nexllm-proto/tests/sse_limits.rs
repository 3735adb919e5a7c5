//! The size limits of the SSE decoder: an endless line or event fails with a
//! clear error, without buffering much more than the limit, however it is fed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // helpers outside #[test] fail the test loudly

use nexllm_proto::sse::{DEFAULT_MAX_EVENT_BYTES, SseDecoder, SseEvent};
use nexllm_proto::{Error, LimitError};

fn limit_error(what: &'static str, limit: usize) -> Error {
    Error::LimitExceeded(Box::new(LimitError::new(what, limit)))
}

#[test]
fn the_default_limit_is_16_mib() {
    assert_eq!(DEFAULT_MAX_EVENT_BYTES, 16 * 1024 * 1024);
    assert_eq!(SseDecoder::new().max_event_bytes(), DEFAULT_MAX_EVENT_BYTES);
    assert_eq!(
        SseDecoder::default().max_event_bytes(),
        DEFAULT_MAX_EVENT_BYTES
    );
}

#[test]
fn an_endless_line_fails_once_past_the_limit_and_stays_bounded() {
    let limit = 1000;
    let mut decoder = SseDecoder::with_max_event_bytes(limit);
    let mut fed = 0;
    let piece = [b'x'; 7];
    loop {
        decoder.feed(&piece);
        fed += piece.len();
        assert!(
            decoder.buffered_len() <= limit,
            "holds {}",
            decoder.buffered_len()
        );
        match decoder.next_event() {
            Ok(None) => assert!(fed <= limit, "no error after {fed} bytes"),
            Err(error) => {
                assert_eq!(error, limit_error("SSE line", limit));
                assert!(fed > limit && fed <= limit + piece.len());
                break;
            }
            Ok(Some(event)) => panic!("unexpected {event:?}"),
        }
    }
    assert_eq!(decoder.buffered_len(), 0, "the buffer is released");
    assert_eq!(
        decoder.next_event().unwrap_err().to_string(),
        "the SSE line is larger than the limit of 1000 bytes"
    );
}

#[test]
fn a_huge_single_feed_fails_without_copying_it() {
    let limit = 64;
    let mut decoder = SseDecoder::with_max_event_bytes(limit);
    decoder.feed(&vec![b'a'; 1 << 20]);
    assert_eq!(decoder.buffered_len(), 0);
    assert_eq!(decoder.next_event(), Err(limit_error("SSE line", limit)));
}

#[test]
fn a_complete_line_over_the_limit_fails_even_in_one_feed() {
    let mut decoder = SseDecoder::with_max_event_bytes(10);
    decoder.feed(b"data: 1234\n\ndata: 12345\n\n");
    assert_eq!(decoder.next_event(), Ok(Some(SseEvent::message("1234"))));
    assert_eq!(decoder.next_event(), Err(limit_error("SSE line", 10)));
}

#[test]
fn lines_and_events_up_to_the_limit_are_fine() {
    let limit = 4096;
    let value = "v".repeat(limit - "data: ".len());
    let body = format!("data: {value}\n\n");
    for piece_len in [1, 3, 100, body.len()] {
        let mut decoder = SseDecoder::with_max_event_bytes(limit);
        for piece in body.as_bytes().chunks(piece_len) {
            decoder.feed(piece);
        }
        assert_eq!(
            decoder.next_event(),
            Ok(Some(SseEvent::message(value.clone()))),
            "pieces of {piece_len}"
        );
    }
}

#[test]
fn a_long_line_at_the_default_limit_is_fine() {
    let value = "z".repeat(4 * 1024 * 1024);
    let body = format!("data: {value}\r\n\r\n");
    let mut decoder = SseDecoder::new();
    for piece in body.as_bytes().chunks(16 * 1024) {
        decoder.feed(piece);
        assert!(decoder.buffered_len() <= body.len());
    }
    let event = decoder.next_event().unwrap().unwrap();
    assert_eq!(event.data().len(), value.len());
}

#[test]
fn the_data_of_one_event_is_limited_across_lines() {
    let limit = 20;
    let mut decoder = SseDecoder::with_max_event_bytes(limit);
    // 9 bytes + LF + 9 bytes = 19: fine.
    decoder.feed(b"data: 123456789\ndata: 123456789\n\n");
    assert_eq!(
        decoder.next_event(),
        Ok(Some(SseEvent::message("123456789\n123456789")))
    );
    // Three lines: 9 + 1 + 9 + 1 + 9 = 29, past the limit on the third line.
    decoder.feed(b"data: 123456789\ndata: 123456789\ndata: 123456789\n\n");
    assert_eq!(decoder.next_event(), Err(limit_error("SSE event", limit)));
}

#[test]
fn the_data_of_one_event_may_be_exactly_the_limit_across_lines() {
    // 9 bytes + LF + 10 bytes = 20 = the limit.
    let mut decoder = SseDecoder::with_max_event_bytes(20);
    decoder.feed(b"data: 123456789\ndata: 1234567890\n\n");
    assert_eq!(
        decoder.next_event(),
        Ok(Some(SseEvent::message("123456789\n1234567890")))
    );
}

#[test]
fn the_data_of_one_event_may_be_exactly_the_limit_across_three_lines() {
    // 9 + LF + 4 + LF + 5 = 20 = the limit; one byte more fails.
    let mut decoder = SseDecoder::with_max_event_bytes(20);
    decoder.feed(b"data: 123456789\ndata: 1234\ndata: 12345\n\n");
    assert_eq!(
        decoder.next_event(),
        Ok(Some(SseEvent::message("123456789\n1234\n12345")))
    );
    decoder.feed(b"data: 123456789\ndata: 1234\ndata: 123456\n\n");
    assert_eq!(decoder.next_event(), Err(limit_error("SSE event", 20)));
}

#[test]
fn replacement_characters_count_against_the_event_limit() {
    // 8 invalid bytes become 8 three-byte U+FFFD: 24 bytes of text.
    let mut decoder = SseDecoder::with_max_event_bytes(20);
    decoder.feed(b"data:\xFF\xFF\xFF\xFF\xFF\xFF\xFF\xFF\n\n");
    assert_eq!(decoder.next_event(), Err(limit_error("SSE event", 20)));
}

#[test]
fn comments_and_other_fields_are_limited_as_lines() {
    let mut decoder = SseDecoder::with_max_event_bytes(8);
    decoder.feed(b": short\n\n: a much longer comment\n\n");
    assert_eq!(decoder.next_event(), Err(limit_error("SSE line", 8)));
}

#[test]
fn the_error_is_final_and_later_input_is_ignored() {
    let mut decoder = SseDecoder::with_max_event_bytes(8);
    decoder.feed(b"data: 1\n\ndata: far too long\n\n");
    decoder.feed(b"data: 2\n\n");
    decoder.finish();
    assert_eq!(decoder.next_event(), Ok(Some(SseEvent::message("1"))));
    for _ in 0..3 {
        assert_eq!(decoder.next_event(), Err(limit_error("SSE line", 8)));
    }
}

#[test]
fn where_the_error_happens_does_not_depend_on_splitting() {
    let body: &[u8] = b"data: a\n\ndata: bb\r\rdata: 0123456789abcdef\n\ndata: c\n\n";
    let limit = 12;
    let outcome = |pieces: Vec<&[u8]>| {
        let mut decoder = SseDecoder::with_max_event_bytes(limit);
        let mut seen = Vec::new();
        for piece in pieces {
            decoder.feed(piece);
            loop {
                match decoder.next_event() {
                    Ok(Some(event)) => seen.push(Ok(event)),
                    Ok(None) => break,
                    Err(error) => {
                        seen.push(Err(error));
                        return seen;
                    }
                }
            }
        }
        seen
    };
    let whole = outcome(vec![body]);
    assert_eq!(
        whole,
        [
            Ok(SseEvent::message("a")),
            Ok(SseEvent::message("bb")),
            Err(limit_error("SSE line", limit)),
        ]
    );
    assert_eq!(outcome(body.chunks(1).collect()), whole);
    for at in 0..=body.len() {
        let (head, tail) = body.split_at(at);
        assert_eq!(outcome(vec![head, tail]), whole, "split at {at}");
    }
}

#[test]
fn a_zero_limit_accepts_only_blank_lines() {
    let mut decoder = SseDecoder::with_max_event_bytes(0);
    decoder.feed(b"\n\r\n\r");
    assert_eq!(decoder.next_event(), Ok(None));
    decoder.feed(b"\xEF");
    decoder.feed(b"x");
    assert_eq!(decoder.next_event(), Err(limit_error("SSE line", 0)));
}

#[test]
fn one_byte_feeds_of_an_endless_line_never_hold_more_than_the_limit() {
    let limit = 100;
    let mut decoder = SseDecoder::with_max_event_bytes(limit);
    decoder.feed(b"data: ok\n\n");
    for _ in 0..2 * limit {
        decoder.feed(b"x");
        assert!(
            decoder.buffered_len() <= limit,
            "holds {}",
            decoder.buffered_len()
        );
    }
    assert_eq!(decoder.next_event(), Ok(Some(SseEvent::message("ok"))));
    assert_eq!(decoder.next_event(), Err(limit_error("SSE line", limit)));
}
