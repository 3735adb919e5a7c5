//! [`SseDecoder`]: the incremental event-stream parser (bytes in, [`SseEvent`]s out).

use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;

use memchr::{memchr, memchr2};

use super::DEFAULT_MAX_EVENT_BYTES;
use super::event::{DEFAULT_EVENT_TYPE, SseEvent, SseEventRef};
use crate::error::{Error, LimitError};

/// The UTF-8 byte order mark, stripped once at the start of a stream.
const BOM: &[u8; 3] = b"\xEF\xBB\xBF";
/// How many distinct event type names are kept to share one allocation between events.
const TYPE_CACHE_ENTRIES: usize = 8;
/// Longer type names are not kept in the cache.
const TYPE_CACHE_MAX_LEN: usize = 64;
/// A buffer grown past this is released once it is empty again.
const KEEP_BUFFER_CAPACITY: usize = 64 * 1024;
/// Invalid UTF-8 decodes to at most this many bytes per input byte (one U+FFFD,
/// three bytes, for a one-byte invalid sequence).
const LOSSY_GROWTH: usize = 3;

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
/// more than about the limit of input it has not decoded, however the input
/// is split and whether or not the caller drains events: an endless line fails
/// as soon as it passes the limit.
///
/// An error is final. Events completed before the offending line are still
/// returned first; after them `next_event` returns the same error every time,
/// and further input is ignored. Where the error occurs does not depend on
/// how the input was split.
///
/// # Cost
///
/// Decoding is lazy: [`feed`](Self::feed) keeps the bytes, and each
/// [`next_event`](Self::next_event) decodes just one event from them (lines
/// are found with `memchr`; the search for the end of an unfinished line
/// resumes where it stopped, so each byte is scanned once). A single-line
/// `data:` event costs one allocation, its data string, made while the caller
/// still holds the previous one's memory to give back. Only when more than the
/// limit of input waits undecoded (the caller feeds without draining) does
/// `feed` decode ahead and queue the events.
pub struct SseDecoder {
    limit: usize,
    /// Input kept for decoding; `buf[pos..]` is not decoded yet. Decoded bytes
    /// are dropped when more input arrives, except the data line of an
    /// unfinished event, which the event refers to.
    buf: Vec<u8>,
    pos: usize,
    /// `buf[pos..scan]` holds no line end: the search resumes at `scan`.
    scan: usize,
    /// How many bytes of a leading BOM have matched so far, while the start
    /// of the stream is still undecided; `None` once it is decided.
    bom_matched: Option<usize>,
    /// The last line ended with CR: an LF next belongs to that line end.
    skip_lf: bool,
    /// The event being assembled, and the id and retry state.
    fields: Fields,
    /// The event in `fields` was dispatched and handed out by reference; it is
    /// cleared on the next call.
    holding: bool,
    /// Events decoded ahead by `feed` or `finish`, returned before decoding on.
    ready: VecDeque<SseEvent>,
    /// An event of `ready` handed out by reference.
    current: Option<SseEvent>,
    failure: Option<LimitError>,
}

/// Where the data of the event being assembled is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DataAt {
    /// No `data` field yet.
    Nothing,
    /// One `data` line, the bytes `buf[start..end]`, not yet checked as UTF-8
    /// unless longer than a third of the limit.
    Input(usize, usize),
    /// In `Fields::data`.
    Owned,
}

/// The field state of the decoder: the event being assembled, the last event
/// id and the retry value.
struct Fields {
    limit: usize,
    data_at: DataAt,
    /// The data when it is not a single `data` line still in the input.
    data: String,
    /// The event type buffer.
    event_type: String,
    /// The last event id buffer.
    id_buffer: String,
    /// The last event id string, set when an event is dispatched.
    last_event_id: Option<Arc<str>>,
    retry: Option<u64>,
    /// Recent event type names, shared between the events that carry them.
    type_cache: Vec<Arc<str>>,
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
            buf: Vec::new(),
            pos: 0,
            scan: 0,
            bom_matched: Some(0),
            skip_lf: false,
            fields: Fields {
                limit,
                data_at: DataAt::Nothing,
                data: String::new(),
                event_type: String::new(),
                id_buffer: String::new(),
                last_event_id: None,
                retry: None,
                type_cache: Vec::new(),
            },
            holding: false,
            ready: VecDeque::new(),
            current: None,
            failure: None,
        }
    }

    /// The configured limit in bytes for one line and for the data of one event.
    pub fn max_event_bytes(&self) -> usize {
        self.limit
    }

    /// The last valid `retry:` value decoded, in milliseconds.
    pub fn retry(&self) -> Option<u64> {
        self.fields.retry
    }

    /// The last event id as of the last dispatched event: what a client
    /// sends as `Last-Event-ID` when it reconnects. Empty when none was set.
    pub fn last_event_id(&self) -> &str {
        self.fields.last_event_id()
    }

    /// How many bytes the decoder holds for input not yet turned into events:
    /// the input not decoded yet, plus the data and type of the event being
    /// assembled. Once [`next_event`](Self::next_event) has returned
    /// `Ok(None)`, the input not decoded is just the unfinished line. Events
    /// waiting in `next_event` are not counted.
    pub fn buffered_len(&self) -> usize {
        let undecoded = self.buf.len().saturating_sub(self.pos);
        if self.holding {
            return undecoded;
        }
        let data = match self.fields.data_at {
            DataAt::Nothing => 0,
            DataAt::Input(start, end) => end.saturating_sub(start),
            DataAt::Owned => self.fields.data.len(),
        };
        undecoded + data + self.fields.event_type.len()
    }

    /// Takes the next piece of the body. Events it completes become
    /// available from [`next_event`](Self::next_event).
    ///
    /// After an error, or with an empty slice, this does nothing.
    pub fn feed(&mut self, bytes: &[u8]) {
        if self.failure.is_some() {
            return;
        }
        self.release();
        let mut rest = bytes;
        if let Some(matched) = self.bom_matched {
            rest = self.skip_bom(matched, rest);
            if self.bom_matched.is_some() {
                return;
            }
        }
        self.compact();
        if self.buf.len().saturating_sub(self.pos) + rest.len() <= self.limit {
            // The usual case: everything fits.
            if let [byte] = rest {
                self.buf.push(*byte);
            } else {
                self.buf.extend_from_slice(rest);
            }
            return;
        }
        loop {
            self.compact();
            // Keep at most one byte more than the limit undecoded: enough to
            // know that an unfinished line is too long.
            let undecoded = self.buf.len().saturating_sub(self.pos);
            let room = self.limit.saturating_add(1).saturating_sub(undecoded);
            let (now, later) = rest.split_at(rest.len().min(room));
            self.buf.extend_from_slice(now);
            rest = later;
            if rest.is_empty() && self.buf.len().saturating_sub(self.pos) <= self.limit {
                return;
            }
            // More than the limit waits undecoded: decode it now.
            self.decode_ahead();
            if self.failure.is_some() {
                return;
            }
        }
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
        self.release();
        if self.failure.is_none() {
            self.decode_ahead();
        }
        self.clear_input();
        self.fields.reset_event();
        self.fields.data = String::new();
        self.fields.id_buffer.clear();
        if let Some(id) = &self.fields.last_event_id {
            self.fields.id_buffer.push_str(id);
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
        self.release();
        if let Some(event) = self.ready.pop_front() {
            return Ok(Some(event));
        }
        if self.failure.is_none() && self.decode() {
            return Ok(Some(self.take_event()));
        }
        self.no_event()
    }

    /// [`next_event`](Self::next_event) without allocating: the event is
    /// borrowed from the decoder, valid until the next call. The data of a
    /// single-line event is read straight from the input buffer.
    ///
    /// ```
    /// use nexllm_proto::sse::SseDecoder;
    ///
    /// let mut decoder = SseDecoder::new();
    /// decoder.feed(b"data: {\"n\":1}\n\ndata: {\"n\":2}\n\n");
    /// let mut total = 0;
    /// while let Some(event) = decoder.next_event_ref()? {
    ///     total += event.data().len();
    /// }
    /// assert_eq!(total, 14);
    /// # Ok::<(), nexllm_proto::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`next_event`](Self::next_event).
    pub fn next_event_ref(&mut self) -> Result<Option<SseEventRef<'_>>, Error> {
        self.release();
        if let Some(event) = self.ready.pop_front() {
            return Ok(Some(self.current.insert(event).as_event_ref()));
        }
        if self.failure.is_none() && self.decode() {
            self.holding = true;
            return Ok(Some(self.fields.event_ref(&self.buf)));
        }
        self.no_event()
    }

    fn no_event<T>(&self) -> Result<Option<T>, Error> {
        match &self.failure {
            Some(failure) => Err(Error::LimitExceeded(failure.clone())),
            None => Ok(None),
        }
    }

    /// Forgets the event handed out by reference.
    #[inline]
    fn release(&mut self) {
        if self.current.is_some() {
            self.current = None;
        }
        if self.holding {
            self.holding = false;
            self.fields.reset_event();
        }
    }

    /// Decodes every complete event of the input into `ready`.
    fn decode_ahead(&mut self) {
        while self.decode() {
            let event = self.take_event();
            self.ready.push_back(event);
        }
    }

    /// Decodes input up to the end of the next event: true when one was
    /// dispatched (it is in `fields`), false when the complete lines ran out
    /// or the decoder failed.
    fn decode(&mut self) -> bool {
        loop {
            if self.skip_lf {
                match self.buf.get(self.pos) {
                    None => return false,
                    Some(b'\n') => {
                        self.pos += 1;
                        self.scan = self.scan.max(self.pos);
                    }
                    Some(_) => {}
                }
                self.skip_lf = false;
            }
            let start = self.pos;
            let end = match self.buf.get(start) {
                None => return false,
                // A blank line: no need to search.
                Some(b'\n' | b'\r') => start,
                Some(_) => {
                    let from = self.scan.max(start);
                    let unsearched = self.buf.get(from..).unwrap_or_default();
                    match find_line_end(unsearched) {
                        Some(offset) => from + offset,
                        None => {
                            self.scan = self.buf.len();
                            if self.buf.len() - start > self.limit {
                                self.fail(LINE);
                            }
                            return false;
                        }
                    }
                }
            };
            if end - start > self.limit {
                self.fail(LINE);
                return false;
            }
            self.pos = match self.buf.get(end..) {
                Some([b'\r', b'\n', ..]) => end + 2,
                Some([b'\r']) => {
                    self.skip_lf = true;
                    end + 1
                }
                _ => end + 1,
            };
            self.scan = self.pos;
            if end == start {
                if self.fields.dispatch() {
                    return true;
                }
            } else if let Err(what) = self.fields.line(&self.buf, start, end) {
                self.fail(what);
                return false;
            }
        }
    }

    /// Takes the dispatched event out of `fields` as an owned event.
    fn take_event(&mut self) -> SseEvent {
        let event_type = self.fields.take_event_type();
        let data = match self.fields.data_at {
            DataAt::Input(start, end) => {
                let bytes = self.buf.get(start..end).unwrap_or_default();
                match simdutf8::basic::from_utf8(bytes) {
                    Ok(text) => String::from(text),
                    Err(_) => {
                        let mut text = String::new();
                        push_lossy(&mut text, bytes);
                        text
                    }
                }
            }
            DataAt::Owned => std::mem::take(&mut self.fields.data),
            DataAt::Nothing => String::new(),
        };
        self.fields.data_at = DataAt::Nothing;
        SseEvent::from_parts(event_type, data, self.fields.last_event_id.clone())
    }

    /// Drops the decoded input, keeping what is not decoded and the data line
    /// the unfinished event refers to. Moves bytes only when at least as many
    /// were decoded as are kept, so each byte moves a bounded number of times.
    fn compact(&mut self) {
        let keep_from = match self.fields.data_at {
            DataAt::Input(start, _) => start.min(self.pos),
            DataAt::Nothing | DataAt::Owned => self.pos,
        };
        let kept = self.buf.len().saturating_sub(keep_from);
        if keep_from == 0 || keep_from < kept {
            return;
        }
        if kept == 0 {
            self.clear_input();
            return;
        }
        self.buf.drain(..keep_from);
        self.pos -= keep_from;
        self.scan -= keep_from;
        if let DataAt::Input(start, end) = &mut self.fields.data_at {
            *start -= keep_from;
            *end -= keep_from;
        }
    }

    /// Empties the input buffer, releasing it if it grew large.
    fn clear_input(&mut self) {
        if self.buf.capacity() > KEEP_BUFFER_CAPACITY {
            self.buf = Vec::new();
        } else {
            self.buf.clear();
        }
        self.pos = 0;
        self.scan = 0;
        if let DataAt::Input(start, end) = self.fields.data_at {
            // Not reached with an event in progress (`compact` keeps its line),
            // but never leave a range into bytes that are gone.
            let _ = (start, end);
            self.fields.data_at = DataAt::Nothing;
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
                    self.buf
                        .extend_from_slice(BOM.get(..matched).unwrap_or_default());
                    return rest;
                }
            }
        }
        self.bom_matched = None;
        rest
    }

    /// Records the error and drops everything not yet dispatched.
    fn fail(&mut self, what: &'static str) {
        self.failure = Some(LimitError::new(what, self.limit));
        self.fields.data_at = DataAt::Nothing;
        self.clear_input();
        self.buf = Vec::new();
        self.fields.data = String::new();
        self.fields.event_type = String::new();
    }
}

impl Fields {
    fn last_event_id(&self) -> &str {
        self.last_event_id.as_deref().unwrap_or("")
    }

    /// Interprets one complete, non-empty line, `buf[start..end]` (without its
    /// line end). `Err` names the limit it passed.
    fn line(&mut self, buf: &[u8], start: usize, end: usize) -> Result<(), &'static str> {
        let line = buf.get(start..end).unwrap_or_default();
        // Nearly every line of a chat stream is `data: ...`: no search for the colon.
        if let Some(after) = line.strip_prefix(b"data:") {
            let skip = usize::from(after.first() == Some(&b' '));
            return self.data_line(buf, end - after.len() + skip, end);
        }
        let (name, value_start) = match memchr(b':', line) {
            Some(0) => return Ok(()), // a comment
            Some(colon) => {
                let after = start + colon + 1;
                let value_start = if buf.get(after) == Some(&b' ') && after < end {
                    after + 1
                } else {
                    after
                };
                (line.get(..colon).unwrap_or_default(), value_start)
            }
            None => (line, end),
        };
        let value = buf.get(value_start..end).unwrap_or_default();
        match name {
            b"data" => return self.data_line(buf, value_start, end),
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
        Ok(())
    }

    /// A `data` line whose value is `buf[start..end]`.
    fn data_line(&mut self, buf: &[u8], start: usize, end: usize) -> Result<(), &'static str> {
        let value = buf.get(start..end).unwrap_or_default();
        match self.data_at {
            DataAt::Nothing => {
                if value.len() > self.limit {
                    return Err(EVENT);
                }
                // Short enough that even replacement characters cannot take
                // it past the limit: check it only when it is handed out.
                if value.len().saturating_mul(LOSSY_GROWTH) <= self.limit
                    || simdutf8::basic::from_utf8(value).is_ok()
                {
                    self.data_at = DataAt::Input(start, end);
                    return Ok(());
                }
                self.data.clear();
                push_lossy(&mut self.data, value);
            }
            DataAt::Input(first_start, first_end) => {
                let first = buf.get(first_start..first_end).unwrap_or_default();
                if first.len() + 1 + value.len() > self.limit {
                    return Err(EVENT);
                }
                self.data.clear();
                push_lossy(&mut self.data, first);
                self.data.push('\n');
                push_lossy(&mut self.data, value);
            }
            DataAt::Owned => {
                if self.data.len() + 1 + value.len() > self.limit {
                    return Err(EVENT);
                }
                self.data.push('\n');
                push_lossy(&mut self.data, value);
            }
        }
        self.data_at = DataAt::Owned;
        // Replacement characters can make the text longer than the bytes.
        if self.data.len() > self.limit {
            return Err(EVENT);
        }
        Ok(())
    }

    /// A blank line ends the event: true when it has data to dispatch (it
    /// stays in the fields until taken), false when it is dropped.
    fn dispatch(&mut self) -> bool {
        if self.last_event_id() != self.id_buffer {
            self.last_event_id =
                (!self.id_buffer.is_empty()).then(|| Arc::from(self.id_buffer.as_str()));
        }
        if self.data_at == DataAt::Nothing {
            self.event_type.clear();
            return false;
        }
        true
    }

    /// The dispatched event, borrowed. Data that is not valid UTF-8 is
    /// decoded into `data` first.
    fn event_ref<'a>(&'a mut self, buf: &'a [u8]) -> SseEventRef<'a> {
        let mut valid = None;
        if let DataAt::Input(start, end) = self.data_at {
            let bytes = buf.get(start..end).unwrap_or_default();
            valid = simdutf8::basic::from_utf8(bytes).ok();
            if valid.is_none() {
                self.data.clear();
                push_lossy(&mut self.data, bytes);
                self.data_at = DataAt::Owned;
            }
        }
        let fields: &'a Fields = self;
        let data = match (valid, fields.data_at) {
            (Some(text), _) => text,
            (None, DataAt::Owned) => fields.data.as_str(),
            (None, _) => "",
        };
        let event_type = match fields.event_type.as_str() {
            "" => DEFAULT_EVENT_TYPE,
            name => name,
        };
        SseEventRef::new(event_type, data, fields.last_event_id())
    }

    /// Forgets the event being assembled (its data and type).
    fn reset_event(&mut self) {
        self.data_at = DataAt::Nothing;
        if self.data.capacity() > KEEP_BUFFER_CAPACITY {
            self.data = String::new();
        } else {
            self.data.clear();
        }
        self.event_type.clear();
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
            .field("retry", &self.fields.retry)
            .field("failure", &self.failure)
            .finish_non_exhaustive()
    }
}

/// The position of the first CR or LF. A few bytes (what small reads add)
/// are looked at one by one; more are searched with `memchr2`.
fn find_line_end(bytes: &[u8]) -> Option<usize> {
    if bytes.len() < 16 {
        bytes.iter().position(|&b| b == b'\r' || b == b'\n')
    } else {
        memchr2(b'\r', b'\n', bytes)
    }
}

/// Appends `bytes` decoded as UTF-8, each maximal invalid sequence replaced by U+FFFD.
fn push_lossy(out: &mut String, bytes: &[u8]) {
    match simdutf8::basic::from_utf8(bytes) {
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
    fn feeding_without_draining_stays_bounded_and_loses_nothing() {
        let limit = 64;
        let mut decoder = SseDecoder::with_max_event_bytes(limit);
        let mut expected = Vec::new();
        for i in 0..200 {
            decoder.feed(format!("data: event {i}\n\n").as_bytes());
            expected.push(SseEvent::message(format!("event {i}")));
            // What is not decoded yet never passes the limit: the rest was decoded ahead.
            assert!(
                decoder.buffered_len() <= limit,
                "{}",
                decoder.buffered_len()
            );
        }
        assert_eq!(decode_all(&mut decoder), expected);
    }

    #[test]
    fn one_large_feed_is_decoded_ahead_in_pieces_of_the_limit() {
        let limit = 32;
        let body: String = (0..100).map(|i| format!("data: {i}\n\n")).collect();
        let mut decoder = SseDecoder::with_max_event_bytes(limit);
        decoder.feed(body.as_bytes());
        assert!(decoder.buffered_len() <= limit);
        let events = decode_all(&mut decoder);
        assert_eq!(events.len(), 100);
        assert_eq!(events[99].data(), "99");
    }

    #[test]
    fn the_line_limit_holds_across_reads_without_draining() {
        let limit = 50;
        let mut decoder = SseDecoder::with_max_event_bytes(limit);
        decoder.feed(b"data: ok\n\ndata: ");
        for _ in 0..10 {
            decoder.feed(&[b'x'; 9]);
        }
        assert_eq!(decoder.buffered_len(), 0, "released at the error");
        assert_eq!(decoder.next_event(), Ok(Some(SseEvent::message("ok"))));
        assert_eq!(
            decoder.next_event(),
            Err(Error::LimitExceeded(LimitError::new(LINE, limit)))
        );
    }

    #[test]
    fn a_data_line_survives_when_the_input_before_it_is_dropped() {
        let mut decoder = SseDecoder::new();
        decoder.feed(b": a long comment line that is dropped once decoded\ndata: kept\n");
        assert_eq!(decoder.next_event(), Ok(None));
        decoder.feed(b": another comment\n");
        assert_eq!(decoder.next_event(), Ok(None));
        decoder.feed(b"\n");
        assert_eq!(decode_all(&mut decoder), [SseEvent::message("kept")]);
    }

    #[test]
    fn borrowed_events_match_owned_ones() {
        let body: &[u8] =
            b"data: one\n\nevent: delta\ndata: a\ndata: b\n\ndata: bad \xFF\n\nid: 7\ndata:\n\n";
        for piece_len in [1, 2, 5, body.len()] {
            let mut owned = SseDecoder::new();
            let mut borrowed = SseDecoder::new();
            let mut from_owned = Vec::new();
            let mut from_borrowed = Vec::new();
            for piece in body.chunks(piece_len) {
                owned.feed(piece);
                borrowed.feed(piece);
                from_owned.extend(decode_all(&mut owned));
                while let Some(event) = borrowed.next_event_ref().unwrap() {
                    from_borrowed.push((event.event_type().to_owned(), event.data().to_owned()));
                }
            }
            let from_owned: Vec<_> = from_owned
                .iter()
                .map(|e| (e.event_type().to_owned(), e.data().to_owned()))
                .collect();
            assert_eq!(from_borrowed, from_owned, "pieces of {piece_len}");
            assert_eq!(from_owned.len(), 4);
            assert_eq!(from_owned[2].1, "bad \u{FFFD}");
            assert_eq!(borrowed.last_event_id(), "7");
        }
    }

    #[test]
    fn events_decoded_ahead_are_handed_out_by_reference_too() {
        let mut decoder = SseDecoder::with_max_event_bytes(16);
        decoder.feed(b"data: 1\n\nevent: e\ndata: 2\n\ndata: 3\n\n");
        let mut seen = Vec::new();
        while let Some(event) = decoder.next_event_ref().unwrap() {
            seen.push(format!("{}:{}", event.event_type(), event.data()));
        }
        assert_eq!(seen, ["message:1", "e:2", "message:3"]);
    }

    #[test]
    fn finish_keeps_the_complete_events_not_yet_decoded() {
        let mut decoder = SseDecoder::new();
        decoder.feed(b"data: a\n\ndata: b\n\ndata: cut");
        decoder.finish();
        assert_eq!(
            decode_all(&mut decoder),
            [SseEvent::message("a"), SseEvent::message("b")]
        );
        assert_eq!(decoder.buffered_len(), 0);
    }

    #[test]
    fn debug_summarises_state() {
        let mut decoder = SseDecoder::new();
        decoder.feed(b"data: partial");
        let shown = format!("{decoder:?}");
        assert!(shown.contains("buffered_len: 13"), "{shown}");
    }
}
