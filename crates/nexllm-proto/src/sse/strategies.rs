//! Proptest strategies for event-stream bodies (feature `proptest`).
//!
//! [`body()`] writes a random but valid body, and records the events,
//! `retry` value and last event id it must decode to: random line ends per
//! line (LF, CR, CRLF), comments, unknown fields, bogus `retry` values, ids
//! that are set, reset or ignored, events without data, multi-line data with
//! Unicode (including U+2028, NEL, VT, FF, NUL and invalid-looking text),
//! an optional BOM and an unfinished event at the end that must be discarded.
//!
//! ```
//! use nexllm_proto::sse::SseDecoder;
//! use nexllm_proto::sse::strategies::body_with_splits;
//! use proptest::prelude::*;
//! use proptest::test_runner::TestRunner;
//!
//! TestRunner::default()
//!     .run(&body_with_splits(), |(body, splits)| {
//!         let mut decoder = SseDecoder::new();
//!         let mut events = Vec::new();
//!         for piece in body.pieces(&splits) {
//!             decoder.feed(piece);
//!             while let Some(event) = decoder.next_event().unwrap() {
//!                 events.push(event);
//!             }
//!         }
//!         decoder.finish();
//!         prop_assert_eq!(events, body.events);
//!         Ok(())
//!     })
//!     .unwrap();
//! ```

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::select;

use super::event::SseEvent;

/// A generated body and what decoding it must give.
#[derive(Debug, Clone)]
pub struct SseBody {
    /// The bytes of the body.
    pub bytes: Vec<u8>,
    /// The events it decodes to, in order.
    pub events: Vec<SseEvent>,
    /// The decoder's [`retry`](super::SseDecoder::retry) after the whole body.
    pub retry: Option<u64>,
    /// The decoder's [`last_event_id`](super::SseDecoder::last_event_id) after the whole body.
    pub last_event_id: String,
}

impl SseBody {
    /// The body cut at the given offsets (sorted or not, out-of-range ones
    /// clamped), as the pieces a transport might deliver.
    pub fn pieces(&self, splits: &[usize]) -> Vec<&[u8]> {
        let mut cuts: Vec<usize> = splits.iter().map(|&at| at.min(self.bytes.len())).collect();
        cuts.sort_unstable();
        let mut pieces = Vec::with_capacity(cuts.len() + 1);
        let mut start = 0;
        for cut in cuts {
            pieces.push(self.bytes.get(start..cut).unwrap_or_default());
            start = cut;
        }
        pieces.push(self.bytes.get(start..).unwrap_or_default());
        pieces
    }
}

/// Characters for text: ASCII, Unicode that is not a line end although it
/// looks like one, NUL, a BOM, and multi-byte characters to split.
const CHARS: &[char] = &[
    'a', 'b', 'z', 'Q', '0', '9', ' ', ' ', ':', '{', '}', '"', '\\', '\t', '\0', '\u{b}', '\u{c}',
    '\u{85}', '\u{2028}', '\u{2029}', '\u{feff}', '\u{fffd}', 'é', '€', 'デ', '😀',
];

/// Text without CR or LF.
fn line_text(max: usize) -> impl Strategy<Value = String> {
    vec(select(CHARS), 0..=max).prop_map(|chars| chars.into_iter().collect())
}

/// An event type: mostly real names, sometimes the default or random text.
fn event_type() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => select(&["delta", "message_start", "content_block_delta", "ping", "error"][..])
            .prop_map(str::to_owned),
        1 => Just("message".to_owned()),
        1 => Just(String::new()),
        1 => line_text(8),
    ]
}

/// An id without NUL (an id with NUL would be ignored).
fn event_id() -> impl Strategy<Value = String> {
    line_text(8).prop_map(|id| id.replace('\0', "0"))
}

/// The data of an event as its lines.
fn data_lines() -> impl Strategy<Value = Vec<String>> {
    vec(line_text(12), 1..4)
}

/// Any sequence of events, with types, multi-line data and sticky ids
/// (each event carries the id in force, which may stay, change or be cleared).
pub fn events() -> impl Strategy<Value = Vec<SseEvent>> {
    vec(
        (
            event_type(),
            data_lines(),
            prop_oneof![2 => Just(None), 1 => event_id().prop_map(Some)],
        ),
        0..12,
    )
    .prop_map(|specs| {
        let mut id = String::new();
        specs
            .into_iter()
            .map(|(event_type, lines, new_id)| {
                if let Some(new_id) = new_id {
                    id = new_id;
                }
                SseEvent::new(&event_type, lines.join("\n"), &id)
            })
            .collect()
    })
}

/// A random body and what it decodes to (see the module docs).
pub fn body() -> impl Strategy<Value = SseBody> {
    (
        any::<bool>(),
        vec(block(), 0..10),
        prop::option::of(data_lines()),
        vec(
            select(&[LineEnd::Lf, LineEnd::Cr, LineEnd::CrLf][..]),
            1..16,
        ),
        any::<bool>(),
    )
        .prop_map(
            |(bom, blocks, unfinished, line_ends, end_unfinished_line)| {
                write_body(
                    bom,
                    &blocks,
                    unfinished.as_deref(),
                    &line_ends,
                    end_unfinished_line,
                )
            },
        )
}

/// A random body and up to 12 offsets to cut it at (sorted, within the body).
pub fn body_with_splits() -> impl Strategy<Value = (SseBody, Vec<usize>)> {
    body().prop_flat_map(|body| {
        let len = body.bytes.len();
        (Just(body), vec(0..=len, 0..12)).prop_map(|(body, mut splits)| {
            splits.sort_unstable();
            (body, splits)
        })
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LineEnd {
    Lf,
    Cr,
    CrLf,
}

#[derive(Debug, Clone)]
enum RetryLine {
    Valid(u64, bool),
    Bogus(&'static str),
}

#[derive(Debug, Clone)]
enum IdLine {
    Set(String),
    Reset,
    WithNul(String),
}

/// One event's worth of lines, ended by a blank line.
#[derive(Debug, Clone)]
struct Block {
    comments: Vec<String>,
    retry: Option<RetryLine>,
    unknown: Option<(&'static str, String)>,
    event_type: Option<String>,
    id: Option<IdLine>,
    /// `None`: no data field, so nothing is dispatched.
    data: Option<Vec<String>>,
    /// Where the other fields go between the data lines.
    placement: u64,
    /// Write `data:x` instead of `data: x` when `x` does not start with a space.
    tight: bool,
}

fn block() -> impl Strategy<Value = Block> {
    (
        vec(line_text(10), 0..2),
        prop::option::of(prop_oneof![
            (0..=10_000_000_000u64, any::<bool>())
                .prop_map(|(ms, zeros)| RetryLine::Valid(ms, zeros)),
            select(&["", "12a", "1.5", "-1", "x", "1 ", "  5", "\u{662}"][..])
                .prop_map(RetryLine::Bogus),
        ]),
        prop::option::of((
            select(
                &[
                    "foo",
                    "Data",
                    "DATA",
                    "data ",
                    " data",
                    "ID",
                    "retryx",
                    "\u{feff}data",
                    "x-y",
                ][..],
            ),
            line_text(6),
        )),
        prop::option::of(event_type()),
        prop::option::of(prop_oneof![
            3 => event_id().prop_map(IdLine::Set),
            1 => Just(IdLine::Reset),
            1 => event_id().prop_map(IdLine::WithNul),
        ]),
        prop_oneof![4 => data_lines().prop_map(Some), 1 => Just(None)],
        any::<u64>(),
        any::<bool>(),
    )
        .prop_map(
            |(comments, retry, unknown, event_type, id, data, placement, tight)| Block {
                comments,
                retry,
                unknown,
                event_type,
                id,
                data,
                placement,
                tight,
            },
        )
}

/// Builds the bytes and the expected outcome together.
struct Writer<'a> {
    bytes: Vec<u8>,
    line_ends: &'a [LineEnd],
    lines: usize,
    last_was_cr: bool,
}

impl Writer<'_> {
    fn line(&mut self, content: &str) {
        self.bytes.extend_from_slice(content.as_bytes());
        let mut end = self
            .line_ends
            .get(self.lines % self.line_ends.len().max(1))
            .copied()
            .unwrap_or(LineEnd::Lf);
        // After a CR, an LF alone would merge with it into one line end.
        if self.last_was_cr && content.is_empty() && end == LineEnd::Lf {
            end = LineEnd::CrLf;
        }
        self.bytes.extend_from_slice(match end {
            LineEnd::Lf => b"\n",
            LineEnd::Cr => b"\r",
            LineEnd::CrLf => b"\r\n",
        });
        self.last_was_cr = end == LineEnd::Cr;
        self.lines += 1;
    }
}

fn data_line(text: &str, tight: bool) -> String {
    if text.is_empty() {
        if tight {
            "data".to_owned()
        } else {
            "data:".to_owned()
        }
    } else if tight && !text.starts_with(' ') {
        format!("data:{text}")
    } else {
        format!("data: {text}")
    }
}

fn write_body(
    bom: bool,
    blocks: &[Block],
    unfinished: Option<&[String]>,
    line_ends: &[LineEnd],
    end_unfinished_line: bool,
) -> SseBody {
    let mut writer = Writer {
        bytes: Vec::new(),
        line_ends,
        lines: 0,
        last_was_cr: false,
    };
    if bom {
        writer.bytes.extend_from_slice(b"\xEF\xBB\xBF");
    }
    let mut events = Vec::new();
    let mut retry = None;
    let mut id = String::new();
    for block in blocks {
        let mut others = Vec::new();
        for comment in &block.comments {
            others.push(format!(":{comment}"));
        }
        match &block.retry {
            Some(RetryLine::Valid(ms, zeros)) => {
                others.push(if *zeros {
                    format!("retry:00{ms}")
                } else {
                    format!("retry: {ms}")
                });
                retry = Some(*ms);
            }
            Some(RetryLine::Bogus(text)) => others.push(format!("retry:{text}")),
            None => {}
        }
        if let Some((name, value)) = &block.unknown {
            others.push(format!("{name}: {value}"));
        }
        if let Some(event_type) = &block.event_type {
            others.push(format!("event: {event_type}"));
        }
        let mut block_id = id.clone();
        match &block.id {
            Some(IdLine::Set(new_id)) => {
                others.push(format!("id: {new_id}"));
                block_id = new_id.clone();
            }
            Some(IdLine::Reset) => {
                others.push("id".to_owned());
                block_id.clear();
            }
            Some(IdLine::WithNul(ignored)) => others.push(format!("id: {ignored}\0")),
            None => {}
        }
        let data: Vec<String> = block
            .data
            .iter()
            .flatten()
            .map(|text| data_line(text, block.tight))
            .collect();
        // Interleave the other lines among the data lines, keeping both orders.
        let mut placement = block.placement;
        let mut data_iter = data.iter().peekable();
        let mut others_iter = others.iter().peekable();
        while data_iter.peek().is_some() || others_iter.peek().is_some() {
            let take_data = match (data_iter.peek(), others_iter.peek()) {
                (Some(_), Some(_)) => {
                    let pick = placement & 1 == 1;
                    placement = placement.rotate_right(1);
                    pick
                }
                (Some(_), None) => true,
                _ => false,
            };
            let line = if take_data {
                data_iter.next()
            } else {
                others_iter.next()
            };
            if let Some(line) = line {
                writer.line(line);
            }
        }
        writer.line("");
        id = block_id;
        if let Some(lines) = &block.data {
            let event_type = block.event_type.as_deref().unwrap_or("");
            events.push(SseEvent::new(event_type, lines.join("\n"), &id));
        }
    }
    if let Some(lines) = unfinished {
        let count = lines.len();
        for (index, text) in lines.iter().enumerate() {
            let line = data_line(text, false);
            if index + 1 == count && !end_unfinished_line {
                writer.bytes.extend_from_slice(line.as_bytes());
            } else {
                writer.line(&line);
            }
        }
    }
    // A body whose first line starts with U+FEFF would lose it as a BOM:
    // put a real BOM before it, so that it stays part of the line.
    if !bom && writer.bytes.starts_with(b"\xEF\xBB\xBF") {
        writer.bytes.splice(0..0, *b"\xEF\xBB\xBF");
    }
    SseBody {
        bytes: writer.bytes,
        events,
        retry,
        last_event_id: id,
    }
}
