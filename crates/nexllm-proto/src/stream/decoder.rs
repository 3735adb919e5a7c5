//! [`ChatStreamDecoder`]: the SSE body of a streaming chat call, turned into chunks.

use std::collections::VecDeque;

use bytes::Bytes;

use crate::error::{ApiError, Error, LimitError, StreamError, StreamErrorKind};
use crate::sse::{BOM, DEFAULT_MAX_EVENT_BYTES, SseDecoder, SseEventRef};
use serde::de::DeserializeSeed;

use crate::types::{ChatCompletionChunk, ChunkSeed, FinishReason, RepeatedStrings};

use super::chunk_parser::{ParserMemory, Target};
use super::spare::SpareBuffers;

use super::{chunk_parser, json_fallback};

/// Bytes of a streaming response body in, [`ChatCompletionChunk`]s out.
///
/// - `data: [DONE]` ends the stream; anything after it is ignored.
/// - Comments and keep-alives (`: OPENROUTER PROCESSING`, empty `data:`) are skipped.
/// - An error object in the data (`{"error": {...}}`, vLLM's
///   `{"object": "error", ...}`), an `event: error`, a chunk without choices
///   with an `error_message` (DeepInfra), or a chunk with
///   `finish_reason: "error"` and an error field becomes an [`Error::Api`].
/// - A chunk that does not parse is an [`Error::Decode`] quoting it.
/// - A body that is JSON instead of an event stream (some gateways answer a
///   streaming request with a plain error body, or ignore `stream: true`) is
///   read whole: an error body gives that error, a completion gives chunks.
/// - [`finish`](Self::finish) at the end of the body is an error when the body
///   ended before `[DONE]` and not every choice has a finish reason: a
///   truncated answer never looks complete.
/// - A chunk that would open more choices (distinct choice indices) than
///   [`max_choices`](Self::max_choices) allows (default 1,024) is refused with
///   [`Error::LimitExceeded`] in its place.
///
/// After an error the decoder is spent: it returns no more chunks.
// The fields in this order (`repr(C)`): those read for every chunk first,
// as in `SseDecoder` (with many streams on one thread, each cache line of a
// decoder is a miss per chunk).
#[derive(Debug)]
#[repr(C)]
pub struct ChatStreamDecoder {
    mode: Mode,
    /// The SSE decoder was [at rest](SseDecoder::at_rest) when last asked,
    /// and nothing was given to it since: it has no event to return, and a
    /// read of one whole data event may go past it. Kept here, so that a
    /// stream read one whole event at a time touches none of the SSE
    /// decoder's state (its fields span several cache lines, a miss each per
    /// chunk when many streams are read in turn).
    sse_at_rest: bool,
    /// `lent` holds the chunk the last `next_chunk_ref` returned.
    lending: bool,
    /// The next lent chunk is parsed into the buffers of the one before
    /// (else they are freed, and the allocator gives the next ones).
    reuse_buffers: bool,
    finished: bool,
    failed: bool,
    /// A read that is one whole event of one `data` line, fed when the SSE
    /// decoder held nothing ([`SseDecoder::lone_data_event`]), with where its
    /// data is: the next chunk is parsed from it directly, past the SSE
    /// decoder (a server's frame of one event, as HTTP clients hand them
    /// out, is the usual read of a stream). Given to the SSE decoder instead
    /// when more input comes first, or the data is not UTF-8.
    lone: Option<(Bytes, usize, usize)>,
    /// Chunks decoded at `finish` (or synthesized from a JSON body), not yet taken.
    queue: VecDeque<ChatCompletionChunk>,
    max_body_bytes: usize,
    progress: Progress,
    /// The chunk [`next_chunk_ref`](Self::next_chunk_ref) lent last.
    lent: ChatCompletionChunk,
    sse: SseDecoder,
}

/// What the chunks so far say about the stream.
#[derive(Debug)]
#[repr(C)] // As `ChatStreamDecoder`.
struct Progress {
    chunks: u64,
    saw_done: bool,
    saw_usage: bool,
    expect_usage: bool,
    expected_choices: u32,
    /// What the parsers keep from one chunk for the next (the strings the
    /// last chunk repeated, shared with the next).
    memory: ParserMemory,
    /// `(choice index, has a finish reason)` for every choice seen, in index
    /// order; at most `max_choices` of them. (After the parser's memory: a
    /// refilled chunk, the usual one, is counted without it.)
    choices: Vec<(u32, bool)>,
    max_choices: usize,
}

#[derive(Debug)]
enum Mode {
    /// Nothing but whitespace seen yet: is this SSE or JSON?
    Sniffing(Vec<u8>),
    Sse,
    Json(Vec<u8>),
}

/// Whitespace (and a BOM) before the first meaningful byte; more than this
/// and we stop sniffing and treat the body as SSE.
const MAX_SNIFF_BYTES: usize = 4096;

impl Default for ChatStreamDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl ChatStreamDecoder {
    /// A decoder with the default limit (16 MiB) on one event.
    pub fn new() -> Self {
        Self::with_max_event_bytes(DEFAULT_MAX_EVENT_BYTES)
    }

    /// A decoder that fails with [`Error::LimitExceeded`] when one SSE event
    /// (or a JSON body) grows past `limit` bytes.
    pub fn with_max_event_bytes(limit: usize) -> Self {
        ChatStreamDecoder {
            sse: SseDecoder::with_max_event_bytes(limit),
            mode: Mode::Sniffing(Vec::new()),
            lone: None,
            sse_at_rest: false,
            queue: VecDeque::new(),
            progress: Progress {
                choices: Vec::new(),
                max_choices: crate::config::Limits::default().max_choices,
                chunks: 0,
                saw_done: false,
                saw_usage: false,
                expected_choices: 1,
                expect_usage: false,
                memory: ParserMemory::default(),
            },
            lent: ChatCompletionChunk::default(),
            lending: false,
            reuse_buffers: true,
            finished: false,
            failed: false,
            max_body_bytes: limit,
        }
    }

    /// Tells the decoder what a complete answer holds, so that a body cut
    /// without `[DONE]` is recognised even when every choice seen so far has
    /// finished: `choices` is the request's `n` (default 1), `usage` whether
    /// `stream_options.include_usage` was asked for.
    #[must_use]
    pub fn expecting(mut self, choices: u32, usage: bool) -> Self {
        self.progress.expected_choices = choices.max(1);
        self.progress.expect_usage = usage;
        self
    }

    /// Sets the most choices (distinct choice indices) the stream may open
    /// ([`Limits::max_choices`](crate::Limits::max_choices), default 1,024):
    /// the chunk that would open one more is refused with
    /// [`Error::LimitExceeded`] (`what` `"streamed answer"`, `unit`
    /// `"choices"`) in its place, and the decoder is spent.
    #[must_use]
    pub fn max_choices(mut self, limit: usize) -> Self {
        self.progress.max_choices = limit;
        self
    }

    /// Whether a chunk lent by [`next_chunk_ref`](Self::next_chunk_ref)
    /// passes its buffers on to the next (default `true`). With `false` each
    /// is freed, and the next chunk's come from the allocator.
    ///
    /// The buffers passed on are kept for the thread, not for this decoder
    /// (a few of each kind, none larger than 4 KiB): when many streams are
    /// decoded in turn on one thread (as a transport's streams are), each
    /// chunk takes the buffers the chunk before it, of whichever stream,
    /// gave back, still in the cache.
    #[must_use]
    pub fn reuse_buffers(mut self, reuse: bool) -> Self {
        self.reuse_buffers = reuse;
        self
    }

    /// Feeds the next bytes of the body, split anywhere.
    pub fn feed(&mut self, bytes: &[u8]) {
        if self.finished || self.failed {
            return;
        }
        match &mut self.mode {
            Mode::Sse => {
                self.feed_lone_event();
                self.sse_at_rest = false;
                self.sse.feed(bytes);
            }
            Mode::Json(body) => extend_bounded(body, bytes, self.max_body_bytes),
            Mode::Sniffing(seen) => {
                seen.extend_from_slice(bytes);
                match sniff(seen) {
                    Sniff::Undecided if seen.len() <= MAX_SNIFF_BYTES => {}
                    Sniff::Json => {
                        let seen = std::mem::take(seen);
                        let mut body = Vec::new();
                        // A BOM is not part of the JSON text.
                        let json = seen.strip_prefix(BOM.as_slice()).unwrap_or(&seen);
                        extend_bounded(&mut body, json, self.max_body_bytes);
                        self.mode = Mode::Json(body);
                    }
                    Sniff::Sse | Sniff::Undecided => {
                        let seen = std::mem::take(seen);
                        self.mode = Mode::Sse;
                        self.sse.feed(&seen);
                    }
                }
            }
        }
    }

    /// [`feed`](Self::feed) for a read that is already a [`Bytes`], as HTTP
    /// clients such as hyper hand out body frames: the same chunks for any
    /// split of the body, and the complete lines of a read are decoded where
    /// they are instead of being copied into the decoder's buffer (see
    /// [`SseDecoder::feed_bytes`]): a read that ends a line (as a server's
    /// frame of whole events does) when nothing waits undecoded before it, or
    /// a large one (1 KiB and more). Only a line cut between reads, a short
    /// read that follows one or ends inside a line, and the start of a body
    /// that is still being told apart from a JSON one are copied. A read of
    /// one whole event of one `data` line (as a server's frame usually is),
    /// coming when nothing else waits, is parsed where it is without going
    /// through the SSE decoder at all. The limit on one event
    /// holds as with `feed`; a read kept in place is released by the next
    /// [`next_chunk`](Self::next_chunk) that finds no more chunks in it.
    ///
    /// ```
    /// use bytes::Bytes;
    /// use nexllm_proto::stream::ChatStreamDecoder;
    ///
    /// let mut decoder = ChatStreamDecoder::new();
    /// let frame = Bytes::from_static(
    ///     b"data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"}}]}\n\n",
    /// );
    /// decoder.feed_bytes(frame);
    /// let chunk = decoder.next_chunk()?.expect("a complete chunk");
    /// assert_eq!(chunk.choices[0].delta.content.as_deref(), Some("Hi"));
    /// # Ok::<(), nexllm_proto::Error>(())
    /// ```
    #[inline]
    pub fn feed_bytes(&mut self, bytes: Bytes) {
        if self.finished || self.failed {
            return;
        }
        match &self.mode {
            Mode::Sse => {
                // A lone event not read yet comes first.
                self.feed_lone_event();
                let limit = self.max_body_bytes;
                match self
                    .sse_at_rest
                    .then(|| SseDecoder::lone_data_event(&bytes, limit))
                    .flatten()
                {
                    Some((start, end)) => self.lone = Some((bytes, start, end)),
                    None => {
                        self.sse_at_rest = false;
                        self.sse.feed_bytes(bytes);
                    }
                }
            }
            // The first read decides the body's kind by itself: no need to keep it.
            Mode::Sniffing(seen) if seen.is_empty() && matches!(sniff(&bytes), Sniff::Sse) => {
                self.mode = Mode::Sse;
                self.sse.feed_bytes(bytes);
            }
            Mode::Sniffing(_) | Mode::Json(_) => self.feed(&bytes),
        }
    }

    /// Whether [`next_chunk`](Self::next_chunk) and
    /// [`next_chunk_ref`](Self::next_chunk_ref) would find nothing until
    /// more input is fed: no chunk queued or lone event kept, the SSE
    /// decoder at rest, the stream not over. (False says nothing: a read may
    /// find nothing all the same.)
    #[inline]
    pub(crate) fn awaits_input(&self) -> bool {
        self.sse_at_rest
            && self.lone.is_none()
            && self.queue.is_empty()
            && matches!(self.mode, Mode::Sse)
            && !self.failed
            && !self.finished
            && !self.progress.saw_done
    }

    /// Gives a lone event not read yet to the SSE decoder, before the input
    /// that follows it.
    #[inline]
    fn feed_lone_event(&mut self) {
        if let Some((read, ..)) = self.lone.take() {
            self.sse_at_rest = false;
            self.sse.feed_bytes(read);
        }
    }

    /// The next complete chunk, `Ok(None)` when more bytes are needed (or the
    /// stream is over), or the error the stream carried.
    pub fn next_chunk(&mut self) -> Result<Option<ChatCompletionChunk>, Error> {
        if let Some(chunk) = self.queue.pop_front() {
            return Ok(Some(chunk));
        }
        // Filled where it is returned from: a chunk is large to move.
        let mut chunk = ChatCompletionChunk::default();
        let mut spare = SpareBuffers::take_thread();
        let decoded = Self::decode_into(
            (&mut self.sse, &mut self.sse_at_rest),
            &mut self.lone,
            &mut self.progress,
            &self.mode,
            &mut self.failed,
            &mut spare,
            (&mut chunk, Target::Fresh),
        );
        spare.put_back();
        Ok(decoded?.then_some(chunk))
    }

    /// [`next_chunk`](Self::next_chunk) without giving the chunk away: it is
    /// lent until the next call, and then its buffers (the `choices` list,
    /// the content, the tool-call arguments, the `obfuscation` padding) take
    /// the values of the chunks after it. A stream read this way allocates
    /// nothing per chunk once it runs, which is what a caller that only
    /// adds chunks up (into a [`StreamAccumulator`](super::StreamAccumulator),
    /// a UI, a file) wants. The chunks are the same as `next_chunk`'s; the
    /// two can be mixed.
    ///
    /// ```
    /// use nexllm_proto::stream::{ChatStreamDecoder, StreamAccumulator};
    ///
    /// let mut decoder = ChatStreamDecoder::new();
    /// let mut answer = StreamAccumulator::new();
    /// decoder.feed(b"data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hel\"}}]}\n\n");
    /// decoder.feed(b"data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"lo\"}}]}\n\n");
    /// while let Some(chunk) = decoder.next_chunk_ref()? {
    ///     answer.push(chunk);
    /// }
    /// assert_eq!(answer.text(), "Hello");
    /// # Ok::<(), nexllm_proto::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`next_chunk`](Self::next_chunk).
    pub fn next_chunk_ref(&mut self) -> Result<Option<&ChatCompletionChunk>, Error> {
        Ok(self.next_lent()?.map(|(chunk, _)| chunk))
    }

    /// [`next_chunk_ref`](Self::next_chunk_ref), and whether the chunk
    /// repeats the one lent before it but for its text and padding (it was
    /// refilled where it is: same header, one choice with the same index
    /// and the same delta but for its content or its one fragment's
    /// arguments). A [`StreamAccumulator`](super::StreamAccumulator) that
    /// took the chunk before may then take only that text
    /// (`try_push_repeat`).
    #[inline]
    pub(crate) fn next_lent(&mut self) -> Result<Option<(&ChatCompletionChunk, bool)>, Error> {
        // Emptied where it is, and filled again there: a chunk is large to
        // move. Its header strings stay for the next chunk to recall.
        let mut spare = SpareBuffers::take_thread();
        let memory = &mut self.progress.memory;
        // A lent chunk that is the last usual delta stays as it is: the next
        // one like it is written into it (see `chunk_parser::parse_into`).
        if !(self.reuse_buffers && memory.lent_shaped) {
            memory.lent_shaped = false;
            if self.reuse_buffers {
                spare.recycle(&mut self.lent);
            }
            chunk_parser::clear_but_header(&mut self.lent);
        }
        self.lending = false;
        if let Some(chunk) = self.queue.pop_front() {
            spare.put_back();
            self.progress.memory.lent_shaped = false;
            self.lent = chunk;
            self.lending = true;
            return Ok(Some((&self.lent, false)));
        }
        let decoded = Self::decode_into(
            (&mut self.sse, &mut self.sse_at_rest),
            &mut self.lone,
            &mut self.progress,
            &self.mode,
            &mut self.failed,
            &mut spare,
            (&mut self.lent, Target::Lent),
        );
        spare.put_back();
        self.lending = decoded?;
        let repeat = self.progress.memory.refilled;
        Ok(self.lending.then_some((&self.lent, repeat)))
    }

    /// The chunk the last [`next_chunk_ref`](Self::next_chunk_ref) returned,
    /// until the next call of any `&mut self` method; `None` when it returned
    /// none.
    pub fn lent_chunk(&self) -> Option<&ChatCompletionChunk> {
        self.lending.then_some(&self.lent)
    }

    /// Hands a chunk from [`next_chunk`](Self::next_chunk) back: its buffers
    /// take the values of the chunks after it, as with
    /// [`next_chunk_ref`](Self::next_chunk_ref). A few buffers of each kind
    /// are kept, none larger than 4 KiB, for the thread (the next chunk any
    /// decoder on this thread parses takes them); the rest of the chunk is
    /// dropped.
    pub fn recycle(&mut self, mut chunk: ChatCompletionChunk) {
        let mut spare = SpareBuffers::take_thread();
        spare.recycle(&mut chunk);
        spare.put_back();
    }

    /// Decodes the next chunk into `chunk` (as its [`Target`] says): true
    /// when there was one. (The decoder's fields one by one, so that `chunk`
    /// can be one.)
    #[inline(always)]
    fn decode_into(
        (sse, sse_at_rest): (&mut SseDecoder, &mut bool),
        lone: &mut Option<(Bytes, usize, usize)>,
        progress: &mut Progress,
        mode: &Mode,
        failed: &mut bool,
        spare: &mut SpareBuffers,
        (chunk, target): (&mut ChatCompletionChunk, Target),
    ) -> Result<bool, Error> {
        if *failed || progress.saw_done || !matches!(mode, Mode::Sse) {
            return Ok(false);
        }
        let mut lone = lone.take();
        loop {
            let outcome = match lone.take() {
                // The SSE decoder holds nothing before it: it is the next event.
                Some((read, start, end)) => {
                    let data = read.get(start..end).unwrap_or_default();
                    match simdutf8::basic::from_utf8(data) {
                        // An event of type `message`: its data is the chunk.
                        Ok(data) => progress.on_data(trim(data), spare, chunk, target),
                        // Decoded as the SSE decoder decodes text that is not UTF-8.
                        Err(_) => {
                            *sse_at_rest = false;
                            sse.feed_bytes(read);
                            continue;
                        }
                    }
                }
                // Nothing to return, without a look at its state.
                None if *sse_at_rest => return Ok(false),
                None => match sse.next_event_ref() {
                    Ok(Some(event)) => progress.on_event(event, spare, chunk, target),
                    Ok(None) => {
                        *sse_at_rest = sse.at_rest();
                        return Ok(false);
                    }
                    Err(e) => Err(e),
                },
            };
            match outcome {
                Ok(true) => return Ok(true),
                Ok(false) if progress.saw_done => return Ok(false),
                Ok(false) => {}
                Err(e) => {
                    // As `fail`: the decoder is spent.
                    *failed = true;
                    return Err(e);
                }
            }
        }
    }

    /// Marks the end of the body. Decodes what remains (take it with
    /// [`next_chunk`](Self::next_chunk)), then says whether the stream ended
    /// properly: `Err` with [`StreamErrorKind::Truncated`] when it was cut
    /// short, or the error a JSON body carried.
    pub fn finish(&mut self) -> Result<(), Error> {
        if self.finished {
            return Ok(());
        }
        self.finished = true;
        if self.failed {
            return Ok(());
        }
        if let Mode::Sniffing(seen) = &mut self.mode {
            let seen = std::mem::take(seen);
            self.mode = Mode::Sse;
            self.sse.feed(&seen);
        }
        match std::mem::replace(&mut self.mode, Mode::Sse) {
            Mode::Json(body) => return self.finish_json(&body),
            Mode::Sse | Mode::Sniffing(_) => {}
        }
        self.feed_lone_event();
        self.sse_at_rest = false;
        self.sse.finish();
        // Events still buffered become queued chunks, in order; an error among them
        // comes after the chunks before it.
        let mut spare = SpareBuffers::take_thread();
        let drained = self.queue_the_rest(&mut spare);
        spare.put_back();
        drained?;
        if self.progress.saw_done || self.progress.looks_complete() {
            return Ok(());
        }
        let chunks = self.progress.chunks;
        let message = if chunks == 0 {
            "the stream ended before any chunk arrived".to_owned()
        } else {
            format!(
                "the stream was cut short after {} chunk{} (no [DONE] and no finish reason)",
                chunks,
                if chunks == 1 { "" } else { "s" }
            )
        };
        Err(self.fail(Error::Stream(Box::new(StreamError::new(
            StreamErrorKind::Truncated,
            message,
            chunks,
        )))))
    }

    /// Whether `data: [DONE]` has been seen.
    pub fn saw_done(&self) -> bool {
        self.progress.saw_done
    }

    /// How many chunks have been decoded so far.
    pub fn chunks_decoded(&self) -> u64 {
        self.progress.chunks
    }

    /// Decodes the events still buffered into queued chunks (`finish`).
    fn queue_the_rest(&mut self, spare: &mut SpareBuffers) -> Result<(), Error> {
        while !self.progress.saw_done {
            let event = match self.sse.next_event_ref() {
                Ok(Some(event)) => event,
                Ok(None) => break,
                Err(e) => return Err(self.fail(e)),
            };
            let mut chunk = ChatCompletionChunk::default();
            match self
                .progress
                .on_event(event, spare, &mut chunk, Target::Fresh)
            {
                Ok(true) => self.queue.push_back(chunk),
                Ok(false) => {}
                Err(e) => return Err(self.fail(e)),
            }
        }
        Ok(())
    }

    /// Marks the stream failed. Chunks `finish` queued before the error stay
    /// for `next_chunk`: nothing already received is lost.
    fn fail(&mut self, e: Error) -> Error {
        self.failed = true;
        e
    }

    fn finish_json(&mut self, body: &[u8]) -> Result<(), Error> {
        // `extend_bounded` keeps one byte more than the limit: only a longer
        // body passed it.
        if body.len() > self.max_body_bytes {
            return Err(self.fail(Error::LimitExceeded(Box::new(LimitError::new(
                "JSON body of a stream",
                self.max_body_bytes,
            )))));
        }
        match json_fallback::chunks_from_json_body(body) {
            Ok(chunks) => {
                // The chunks before one past a limit are handed out, then the error.
                for chunk in chunks {
                    if let Err(e) = self.progress.record(&chunk) {
                        return Err(self.fail(e));
                    }
                    self.queue.push_back(chunk);
                }
                self.progress.saw_done = true;
                Ok(())
            }
            Err(e) => Err(self.fail(e)),
        }
    }
}

impl Progress {
    /// Without `[DONE]`: every expected choice has a finish reason (and the
    /// usage chunk arrived, when it was asked for).
    fn looks_complete(&self) -> bool {
        let finished = self.choices.iter().filter(|&&(_, done)| done).count();
        self.chunks > 0
            && self.choices.iter().all(|&(_, done)| done)
            && finished >= self.expected_choices as usize
            && (!self.expect_usage || self.saw_usage)
    }

    /// One SSE event: a chunk (filled into `chunk`, as its [`Target`] says:
    /// `true`), nothing (a keep-alive, `[DONE]`: `false`), or the error it
    /// carries.
    #[inline]
    fn on_event(
        &mut self,
        event: SseEventRef<'_>,
        spare: &mut SpareBuffers,
        chunk: &mut ChatCompletionChunk,
        target: Target,
    ) -> Result<bool, Error> {
        let data = trim(event.data());
        if event.event_type() == "error" {
            return Err(error_event(data));
        }
        self.on_data(data, spare, chunk, target)
    }

    /// The data of an SSE event of type `message` (trimmed), as
    /// [`on_event`](Self::on_event).
    #[inline]
    fn on_data(
        &mut self,
        data: &str,
        spare: &mut SpareBuffers,
        chunk: &mut ChatCompletionChunk,
        target: Target,
    ) -> Result<bool, Error> {
        if data.is_empty() {
            return Ok(false);
        }
        if data == "[DONE]" {
            self.saw_done = true;
            return Ok(false);
        }
        if chunk_parser::parse_into(data, &mut self.memory, spare, chunk, target) {
            #[cfg(fuzzing)]
            direct_parser_agrees_with_serde(data, chunk);
            if self.memory.refilled {
                // It repeats the chunk before but for its text and padding:
                // that one carried no error and opened its choice already.
                self.chunks += 1;
                return Ok(true);
            }
        } else {
            *chunk = parse_chunk(data, &mut self.memory.strings).map_err(|e| {
                Error::decode(format!("a stream chunk is not a valid chunk ({e})"), data)
            })?;
        }
        if let Some(error) = chunk_error(chunk) {
            return Err(Error::Api(Box::new(error)));
        }
        self.record(chunk)?;
        Ok(true)
    }

    /// Counts a chunk, or refuses it when it would open more than
    /// `max_choices` choices.
    #[inline]
    fn record(&mut self, chunk: &ChatCompletionChunk) -> Result<(), Error> {
        for choice in &chunk.choices {
            let finished = choice.finish_reason.is_some();
            // Choices are kept in index order: those of the usual answer
            // (0, 1, ..) are found at their own index.
            match usize::try_from(choice.index)
                .ok()
                .and_then(|at| self.choices.get_mut(at))
            {
                Some(entry) if entry.0 == choice.index => entry.1 |= finished,
                _ => self.record_choice(choice.index, finished)?,
            }
        }
        self.chunks += 1;
        self.saw_usage |= chunk.usage.is_some();
        Ok(())
    }

    /// [`record`](Self::record) for a choice not at its own index: found by
    /// a binary search, or opened in index order when there is room for it.
    #[inline(never)]
    fn record_choice(&mut self, index: u32, finished: bool) -> Result<(), Error> {
        match self.choices.binary_search_by_key(&index, |&(i, _)| i) {
            Ok(at) => {
                if let Some(entry) = self.choices.get_mut(at) {
                    entry.1 |= finished;
                }
            }
            Err(_) if self.choices.len() >= self.max_choices => {
                return Err(Error::LimitExceeded(Box::new(LimitError::count(
                    "streamed answer",
                    self.max_choices,
                    "choices",
                ))));
            }
            Err(at) => self.choices.insert(at, (index, finished)),
        }
        Ok(())
    }
}

/// `data` without the whitespace around it; without a search when it starts
/// and ends with visible ASCII (`{` and `}`), as chunks do: nothing that
/// `str::trim` removes (control characters and non-ASCII take the search).
#[inline]
fn trim(data: &str) -> &str {
    let plain = |byte: &u8| (b'!'..=b'~').contains(byte);
    match data.as_bytes() {
        [first, .., last] if plain(first) && plain(last) => data,
        _ => data.trim(),
    }
}

/// Parses one chunk, sharing its repeated strings with the chunk before.
fn parse_chunk(
    data: &str,
    strings: &mut RepeatedStrings,
) -> Result<ChatCompletionChunk, serde_json::Error> {
    let mut json = serde_json::Deserializer::from_str(data);
    let chunk = ChunkSeed(strings).deserialize(&mut json)?;
    json.end()?;
    Ok(chunk)
}

/// Under cargo-fuzz (`--cfg fuzzing`), every chunk the direct parser accepted
/// is parsed again by serde, the reference, and must come out the same: the
/// `chat_stream` fuzz target is then also a differential fuzzer of the two.
#[cfg(fuzzing)]
#[allow(
    clippy::panic,
    reason = "a disagreement is the bug the fuzzer looks for"
)]
fn direct_parser_agrees_with_serde(data: &str, direct: &ChatCompletionChunk) {
    match parse_chunk(data, &mut RepeatedStrings::default()) {
        Ok(reference) if reference == *direct => {}
        reference => panic!(
            "the direct chunk parser disagrees with serde on {data:?}: {direct:?} vs {reference:?}"
        ),
    }
}

enum Sniff {
    Undecided,
    Sse,
    Json,
}

fn sniff(seen: &[u8]) -> Sniff {
    // Only the first `MAX_SNIFF_BYTES` + 1 bytes count, however the reads
    // were cut: a longer run of whitespace is SSE, whether it came in one
    // read or in many.
    let seen = seen.get(..MAX_SNIFF_BYTES + 1).unwrap_or(seen);
    let rest = seen.strip_prefix(BOM.as_slice()).unwrap_or(seen);
    // A BOM split across feeds: wait for the rest of it.
    if rest.len() == seen.len() && !seen.is_empty() && BOM.starts_with(seen) {
        return Sniff::Undecided;
    }
    match rest.iter().find(|b| !b.is_ascii_whitespace()) {
        None => Sniff::Undecided,
        Some(b'{' | b'[') => Sniff::Json,
        Some(_) => Sniff::Sse,
    }
}

/// Appends without growing past `limit` (+1, so that the overflow is detectable).
fn extend_bounded(body: &mut Vec<u8>, bytes: &[u8], limit: usize) {
    let room = limit.saturating_add(1).saturating_sub(body.len());
    body.extend_from_slice(&bytes[..bytes.len().min(room)]);
}

/// The error carried by an `event: error`, whatever its data looks like.
fn error_event(data: &str) -> Error {
    let parsed = serde_json::from_str::<serde_json::Value>(data).ok();
    let mut error = parsed
        .as_ref()
        .and_then(crate::decode::error_from_value)
        .unwrap_or_else(|| {
            let message = if data.is_empty() {
                "the server sent an error event".to_owned()
            } else {
                crate::error::excerpt(data)
            };
            ApiError::new(None, message)
        });
    error.raw_body = crate::error::excerpt(data);
    Error::Api(Box::new(error))
}

/// An error carried inside something that parsed as a chunk: a top-level
/// `error` field, vLLM's `"object": "error"`, `error_message` in a chunk
/// without choices, or `finish_reason: "error"` with an error field on the
/// choice. An `error` that is `null` or empty is none: Foundry Local sends
/// `"error": null` on every chunk.
fn chunk_error(chunk: &ChatCompletionChunk) -> Option<ApiError> {
    let top_level = chunk.extra.get("error").is_some_and(is_an_error) || chunk.object == "error";
    if top_level {
        let mut object = chunk.extra.as_map().clone();
        if chunk.object == "error" {
            object.insert("object".into(), "error".into());
        }
        let value = serde_json::Value::Object(object);
        return Some(
            crate::decode::error_from_value(&value)
                .unwrap_or_else(|| ApiError::new(None, "the server sent an error in the stream")),
        );
    }
    if chunk.choices.is_empty() && !chunk.extra.is_empty() {
        if let Some(error) = flat_error(&chunk.extra) {
            return Some(error);
        }
    }
    for choice in &chunk.choices {
        let errored = matches!(&choice.finish_reason, Some(FinishReason::Other(r)) if r == "error");
        if let Some(value) = choice.extra.get("error").filter(|_| errored) {
            let wrapped = serde_json::json!({ "error": value });
            return Some(
                crate::decode::error_from_value(&wrapped).unwrap_or_else(|| {
                    ApiError::new(None, "the server ended the choice with an error")
                }),
            );
        }
    }
    None
}

/// The error of a chunk without choices that carries it in flat fields,
/// `error_message` and `error_type` (DeepInfra, for a prompt past the
/// context window).
fn flat_error(fields: &crate::types::Extra) -> Option<ApiError> {
    use serde_json::Value;
    let message = fields
        .get("error_message")
        .and_then(Value::as_str)
        .filter(|message| !message.trim().is_empty())?;
    let mut error = serde_json::Map::new();
    error.insert("message".into(), message.into());
    if let Some(kind) = fields.get("error_type").filter(|kind| kind.is_string()) {
        error.insert("type".into(), kind.clone());
    }
    let wrapped = serde_json::json!({ "error": error });
    let mut error = crate::decode::error_from_value(&wrapped)?;
    error.raw_body = crate::error::excerpt(&Value::Object(fields.as_map().clone()).to_string());
    Some(error)
}

/// Whether the value of an `error` field says that something failed: not
/// `null`, `false`, nor an empty string, object or list.
fn is_an_error(value: &serde_json::Value) -> bool {
    use serde_json::Value;
    match value {
        Value::Null => false,
        Value::String(text) => !text.trim().is_empty(),
        Value::Object(fields) => !fields.is_empty(),
        Value::Array(items) => !items.is_empty(),
        Value::Bool(failed) => *failed,
        Value::Number(_) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ApiErrorKind;

    #[test]
    fn trim_is_str_trim() {
        for data in [
            "",
            "{}",
            " {} ",
            "x",
            "\u{b}{}\u{b}",
            "{}\u{a0}",
            "\u{3000}{}",
            "\t[DONE]\r",
            "a b",
            "\u{1f}x\u{7f}",
            "\u{85}",
        ] {
            assert_eq!(trim(data), data.trim(), "{data:?}");
        }
    }

    /// The chunks of `reads` fed with `feed_bytes`, taken after every read
    /// (or, with `batch`, only at the end), and the end's result; and whether
    /// each read was kept as a lone event.
    fn read_events(
        reads: &[&[u8]],
        batch: bool,
    ) -> (Vec<ChatCompletionChunk>, Result<(), Error>, Vec<bool>) {
        let mut decoder = ChatStreamDecoder::new();
        let mut chunks = Vec::new();
        let mut lone = Vec::new();
        let mut take = |decoder: &mut ChatStreamDecoder| {
            while let Ok(Some(chunk)) = decoder.next_chunk_ref() {
                chunks.push(chunk.clone());
            }
        };
        for read in reads {
            decoder.feed_bytes(Bytes::copy_from_slice(read));
            lone.push(decoder.lone.is_some());
            if !batch {
                take(&mut decoder);
            }
        }
        let end = decoder.finish();
        take(&mut decoder);
        (chunks, end, lone)
    }

    #[test]
    fn a_read_of_one_whole_event_is_read_past_the_sse_decoder_as_it_would_read_it() {
        let event = |text: &str| {
            format!(
                r#"data: {{"id":"a","choices":[{{"index":0,"delta":{{"content":"{text}"}},"finish_reason":null}}]}}"#
            ) + "\n\n"
        };
        let (a, b, c) = (event("a"), event("b"), event("c"));
        let two = format!("{b}{c}");
        let crlf = event("d").replace('\n', "\r\n");
        let mut invalid = event("e").into_bytes();
        let at = invalid.iter().position(|&byte| byte == b'e').unwrap_or(0);
        invalid[at] = 0xff;
        let stop = r#"data: {"id":"a","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}"#
            .to_owned()
            + "\n\n";
        let error = "event: error\ndata: {\"error\":{\"message\":\"overloaded\"}}\n\n";
        let id = "id: 7\n\n";
        // Not UTF-8 where the direct parser gives up before it (an unknown
        // key): serde reads it, after the SSE decoder's replacement.
        let mut unknown = event("f")
            .replacen("\"choices\"", "\"x-\u{e9}\":1,\"choices\"", 1)
            .into_bytes();
        let at = unknown.iter().position(|&byte| byte == 0xc3).unwrap_or(0);
        unknown[at + 1] = b'!';
        // Whitespace around the data, not a chunk at all, non-ASCII text.
        let spaced = event("g").replace("}\n\n", "} \n\n");
        let not_a_chunk = "data: \"x\"\n\n";
        let accents = event("\u{e9}\u{1F600}").replace("\"a\"", "\"\u{e9}t\u{e9}\"");
        let cases: Vec<(Vec<&[u8]>, Vec<bool>)> = vec![
            // The first read decides the body's kind (and a BOM): the SSE
            // decoder reads it; each whole event after it is read past it.
            (
                vec![
                    a.as_bytes(),
                    b.as_bytes(),
                    crlf.as_bytes(),
                    stop.as_bytes(),
                    b"data: [DONE]\n\n",
                ],
                vec![false, true, true, true, true],
            ),
            // Not UTF-8: the SSE decoder decodes it (lossily).
            (
                vec![a.as_bytes(), &invalid, stop.as_bytes()],
                vec![false, true, true],
            ),
            (
                vec![a.as_bytes(), &unknown, b.as_bytes()],
                vec![false, true, true],
            ),
            (
                vec![
                    a.as_bytes(),
                    spaced.as_bytes(),
                    accents.as_bytes(),
                    accents.as_bytes(),
                    stop.as_bytes(),
                ],
                vec![false, true, true, true, true],
            ),
            (
                vec![a.as_bytes(), not_a_chunk.as_bytes()],
                vec![false, true],
            ),
            // Two events in one read, a read cut inside one, a comment.
            (
                vec![
                    a.as_bytes(),
                    two.as_bytes(),
                    &stop.as_bytes()[..9],
                    &stop.as_bytes()[9..],
                    b": ping\n\n",
                ],
                vec![false, false, false, false, false],
            ),
            // An error event is not a lone data line.
            (vec![a.as_bytes(), error.as_bytes()], vec![false, false]),
            // Once an id is set, every event changes the last event id.
            (
                vec![a.as_bytes(), id.as_bytes(), b.as_bytes(), stop.as_bytes()],
                vec![false, false, false, false],
            ),
        ];
        for (reads, lone) in cases {
            let body: Vec<u8> = reads.concat();
            let mut whole = ChatStreamDecoder::new();
            whole.feed(&body);
            let mut expected = Vec::new();
            let mut failed = None;
            loop {
                match whole.next_chunk() {
                    Ok(Some(chunk)) => expected.push(chunk),
                    Ok(None) => break,
                    Err(e) => {
                        failed = Some(e.to_string());
                        break;
                    }
                }
            }
            let expected_end = if failed.is_some() {
                None
            } else {
                Some(whole.finish().is_ok())
            };
            for batch in [false, true] {
                let (chunks, end, kept) = read_events(&reads, batch);
                let text = String::from_utf8_lossy(&body);
                assert_eq!(chunks, expected, "{text} batch {batch}");
                if let Some(ok) = expected_end {
                    assert_eq!(end.is_ok(), ok, "{text}");
                }
                if !batch {
                    assert_eq!(kept, lone, "{text}");
                }
            }
        }
    }

    #[test]
    fn refilled_chunks_are_counted_and_a_cut_after_them_says_how_many() {
        let mut decoder = ChatStreamDecoder::new();
        for text in ["a", "b", "c", "d", "e"] {
            let event = format!(
                r#"data: {{"id":"a","choices":[{{"index":0,"delta":{{"content":"{text}"}},"finish_reason":null}}]}}"#
            ) + "\n\n";
            decoder.feed(event.as_bytes());
        }
        let mut repeats = Vec::new();
        while let Some((_, repeat)) = decoder.next_lent().unwrap() {
            repeats.push(repeat);
        }
        // Learned, read from the shape, then refilled.
        assert_eq!(repeats, [false, false, true, true, true]);
        assert_eq!(decoder.chunks_decoded(), 5);
        let cut = decoder.finish().unwrap_err().to_string();
        assert!(cut.contains("after 5 chunks"), "{cut}");
    }

    #[test]
    fn a_chunk_taken_between_lent_ones_does_not_leave_them_its_header_or_shape() {
        let delta = |model: &str, text: &str| {
            format!(
                r#"data: {{"id":"a","model":"{model}","choices":[{{"index":0,"delta":{{"content":"{text}"}}}}]}}"#
            ) + "\n\n"
        };
        let mut decoder = ChatStreamDecoder::new();
        for data in [
            delta("m", "a"),
            delta("m", "b"),
            delta("n", "c"),
            delta("n", "d"),
            delta("n", "e"),
        ] {
            decoder.feed(data.as_bytes());
        }
        let mut taken = Vec::new();
        // Lent (the second refilled where the first is), owned (another
        // header, remembered), then lent again.
        taken.push(decoder.next_chunk_ref().unwrap().cloned().unwrap());
        taken.push(decoder.next_chunk_ref().unwrap().cloned().unwrap());
        assert!(decoder.progress.memory.lent_shaped);
        taken.push(decoder.next_chunk().unwrap().unwrap());
        assert!(!decoder.progress.memory.lent_shaped);
        taken.push(decoder.next_chunk_ref().unwrap().cloned().unwrap());
        taken.push(decoder.next_chunk_ref().unwrap().cloned().unwrap());
        let got: Vec<(&str, Option<&str>)> = taken
            .iter()
            .map(|chunk| {
                let content = chunk.choices[0].delta.content.as_deref();
                (chunk.model.as_str(), content)
            })
            .collect();
        assert_eq!(
            got,
            [
                ("m", Some("a")),
                ("m", Some("b")),
                ("n", Some("c")),
                ("n", Some("d")),
                ("n", Some("e"))
            ]
        );
    }

    #[test]
    fn a_lent_chunk_keeps_no_header_field_of_the_chunk_before() {
        let first = r#"{"id":"a","object":"chat.completion.chunk","created":7,"model":"m","system_fingerprint":"fp","service_tier":"default","choices":[{"index":0,"delta":{"content":"x"}}]}"#;
        // Another header, without the optional fields, `created` or `object`.
        let other = r#"{"id":"b","model":"n","choices":[{"index":0,"delta":{"content":"y"}}]}"#;
        // Not the direct parser's shape (a key it does not know before
        // `choices`): serde reads it.
        let unusual = r#"{"id":"c","model":"m","x-extra":{"k":[1]},"choices":[]}"#;
        for reuse in [true, false] {
            let mut decoder = ChatStreamDecoder::new().reuse_buffers(reuse);
            let mut body = String::new();
            for data in [first, first, other, first, unusual, first, other] {
                body.push_str(&format!("data: {data}\n\n: ping\n\n"));
            }
            decoder.feed(body.as_bytes());
            let mut lent = Vec::new();
            let mut ids = Vec::new();
            while let Some(chunk) = decoder.next_chunk_ref().unwrap() {
                lent.push(chunk.clone());
                ids.push(chunk.id.clone());
            }
            let mut owned = ChatStreamDecoder::new();
            owned.feed(body.as_bytes());
            let mut expected = Vec::new();
            while let Some(chunk) = owned.next_chunk().unwrap() {
                expected.push(chunk);
            }
            assert_eq!(lent, expected, "reuse {reuse}");
            assert_eq!(lent.len(), 7);
            assert_eq!(lent[2].system_fingerprint, None);
            assert_eq!(lent[2].service_tier, None);
            assert_eq!((lent[2].created, lent[2].object.as_str()), (0, ""));
            assert_eq!(lent[4].extra.len(), 1);
            assert_eq!(lent[5].extra.len(), 0);
            assert_eq!(lent[6].model, "n");
            // A recalled header hands out the strings of the one before.
            assert!(ids[1].ptr_eq(&ids[0]), "reuse {reuse}");
        }
    }

    #[test]
    #[allow(
        clippy::disallowed_methods,
        reason = "a thread of the test's own, whose spare buffers are known"
    )]
    fn buffers_a_stream_hands_back_serve_the_next_stream_of_the_thread() {
        // The capacity of the content each chunk gets: a long content's
        // buffer, passed on, keeps its room for the short one after it.
        fn capacity_after(reuse: bool) -> usize {
            let mut first = ChatStreamDecoder::new().reuse_buffers(reuse);
            first.feed(chunk(&"long ".repeat(40), None).as_bytes());
            assert_eq!(
                first.next_chunk_ref().unwrap().unwrap().choices[0]
                    .delta
                    .content
                    .as_ref()
                    .unwrap()
                    .len(),
                200
            );
            // The next call ends the loan: the buffers go to the thread.
            assert!(first.next_chunk_ref().unwrap().is_none());
            let mut second = ChatStreamDecoder::new();
            second.feed(chunk("Hi", None).as_bytes());
            let lent = second.next_chunk_ref().unwrap().unwrap();
            let content = lent.choices[0].delta.content.as_ref().unwrap();
            assert_eq!(content, "Hi");
            content.capacity()
        }
        // Each on a thread of its own, whose spare buffers start empty.
        let passed_on = std::thread::spawn(|| capacity_after(true)).join().unwrap();
        let freed = std::thread::spawn(|| capacity_after(false)).join().unwrap();
        assert!(passed_on >= 200, "{passed_on}");
        assert_eq!(freed, 2);
    }

    fn chunk(content: &str, finish: Option<&str>) -> String {
        let finish = finish.map_or("null".to_owned(), |f| format!("\"{f}\""));
        format!(
            "data: {{\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":{}}},\"finish_reason\":{finish}}}]}}\n\n",
            serde_json::to_string(content).unwrap()
        )
    }

    /// The content of a chunk's first choice (empty when it has none).
    fn first_content(chunk: &ChatCompletionChunk) -> String {
        chunk
            .choices
            .first()
            .and_then(|c| c.delta.content.clone())
            .unwrap_or_default()
    }

    fn run(body: &str) -> (Vec<String>, Result<(), Error>) {
        let mut d = ChatStreamDecoder::new();
        d.feed(body.as_bytes());
        let mut texts = Vec::new();
        loop {
            match d.next_chunk() {
                Ok(Some(c)) => texts.push(first_content(&c)),
                Ok(None) => break,
                Err(e) => return (texts, Err(e)),
            }
        }
        let end = d.finish();
        while let Ok(Some(c)) = d.next_chunk() {
            texts.push(first_content(&c));
        }
        (texts, end)
    }

    #[test]
    fn done_ends_the_stream_and_later_events_are_ignored() {
        let body = format!(
            "{}{}data: [DONE]\n\n{}",
            chunk("a", None),
            chunk("b", Some("stop")),
            chunk("late", None)
        );
        let (texts, end) = run(&body);
        assert_eq!(texts, ["a", "b"]);
        assert!(end.is_ok());
    }

    #[test]
    fn repeated_keys_mean_what_serde_says_whichever_parser_reads_them() {
        // The chunk, choice and delta objects take the last value.
        let body = concat!(
            "data: {\"id\":\"a\",\"id\":\"b\",\"choices\":[{\"index\":0,",
            "\"delta\":{\"content\":\"x\",\"content\":\"y\"},\"index\":0}]}\n\n",
            "data: {\"id\":\"b\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"z\"},",
            "\"delta\":{\"content\":\"w\"},\"finish_reason\":\"stop\"}]}\n\n",
            "data: [DONE]\n\n",
        );
        let (texts, end) = run(body);
        assert_eq!(texts, ["y", "w"]);
        assert!(end.is_ok(), "{end:?}");
        // A tool-call fragment refuses them (serde's derived impl), after the
        // chunks before it.
        let body = format!(
            "{}data: {{\"id\":\"c\",\"choices\":[{{\"index\":0,\"delta\":{{\"tool_calls\":[{{\"index\":0,\"function\":{{\"arguments\":\"{{\\\"a\",\"arguments\":\"\"}}}}]}}}}]}}\n\n",
            chunk("before", None)
        );
        let (texts, end) = run(&body);
        assert_eq!(texts, ["before"]);
        let error = end.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(error.contains("duplicate field `arguments`"), "{error}");
    }

    /// Feeds `body` in one read, takes the chunks before finishing or not
    /// (`drain_first`), finishes, then takes the rest: their contents, and
    /// the first error (from `next_chunk` or `finish`) as text.
    fn finish_then_take(body: &str, limit: usize, drain_first: bool) -> (Vec<String>, String) {
        let mut d = ChatStreamDecoder::with_max_event_bytes(limit);
        d.feed(body.as_bytes());
        let mut texts = Vec::new();
        let mut error = None;
        let mut take = |d: &mut ChatStreamDecoder, error: &mut Option<Error>| loop {
            match d.next_chunk() {
                Ok(Some(c)) => texts.push(first_content(&c)),
                Ok(None) => return,
                Err(e) => {
                    error.get_or_insert(e);
                    return;
                }
            }
        };
        if drain_first {
            take(&mut d, &mut error);
        }
        if let Err(e) = d.finish() {
            error.get_or_insert(e);
        }
        take(&mut d, &mut error);
        (texts, format!("{error:?}"))
    }

    #[test]
    fn finish_keeps_the_chunks_before_the_error_it_reports() {
        // Cut short, an error event, an event past the limit: the chunks
        // before it come out all the same when `finish` decoded them.
        let two = format!("{}{}", chunk("a", None), chunk("b", None));
        let error = format!("{two}data: {{\"error\":{{\"message\":\"boom\"}}}}\n\n");
        let too_long = format!("{two}data: {}\n\n", "x".repeat(2000));
        type Expected = fn(&Error) -> bool;
        let cases: [(&str, Expected); 3] = [
            (
                &two,
                |e| matches!(e, Error::Stream(s) if s.kind == StreamErrorKind::Truncated),
            ),
            (&error, |e| matches!(e, Error::Api(_))),
            (&too_long, |e| matches!(e, Error::LimitExceeded(_))),
        ];
        for (body, expected) in cases {
            let (texts, error) = finish_then_take(body, 1024, false);
            assert_eq!(texts, ["a", "b"], "{error}");
            let mut d = ChatStreamDecoder::with_max_event_bytes(1024);
            d.feed(body.as_bytes());
            let reported = d.finish().expect_err("the stream failed");
            assert!(expected(&reported), "{reported:?}");
            // The same chunks and error as a caller who takes them before `finish`.
            assert_eq!(finish_then_take(body, 1024, true), (texts, error));
        }
    }

    #[test]
    fn a_json_body_after_a_bom_is_read_as_json() {
        let error = "\u{feff}{\"error\":{\"message\":\"boom\"}}";
        let (texts, end) = run(error);
        assert!(texts.is_empty());
        assert!(
            matches!(&end, Err(Error::Api(e)) if e.message == "boom"),
            "{end:?}"
        );
        let completion = "\u{feff} {\"id\":\"x\",\"object\":\"chat.completion\",\"created\":2,\"model\":\"m\",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"whole\"},\"finish_reason\":\"stop\"}]}";
        let (texts, end) = run(completion);
        assert_eq!(texts, ["whole"]);
        assert!(end.is_ok(), "{end:?}");
    }

    #[test]
    fn a_json_body_after_a_bom_cut_between_reads_is_read_as_json() {
        let body = "\u{feff}{\"error\":{\"message\":\"boom\"}}";
        for size in [1, 2] {
            let (texts, end) = decode_in_reads(body.as_bytes(), size, false, 1 << 20);
            assert!(texts.is_empty(), "{size}: {texts:?}");
            assert!(end.starts_with("Err(Api("), "{size}: {end}");
        }
    }

    #[test]
    fn how_the_body_is_told_apart_does_not_depend_on_the_reads() {
        // Whitespace before a JSON body: up to the sniffing limit it is JSON,
        // past it SSE, whether it comes in one read or in many.
        for spaces in [
            10,
            MAX_SNIFF_BYTES - 1,
            MAX_SNIFF_BYTES,
            MAX_SNIFF_BYTES + 1,
            5000,
        ] {
            let body = format!(
                "{}{{\"error\":{{\"message\":\"boom\"}}}}",
                " ".repeat(spaces)
            );
            let whole = decode_in_reads(body.as_bytes(), body.len(), false, 1 << 20);
            assert_eq!(
                whole.1.starts_with("Err(Api("),
                spaces <= MAX_SNIFF_BYTES,
                "{spaces}: {whole:?}"
            );
            for size in [1, 1000, 4096, 4097] {
                for as_bytes in [false, true] {
                    assert_eq!(
                        decode_in_reads(body.as_bytes(), size, as_bytes, 1 << 20),
                        whole,
                        "{spaces} spaces, reads of {size}, bytes {as_bytes}"
                    );
                }
            }
        }
    }

    #[test]
    fn keep_alives_and_comments_are_skipped() {
        let body = format!(
            ": OPENROUTER PROCESSING\n\ndata:\n\n{}: ping\n\ndata: [DONE]\n\n",
            chunk("x", Some("stop"))
        );
        let (texts, end) = run(&body);
        assert_eq!(texts, ["x"]);
        assert!(end.is_ok());
    }

    #[test]
    fn a_chunk_after_a_keep_alive_in_the_same_read_comes_out_at_once() {
        let mut d = ChatStreamDecoder::new();
        d.feed(format!("data:\n\n{}", chunk("x", None)).as_bytes());
        let first = d
            .next_chunk()
            .unwrap()
            .expect("the chunk, not a wait for more bytes");
        assert_eq!(first_content(&first), "x");
    }

    #[test]
    fn a_long_whitespace_start_is_read_as_sse_before_the_end() {
        // Past the sniffing limit the body is an event stream: its chunks
        // come out as they arrive, not only at `finish`.
        let mut d = ChatStreamDecoder::new();
        d.feed(" ".repeat(MAX_SNIFF_BYTES + 10).as_bytes());
        d.feed(format!("\n\n{}", chunk("x", None)).as_bytes());
        let first = d.next_chunk().unwrap().expect("decoded before the end");
        assert_eq!(first_content(&first), "x");
    }

    #[test]
    fn feed_after_the_end_or_an_error_does_nothing() {
        let mut d = ChatStreamDecoder::new();
        d.feed(chunk("a", Some("stop")).as_bytes());
        assert!(d.next_chunk().unwrap().is_some());
        d.finish().unwrap();
        d.feed(long_stream(10).as_bytes());
        assert!(d.next_chunk().unwrap().is_none());
        assert_eq!(d.chunks_decoded(), 1);

        let mut d = ChatStreamDecoder::new();
        d.feed(b"data: {\"choices\": [tru\n\n");
        assert!(matches!(d.next_chunk(), Err(Error::Decode(_))));
        d.feed(long_stream(10).as_bytes());
        assert!(d.next_chunk().unwrap().is_none());
        assert_eq!(d.chunks_decoded(), 0);
    }

    #[test]
    fn truncated_stream_is_an_error() {
        let (texts, end) = run(&chunk("partial", None));
        assert_eq!(texts, ["partial"]);
        match end {
            Err(Error::Stream(e)) => {
                assert_eq!(e.kind, StreamErrorKind::Truncated);
                assert_eq!(e.chunks_received, 1);
            }
            other => panic!("{other:?}"),
        }
        // An empty body is truncated too.
        assert!(matches!(run("").1, Err(Error::Stream(_))));
        // No [DONE] but every choice finished: complete (some servers omit [DONE]).
        assert!(run(&chunk("all", Some("stop"))).1.is_ok());
        // An unterminated last event is discarded, so the answer is still incomplete.
        let cut = format!("{}data: [DONE]", chunk("a", None));
        assert!(matches!(run(&cut).1, Err(Error::Stream(_))));
    }

    #[test]
    fn the_truncation_message_counts_the_chunks() {
        let one = run(&chunk("a", None)).1.unwrap_err().to_string();
        assert!(one.contains("cut short after 1 chunk (no [DONE]"), "{one}");
        let two = format!("{}{}", chunk("a", None), chunk("b", None));
        let two = run(&two).1.unwrap_err().to_string();
        assert!(two.contains("cut short after 2 chunks (no [DONE]"), "{two}");
    }

    #[test]
    fn without_done_a_stream_is_complete_once_every_expected_part_arrived() {
        let finish_expecting_usage = |body: &str| {
            let mut d = ChatStreamDecoder::new().expecting(1, true);
            d.feed(body.as_bytes());
            while let Ok(Some(_)) = d.next_chunk() {}
            d.finish()
        };
        // The finish reason comes in a later chunk of the same choice.
        let finished = format!("{}{}", chunk("a", None), chunk("b", Some("stop")));
        assert!(run(&finished).1.is_ok());
        // With usage asked for, the usage chunk must have come too.
        assert!(matches!(
            finish_expecting_usage(&finished),
            Err(Error::Stream(_))
        ));
        let usage = "data: {\"id\":\"c\",\"choices\":[],\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":2,\"total_tokens\":3}}\n\n";
        let with_usage = format!("{finished}{usage}");
        assert!(finish_expecting_usage(&with_usage).is_ok());
    }

    #[test]
    fn error_shapes_in_a_stream() {
        let cases = [
            "data: {\"error\":{\"message\":\"boom\",\"type\":\"server_error\",\"code\":\"500\"}}\n\n",
            "data: {\"object\":\"error\",\"message\":\"boom\",\"type\":\"BadRequestError\",\"code\":400}\n\n",
            "event: error\ndata: {\"error\":{\"message\":\"boom\"}}\n\n",
            "data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"error\",\"error\":{\"message\":\"boom\",\"code\":502}}]}\n\n",
        ];
        for case in cases {
            let body = format!("{}{case}", chunk("before", None));
            let (texts, end) = run(&body);
            assert_eq!(texts, ["before"], "{case}");
            match end {
                Err(Error::Api(e)) => {
                    assert!(e.message.contains("boom"), "{case}: {e:?}");
                    assert_eq!(e.kind, ApiErrorKind::Other);
                }
                other => panic!("{case}: {other:?}"),
            }
        }
        // An `error` that says nothing failed is no error.
        for nothing in ["null", "{}", "\"\"", "false", "[]"] {
            let body = format!(
                "data: {{\"id\":\"c\",\"error\":{nothing},\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"ok\"}},\"finish_reason\":\"stop\"}}]}}\n\n"
            );
            let (texts, end) = run(&body);
            assert_eq!(texts, ["ok"], "{nothing}");
            assert!(end.is_ok(), "{nothing}: {end:?}");
        }
        // An error event whose data is not JSON still reads well.
        let (_, end) = run("event: error\ndata: upstream overloaded\n\n");
        assert!(matches!(end, Err(Error::Api(e)) if e.message == "upstream overloaded"));
    }

    #[test]
    fn a_bad_chunk_is_a_decode_error_quoting_it() {
        let (_, end) = run("data: {\"choices\": [tru\n\n");
        match end {
            Err(Error::Decode(e)) => assert!(e.raw.contains("{\"choices\": [tru"), "{e:?}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn usage_chunk_with_empty_choices_passes_through() {
        let usage = "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":2,\"total_tokens\":5}}\n\n";
        let body = format!("{}{usage}data: [DONE]\n\n", chunk("hi", Some("stop")));
        let mut d = ChatStreamDecoder::new();
        d.feed(body.as_bytes());
        let first = d.next_chunk().unwrap().unwrap();
        assert_eq!(first.choices.len(), 1);
        let second = d.next_chunk().unwrap().unwrap();
        assert!(second.choices.is_empty());
        assert_eq!(second.usage.unwrap().total_tokens, 5);
        assert!(d.next_chunk().unwrap().is_none());
        assert!(d.finish().is_ok());
    }

    #[test]
    fn a_json_error_body_for_a_stream_gives_that_error() {
        let body = "\n {\"error\":{\"message\":\"Invalid model\",\"type\":\"invalid_request_error\",\"code\":\"model_not_found\"}}";
        let (texts, end) = run(body);
        assert!(texts.is_empty());
        match end {
            Err(Error::Api(e)) => {
                assert_eq!(e.message, "Invalid model");
                assert!(e.code_is("model_not_found"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_json_completion_for_a_stream_becomes_chunks() {
        let body = r#"{"id":"x","provider":"OpenAI","object":"chat.completion","created":2,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"whole answer"},"finish_reason":"stop","native_finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3}}"#;
        let mut d = ChatStreamDecoder::new();
        for b in body.as_bytes() {
            d.feed(std::slice::from_ref(b));
            assert!(d.next_chunk().unwrap().is_none());
        }
        d.finish().unwrap();
        let mut acc = crate::stream::StreamAccumulator::new();
        while let Some(c) = d.next_chunk().unwrap() {
            acc.push(&c);
        }
        let done = acc.completion();
        assert_eq!(
            done.choices[0].message.content.as_deref(),
            Some("whole answer")
        );
        assert_eq!(done.choices[0].finish_reason, Some(FinishReason::Stop));
        assert_eq!(done.usage.as_ref().map(|u| u.total_tokens), Some(3));
        // Unknown fields of the completion and of its choices are kept.
        assert_eq!(done.extra["provider"], "OpenAI");
        assert_eq!(done.choices[0].extra["native_finish_reason"], "stop");
    }

    #[test]
    fn an_endless_line_hits_the_limit() {
        let mut d = ChatStreamDecoder::with_max_event_bytes(1024);
        d.feed(b"data: ");
        let mut failed = false;
        for _ in 0..100 {
            d.feed(&[b'x'; 100]);
            if let Err(e) = d.next_chunk() {
                assert!(matches!(e, Error::LimitExceeded(_)), "{e:?}");
                failed = true;
                break;
            }
        }
        assert!(failed);
    }

    /// Every chunk's content (or an error's debug text) and the end, feeding
    /// `body` in reads of `size` bytes, as slices or as `Bytes` on one buffer.
    fn decode_in_reads(
        body: &[u8],
        size: usize,
        as_bytes: bool,
        limit: usize,
    ) -> (Vec<String>, String) {
        let whole = Bytes::copy_from_slice(body);
        let mut d = ChatStreamDecoder::with_max_event_bytes(limit);
        let mut out = Vec::new();
        let take = |d: &mut ChatStreamDecoder, out: &mut Vec<String>| loop {
            match d.next_chunk() {
                Ok(Some(c)) => out.push(format!("{:?}", c.choices.first().map(|c| &c.delta))),
                Ok(None) => break,
                Err(e) => {
                    out.push(format!("error: {e:?}"));
                    break;
                }
            }
        };
        let mut start = 0;
        while start < whole.len() {
            let end = (start + size).min(whole.len());
            if as_bytes {
                d.feed_bytes(whole.slice(start..end));
            } else {
                d.feed(&whole[start..end]);
            }
            take(&mut d, &mut out);
            start = end;
        }
        let end = format!("{:?}", d.finish());
        take(&mut d, &mut out);
        (out, end)
    }

    /// A stream of `n` content chunks (about 230 bytes each), a finish chunk, `[DONE]`.
    fn long_stream(n: usize) -> String {
        let mut body = String::new();
        for i in 0..n {
            body.push_str(&chunk(&format!("word {i} é ✓ \"q\" \\ "), None));
        }
        body.push_str(&chunk("", Some("stop")));
        body.push_str("data: [DONE]\n\n");
        body
    }

    #[test]
    fn feed_bytes_gives_the_chunks_feed_gives_for_any_read_size() {
        let body = long_stream(200);
        let crlf = body.replace('\n', "\r\n");
        let bom = format!("\u{feff}{body}");
        let padded = format!(": {}\n\n{body}", "p".repeat(3000));
        for body in [&body, &crlf, &bom, &padded] {
            let (reference, end) = decode_in_reads(body.as_bytes(), body.len(), false, 1 << 20);
            assert_eq!(reference.len(), 201);
            assert_eq!(end, "Ok(())");
            for size in [1, 2, 7, 100, 333, 1023, 1024, 1500, 4096, 16384, body.len()] {
                for as_bytes in [false, true] {
                    let got = decode_in_reads(body.as_bytes(), size, as_bytes, 1 << 20);
                    assert_eq!(got, (reference.clone(), end.clone()), "{size} {as_bytes}");
                }
            }
        }
    }

    #[test]
    fn feed_bytes_reads_a_json_body_whole() {
        let body = r#"{"id":"x","object":"chat.completion","created":2,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"whole answer"},"finish_reason":"stop"}]}"#;
        let padded = format!("{}{body}", " ".repeat(2000));
        for body in [body, &padded] {
            for size in [1, 5, 1024, body.len()] {
                let (texts, end) = decode_in_reads(body.as_bytes(), size, true, 1 << 20);
                assert_eq!(end, "Ok(())", "{size}");
                assert_eq!(texts.len(), 1, "{size}");
                assert!(texts[0].contains("whole answer"), "{texts:?}");
            }
        }
        // A JSON error body too, and the limit on a JSON body.
        let error = format!("{{\"error\":{{\"message\":\"{}\"}}}}", "no".repeat(1000));
        let (_, end) = decode_in_reads(error.as_bytes(), 1500, true, 1 << 20);
        assert!(end.starts_with("Err(Api("), "{end}");
        let (_, end) = decode_in_reads(error.as_bytes(), 1500, true, 1024);
        assert!(end.starts_with("Err(LimitExceeded("), "{end}");
    }

    #[test]
    fn feed_bytes_keeps_the_limit_and_the_chunks_before_it() {
        // Ten chunks, then an endless data line, in large reads: the chunks
        // come out, then the limit error, however the reads are cut.
        let mut body = Vec::new();
        for i in 0..10 {
            body.extend_from_slice(chunk(&format!("word {i}"), None).as_bytes());
        }
        body.extend_from_slice(b"data: ");
        body.extend(std::iter::repeat_n(b'x', 40_000));
        for size in [1024, 1500, 4096, 16384, body.len()] {
            let (out, end) = decode_in_reads(&body, size, true, 8192);
            assert_eq!(out.len(), 11, "{size}: {out:?}");
            assert!(out[9].contains("word 9"), "{size}: {out:?}");
            assert!(
                out[10].starts_with("error: LimitExceeded("),
                "{size}: {out:?}"
            );
            assert_eq!(end, "Ok(())", "the error was reported already");
            assert_eq!(decode_in_reads(&body, size, false, 8192), (out, end));
        }
    }

    #[test]
    fn feed_bytes_after_the_end_or_an_error_does_nothing() {
        let mut d = ChatStreamDecoder::new();
        d.feed_bytes(Bytes::from(chunk("a", Some("stop"))));
        assert!(d.next_chunk().unwrap().is_some());
        d.finish().unwrap();
        d.feed_bytes(Bytes::from(long_stream(10)));
        assert!(d.next_chunk().unwrap().is_none());
        assert_eq!(d.chunks_decoded(), 1);

        let mut d = ChatStreamDecoder::new();
        d.feed_bytes(Bytes::from_static(b"data: {\"choices\": [tru\n\n"));
        assert!(matches!(d.next_chunk(), Err(Error::Decode(_))));
        d.feed_bytes(Bytes::from(long_stream(10)));
        assert!(d.next_chunk().unwrap().is_none());
    }

    #[test]
    fn a_huge_json_body_hits_the_limit() {
        let mut d = ChatStreamDecoder::with_max_event_bytes(64);
        d.feed(b"{\"error\":\"");
        d.feed(&[b'x'; 1000]);
        assert!(matches!(d.finish(), Err(Error::LimitExceeded(_))));
    }
}
