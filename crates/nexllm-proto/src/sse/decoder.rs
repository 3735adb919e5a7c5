//! [`SseDecoder`]: the incremental event-stream parser (bytes in, [`SseEvent`]s out).

use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use memchr::{memchr, memchr2, memrchr2};

use super::DEFAULT_MAX_EVENT_BYTES;
use super::event::{DEFAULT_EVENT_TYPE, SseEvent, SseEventRef};
use crate::error::{Error, LimitError};

/// The UTF-8 byte order mark, stripped once at the start of a stream.
pub(crate) const BOM: &[u8; 3] = b"\xEF\xBB\xBF";
/// How many distinct event type names are kept to share one allocation between events.
const TYPE_CACHE_ENTRIES: usize = 8;
/// Longer type names are not kept in the cache.
const TYPE_CACHE_MAX_LEN: usize = 64;
/// A buffer grown past this is released once it is empty again.
const KEEP_BUFFER_CAPACITY: usize = 64 * 1024;
/// Invalid UTF-8 decodes to at most this many bytes per input byte (one U+FFFD,
/// three bytes, for a one-byte invalid sequence).
const LOSSY_GROWTH: usize = 3;
/// Reads shorter than this are copied into the line buffer (but for a `Bytes`
/// read of whole lines for lent events: `SseDecoder::keep_lines_whole`);
/// longer ones may be kept whole as a [`Segment`] (an `Arc<str>` or the
/// caller's `Bytes`).
/// Keeping a read whole costs an allocation or a reference count and a
/// backward search, which a read of one or two events does not earn back
/// (one ~330-byte event per read: 0.19 s against 0.15 s copied). Fuzzing
/// keeps small reads whole too, to reach every path.
const SEGMENT_MIN: usize = if cfg!(fuzzing) { 16 } else { 1024 };
/// Reads longer than this are never kept whole: an owned event shares the read
/// it came from, so this bounds what one small event can keep alive.
const SEGMENT_MAX: usize = 256 * 1024;

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
/// resumes where it stopped, so each byte is scanned once). Only when more
/// than the limit of input waits undecoded (the caller feeds without
/// draining) does `feed` decode ahead and queue the events.
///
/// A read of at least 1 KiB (and at most 256 KiB) is kept whole: its
/// complete lines are checked as UTF-8 once (one call instead of one per
/// event) and copied once into a shared `Arc<str>`, and the events decoded
/// from it by `next_event` share it instead of allocating their data (see
/// [`SseEvent`]); `next_event_ref` lends from it without checking again.
/// Events whose data line was cut between reads, events with several `data`
/// lines, and events from shorter reads get their own `String`.
/// [`feed_bytes`](Self::feed_bytes) takes a read as `Bytes` and, when events
/// are lent with [`next_event_ref`](Self::next_event_ref), decodes it where
/// it is, without copying it: a read of 1 KiB or more, and a read of any
/// size that ends a line with nothing undecoded before it (a server's frame
/// of whole events, as HTTP clients hand them out). A one-byte read costs a
/// push and a look at that byte, and `next_event` with nothing new to decode
/// returns at once.
// The fields in this order (`repr(C)`): those read for every event first, in
// as few cache lines as they fit, the rest after them. With many streams on
// one thread each decoder is cold by its stream's next read, and each line
// its fields are spread over is a cache miss per event.
#[repr(C)]
pub struct SseDecoder {
    /// Input kept for decoding; `buf[pos..]` is not decoded yet. Decoded bytes
    /// are dropped when more input arrives, except the data line of an
    /// unfinished event, which the event refers to.
    buf: Vec<u8>,
    pos: usize,
    /// `buf[pos..scan]` holds no line end: the search resumes at `scan`.
    scan: usize,
    limit: usize,
    /// [`SEGMENT_MIN`], lowered by tests to reach every path with short input.
    segment_min: usize,
    /// The caller takes owned events (`next_event`): a `Bytes` read is copied
    /// into shared text rather than kept as it is. False after `next_event_ref`.
    owned: bool,
    /// The last line ended with CR: an LF next belongs to that line end.
    skip_lf: bool,
    /// The event in `fields` was dispatched and handed out by reference; it is
    /// cleared on the next call.
    holding: bool,
    /// [`plain`](Self::plain), kept up to date by every change to the
    /// fields it sums up: one check instead of five for each byte of
    /// one-byte reads and each call that finds nothing new.
    plain: bool,
    /// The part of `plain` that changes at most once per read: no error,
    /// the start of the stream decided, no segment. `plain` is this while
    /// nothing is lent (`holding`, `current`), so that a call that ends a
    /// lending restores `plain` with one copy (see `settle` and `release`).
    input_plain: bool,
    /// A read kept whole, decoded between `buf[..at]` and `buf[at..]`.
    seg: Option<Segment>,
    /// How many bytes of a leading BOM have matched so far, while the start
    /// of the stream is still undecided; `None` once it is decided.
    bom_matched: Option<usize>,
    /// Boxed, as `current`: eight bytes to check instead of a cache line.
    failure: Option<Box<LimitError>>,
    /// An event of `ready` handed out by reference.
    current: Option<Box<SseEvent>>,
    /// Events decoded ahead by `feed` or `finish`, returned before decoding on.
    ready: VecDeque<SseEvent>,
    /// The search for line ends of the usual event, shared by every decoder.
    line_ends: &'static LineEnds,
    /// The event being assembled, and the id and retry state.
    fields: Fields,
}

/// Finds the first CR or LF: with memchr's AVX2 searcher, made once, where
/// the CPU has AVX2 (`memchr2` reaches the same code through a function
/// pointer and two more calls, per line); with `memchr2` elsewhere.
#[derive(Clone, Copy)]
struct LineEnds {
    #[cfg(target_arch = "x86_64")]
    avx2: Option<memchr::arch::x86_64::avx2::memchr::Two>,
}

/// The one [`LineEnds`] of the process, hot in the cache however many
/// decoders run in turn (a copy in each decoder was three cache lines).
static LINE_ENDS: OnceLock<LineEnds> = OnceLock::new();

impl LineEnds {
    fn shared() -> &'static LineEnds {
        LINE_ENDS.get_or_init(LineEnds::new)
    }

    fn new() -> Self {
        LineEnds {
            #[cfg(target_arch = "x86_64")]
            avx2: memchr::arch::x86_64::avx2::memchr::Two::new(b'\r', b'\n'),
        }
    }

    #[inline(always)]
    fn find(&self, bytes: &[u8]) -> Option<usize> {
        #[cfg(target_arch = "x86_64")]
        if let Some(two) = self.avx2 {
            return two.find(bytes);
        }
        find_line_end(bytes)
    }
}

/// Complete lines of one read, kept as they came instead of being copied into
/// the line buffer. They always end with a line end (CR or LF).
struct Segment {
    held: Held,
    /// The segment's lines come after `buf[..at]` and before `buf[at..]`.
    at: usize,
    /// `held[pos..]` is not decoded yet.
    pos: usize,
    /// `held[pos..scan]` holds no line end.
    scan: usize,
}

/// The bytes of a [`Segment`].
enum Held {
    /// Valid UTF-8, checked once: owned events share it.
    Text(Arc<str>),
    /// The caller's read as it came (`feed_bytes`), not checked.
    Raw(Bytes),
}

impl Held {
    fn bytes(&self) -> &[u8] {
        match self {
            Held::Text(text) => text.as_bytes(),
            Held::Raw(bytes) => bytes,
        }
    }
}

/// Which input a position refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Src {
    /// The line buffer.
    Buf,
    /// The segment.
    Seg,
}

/// The inputs a line can come from, borrowed while a line is interpreted.
struct Inputs<'a> {
    buf: &'a [u8],
    seg: Option<&'a Held>,
}

impl<'a> Inputs<'a> {
    fn bytes(&self, src: Src) -> &'a [u8] {
        match src {
            Src::Buf => self.buf,
            Src::Seg => self.seg.map(Held::bytes).unwrap_or_default(),
        }
    }

    /// `start..end` of the input as text, when the input was checked as UTF-8 already.
    fn text(&self, src: Src, start: usize, end: usize) -> Option<&'a str> {
        match (src, self.seg) {
            (Src::Seg, Some(Held::Text(text))) => text.get(start..end),
            _ => None,
        }
    }

    fn shared(&self, src: Src) -> Option<&'a Arc<str>> {
        match (src, self.seg) {
            (Src::Seg, Some(Held::Text(text))) => Some(text),
            _ => None,
        }
    }
}

/// Where the data of the event being assembled is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DataAt {
    /// No `data` field yet.
    Nothing,
    /// One `data` line, the bytes `start..end` of an input, not yet checked
    /// as UTF-8 (unless the input is checked text, or the line is longer than
    /// a third of the limit).
    Input(Src, usize, usize),
    /// In `Fields::data`.
    Owned,
}

/// The field state of the decoder: the event being assembled, the last event
/// id and the retry value.
#[repr(C)] // Those read for every event first (see `SseDecoder`).
struct Fields {
    data_at: DataAt,
    limit: usize,
    /// The event type buffer.
    event_type: String,
    /// The last event id string, set when an event is dispatched.
    last_event_id: Option<Arc<str>>,
    /// The last event id buffer.
    id_buffer: String,
    /// The data when it is not a single `data` line still in the input.
    data: String,
    retry: Option<u64>,
    /// Recent event type names, shared between the events that carry them.
    type_cache: Vec<Arc<str>>,
}

/// What the search for the next line found.
enum Line {
    /// No complete line left in this input.
    NeedMore,
    /// The line at the cursor is longer than the limit.
    TooLong,
    /// A complete line, `start..end` (without its line end); blank when empty.
    At(usize, usize),
}

/// Finds the next line of `input` at `*pos`, and moves the cursor past it.
#[inline]
fn next_line(
    input: &[u8],
    pos: &mut usize,
    scan: &mut usize,
    skip_lf: &mut bool,
    limit: usize,
) -> Line {
    if *skip_lf {
        match input.get(*pos) {
            None => return Line::NeedMore,
            Some(b'\n') => {
                *pos += 1;
                *scan = (*scan).max(*pos);
            }
            Some(_) => {}
        }
        *skip_lf = false;
    }
    let start = *pos;
    let end = match input.get(start) {
        None => return Line::NeedMore,
        // A blank line: no need to search.
        Some(b'\n' | b'\r') => start,
        Some(_) => {
            let from = (*scan).max(start);
            let unsearched = input.get(from..).unwrap_or_default();
            match find_line_end(unsearched) {
                Some(offset) => from + offset,
                None => {
                    *scan = input.len();
                    if input.len() - start > limit {
                        return Line::TooLong;
                    }
                    return Line::NeedMore;
                }
            }
        }
    };
    if end - start > limit {
        return Line::TooLong;
    }
    *pos = match input.get(end..) {
        Some([b'\r', b'\n', ..]) => end + 2,
        Some([b'\r']) => {
            *skip_lf = true;
            end + 1
        }
        _ => end + 1,
    };
    *scan = *pos;
    Line::At(start, end)
}

/// A `data` line found by [`quick_line`].
struct Quick {
    /// The value of the `data` field: `start..end` of the input.
    start: usize,
    end: usize,
    /// Where the input goes on: after the data line, or after the blank line
    /// that follows it.
    next: usize,
    /// The data line was followed by a blank line: the event is complete.
    blank: bool,
}

/// The length of the line end at `input[at..]` (CRLF, CR or LF), `None` for
/// a CR at the very end (whether an LF follows is not known yet) or no line end.
#[inline(always)]
fn line_end_len(input: &[u8], at: usize) -> Option<usize> {
    match input.get(at..)? {
        [b'\r', b'\n', ..] => Some(2),
        [b'\r'] => None,
        [b'\r' | b'\n', ..] => Some(1),
        _ => None,
    }
}

/// A complete `data` line at `pos` (`input[pos..scan]` holds no line end),
/// at most `limit` long, and whether a blank line follows it. `None` when the
/// line is anything else, or its data is not `checked` text and so long that
/// decoding it might grow it past the limit (the line-by-line path decides then).
#[inline(always)]
fn quick_line(
    input: &[u8],
    pos: usize,
    scan: usize,
    limit: usize,
    checked: bool,
    line_ends: &LineEnds,
) -> Option<Quick> {
    let rest = input.get(pos..)?;
    let after = rest.strip_prefix(b"data:")?;
    let start = pos + 5 + usize::from(after.first() == Some(&b' '));
    let from = scan.max(start);
    let end = from + line_ends.find(input.get(from..)?)?;
    if end - pos > limit || (!checked && (end - start).saturating_mul(LOSSY_GROWTH) > limit) {
        return None;
    }
    let next = end + line_end_len(input, end)?;
    let blank = match input.get(next) {
        Some(b'\r' | b'\n') => line_end_len(input, next),
        _ => None,
    };
    Some(match blank {
        Some(len) => Quick {
            start,
            end,
            next: next + len,
            blank: true,
        },
        None => Quick {
            start,
            end,
            next,
            blank: false,
        },
    })
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
            seg: None,
            owned: true,
            segment_min: SEGMENT_MIN,
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
            // The start of the stream is undecided (`bom_matched`).
            plain: false,
            input_plain: false,
            ready: VecDeque::new(),
            current: None,
            failure: None,
            line_ends: LineEnds::shared(),
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
        let mut undecoded = self.buf.len().saturating_sub(self.pos);
        if let Some(seg) = &self.seg {
            undecoded += seg.held.bytes().len().saturating_sub(seg.pos);
        }
        if self.holding {
            return undecoded;
        }
        let data = match self.fields.data_at {
            DataAt::Nothing => 0,
            DataAt::Input(_, start, end) => end.saturating_sub(start),
            DataAt::Owned => self.fields.data.len(),
        };
        undecoded + data + self.fields.event_type.len()
    }

    /// Takes the next piece of the body. Events it completes become
    /// available from [`next_event`](Self::next_event).
    ///
    /// After an error, or with an empty slice, this does nothing.
    #[inline]
    pub fn feed(&mut self, bytes: &[u8]) {
        if let [byte] = bytes {
            if self.plain() && self.buf.len().saturating_sub(self.pos) < self.limit {
                // One byte (the smallest reads): a push, and a look at the byte.
                if self.pos != 0 {
                    self.compact();
                }
                let searched = self.scan == self.buf.len();
                self.buf.push(*byte);
                if searched && *byte != b'\r' && *byte != b'\n' {
                    // Not a line end, after bytes already searched: no line
                    // completes, and `next_event` has nothing new to look at.
                    // (The line cannot pass the limit: it was shorter before.)
                    self.scan = self.buf.len();
                }
                return;
            }
        }
        self.feed_piece(bytes, None);
    }

    /// [`feed`](Self::feed) for a read that is already a [`Bytes`] (as HTTP
    /// clients such as hyper hand out body frames): the same events, and
    /// when events are lent with [`next_event_ref`](Self::next_event_ref),
    /// the complete lines of the read are decoded where they are, without
    /// being copied: those of a read of 1 KiB or more, and every line of a
    /// read that ends a line and comes with nothing undecoded before it (a
    /// server's frame of whole events). A line cut between reads is copied,
    /// and so is a shorter read that ends inside a line or follows an
    /// unfinished one. With owned events ([`next_event`](Self::next_event))
    /// the read is copied, as with `feed` (once into shared text when it is
    /// 1 KiB or more).
    ///
    /// ```
    /// use bytes::Bytes;
    /// use nexllm_proto::sse::SseDecoder;
    ///
    /// let mut decoder = SseDecoder::new();
    /// let frame = Bytes::from_static(b"data: {\"n\":1}\n\ndata: {\"n\":2}\n\ndata: {\"n\"");
    /// decoder.feed_bytes(frame);
    /// let mut seen = Vec::new();
    /// while let Some(event) = decoder.next_event_ref()? {
    ///     seen.push(event.data().to_owned());
    /// }
    /// assert_eq!(seen, ["{\"n\":1}", "{\"n\":2}"]);
    /// # Ok::<(), nexllm_proto::Error>(())
    /// ```
    pub fn feed_bytes(&mut self, bytes: Bytes) {
        // The event lent last is over (as in `feed_piece`).
        self.release();
        if !self.owned && self.keep_lines_whole(&bytes) {
            self.compact();
            let at = self.buf.len();
            self.seg = Some(Segment {
                held: Held::Raw(bytes),
                at,
                pos: 0,
                scan: 0,
            });
            self.input_pending();
            return;
        }
        if bytes.len() < self.segment_min {
            self.feed(&bytes);
        } else {
            self.feed_piece(&bytes, Some(&bytes));
        }
    }

    /// Where the data of `bytes` is, when `bytes` is one whole event of a
    /// single `data` line (LF or CRLF line ends, then a blank line, nothing
    /// after it) no longer than `limit`, the limit on one event. Fed to a decoder
    /// [`at_rest`](Self::at_rest), such a read would only hand its data out
    /// (event type `message`, no id) and leave the decoder as it was: a
    /// caller that reads the data itself, when it is UTF-8, may skip the
    /// decoder for it (`ChatStreamDecoder` does). The data is
    /// `bytes[start..end]`, not yet checked as UTF-8.
    /// (An associated function, given the decoder's `limit`: the caller need
    /// not touch the decoder.)
    #[inline]
    pub(crate) fn lone_data_event(bytes: &[u8], limit: usize) -> Option<(usize, usize)> {
        let after = bytes.strip_prefix(b"data:")?;
        let start = 5 + usize::from(after.first() == Some(&b' '));
        let end = start + LineEnds::shared().find(bytes.get(start..)?)?;
        let lone = matches!(bytes.get(end..)?, b"\n\n" | b"\r\n\r\n") && bytes.len() <= limit;
        lone.then_some((start, end))
    }

    /// Nothing at all is pending: no input, no event started or lent, no id
    /// ever set, no BOM undecided, no error. A read of one whole data event
    /// ([`lone_data_event`](Self::lone_data_event)) would leave the decoder
    /// as it is, and [`next_event_ref`](Self::next_event_ref) has nothing to
    /// return.
    #[inline]
    pub(crate) fn at_rest(&self) -> bool {
        self.pos == self.buf.len()
            && self.plain()
            && !self.skip_lf
            && self.fields.data_at == DataAt::Nothing
            && self.fields.event_type.is_empty()
            && self.fields.id_buffer.is_empty()
            && self.fields.last_event_id.is_none()
            && self.ready.is_empty()
    }

    /// Whether `bytes`, a read of complete lines (it ends with LF) that
    /// lent events can be decoded from where it is, should be kept whole
    /// rather than copied: nothing undecoded waits before it, and nothing
    /// else is pending. Keeping it costs no copy and no reference count.
    #[inline]
    fn keep_lines_whole(&self, bytes: &Bytes) -> bool {
        bytes.last() == Some(&b'\n')
            && bytes.len() <= SEGMENT_MAX
            && bytes.len() <= self.limit
            && self.plain()
            && !self.skip_lf
            && self.pos == self.buf.len()
    }

    /// No error, no BOM undecided, no event lent, no segment: a byte can simply be pushed.
    #[inline(always)]
    fn plain(&self) -> bool {
        debug_assert_eq!(
            (self.plain, self.input_plain),
            self.plain_now(),
            "`plain` not settled"
        );
        self.plain
    }

    /// What `plain` and `input_plain` sum up, from the fields themselves.
    fn plain_now(&self) -> (bool, bool) {
        let input = self.failure.is_none() && self.bom_matched.is_none() && self.seg.is_none();
        (input && !self.holding && self.current.is_none(), input)
    }

    /// Brings `plain` and `input_plain` up to date after a change to
    /// `failure`, `bom_matched` or `seg` that may have made them true.
    fn settle(&mut self) {
        (self.plain, self.input_plain) = self.plain_now();
    }

    /// Records that a segment was kept, an error recorded or the start of
    /// the stream left undecided: the decoder is not plain.
    fn input_pending(&mut self) {
        self.input_plain = false;
        self.plain = false;
    }

    /// `feed` and `feed_bytes`: `shared` is `bytes` as the caller's `Bytes`.
    #[inline(never)]
    fn feed_piece(&mut self, bytes: &[u8], shared: Option<&Bytes>) {
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
        if rest.len() >= self.segment_min
            && rest.len() <= SEGMENT_MAX
            && self.seg.is_none()
            && self.buf.len().saturating_sub(self.pos) + rest.len() <= self.limit
            && self.keep_segment(rest, bytes.len() - rest.len(), shared)
        {
            return;
        }
        self.compact();
        if self.undecoded() + rest.len() <= self.limit {
            // The usual case: everything fits.
            self.buf.extend_from_slice(rest);
            return;
        }
        loop {
            self.compact();
            // Keep at most one byte more than the limit undecoded: enough to
            // know that an unfinished line is too long.
            let room = self
                .limit
                .saturating_add(1)
                .saturating_sub(self.undecoded());
            let (now, later) = rest.split_at(rest.len().min(room));
            self.buf.extend_from_slice(now);
            rest = later;
            if rest.is_empty() && self.undecoded() <= self.limit {
                return;
            }
            // More than the limit waits undecoded: decode it now.
            self.decode_ahead();
            if self.failure.is_some() {
                return;
            }
        }
    }

    /// The input not decoded yet, in the buffer and the segment.
    fn undecoded(&self) -> usize {
        let seg = match &self.seg {
            Some(seg) => seg.held.bytes().len().saturating_sub(seg.pos),
            None => 0,
        };
        self.buf.len().saturating_sub(self.pos) + seg
    }

    /// Keeps the complete lines of `rest` (which starts `offset` bytes into
    /// `shared` when that is given) as a segment: the bytes that complete a
    /// line already in the buffer go to the buffer, then the segment, then
    /// the unfinished last line goes to the buffer after it. False when there
    /// is no complete line to keep (or it is not UTF-8 and there is no
    /// `Bytes` to keep as it is); nothing was consumed then.
    fn keep_segment(&mut self, rest: &[u8], offset: usize, shared: Option<&Bytes>) -> bool {
        let undecoded = self.buf.get(self.pos..).unwrap_or_default();
        let head = match undecoded.last() {
            None | Some(b'\r' | b'\n') => 0,
            // A line is cut between the reads: its end goes to the buffer.
            Some(_) => match find_line_end(rest) {
                None => return false,
                Some(end) if rest.get(end..end + 2) == Some(b"\r\n") => end + 2,
                Some(end) => end + 1,
            },
        };
        let check = self.owned || shared.is_none();
        // The read is checked from its start before its last line end is
        // looked for: a forward pass the prefetcher follows touches it
        // first, and the search from its end then runs in the cache.
        let whole = if check {
            simdutf8::basic::from_utf8(rest.get(head..).unwrap_or_default()).ok()
        } else {
            None
        };
        let end = match memrchr2(b'\r', b'\n', rest) {
            Some(last) if last + 1 > head => last + 1,
            _ => return false,
        };
        let lines = rest.get(head..end).unwrap_or_default();
        let text = match whole {
            // On a character boundary: right after a CR or LF.
            Some(whole) => whole.get(..end - head),
            // Cut inside a character at its end, or not UTF-8.
            None if check => simdutf8::basic::from_utf8(lines).ok(),
            None => None,
        };
        let held = match (text, shared) {
            (Some(text), _) => Held::Text(Arc::from(text)),
            // In bounds: `offset + end <= offset + rest.len() == shared.len()`.
            (None, Some(shared)) => Held::Raw(shared.slice(offset + head..offset + end)),
            (None, None) => return false,
        };
        self.compact();
        self.buf
            .extend_from_slice(rest.get(..head).unwrap_or_default());
        let at = self.buf.len();
        self.buf
            .extend_from_slice(rest.get(end..).unwrap_or_default());
        self.seg = Some(Segment {
            held,
            at,
            pos: 0,
            scan: 0,
        });
        self.input_pending();
        true
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
        self.input_pending();
        self.skip_lf = false;
    }

    /// Nothing to decode since the last call found nothing: no new byte, no
    /// segment, no queued event, nothing lent, no error.
    #[inline(always)]
    fn idle(&self) -> bool {
        self.scan == self.buf.len()
            && self.ready.is_empty()
            // Not plain while the start of the stream is undecided, which
            // does not keep the decoder from being idle.
            && (self.plain()
                || (self.seg.is_none()
                    && !self.holding
                    && self.current.is_none()
                    && self.failure.is_none()))
    }

    /// The next complete event, `Ok(None)` when more input is needed (or the
    /// input has ended and everything was returned).
    ///
    /// # Errors
    ///
    /// [`Error::LimitExceeded`] once a line or an event passed the limit,
    /// after the events completed before it; the same error every call after.
    #[inline]
    pub fn next_event(&mut self) -> Result<Option<SseEvent>, Error> {
        self.owned = true;
        if self.idle() {
            return Ok(None);
        }
        self.next_event_decoding()
    }

    /// `next_event` past the check that there is something new.
    #[inline(never)]
    fn next_event_decoding(&mut self) -> Result<Option<SseEvent>, Error> {
        self.release();
        if let Some(event) = self.ready.pop_front() {
            return Ok(Some(event));
        }
        if let Some(event) = self.quick_owned() {
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
    #[inline]
    pub fn next_event_ref(&mut self) -> Result<Option<SseEventRef<'_>>, Error> {
        self.owned = false;
        if self.idle() {
            return Ok(None);
        }
        self.next_event_ref_decoding()
    }

    /// `next_event_ref` past the check that there is something new.
    #[inline(never)]
    fn next_event_ref_decoding(&mut self) -> Result<Option<SseEventRef<'_>>, Error> {
        self.release();
        if let Some(event) = self.ready.pop_front() {
            self.plain = false;
            return Ok(Some(self.current.insert(Box::new(event)).as_event_ref()));
        }
        if self.failure.is_none() && self.decode() {
            self.holding = true;
            self.plain = false;
            let inputs = Inputs {
                buf: &self.buf,
                seg: self.seg.as_ref().map(|seg| &seg.held),
            };
            return Ok(Some(self.fields.event_ref(&inputs)));
        }
        self.no_event()
    }

    fn no_event<T>(&self) -> Result<Option<T>, Error> {
        match &self.failure {
            Some(failure) => Err(Error::LimitExceeded(failure.clone())),
            None => Ok(None),
        }
    }

    /// Forgets the event handed out by reference. (Always inlined: in the
    /// owned path of every event, where a call costs more than its checks.)
    #[inline(always)]
    fn release(&mut self) {
        if self.current.is_some() {
            self.current = None;
            self.plain = self.input_plain;
        }
        if self.holding {
            self.holding = false;
            self.fields.reset_event();
            self.plain = self.input_plain;
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
            if !self.skip_lf && self.fields.data_at == DataAt::Nothing && self.quick_event() {
                // A whole event in one step: dispatch it (its id state as usual).
                if self.fields.dispatch() {
                    return true;
                }
                continue;
            }
            // The input the next line comes from: the buffer up to the
            // segment, the segment, then the rest of the buffer.
            let mut dropped = false;
            let (src, line) = match &mut self.seg {
                Some(seg) if seg.pos < seg.held.bytes().len() => {
                    if self.pos >= seg.at {
                        let Segment {
                            held, pos, scan, ..
                        } = seg;
                        let line =
                            next_line(held.bytes(), pos, scan, &mut self.skip_lf, self.limit);
                        (Src::Seg, line)
                    } else {
                        let before = self.buf.get(..seg.at).unwrap_or_default();
                        let line = next_line(
                            before,
                            &mut self.pos,
                            &mut self.scan,
                            &mut self.skip_lf,
                            self.limit,
                        );
                        (Src::Buf, line)
                    }
                }
                seg => {
                    // A spent segment is dropped unless the event's data is in it.
                    if seg.is_some() && !matches!(self.fields.data_at, DataAt::Input(Src::Seg, ..))
                    {
                        *seg = None;
                        dropped = true;
                    }
                    let line = next_line(
                        &self.buf,
                        &mut self.pos,
                        &mut self.scan,
                        &mut self.skip_lf,
                        self.limit,
                    );
                    (Src::Buf, line)
                }
            };
            if dropped {
                self.settle();
            }
            match line {
                // The bytes before a segment and the segment itself end with a
                // line end (`keep_segment`), so only the last input runs out,
                // except when all one of them held was the LF of a CRLF whose
                // CR ended the input before it: then the next input goes on.
                Line::NeedMore => {
                    let spent_early = match &self.seg {
                        Some(seg) if seg.pos < seg.held.bytes().len() => {
                            src == Src::Buf && self.pos >= seg.at
                        }
                        Some(_) => src == Src::Seg,
                        None => false,
                    };
                    if spent_early {
                        continue;
                    }
                    return false;
                }
                Line::TooLong => {
                    self.fail(LINE);
                    return false;
                }
                Line::At(start, end) if start == end => {
                    if self.fields.dispatch() {
                        return true;
                    }
                }
                Line::At(start, end) => {
                    let inputs = Inputs {
                        buf: &self.buf,
                        seg: self.seg.as_ref().map(|seg| &seg.held),
                    };
                    if let Err(what) = self.fields.line(&inputs, src, start, end) {
                        self.fail(what);
                        return false;
                    }
                }
            }
        }
    }

    /// The usual event in one step: at the cursor, a `data` line (found with
    /// one search) and, when the next line is blank, the end of the event.
    /// True when the event is complete (its data is in `fields.data_at`,
    /// ready for `dispatch`); otherwise the data line, if one was taken, is
    /// recorded as `decode`'s line-by-line path would, and that path goes on.
    /// Anything unusual (no `data:` prefix, a line without its end, too long,
    /// a CR at the end of the input, unchecked data that might grow past the
    /// limit when decoded) is left to that path untouched. Only called with
    /// no event data yet and no LF to skip.
    #[inline]
    fn quick_event(&mut self) -> bool {
        let limit = self.limit;
        let line_ends = self.line_ends;
        // The input the next line comes from, as in `decode`; whether it is checked text.
        let (src, input, pos, scan, checked) = match &mut self.seg {
            Some(seg) if seg.pos < seg.held.bytes().len() => {
                if self.pos >= seg.at {
                    let Segment {
                        held, pos, scan, ..
                    } = seg;
                    let checked = matches!(held, Held::Text(_));
                    (Src::Seg, held.bytes(), pos, scan, checked)
                } else {
                    let before = self.buf.get(..seg.at).unwrap_or_default();
                    (Src::Buf, before, &mut self.pos, &mut self.scan, false)
                }
            }
            // A spent segment: `decode` drops it.
            Some(_) => return false,
            None => (
                Src::Buf,
                self.buf.as_slice(),
                &mut self.pos,
                &mut self.scan,
                false,
            ),
        };
        let Some(quick) = quick_line(input, *pos, *scan, limit, checked, line_ends) else {
            return false;
        };
        self.fields.data_at = DataAt::Input(src, quick.start, quick.end);
        *pos = quick.next;
        *scan = quick.next;
        quick.blank
    }

    /// The usual event of a read kept as checked text, decoded and handed out
    /// in one step: a `data` line and a blank line at the cursor of the
    /// segment, at the start of an event (no type, no data yet). The event
    /// shares the segment's text. `None`, with nothing consumed, for anything
    /// else: `decode` takes it then.
    #[inline]
    fn quick_owned(&mut self) -> Option<SseEvent> {
        if self.skip_lf
            || self.fields.data_at != DataAt::Nothing
            || !self.fields.event_type.is_empty()
            || self.failure.is_some()
        {
            return None;
        }
        let seg = self.seg.as_mut()?;
        let Held::Text(text) = &seg.held else {
            return None;
        };
        if self.pos < seg.at {
            return None;
        }
        let quick = quick_line(
            text.as_bytes(),
            seg.pos,
            seg.scan,
            self.limit,
            true,
            self.line_ends,
        )?;
        if !quick.blank {
            return None;
        }
        seg.pos = quick.next;
        seg.scan = quick.next;
        self.fields.update_last_event_id();
        Some(SseEvent::shared(
            None,
            Arc::clone(text),
            quick.start,
            quick.end,
            self.fields.last_event_id.clone(),
        ))
    }

    /// Takes the dispatched event out of `fields` as an owned event.
    fn take_event(&mut self) -> SseEvent {
        let event_type = self.fields.take_event_type();
        let last_event_id = self.fields.last_event_id.clone();
        let data_at = std::mem::replace(&mut self.fields.data_at, DataAt::Nothing);
        match data_at {
            DataAt::Input(src, start, end) => {
                let inputs = Inputs {
                    buf: &self.buf,
                    seg: self.seg.as_ref().map(|seg| &seg.held),
                };
                if let Some(text) = inputs.shared(src) {
                    // Always on character boundaries: they are next to ASCII
                    // bytes (the line end, `data:`, a space) of valid text.
                    if text.get(start..end).is_some() {
                        let text = Arc::clone(text);
                        return SseEvent::shared(event_type, text, start, end, last_event_id);
                    }
                }
                let bytes = inputs.bytes(src).get(start..end).unwrap_or_default();
                let data = match simdutf8::basic::from_utf8(bytes) {
                    Ok(text) => String::from(text),
                    Err(_) => {
                        let mut text = String::new();
                        push_lossy(&mut text, bytes);
                        text
                    }
                };
                SseEvent::from_parts(event_type, data, last_event_id)
            }
            DataAt::Owned => SseEvent::from_parts(
                event_type,
                std::mem::take(&mut self.fields.data),
                last_event_id,
            ),
            DataAt::Nothing => SseEvent::from_parts(event_type, String::new(), last_event_id),
        }
    }

    /// Drops the decoded input of the buffer, keeping what is not decoded and
    /// the data line the unfinished event refers to. Moves bytes only when at
    /// least as many were decoded as are kept, so each byte moves a bounded
    /// number of times. Lines decoded after that data line (comments, `id`,
    /// anything but a blank line) would stay with it: once they are as long
    /// as it, the data is copied out, so the buffer stays bounded however
    /// many of them come.
    fn compact(&mut self) {
        let keep_from = match self.fields.data_at {
            DataAt::Input(Src::Buf, start, end)
                if self.pos.saturating_sub(end) >= end.saturating_sub(start) =>
            {
                let data = self.buf.get(start..end).unwrap_or_default();
                self.fields.data.clear();
                // Within the limit: `data_line` kept it unchecked only when
                // even replacement characters cannot take it past the limit.
                push_lossy(&mut self.fields.data, data);
                self.fields.data_at = DataAt::Owned;
                self.pos
            }
            DataAt::Input(Src::Buf, start, _) => start.min(self.pos),
            _ => self.pos,
        };
        let kept = self.buf.len().saturating_sub(keep_from);
        if keep_from == 0 || keep_from < kept {
            return;
        }
        if kept == 0 {
            if self.buf.capacity() > KEEP_BUFFER_CAPACITY {
                self.buf = Vec::new();
            } else {
                self.buf.clear();
            }
        } else {
            self.buf.drain(..keep_from);
        }
        self.pos -= keep_from;
        self.scan = self.scan.saturating_sub(keep_from);
        if let DataAt::Input(Src::Buf, start, end) = &mut self.fields.data_at {
            *start -= keep_from;
            *end -= keep_from;
        }
        if let Some(seg) = &mut self.seg {
            // `at >= pos >= keep_from` while the segment is not spent.
            seg.at = seg.at.saturating_sub(keep_from);
        }
    }

    /// Empties the input, releasing the buffer if it grew large. (Its
    /// callers, `finish` and `fail`, leave the decoder not plain.)
    fn clear_input(&mut self) {
        if self.buf.capacity() > KEEP_BUFFER_CAPACITY {
            self.buf = Vec::new();
        } else {
            self.buf.clear();
        }
        self.pos = 0;
        self.scan = 0;
        self.seg = None;
        if let DataAt::Input(..) = self.fields.data_at {
            // Not reached with an event in progress (`compact` keeps its line),
            // but never leave a range into bytes that are gone.
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
                    self.settle();
                    self.buf
                        .extend_from_slice(BOM.get(..matched).unwrap_or_default());
                    return rest;
                }
            }
        }
        self.bom_matched = None;
        self.settle();
        rest
    }

    /// Records the error and drops everything not yet dispatched.
    fn fail(&mut self, what: &'static str) {
        self.failure = Some(Box::new(LimitError::new(what, self.limit)));
        self.input_pending();
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

    /// Interprets one complete, non-empty line, `start..end` of the input
    /// `src` (without its line end). `Err` names the limit it passed.
    fn line(
        &mut self,
        inputs: &Inputs<'_>,
        src: Src,
        start: usize,
        end: usize,
    ) -> Result<(), &'static str> {
        let input = inputs.bytes(src);
        let line = input.get(start..end).unwrap_or_default();
        // Nearly every line of a chat stream is `data: ...`: no search for the colon.
        if let Some(after) = line.strip_prefix(b"data:") {
            let skip = usize::from(after.first() == Some(&b' '));
            return self.data_line(inputs, src, end - after.len() + skip, end);
        }
        let (name, value_start) = match memchr(b':', line) {
            Some(0) => return Ok(()), // a comment
            Some(colon) => {
                let after = start + colon + 1;
                let value_start = if input.get(after) == Some(&b' ') && after < end {
                    after + 1
                } else {
                    after
                };
                (line.get(..colon).unwrap_or_default(), value_start)
            }
            None => (line, end),
        };
        let value = input.get(value_start..end).unwrap_or_default();
        match name {
            b"data" => return self.data_line(inputs, src, value_start, end),
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

    /// A `data` line whose value is `start..end` of the input `src`.
    fn data_line(
        &mut self,
        inputs: &Inputs<'_>,
        src: Src,
        start: usize,
        end: usize,
    ) -> Result<(), &'static str> {
        let value = inputs.bytes(src).get(start..end).unwrap_or_default();
        match self.data_at {
            DataAt::Nothing => {
                if value.len() > self.limit {
                    return Err(EVENT);
                }
                // Checked text already; or short enough that even replacement
                // characters cannot take it past the limit: check it only
                // when it is handed out.
                if inputs.shared(src).is_some()
                    || value.len().saturating_mul(LOSSY_GROWTH) <= self.limit
                    || simdutf8::basic::from_utf8(value).is_ok()
                {
                    self.data_at = DataAt::Input(src, start, end);
                    return Ok(());
                }
                self.data.clear();
                push_lossy(&mut self.data, value);
            }
            DataAt::Input(first_src, first_start, first_end) => {
                let first = inputs
                    .bytes(first_src)
                    .get(first_start..first_end)
                    .unwrap_or_default();
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
        self.update_last_event_id();
        if self.data_at == DataAt::Nothing {
            self.event_type.clear();
            return false;
        }
        true
    }

    /// An event is dispatched: the last event id becomes the id buffer's.
    #[inline(always)]
    fn update_last_event_id(&mut self) {
        // No id ever set (every chat stream): nothing to compare.
        if !self.id_buffer.is_empty() || self.last_event_id.is_some() {
            self.update_set_id();
        }
    }

    /// [`update_last_event_id`](Self::update_last_event_id) when an id was set.
    #[inline(never)]
    fn update_set_id(&mut self) {
        // Lengths first: comparing two empty strings calls `memcmp` with the
        // empty `String`'s dangling pointer, which glibc's AVX-512 `memcmp`
        // reads with a masked load that costs a microcode assist (about
        // 100 ns per event on a Xeon, invisible to callgrind).
        let current = self.last_event_id();
        if current.len() != self.id_buffer.len()
            || (!current.is_empty() && current != self.id_buffer)
        {
            self.last_event_id =
                (!self.id_buffer.is_empty()).then(|| Arc::from(self.id_buffer.as_str()));
        }
    }

    /// The dispatched event, borrowed. Data that is not valid UTF-8 is
    /// decoded into `data` first.
    fn event_ref<'a>(&'a mut self, inputs: &Inputs<'a>) -> SseEventRef<'a> {
        let mut valid = None;
        if let DataAt::Input(src, start, end) = self.data_at {
            valid = inputs.text(src, start, end);
            if valid.is_none() {
                let bytes = inputs.bytes(src).get(start..end).unwrap_or_default();
                valid = simdutf8::basic::from_utf8(bytes).ok();
                if valid.is_none() {
                    self.data.clear();
                    push_lossy(&mut self.data, bytes);
                    self.data_at = DataAt::Owned;
                }
            }
        }
        let fields: &'a Fields = self;
        let data = match (valid, fields.data_at) {
            (Some(text), _) => text,
            (None, DataAt::Owned) => fields.data.as_str(),
            (None, _) => "",
        };
        // `is_empty`, not a match on `""`, which calls `memcmp` (see `dispatch`).
        let event_type = if fields.event_type.is_empty() {
            DEFAULT_EVENT_TYPE
        } else {
            fields.event_type.as_str()
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
#[inline]
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
    fn bytes_fed_one_at_a_time_while_queued_events_are_lent() {
        // A feed over the limit decodes ahead into the queue; lending a
        // queued event, then feeding single bytes, takes the one-byte path
        // only once the decoder is plain again (checked in debug builds).
        let mut decoder = SseDecoder::with_max_event_bytes(32);
        let body: String = (0..10).map(|i| format!("data: {i}\n\n")).collect();
        decoder.feed(body.as_bytes());
        let mut seen = Vec::new();
        while let Some(event) = decoder.next_event_ref().ok().flatten() {
            seen.push(event.data().to_owned());
            for &byte in b"data: x\n" {
                decoder.feed(&[byte]);
            }
        }
        decoder.feed(b"\n");
        seen.extend(decode_all(&mut decoder).iter().map(|e| e.data().to_owned()));
        let mut expected: Vec<String> = (0..10).map(|i| i.to_string()).collect();
        expected.push(["x"; 10].join("\n"));
        assert_eq!(seen, expected);
    }

    #[test]
    fn a_long_read_cut_inside_a_character_keeps_its_lines_and_the_character() {
        // A read kept whole (1 KiB or more) whose unfinished last line ends
        // inside a two-byte character: the read as a whole is not UTF-8, its
        // complete lines are, and the character is whole once its last byte
        // comes with the next read.
        let line = format!("data: {}\n\n", "x".repeat(100));
        let tail = "data: é!\n\n".as_bytes();
        let cut = 7; // after the first byte of `é`
        let mut first = line.repeat(12).into_bytes();
        first.extend_from_slice(&tail[..cut]);
        assert!(std::str::from_utf8(&first).is_err());
        fn drain(decoder: &mut SseDecoder, owned: bool, seen: &mut Vec<String>) {
            if owned {
                while let Some(event) = decoder.next_event().ok().flatten() {
                    seen.push(event.data().to_owned());
                }
            } else {
                while let Some(event) = decoder.next_event_ref().ok().flatten() {
                    seen.push(event.data().to_owned());
                }
            }
        }
        for owned in [true, false] {
            let mut decoder = SseDecoder::new();
            let mut seen = Vec::new();
            decoder.feed(&first);
            drain(&mut decoder, owned, &mut seen);
            assert_eq!(seen.len(), 12, "owned: {owned}");
            decoder.feed(&tail[cut..]);
            drain(&mut decoder, owned, &mut seen);
            assert_eq!(seen.len(), 13, "owned: {owned}");
            assert!(seen[..12].iter().all(|data| *data == line.trim_end()[6..]));
            assert_eq!(seen[12], "é!", "owned: {owned}");
        }
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
            Err(Error::LimitExceeded(Box::new(LimitError::new(LINE, limit))))
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

    /// Decodes `pieces` feeding `&[u8]` or `Bytes`, draining borrowed, owned
    /// or alternating events after each piece (`mode` 0, 1, 2), or owned
    /// events after the first piece and then only after `finish` (3); returns
    /// the events and the error, if any.
    fn run(
        pieces: &[&[u8]],
        as_bytes: bool,
        mode: u8,
        limit: usize,
    ) -> (Vec<SseEvent>, Option<Error>) {
        let mut decoder = SseDecoder::with_max_event_bytes(limit);
        decoder.segment_min = 1;
        let mut events = Vec::new();
        let mut flip = false;
        let mut drain = |decoder: &mut SseDecoder, events: &mut Vec<SseEvent>| loop {
            flip = !flip;
            let next = if mode == 0 || (mode == 2 && flip) {
                decoder.next_event_ref().map(|e| e.map(|e| e.to_event()))
            } else {
                decoder.next_event()
            };
            match next {
                Ok(Some(event)) => events.push(event),
                Ok(None) => return None,
                Err(error) => return Some(error),
            }
        };
        for (i, piece) in pieces.iter().enumerate() {
            if as_bytes {
                decoder.feed_bytes(Bytes::copy_from_slice(piece));
            } else {
                decoder.feed(piece);
            }
            assert!(decoder.buffered_len() <= 2 * limit + 8);
            if mode == 3 && i > 0 {
                continue;
            }
            if let Some(error) = drain(&mut decoder, &mut events) {
                return (events, Some(error));
            }
        }
        decoder.finish();
        let error = drain(&mut decoder, &mut events);
        (events, error)
    }

    #[test]
    fn reads_kept_whole_decode_like_the_whole_body_cut_anywhere() {
        let body: &[u8] = b"data: first event, long enough to be kept whole\r\r\n: comment\r\n\
            event: delta\ndata: line one\rdata: line two \xF0\x9F\x98\x80\n\nid: 7\r\n\
            data: bad \xFF byte\r\n\r\ndata:\n\ndata: {\"a\":\"\xC3\xA9\"}\r\n\r\ndata: cut";
        let expected = run(&[body], false, 1, 1 << 20);
        assert_eq!(expected.0.len(), 5);
        assert_eq!(expected.0[1].data(), "line one\nline two \u{1F600}");
        assert_eq!(expected.0[2].data(), "bad \u{FFFD} byte");
        for first in (0..=body.len()).step_by(3) {
            for second in first..=body.len() {
                let pieces = [&body[..first], &body[first..second], &body[second..]];
                for as_bytes in [false, true] {
                    for mode in 0..4 {
                        assert_eq!(
                            run(&pieces, as_bytes, mode, 1 << 20),
                            expected,
                            "cut at {first} and {second}, bytes {as_bytes}, mode {mode}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn limits_hold_the_same_in_reads_kept_whole() {
        let body: &[u8] = b"data: 0123456789\n\ndata: short\n\n: a comment line that is far too long\n\ndata: x\n\n";
        for limit in [8, 16, 40, 200] {
            let expected = run(&[body], false, 1, limit);
            for cut in 0..=body.len() {
                let pieces = [&body[..cut], &body[cut..]];
                for as_bytes in [false, true] {
                    for mode in 0..4 {
                        assert_eq!(
                            run(&pieces, as_bytes, mode, limit),
                            expected,
                            "limit {limit}, cut at {cut}, bytes {as_bytes}, mode {mode}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn an_lf_alone_after_a_cr_does_not_hide_the_events_after_it() {
        // The CR of a CRLF ends one read, its LF is all of the next, then a
        // read of 1 KiB or more comes before any event is taken: its events
        // are there at once, and `finish` does not drop them.
        let whole: String = (0..100).map(|i| format!("data: {i:05}\n\n")).collect();
        assert!(whole.len() >= SEGMENT_MIN);
        for finish in [false, true] {
            let mut decoder = SseDecoder::new();
            decoder.feed(b"data: a\r");
            assert_eq!(decoder.next_event().unwrap(), None);
            decoder.feed(b"\n");
            decoder.feed(whole.as_bytes());
            if finish {
                decoder.finish();
            }
            let events = decode_all(&mut decoder);
            assert_eq!(events.len(), 100, "finish: {finish}");
            assert_eq!(events[0], SseEvent::message("a\n00000"));
            assert_eq!(events[99], SseEvent::message("00099"));
        }
        // The read kept whole is that LF and a line still open.
        let long = "b".repeat(1100);
        let mut decoder = SseDecoder::new();
        decoder.feed(b"data: a\r");
        decoder.feed(format!("\ndata: {long}").as_bytes());
        decoder.feed(b"\n\n");
        assert_eq!(
            decode_all(&mut decoder),
            [SseEvent::message(format!("a\n{long}"))]
        );
    }

    #[test]
    fn lines_after_an_unfinished_data_line_do_not_pin_the_buffer() {
        // A data line, then comments and other fields without end: the buffer
        // stays about the size of the limit, and the event comes out whole.
        for first in [&b"data: x"[..], b"data: bad \xFF byte", b"data:"] {
            let mut decoder = SseDecoder::with_max_event_bytes(1024);
            decoder.feed(first);
            decoder.feed(b"\n");
            for i in 0..20_000 {
                let line: &[u8] = if i % 2 == 0 {
                    b": keep-alive\n"
                } else {
                    b"id: 1\n"
                };
                decoder.feed(line);
                assert_eq!(decoder.next_event().unwrap(), None);
                assert!(
                    decoder.buf.capacity() <= 4 * 1024,
                    "{}",
                    decoder.buf.capacity()
                );
            }
            decoder.feed(b"data: y\n\n");
            let expected = format!("{}\ny", String::from_utf8_lossy(&first[5..]).trim_start());
            let events = decode_all(&mut decoder);
            assert_eq!(events, [SseEvent::new("", expected, "1")]);
        }
    }

    #[test]
    fn owned_events_from_one_read_share_it() {
        let mut decoder = SseDecoder::new();
        decoder.segment_min = 64;
        decoder.feed(b"data: ready\n\n");
        assert_eq!(decoder.next_event(), Ok(Some(SseEvent::message("ready"))));
        let read: String = (0..20)
            .map(|i| format!("data: {{\"n\":{i}}}\n\n"))
            .collect();
        decoder.feed(read.as_bytes());
        assert!(decoder.seg.is_some(), "kept whole");
        let first = decoder.next_event().unwrap().unwrap();
        let second = decoder.next_event().unwrap().unwrap();
        assert_eq!((first.data(), second.data()), ("{\"n\":0}", "{\"n\":1}"));
        // The second event's data sits right after the first's in the same text.
        let gap = second.data().as_ptr() as usize - first.data().as_ptr() as usize;
        assert_eq!(gap, "{\"n\":0}\n\ndata: ".len());
        let cloned = second.clone();
        assert_eq!(second.into_data(), "{\"n\":1}");
        assert_eq!(cloned, SseEvent::message("{\"n\":1}"));
        assert_eq!(decode_all(&mut decoder).len(), 18);
    }

    #[test]
    fn reads_as_bytes_are_not_copied_for_borrowed_events() {
        let mut decoder = SseDecoder::new();
        decoder.segment_min = 64;
        // The decoder learns that events are borrowed from the first call.
        assert_eq!(decoder.next_event_ref().unwrap(), None);
        let read = Bytes::from_static(
            b"data: one, in a read long enough to be kept whole\n\ndata: two\n\ndata: thr",
        );
        decoder.feed_bytes(read.clone());
        let event = decoder.next_event_ref().unwrap().unwrap();
        assert_eq!(event.data(), "one, in a read long enough to be kept whole");
        assert_eq!(event.data().as_ptr(), read[6..].as_ptr());
        assert_eq!(decoder.next_event_ref().unwrap().unwrap().data(), "two");
        assert_eq!(decoder.next_event_ref().unwrap(), None);
        assert_eq!(
            decoder.buffered_len(),
            "data: thr".len(),
            "the cut line, copied"
        );
        decoder.feed(b"ee\n\n");
        assert_eq!(decoder.next_event_ref().unwrap().unwrap().data(), "three");
    }

    #[test]
    fn short_reads_of_whole_lines_are_not_copied_for_borrowed_events() {
        // The default threshold: short reads are copied, unless they end a
        // line and events are lent.
        let mut decoder = SseDecoder::new();
        decoder.feed(b"data: first\n\n");
        assert_eq!(decoder.next_event_ref().unwrap().unwrap().data(), "first");
        assert_eq!(decoder.next_event_ref().unwrap(), None);
        let frame = Bytes::from_static(b"data: {\"n\":1}\n\n");
        decoder.feed_bytes(frame.clone());
        let event = decoder.next_event_ref().unwrap().unwrap();
        assert_eq!(event.data(), "{\"n\":1}");
        assert_eq!(event.data().as_ptr(), frame[6..].as_ptr(), "not copied");
        assert_eq!(decoder.next_event_ref().unwrap(), None);
        // An event continued in the next read, a read that ends inside a
        // line, and a CR whose LF comes in the next read; drained after
        // every read, and after all of them.
        let pieces = [
            &b"data: a\n"[..],
            b"data: b\n\n",
            b"data: c",
            b"\n\n",
            b"data: d\r",
            b"\ndata: e\n",
            b"\n",
        ];
        for drain_each in [true, false] {
            let mut seen = Vec::new();
            let mut drain = |decoder: &mut SseDecoder| {
                while let Some(event) = decoder.next_event_ref().unwrap() {
                    seen.push(event.data().to_owned());
                }
            };
            for piece in pieces {
                decoder.feed_bytes(Bytes::copy_from_slice(piece));
                if drain_each {
                    drain(&mut decoder);
                }
            }
            drain(&mut decoder);
            assert_eq!(
                seen,
                ["a\nb", "c", "d\ne"],
                "drained after each read: {drain_each}"
            );
            assert_eq!(decoder.buffered_len(), 0);
        }
    }

    #[test]
    fn debug_summarises_state() {
        let mut decoder = SseDecoder::new();
        decoder.feed(b"data: partial");
        let shown = format!("{decoder:?}");
        assert!(shown.contains("buffered_len: 13"), "{shown}");
    }

    #[test]
    fn owned_events_with_a_type_share_the_read_too() {
        let mut decoder = SseDecoder::new();
        decoder.segment_min = 64;
        decoder.feed(b"data: ready\n\n");
        assert_eq!(decoder.next_event(), Ok(Some(SseEvent::message("ready"))));
        let read: String = (0..20)
            .map(|i| format!("event: delta\ndata: {{\"n\":{i}}}\n\n"))
            .collect();
        decoder.feed(read.as_bytes());
        assert!(decoder.seg.is_some(), "kept whole");
        let first = decoder.next_event().unwrap().unwrap();
        let second = decoder.next_event().unwrap().unwrap();
        assert_eq!(first, SseEvent::new("delta", "{\"n\":0}", ""));
        assert_eq!(second, SseEvent::new("delta", "{\"n\":1}", ""));
        // The second event's data sits in the same text, one event after the first's.
        let gap = (second.data().as_ptr() as isize) - (first.data().as_ptr() as isize);
        assert_eq!(gap, "{\"n\":0}\n\nevent: delta\ndata: ".len() as isize);
    }

    #[test]
    fn owned_events_from_a_read_as_bytes_share_one_text() {
        let mut decoder = SseDecoder::new();
        decoder.segment_min = 64;
        let read: String = (0..20)
            .map(|i| format!("data: {{\"n\":{i}}}\n\n"))
            .collect();
        decoder.feed_bytes(Bytes::from(read));
        let first = decoder.next_event().unwrap().unwrap();
        let second = decoder.next_event().unwrap().unwrap();
        assert_eq!((first.data(), second.data()), ("{\"n\":0}", "{\"n\":1}"));
        let gap = (second.data().as_ptr() as isize) - (first.data().as_ptr() as isize);
        assert_eq!(gap, "{\"n\":0}\n\ndata: ".len() as isize);
    }

    #[test]
    fn one_byte_feeds_drop_what_was_decoded() {
        let mut decoder = SseDecoder::new();
        let body = "data: {\"n\":1}\n\n".repeat(2_000);
        let mut events = 0;
        for byte in body.as_bytes() {
            decoder.feed(std::slice::from_ref(byte));
            while decoder.next_event().unwrap().is_some() {
                events += 1;
            }
            assert!(decoder.buf.len() <= 64, "{}", decoder.buf.len());
        }
        assert_eq!(events, 2_000);
    }

    #[test]
    fn a_large_read_as_bytes_is_not_copied_for_borrowed_events() {
        // The default thresholds: a read of several KiB of whole events is
        // decoded where it is.
        let mut decoder = SseDecoder::new();
        assert_eq!(decoder.next_event_ref().unwrap(), None);
        let body: String = (0..300)
            .map(|i| format!("data: {{\"n\":{i:05}}}\n\n"))
            .collect();
        assert!(body.len() > 4 * 1024);
        let read = Bytes::from(body);
        decoder.feed_bytes(read.clone());
        let event = decoder.next_event_ref().unwrap().unwrap();
        assert_eq!(event.data(), "{\"n\":00000}");
        assert_eq!(event.data().as_ptr(), read[6..].as_ptr(), "not copied");
    }

    #[test]
    fn a_read_as_bytes_of_exactly_the_threshold_is_not_copied_for_borrowed_events() {
        // "A read of 1 KiB or more" includes a read of exactly 1 KiB, here
        // one that ends inside a line (so it is not a frame of whole lines).
        let mut decoder = SseDecoder::new();
        assert_eq!(decoder.next_event_ref().unwrap(), None);
        let head = "data: first\n\n";
        let tail = "data: cut";
        let pad = SEGMENT_MIN - head.len() - ":\n".len() - tail.len();
        let body = format!("{head}:{}\n{tail}", "x".repeat(pad));
        assert_eq!(body.len(), SEGMENT_MIN);
        let read = Bytes::from(body);
        decoder.feed_bytes(read.clone());
        let event = decoder.next_event_ref().unwrap().unwrap();
        assert_eq!(event.data(), "first");
        assert_eq!(event.data().as_ptr(), read[6..].as_ptr(), "not copied");
        assert_eq!(decoder.next_event_ref().unwrap(), None);
        decoder.feed_bytes(Bytes::from_static(b" short\n\n"));
        assert_eq!(
            decoder.next_event_ref().unwrap().unwrap().data(),
            "cut short"
        );
        assert_eq!(decoder.next_event_ref().unwrap(), None);
    }

    #[test]
    fn a_large_burst_does_not_keep_its_buffer_once_drained() {
        // A read too large to be kept whole goes through the line buffer; once
        // its events are taken, the next read does not keep the grown buffer.
        let mut decoder = SseDecoder::new();
        let body = "data: {\"n\":1}\n\n".repeat(SEGMENT_MAX / 8);
        assert!(body.len() > SEGMENT_MAX);
        decoder.feed(body.as_bytes());
        assert!(decoder.buf.capacity() > KEEP_BUFFER_CAPACITY);
        assert_eq!(decode_all(&mut decoder).len(), SEGMENT_MAX / 8);
        decoder.feed(b"data: after\n\n");
        assert!(
            decoder.buf.capacity() <= KEEP_BUFFER_CAPACITY,
            "{}",
            decoder.buf.capacity()
        );
        assert_eq!(decode_all(&mut decoder), [SseEvent::message("after")]);
        // The same after `finish`, with an unfinished line left over.
        decoder.feed(body.as_bytes());
        decoder.feed(b"data: cut");
        assert_eq!(decode_all(&mut decoder).len(), SEGMENT_MAX / 8);
        decoder.finish();
        assert!(
            decoder.buf.capacity() <= KEEP_BUFFER_CAPACITY,
            "{}",
            decoder.buf.capacity()
        );
        assert_eq!(decoder.buffered_len(), 0);
    }

    #[test]
    fn owned_events_from_a_read_kept_whole_continue_the_event_before_it() {
        // An event begun before the read (data, or a type) goes on in it, and
        // a data line in it not followed by a blank line does not end an event.
        let cases: [(&[u8], &[u8], [SseEvent; 2]); 3] = [
            (
                b"data: a\n",
                b"data: b\n\ndata: c\n\n",
                [SseEvent::message("a\nb"), SseEvent::message("c")],
            ),
            (
                b"event: delta\n",
                b"data: b\n\ndata: c\n\n",
                [SseEvent::new("delta", "b", ""), SseEvent::message("c")],
            ),
            (
                b"",
                b"data: a\ndata: b\n\ndata: c\n\n",
                [SseEvent::message("a\nb"), SseEvent::message("c")],
            ),
        ];
        for (before, read, expected) in cases {
            let mut decoder = SseDecoder::new();
            decoder.segment_min = 16;
            decoder.feed(before);
            assert_eq!(decoder.next_event().unwrap(), None);
            decoder.feed(read);
            assert!(decoder.seg.is_some(), "kept whole");
            assert_eq!(
                decode_all(&mut decoder),
                expected,
                "{:?}",
                String::from_utf8_lossy(before)
            );
        }
    }

    #[test]
    fn a_lent_single_line_event_reads_its_data_from_the_input_after_more_reads() {
        // As `next_event_ref` promises, the data of a single-line event is
        // read straight from the input buffer, also when the lines after it
        // (shorter than it) and its blank line come in later reads.
        let mut decoder = SseDecoder::new();
        decoder.feed(b"data: hello, world\n");
        assert_eq!(decoder.next_event_ref().unwrap(), None);
        decoder.feed(b": ping\n");
        assert_eq!(decoder.next_event_ref().unwrap(), None);
        decoder.feed(b"\n");
        let input = decoder.buf.as_ptr_range();
        let event = decoder.next_event_ref().unwrap().unwrap();
        assert_eq!(event.data(), "hello, world");
        assert!(input.contains(&event.data().as_ptr()), "not copied");
    }

    #[test]
    fn a_buffer_grown_to_exactly_the_kept_capacity_is_reused() {
        // Only a buffer grown past `KEEP_BUFFER_CAPACITY` is released once
        // drained: a burst of short reads that fills exactly that much keeps
        // its buffer for the next reads.
        let mut decoder = SseDecoder::new();
        let event = format!("data: {}\n\n", "x".repeat(504));
        assert_eq!(event.len(), 512);
        for _ in 0..KEEP_BUFFER_CAPACITY / event.len() {
            decoder.feed(event.as_bytes());
        }
        assert_eq!(decoder.buf.capacity(), KEEP_BUFFER_CAPACITY);
        assert_eq!(
            decode_all(&mut decoder).len(),
            KEEP_BUFFER_CAPACITY / event.len()
        );
        decoder.feed(b"data: after\n\n");
        assert_eq!(decoder.buf.capacity(), KEEP_BUFFER_CAPACITY);
        assert_eq!(decode_all(&mut decoder), [SseEvent::message("after")]);
    }
}
