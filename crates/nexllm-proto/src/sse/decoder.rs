//! [`SseDecoder`]: the incremental event-stream parser (bytes in, [`SseEvent`]s out).

use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;

use memchr::{memchr, memchr2};

use super::DEFAULT_MAX_EVENT_BYTES;
use super::event::{DEFAULT_EVENT_TYPE, SseEvent};
use crate::error::{Error, LimitError};

/// The UTF-8 byte order mark, stripped once at the start of a stream.
const BOM: &[u8; 3] = b"\xEF\xBB\xBF";
/// How many distinct event type names are kept to share one allocation between events.
const TYPE_CACHE_ENTRIES: usize = 8;
/// Longer type names are not kept in the cache.
const TYPE_CACHE_MAX_LEN: usize = 64;
/// A line buffer grown past this is released once its line is processed.
const KEEP_LINE_CAPACITY: usize = 64 * 1024;

/// What grew too large, as named in [`LimitError::what`].
const LINE: &str = "SSE line";
const EVENT: &str = "SSE event";

/// An incremental decoder for `text/event-stream` bodies, following the
/// parsing rules of the WHATWG HTML standard ("Server-sent events",
/// "Interpreting an event stream") exactly.
///
/// Feed it bytes as they arrive, in pieces of any size, then drain
/// [`next_event`](Self::next_event) until it returns `Ok(None)`. Call
/// [`finish`](Self::finish) when the body ends. Splitting the input
/// differently never changes the events that come out.
///
/// ```
/// use nexllm_proto::sse::SseDecoder;
///
/// let mut decoder = SseDecoder::new();
/// decoder.feed(b": keep-alive\r\n\r\nevent: delta\r\ndata: {\"a\":");
/// assert_eq!(decoder.next_event()?, None); // the event is not complete yet
/// decoder.feed(b"1}\r\n\r\ndata: cut short");
/// let event = decoder.next_event()?.expect("one complete event");
/// assert_eq!(event.event_type(), "delta");
/// assert_eq!(event.data(), "{\"a\":1}");
/// decoder.finish(); // the unfinished event at the end is discarded
/// assert_eq!(decoder.next_event()?, None);
/// # Ok::<(), nexllm_proto::Error>(())
/// ```
///
/// # Rules
///
/// - Lines end with LF, CR or CRLF, also when the CR and the LF arrive in
///   different pieces. An event is ready as soon as the line end of its blank
///   line is seen (a CR is enough). U+2028, U+2029, NEL, VT and FF are not
///   line ends.
/// - One leading UTF-8 byte order mark is ignored, even when its three bytes
///   arrive in different pieces.
/// - Lines starting with `:` are comments. `name: value` sets a field, one
///   space after the colon is dropped; a line without a colon is a field with
///   an empty value. Field names are case-sensitive; unknown fields are
///   ignored.
/// - `data` lines are joined with `\n`. An event without a `data` field is not
///   dispatched (and its type is forgotten); `data:` alone dispatches an empty
///   string. The event type resets after every event.
/// - `id` sets the last event id, which every later event carries until
///   another `id` changes it; an empty `id` clears it and an id containing
///   NUL is ignored. [`last_event_id`](Self::last_event_id) is updated when an
///   event is dispatched, as `EventSource.lastEventId` would be.
/// - `retry` is used only when its value is all ASCII digits (and not empty);
///   a value too large for `u64` saturates.
/// - Text is UTF-8; invalid bytes become U+FFFD (one per maximal invalid
///   sequence, as [`String::from_utf8_lossy`] does). Only complete lines are
///   decoded, so a character split between pieces decodes correctly.
/// - At the end of input ([`finish`](Self::finish)) an unfinished event is
///   discarded, even when all its lines were complete: as the standard says,
///   an event is dispatched only by the blank line that ends it.
///
/// # Limits and errors
///
/// A line longer than the limit (default [`DEFAULT_MAX_EVENT_BYTES`]) fails
/// with `Error::LimitExceeded` naming `"SSE line"`, and an event whose data
/// grows past the limit fails naming `"SSE event"`. The decoder never holds
/// more than about the limit for an unfinished line, however the input is
/// split: an endless line fails as soon as it passes the limit.
///
/// An error is final. Events completed before the offending line are still
/// returned first; after them `next_event` returns the same error every time,
/// and further input is ignored. Where the error occurs does not depend on
/// how the input was split.
///
/// # Cost
///
/// Each input byte is examined once (lines are found with `memchr`; an
/// unfinished line is kept and only the new bytes are scanned). Complete lines
/// are parsed straight from the caller's slice; only an unfinished tail is
/// copied. A single-line `data:` event costs one allocation, its data string.
/// Events wait in a queue until taken, so drain `next_event` after each feed.
pub struct SseDecoder {
    limit: usize,
    /// The bytes of a line whose end has not arrived yet.
    partial_line: Vec<u8>,
    /// How many bytes of a leading BOM have matched so far, while the start
    /// of the stream is still undecided; `None` once it is decided.
    bom_matched: Option<usize>,
    /// The last line ended with CR: an LF at the start of the next piece
    /// belongs to that line end.
    skip_lf: bool,
    /// The data buffer, without the trailing LF the standard appends (see `has_data`).
    data: String,
    /// Whether a `data` field was seen in the current event.
    has_data: bool,
    /// The event type buffer.
    event_type: String,
    /// The last event id buffer.
    id_buffer: String,
    /// The last event id string, set when an event is dispatched.
    last_event_id: Option<Arc<str>>,
    retry: Option<u64>,
    /// Recent event type names, shared between the events that carry them.
    type_cache: Vec<Arc<str>>,
    ready: VecDeque<SseEvent>,
    failure: Option<LimitError>,
}

impl SseDecoder {
    /// A decoder with the default limit of [`DEFAULT_MAX_EVENT_BYTES`] per line and per event.
    pub fn new() -> Self {
        Self::with_max_event_bytes(DEFAULT_MAX_EVENT_BYTES)
    }

    /// A decoder that fails when a line, or the data of one event, is longer
    /// than `limit` bytes.
    pub fn with_max_event_bytes(limit: usize) -> Self {
        SseDecoder {
            limit,
            partial_line: Vec::new(),
            bom_matched: Some(0),
            skip_lf: false,
            data: String::new(),
            has_data: false,
            event_type: String::new(),
            id_buffer: String::new(),
            last_event_id: None,
            retry: None,
            type_cache: Vec::new(),
            ready: VecDeque::new(),
            failure: None,
        }
    }

    /// The configured limit in bytes for one line and for the data of one event.
    pub fn max_event_bytes(&self) -> usize {
        self.limit
    }

    /// The last valid `retry:` value seen, in milliseconds.
    pub fn retry(&self) -> Option<u64> {
        self.retry
    }

    /// The last event id as of the last dispatched event: what a client
    /// sends as `Last-Event-ID` when it reconnects. Empty when none was set.
    pub fn last_event_id(&self) -> &str {
        self.last_event_id.as_deref().unwrap_or("")
    }

    /// How many bytes the decoder holds for input not yet turned into events:
    /// the unfinished line plus the data and type of the unfinished event.
    /// Events waiting in [`next_event`](Self::next_event) are not counted.
    pub fn buffered_len(&self) -> usize {
        self.partial_line.len() + self.data.len() + self.event_type.len()
    }

    /// Takes the next piece of the body. Events it completes become
    /// available from [`next_event`](Self::next_event).
    ///
    /// After an error, or with an empty slice, this does nothing.
    pub fn feed(&mut self, bytes: &[u8]) {
        if self.failure.is_some() {
            return;
        }
        let mut rest = bytes;
        if let Some(matched) = self.bom_matched {
            rest = self.skip_bom(matched, rest);
            if self.bom_matched.is_some() || self.failure.is_some() {
                return;
            }
        }
        if self.skip_lf {
            match rest.split_first() {
                None => return,
                Some((b'\n', tail)) => rest = tail,
                Some(_) => {}
            }
            self.skip_lf = false;
        }
        if !self.partial_line.is_empty() {
            let Some(end) = memchr2(b'\r', b'\n', rest) else {
                self.extend_partial_line(rest);
                return;
            };
            let (head, tail) = rest.split_at(end);
            if !self.extend_partial_line(head) {
                return;
            }
            let line = std::mem::take(&mut self.partial_line);
            let ok = self.process_line(&line);
            if line.capacity() <= KEEP_LINE_CAPACITY {
                self.partial_line = line;
                self.partial_line.clear();
            }
            if !ok {
                return;
            }
            rest = self.after_line_end(tail);
        }
        while let Some(end) = memchr2(b'\r', b'\n', rest) {
            let (line, tail) = rest.split_at(end);
            if line.len() > self.limit {
                self.fail(LINE);
                return;
            }
            if !self.process_line(line) {
                return;
            }
            rest = self.after_line_end(tail);
        }
        self.extend_partial_line(rest);
    }

    /// Marks the end of the body. Whatever was not dispatched is discarded:
    /// an unfinished line and an event not yet ended by a blank line, as the
    /// standard requires. Events already complete stay available from
    /// [`next_event`](Self::next_event).
    ///
    /// Bytes fed after `finish` are read as a new stream, the way an
    /// `EventSource` reads the body after reconnecting: a BOM is looked for
    /// again, while [`last_event_id`](Self::last_event_id) and
    /// [`retry`](Self::retry) are kept.
    pub fn finish(&mut self) {
        self.partial_line = Vec::new();
        self.data = String::new();
        self.has_data = false;
        self.event_type.clear();
        self.id_buffer.clear();
        if let Some(id) = &self.last_event_id {
            self.id_buffer.push_str(id);
        }
        self.bom_matched = Some(0);
        self.skip_lf = false;
    }

    /// The next complete event, `Ok(None)` when more input is needed (or the
    /// input has ended and everything was returned).
    ///
    /// # Errors
    ///
    /// [`Error::LimitExceeded`] once a line or an event passed the limit,
    /// after the events completed before it; the same error every call after.
    pub fn next_event(&mut self) -> Result<Option<SseEvent>, Error> {
        if let Some(event) = self.ready.pop_front() {
            return Ok(Some(event));
        }
        match &self.failure {
            Some(failure) => Err(Error::LimitExceeded(failure.clone())),
            None => Ok(None),
        }
    }

    /// Matches the start of the stream against the BOM, from `matched` bytes
    /// already matched. Returns the input after what it consumed.
    fn skip_bom<'a>(&mut self, mut matched: usize, mut rest: &'a [u8]) -> &'a [u8] {
        while let Some(&expected) = BOM.get(matched) {
            match rest.split_first() {
                None => {
                    self.bom_matched = Some(matched);
                    return rest;
                }
                Some((&byte, tail)) if byte == expected => {
                    matched += 1;
                    rest = tail;
                }
                Some(_) => {
                    // Not a BOM: the bytes that looked like one are line content.
                    self.bom_matched = None;
                    self.extend_partial_line(BOM.get(..matched).unwrap_or_default());
                    return rest;
                }
            }
        }
        self.bom_matched = None;
        rest
    }

    /// `tail` starts with the CR or LF that ended a line; returns what follows
    /// the whole line end.
    fn after_line_end<'a>(&mut self, tail: &'a [u8]) -> &'a [u8] {
        match tail {
            [b'\r', b'\n', after @ ..] => after,
            [b'\r'] => {
                self.skip_lf = true;
                &[]
            }
            [_, after @ ..] => after,
            [] => tail,
        }
    }

    /// Adds bytes to the unfinished line; fails (returning false) instead of
    /// growing it past the limit.
    fn extend_partial_line(&mut self, bytes: &[u8]) -> bool {
        if self.partial_line.len().saturating_add(bytes.len()) > self.limit {
            self.fail(LINE);
            return false;
        }
        self.partial_line.extend_from_slice(bytes);
        true
    }

    /// Interprets one complete line (without its line end). Returns false
    /// when it made the decoder fail.
    fn process_line(&mut self, line: &[u8]) -> bool {
        if line.is_empty() {
            self.dispatch();
            return true;
        }
        let (name, value) = match memchr(b':', line) {
            Some(0) => return true, // a comment
            Some(colon) => {
                let (name, after) = line.split_at(colon);
                let value = after.get(1..).unwrap_or_default();
                (name, value.strip_prefix(b" ").unwrap_or(value))
            }
            None => (line, &[][..]),
        };
        match name {
            b"data" => return self.append_data(value),
            b"event" => {
                self.event_type.clear();
                push_lossy(&mut self.event_type, value);
            }
            b"id" if memchr(0, value).is_none() => {
                self.id_buffer.clear();
                push_lossy(&mut self.id_buffer, value);
            }
            b"retry" if !value.is_empty() && value.iter().all(u8::is_ascii_digit) => {
                self.retry = Some(value.iter().fold(0u64, |ms, digit| {
                    ms.saturating_mul(10)
                        .saturating_add(u64::from(digit - b'0'))
                }));
            }
            _ => {}
        }
        true
    }

    fn append_data(&mut self, value: &[u8]) -> bool {
        let separator = usize::from(self.has_data);
        if self.data.len() + separator + value.len() > self.limit {
            self.fail(EVENT);
            return false;
        }
        if self.has_data {
            self.data.push('\n');
        } else {
            // The data of a single-line event is allocated once, at its size.
            self.data.reserve_exact(value.len());
        }
        push_lossy(&mut self.data, value);
        self.has_data = true;
        // Replacement characters can make the text longer than the bytes.
        if self.data.len() > self.limit {
            self.fail(EVENT);
            return false;
        }
        true
    }

    /// Ends the current event (a blank line was read).
    fn dispatch(&mut self) {
        if self.last_event_id() != self.id_buffer {
            self.last_event_id =
                (!self.id_buffer.is_empty()).then(|| Arc::from(self.id_buffer.as_str()));
        }
        if !self.has_data {
            self.event_type.clear();
            return;
        }
        let event_type = self.take_event_type();
        let data = std::mem::take(&mut self.data);
        self.has_data = false;
        self.ready.push_back(SseEvent::from_parts(
            event_type,
            data,
            self.last_event_id.clone(),
        ));
    }

    /// Empties the event type buffer, returning its name shared with earlier
    /// events of the same type when possible.
    fn take_event_type(&mut self) -> Option<Arc<str>> {
        let name = self.event_type.as_str();
        if name.is_empty() || name == DEFAULT_EVENT_TYPE {
            self.event_type.clear();
            return None;
        }
        let shared = match self.type_cache.iter().find(|cached| ***cached == *name) {
            Some(cached) => Arc::clone(cached),
            None => {
                let fresh: Arc<str> = Arc::from(name);
                if name.len() <= TYPE_CACHE_MAX_LEN {
                    if self.type_cache.len() == TYPE_CACHE_ENTRIES {
                        self.type_cache.remove(0);
                    }
                    self.type_cache.push(Arc::clone(&fresh));
                }
                fresh
            }
        };
        self.event_type.clear();
        Some(shared)
    }

    /// Records the error and drops everything not yet dispatched.
    fn fail(&mut self, what: &'static str) {
        self.failure = Some(LimitError::new(what, self.limit));
        self.partial_line = Vec::new();
        self.data = String::new();
        self.has_data = false;
        self.event_type = String::new();
    }
}

impl Default for SseDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for SseDecoder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SseDecoder")
            .field("max_event_bytes", &self.limit)
            .field("buffered_len", &self.buffered_len())
            .field("ready_events", &self.ready.len())
            .field("last_event_id", &self.last_event_id())
            .field("retry", &self.retry)
            .field("failure", &self.failure)
            .finish_non_exhaustive()
    }
}

/// Appends `bytes` decoded as UTF-8, each maximal invalid sequence replaced by U+FFFD.
fn push_lossy(out: &mut String, bytes: &[u8]) {
    match std::str::from_utf8(bytes) {
        Ok(text) => out.push_str(text),
        Err(_) => {
            for chunk in bytes.utf8_chunks() {
                out.push_str(chunk.valid());
                if !chunk.invalid().is_empty() {
                    out.push(char::REPLACEMENT_CHARACTER);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(decoder: &mut SseDecoder) -> Vec<SseEvent> {
        let mut events = Vec::new();
        while let Some(event) = decoder.next_event().unwrap() {
            events.push(event);
        }
        events
    }

    #[test]
    fn a_simple_event() {
        let mut decoder = SseDecoder::new();
        decoder.feed(b"data: hello\n\n");
        assert_eq!(decode_all(&mut decoder), [SseEvent::message("hello")]);
    }

    #[test]
    fn a_cr_ends_the_event_without_waiting_for_the_next_piece() {
        let mut decoder = SseDecoder::new();
        decoder.feed(b"data: a\r\r");
        assert_eq!(decode_all(&mut decoder), [SseEvent::message("a")]);
        // The LF that completes the CRLF is not another (blank) line.
        decoder.feed(b"\ndata: b\r");
        decoder.feed(b"\n\r\n");
        assert_eq!(decode_all(&mut decoder), [SseEvent::message("b")]);
    }

    #[test]
    fn lossy_decoding_matches_std() {
        let samples: [&[u8]; 5] = [
            b"\xF0\x9F\x98",
            b"a\xE2\x82b",
            b"\xC0\xAF\xFF",
            b"\xED\xA0\x80z",
            "ok\u{2028}é".as_bytes(),
        ];
        for bytes in samples {
            let mut out = String::new();
            push_lossy(&mut out, bytes);
            assert_eq!(out, String::from_utf8_lossy(bytes), "{bytes:?}");
        }
    }

    #[test]
    fn a_single_line_event_has_exact_capacity() {
        let mut decoder = SseDecoder::new();
        decoder.feed(b"data: {\"x\":1}\n\n");
        let data = decoder.next_event().unwrap().unwrap().into_data();
        assert_eq!(data.capacity(), data.len());
    }

    #[test]
    fn event_types_share_one_allocation() {
        let mut decoder = SseDecoder::new();
        decoder.feed(b"event: delta\ndata: 1\n\nevent: delta\ndata: 2\n\n");
        let first = decoder.next_event().unwrap().unwrap();
        let second = decoder.next_event().unwrap().unwrap();
        assert_eq!(first.event_type(), "delta");
        assert!(std::ptr::eq(
            first.event_type().as_ptr(),
            second.event_type().as_ptr()
        ));
    }

    #[test]
    fn debug_summarises_state() {
        let mut decoder = SseDecoder::new();
        decoder.feed(b"data: partial");
        let shown = format!("{decoder:?}");
        assert!(shown.contains("buffered_len: 13"), "{shown}");
    }
}
