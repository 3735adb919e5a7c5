//! The WHATWG event-stream parsing rules, one table row each, after the
//! web-platform-tests `eventsource/format-*` cases. Every row is checked fed
//! whole, one byte at a time and split in two at every offset.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // helpers outside #[test] fail the test loudly

use nexllm_proto::sse::{SseDecoder, SseEvent};

/// What a body must decode to.
struct Case {
    name: &'static str,
    body: &'static [u8],
    events: &'static [(&'static str, &'static str, &'static str)],
    retry: Option<u64>,
    last_event_id: &'static str,
}

const fn case(
    name: &'static str,
    body: &'static [u8],
    events: &'static [(&'static str, &'static str, &'static str)],
) -> Case {
    Case {
        name,
        body,
        events,
        retry: None,
        last_event_id: "",
    }
}

const CASES: &[Case] = &[
    // format-bom: only a BOM at the very start is ignored.
    case(
        "bom",
        b"\xEF\xBB\xBFdata: 1\n\n\xEF\xBB\xBFdata: 2\n\ndata: 3\n\n",
        &[("message", "1", ""), ("message", "3", "")],
    ),
    // format-bom-2: the second of two BOMs is part of the first field name.
    case(
        "bom-2",
        b"\xEF\xBB\xBF\xEF\xBB\xBFdata: 1\n\ndata: 2\n\ndata: 3\n\n",
        &[("message", "2", ""), ("message", "3", "")],
    ),
    case(
        "a BOM alone is not an event",
        b"\xEF\xBB\xBF\n",
        &[],
    ),
    case(
        "bytes that start like a BOM are content",
        b"\xEF\xBBdata: 1\n\ndata: 2\n\n",
        &[("message", "2", "")],
    ),
    // format-comments
    case(
        "comments",
        b"data:1\r:\0\n:\r\ndata:2\n:\xEF\xBF\xBF\rdata:3\n:\ndata:4\n\n: a very long comment\n\n",
        &[("message", "1\n2\n3\n4", "")],
    ),
    case("a comment alone dispatches nothing", b":ping\n\n: x\n\n", &[]),
    // format-data-before-final-empty-line: an event without its blank line is discarded.
    Case {
        name: "data before final empty line",
        body: b"retry:1000\ndata:test1\n\nid:test\ndata:test2",
        events: &[("message", "test1", "")],
        retry: Some(1000),
        last_event_id: "",
    },
    case(
        "a terminated but unfinished event is discarded too",
        b"data:test1\n\ndata:test2\n",
        &[("message", "test1", "")],
    ),
    // format-field-data
    case(
        "field data",
        b"data:\n\ndata\ndata\n\ndata:test\n\n",
        &[("message", "", ""), ("message", "\n", ""), ("message", "test", "")],
    ),
    // format-field-event
    case(
        "field event",
        b"event:test\ndata:x\n\ndata:y\n\n",
        &[("test", "x", ""), ("message", "y", "")],
    ),
    // format-field-event-empty
    case(
        "field event empty",
        b"event: \ndata:data\n\n",
        &[("message", "data", "")],
    ),
    case(
        "the type of an event without data is forgotten",
        b"event: lost\n\ndata: x\n\n",
        &[("message", "x", "")],
    ),
    case(
        "the last event type wins",
        b"event: a\nevent: b\ndata: x\n\n",
        &[("b", "x", "")],
    ),
    // format-field-id, format-field-id-2: ids are sticky; an empty id resets.
    Case {
        name: "field id",
        body: b"id: 1\ndata: a\n\ndata: b\n\nid\ndata: c\n\nid: \xE2\x80\xA6\ndata: d\n\n",
        events: &[
            ("message", "a", "1"),
            ("message", "b", "1"),
            ("message", "c", ""),
            ("message", "d", "\u{2026}"),
        ],
        retry: None,
        last_event_id: "\u{2026}",
    },
    Case {
        name: "an id in an event without data still counts",
        body: b"id: 7\n\ndata: x\n\n",
        events: &[("message", "x", "7")],
        retry: None,
        last_event_id: "7",
    },
    Case {
        name: "an id in an unfinished event does not count",
        body: b"id: 1\ndata: a\n\nid: 2\ndata: b\n",
        events: &[("message", "a", "1")],
        retry: None,
        last_event_id: "1",
    },
    Case {
        name: "an id replaced by another of the same length",
        body: b"id: 1\ndata: a\n\nid: 2\ndata: b\n\nid: 2\ndata: c\n\n",
        events: &[("message", "a", "1"), ("message", "b", "2"), ("message", "c", "2")],
        retry: None,
        last_event_id: "2",
    },
    // format-field-id-null
    Case {
        name: "field id null",
        body: b"id: 1\ndata: a\n\nid: 2\0\ndata: b\n\nid:\0\ndata: c\n\n",
        events: &[
            ("message", "a", "1"),
            ("message", "b", "1"),
            ("message", "c", "1"),
        ],
        retry: None,
        last_event_id: "1",
    },
    // format-field-parsing
    case(
        "field parsing",
        b"data:\0\ndata:  2\rData:1\ndata\0:2\ndata:1\r\0data:4\nda-ta:3\rdata_5\ndata:3\rdata:\r\n data:32\ndata:4\n\n",
        &[("message", "\0\n 2\n1\n3\n\n4", "")],
    ),
    // format-field-retry
    Case {
        name: "field retry",
        body: b"retry:03000\ndata:x\n\n",
        events: &[("message", "x", "")],
        retry: Some(3000),
        last_event_id: "",
    },
    // format-field-retry-bogus
    Case {
        name: "field retry bogus",
        body: b"retry:3000\nretry:1000x\nretry: 5 \nretry:-1\nretry:1.5\nretry:  7\ndata:x\n\n",
        events: &[("message", "x", "")],
        retry: Some(3000),
        last_event_id: "",
    },
    // format-field-retry-empty
    case("field retry empty", b"retry\ndata:test\n\n", &[("message", "test", "")]),
    Case {
        name: "retry takes effect without a blank line and saturates",
        body: b"retry: 99999999999999999999999\n",
        events: &[],
        retry: Some(u64::MAX),
        last_event_id: "",
    },
    // format-field-unknown
    case(
        "field unknown",
        b"data:test\n data\ndata\nfoobar:xxx\njustsometext\n:thisisacommentyay\ndata:test\n\n",
        &[("message", "test\n\ntest", "")],
    ),
    // format-leading-space
    case(
        "leading space",
        b"data:\ttest\rdata: \ndata:test\n\ndata:  two\n\n",
        &[("message", "\ttest\n\ntest", ""), ("message", " two", "")],
    ),
    // format-newlines
    case(
        "newlines",
        b"data:test\r\ndata\ndata:test\r\n\r\ndata:2\r\rdata:3\n\n",
        &[
            ("message", "test\n\ntest", ""),
            ("message", "2", ""),
            ("message", "3", ""),
        ],
    ),
    case(
        "CR CR LF is two line ends",
        b"data: a\r\r\ndata: b\n\n",
        &[("message", "a", ""), ("message", "b", "")],
    ),
    // format-null-character
    case("null character", b"data:\0\n\n", &[("message", "\0", "")]),
    // format-utf-8
    case(
        "utf-8",
        "data:ok\u{2026}\n\n".as_bytes(),
        &[("message", "ok\u{2026}", "")],
    ),
    case(
        "U+2028, U+2029, NEL, VT and FF are not line ends",
        "data: a\u{2028}b\u{2029}c\u{85}d\u{b}e\u{c}f\n\n".as_bytes(),
        &[("message", "a\u{2028}b\u{2029}c\u{85}d\u{b}e\u{c}f", "")],
    ),
    case(
        "invalid UTF-8 becomes U+FFFD per maximal subpart",
        b"data: a\xE2\x82b\xF0\x9F\x98\xC0\xAFz\xFF\n\ndata: after\n\n",
        &[
            ("message", "a\u{FFFD}b\u{FFFD}\u{FFFD}\u{FFFD}z\u{FFFD}", ""),
            ("message", "after", ""),
        ],
    ),
    case(
        "an incomplete sequence before a line end does not swallow it",
        b"data: \xE2\x82\ndata: ok\n\n",
        &[("message", "\u{FFFD}\nok", "")],
    ),
    case(
        "invalid UTF-8 in a field name makes it unknown",
        b"dat\xE1:x\ndata: y\n\n",
        &[("message", "y", "")],
    ),
    case(
        "only the first colon splits",
        b"data: a: b:c\n\nevent: x:y\ndata\n\n",
        &[("message", "a: b:c", ""), ("x:y", "", "")],
    ),
    case(
        "field names are exact",
        b"DATA: x\ndata : y\nEvent: t\ndata: z\n\n",
        &[("message", "z", "")],
    ),
    case(
        "an explicit message type equals the default",
        b"event: message\ndata: x\n\n",
        &[("message", "x", "")],
    ),
    case("empty input", b"", &[]),
    case("blank lines only", b"\n\r\n\r\n\n", &[]),
    // The tail of a data line is never read again as a field of its own:
    // the value ends in "id", which alone would clear the last event id.
    Case {
        name: "a data value ending like a field name, CRLF",
        body: b"id: 7\r\ndata: valid\r\n\r\ndata: id\r\n\r\n",
        events: &[("message", "valid", "7"), ("message", "id", "7")],
        retry: None,
        last_event_id: "7",
    },
];

fn expected(case: &Case) -> Vec<SseEvent> {
    case.events
        .iter()
        .map(|&(event_type, data, id)| SseEvent::new(event_type, data, id))
        .collect()
}

/// Feeds `pieces`, draining after each, then finishes; returns the events and the decoder.
fn run<'a>(pieces: impl IntoIterator<Item = &'a [u8]>) -> (Vec<SseEvent>, SseDecoder) {
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

fn check(case: &Case, how: &str, (events, decoder): (Vec<SseEvent>, SseDecoder)) {
    assert_eq!(events, expected(case), "{} ({how})", case.name);
    assert_eq!(decoder.retry(), case.retry, "{} retry ({how})", case.name);
    assert_eq!(
        decoder.last_event_id(),
        case.last_event_id,
        "{} last event id ({how})",
        case.name
    );
}

#[test]
fn every_rule_fed_whole() {
    for case in CASES {
        check(case, "whole", run([case.body]));
    }
}

#[test]
fn every_rule_fed_one_byte_at_a_time() {
    for case in CASES {
        check(case, "bytes", run(case.body.chunks(1)));
    }
}

#[test]
fn every_rule_split_in_two_anywhere() {
    for case in CASES {
        for at in 0..=case.body.len() {
            let (head, tail) = case.body.split_at(at);
            check(case, &format!("split at {at}"), run([head, tail]));
        }
    }
}

#[test]
fn every_rule_split_in_three_anywhere() {
    for case in CASES.iter().filter(|case| case.body.len() <= 64) {
        for first in 0..=case.body.len() {
            for second in first..=case.body.len() {
                let pieces = [
                    &case.body[..first],
                    &case.body[first..second],
                    &case.body[second..],
                ];
                check(case, &format!("split at {first}, {second}"), run(pieces));
            }
        }
    }
}

#[test]
fn an_event_is_ready_when_its_blank_line_ends_with_cr() {
    let mut decoder = SseDecoder::new();
    decoder.feed(b"data: x\r");
    assert_eq!(decoder.next_event().unwrap(), None);
    decoder.feed(b"\r");
    assert_eq!(
        decoder.next_event().unwrap(),
        Some(SseEvent::message("x")),
        "no need to wait for a possible LF"
    );
    decoder.feed(b"\n");
    decoder.feed(b"data: y\n\n");
    assert_eq!(decoder.next_event().unwrap(), Some(SseEvent::message("y")));
    assert_eq!(decoder.next_event().unwrap(), None);
}

#[test]
fn empty_feeds_change_nothing() {
    let mut decoder = SseDecoder::new();
    decoder.feed(b"");
    decoder.feed(b"\xEF");
    decoder.feed(b"");
    decoder.feed(b"\xBB\xBFdata: x\r");
    decoder.feed(b"");
    decoder.feed(b"\n\n");
    assert_eq!(decoder.next_event().unwrap(), Some(SseEvent::message("x")));
}

#[test]
fn events_wait_until_taken() {
    let mut decoder = SseDecoder::new();
    decoder.feed(b"data: 1\n\ndata: 2\n\ndata: 3\n\n");
    decoder.finish();
    let events: Vec<_> = std::iter::from_fn(|| decoder.next_event().unwrap()).collect();
    assert_eq!(
        events,
        [
            SseEvent::message("1"),
            SseEvent::message("2"),
            SseEvent::message("3")
        ]
    );
}

#[test]
fn feeding_after_finish_reads_a_new_stream() {
    let mut decoder = SseDecoder::new();
    decoder.feed(b"retry: 10\nid: a\ndata: 1\n\nid: b\ndata: lost\r");
    decoder.finish();
    assert_eq!(
        decoder.next_event().unwrap(),
        Some(SseEvent::new("", "1", "a"))
    );
    // A reconnected body may start with a BOM again; the LF does not pair with the old CR.
    decoder.feed(b"\xEF\xBB\xBF\ndata: 2\n\n");
    assert_eq!(
        decoder.next_event().unwrap(),
        Some(SseEvent::new("", "2", "a"))
    );
    assert_eq!(decoder.retry(), Some(10));
    assert_eq!(decoder.last_event_id(), "a");
}

#[test]
fn buffered_len_counts_the_unfinished_line_and_event() {
    let mut decoder = SseDecoder::new();
    assert_eq!(decoder.buffered_len(), 0);
    let input = b"event: abc\ndata: 12345\ndata: 67";
    decoder.feed(input);
    // Decoding is lazy: everything fed is held until `next_event` decodes it.
    assert_eq!(decoder.buffered_len(), input.len());
    assert_eq!(decoder.next_event(), Ok(None));
    assert_eq!(
        decoder.buffered_len(),
        "abc".len() + "12345".len() + "data: 67".len()
    );
    decoder.feed(b"\n\n");
    assert!(decoder.next_event().unwrap().is_some());
    assert_eq!(decoder.buffered_len(), 0);
    decoder.feed(b"data: cut");
    decoder.finish();
    assert_eq!(decoder.buffered_len(), 0);
}

#[test]
fn an_event_taken_takes_its_blank_line_with_it() {
    // Once the only event is taken, owned or lent, nothing fed is left undecoded.
    for body in [&b"data: x\n\n"[..], b"data: x\r\n\r\n", b"data: x\r\r"] {
        let mut decoder = SseDecoder::new();
        decoder.feed(body);
        assert_eq!(decoder.next_event().unwrap(), Some(SseEvent::message("x")));
        assert_eq!(decoder.buffered_len(), 0, "owned, {body:?}");
        let mut decoder = SseDecoder::new();
        decoder.feed(body);
        assert_eq!(decoder.next_event_ref().unwrap().unwrap().data(), "x");
        assert_eq!(decoder.buffered_len(), 0, "lent, {body:?}");
    }
}
