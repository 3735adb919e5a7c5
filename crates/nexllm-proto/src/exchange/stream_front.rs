//! [`StreamFront`]: the caller's side of a streaming [`Exchange`], the same for
//! every transport, so that each transport's `ChatStream` keeps only its I/O.

use std::fmt;
use std::sync::OnceLock;

use super::action::{CallEvent, ChunkDelivery};
use super::machine::Exchange;
use crate::Error;
use crate::types::{ChatCompletion, ChatCompletionChunk};

/// The caller's side of a streaming [`Exchange`]: what each read of a
/// transport's `ChatStream` returns. The building block of a transport's
/// stream; an application reads the transport's `ChatStream`, not this.
///
/// A stream's answers are protocol, not I/O: the first chunk, read before
/// the stream is handed to its caller, is kept until the first read; a chunk
/// asked for lent is lent from the exchange, or from the front when it had
/// to be kept; after an error the stream yields that error once, then
/// `None`; finishing adds the rest up without handing any chunk out. The
/// front holds that state (the first chunk, a chunk it lends, how the stream
/// ended) and makes those decisions; the transport keeps only its drive loop
/// (await or block) and asks the front before and after each event of it.
/// Each method takes the exchange it fronts, which the drive loop owns; pass
/// the same one every time.
///
/// Its `Debug` shows only its state, never a chunk or an error (they quote
/// the conversation).
///
/// # The read loop
///
/// `next_event()` is the transport's drive loop: it runs the exchange's I/O
/// until [`Exchange::poll`] has something for the caller, handed up as a
/// [`CallEvent`] (`None` once `poll` says `None`).
///
/// ```text
/// create the stream:  front = StreamFront::open(&exchange, next_event())?
/// each read:          event = if front.needs_event(&mut exchange, delivery) { next_event() } else { None }
///                     return front.next_owned(&exchange, event)     (Owned)
///                         or front.next_lent(&exchange, event)      (Lent)
/// finish:             while front.needs_event(&mut exchange, ChunkDelivery::AccumulateOnly) {
///                         front.accumulate(next_event())
///                     }
///                     return front.into_result(&mut exchange)
/// ```
///
/// # Example
///
/// A stream whose whole body has arrived, so the drive loop only polls:
///
/// ```
/// use std::time::Instant;
/// use http::{HeaderMap, StatusCode};
/// use nexllm_proto::exchange::{Action, CallEvent, ChunkDelivery, Exchange, StreamFront};
/// use nexllm_proto::{ChatCompletionRequest, Config, Message};
///
/// /// The drive loop of this example: every input is in already.
/// fn next_event(exchange: &mut Exchange) -> Option<CallEvent> {
///     match exchange.poll()? {
///         Action::Chunk(chunk) => Some(CallEvent::Chunk(chunk)),
///         Action::ChunkLent => Some(CallEvent::ChunkLent),
///         Action::Done(result) => Some(CallEvent::Done(result)),
///         other => unreachable!("no I/O left to do: {other:?}"),
///     }
/// }
///
/// let config = Config::new("sk-test");
/// let request = ChatCompletionRequest::new("gpt-4o", vec![Message::user("Say hi")]).stream(true);
/// let now = Instant::now();
/// let mut exchange = Exchange::chat(&config, &request, now, 42)?;
/// let Some(Action::Send { attempt, .. }) = exchange.poll() else { unreachable!() };
/// let Some(Action::Wait(_)) = exchange.poll() else { unreachable!() };
/// exchange.handle_head(attempt, StatusCode::OK, HeaderMap::new(), now);
/// exchange.handle_body(attempt, concat!(
///     "data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"}}]}\n\n",
///     "data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\" there\"}}]}\n\n",
///     "data: [DONE]\n\n",
/// ).as_bytes(), now);
/// exchange.handle_end(attempt, now);
///
/// // Creating the stream reads its first chunk (or the error before any).
/// let first_event = next_event(&mut exchange);
/// let mut front = StreamFront::open(&exchange, first_event)?;
///
/// // The first read returns that chunk without driving the exchange.
/// assert!(!front.needs_event(&mut exchange, ChunkDelivery::Owned));
/// let first = front.next_owned(&exchange, None).unwrap()?;
/// assert_eq!(first.choices[0].delta.content.as_deref(), Some("Hi"));
///
/// // Finishing adds the rest up, handing no chunk out.
/// let mut handed_out = 0;
/// while front.needs_event(&mut exchange, ChunkDelivery::AccumulateOnly) {
///     handed_out += front.accumulate(next_event(&mut exchange));
/// }
/// assert_eq!(handed_out, 0);
/// assert_eq!(front.into_result(&mut exchange)?.content(), Some("Hi there"));
/// # Ok::<(), nexllm_proto::Error>(())
/// ```
pub struct StreamFront {
    /// The first chunk, read while the stream was created, until the first read.
    first: Option<ChatCompletionChunk>,
    /// A chunk lent by [`next_lent`](Self::next_lent) that the exchange does
    /// not hold (the buffered first one, or one given owned), until the next read.
    held: Option<ChatCompletionChunk>,
    /// `Some` once the stream has ended: `Ok` after `[DONE]`, the error otherwise.
    ended: Option<Result<(), Error>>,
}

impl StreamFront {
    /// The front of a stream whose drive loop has handed up `first_event`,
    /// its first event: a first chunk is kept for the first read, a stream
    /// that ended well without one is ended, and an error before any chunk
    /// is returned (the stream is not created).
    pub fn open(exchange: &Exchange, first_event: Option<CallEvent>) -> Result<Self, Error> {
        let (first, ended) = match first_event {
            Some(CallEvent::Chunk(chunk)) => (Some(chunk), None),
            // Chunks are given, not lent, unless asked; a copy would do.
            Some(CallEvent::ChunkLent) => (exchange.lent_chunk().cloned(), None),
            Some(CallEvent::Done(Ok(_))) | None => (None, Some(Ok(()))),
            Some(CallEvent::Done(Err(error))) => return Err(error),
        };
        Ok(StreamFront {
            first,
            held: None,
            ended,
        })
    }

    /// Starts a read that wants its chunks as `delivery` says: `true` when
    /// the drive loop must hand up one event for it, `false` when the read
    /// is answered without one (a chunk is buffered, or the stream has
    /// ended). Pass the event, or `None` after `false`, to
    /// [`next_owned`](Self::next_owned) for [`ChunkDelivery::Owned`],
    /// [`next_lent`](Self::next_lent) for [`ChunkDelivery::Lent`], or
    /// [`accumulate`](Self::accumulate) for [`ChunkDelivery::AccumulateOnly`]
    /// (which drops the buffered first chunk: it is in the completion already).
    ///
    /// Ends the loan of the chunk lent last, and sets the exchange's chunk
    /// delivery when an event is needed.
    #[inline]
    pub fn needs_event(&mut self, exchange: &mut Exchange, delivery: ChunkDelivery) -> bool {
        self.held = None;
        if delivery == ChunkDelivery::AccumulateOnly {
            self.first = None;
        }
        if self.first.is_some() || self.ended.is_some() {
            return false;
        }
        exchange.set_chunk_delivery(delivery);
        true
    }

    /// The answer to a read of an owned chunk ([`ChunkDelivery::Owned`]),
    /// given the event the drive loop handed up for it (`None` when it had
    /// none left, or when [`needs_event`](Self::needs_event) said none was
    /// needed): the next
    /// chunk, the error that ended the stream (once), or `None` once it has
    /// ended. A chunk lent all the same is copied.
    #[inline]
    pub fn next_owned(
        &mut self,
        exchange: &Exchange,
        event: Option<CallEvent>,
    ) -> Option<Result<ChatCompletionChunk, Error>> {
        if let Some(chunk) = self.first.take() {
            return Some(Ok(chunk));
        }
        if self.ended.is_some() {
            return None;
        }
        match event {
            Some(CallEvent::Chunk(chunk)) => Some(Ok(chunk)),
            // Not asked for here; a copy keeps the stream whole.
            Some(CallEvent::ChunkLent) => match exchange.lent_chunk() {
                Some(chunk) => Some(Ok(chunk.clone())),
                None => self.end(Ok(())),
            },
            Some(CallEvent::Done(result)) => self.end(result.map(drop)),
            None => self.end(Ok(())),
        }
    }

    /// The answer to a read of a lent chunk ([`ChunkDelivery::Lent`]), given
    /// the event the drive loop handed up for it (`None` when it had none
    /// left, or when [`needs_event`](Self::needs_event) said none was
    /// needed): the next
    /// chunk, lent from the exchange or held here until the next read, the
    /// error that ended the stream (once), or `None` once it has ended.
    #[inline]
    pub fn next_lent<'a>(
        &'a mut self,
        exchange: &'a Exchange,
        event: Option<CallEvent>,
    ) -> Option<Result<&'a ChatCompletionChunk, Error>> {
        if let Some(chunk) = self.first.take() {
            return Some(Ok(self.held.insert(chunk)));
        }
        if self.ended.is_some() {
            return None;
        }
        match event {
            Some(CallEvent::ChunkLent) if exchange.lent_chunk().is_some() => {
                exchange.lent_chunk().map(Ok)
            }
            Some(CallEvent::Chunk(chunk)) => Some(Ok(self.held.insert(chunk))),
            Some(CallEvent::Done(result)) => self.end(result.map(drop)),
            Some(CallEvent::ChunkLent) | None => self.end(Ok(())),
        }
    }

    /// Takes an event handed up while the rest of the stream is only added
    /// to the completion ([`ChunkDelivery::AccumulateOnly`]); returns how
    /// many chunks it handed out all the same (0, or 1 for an exchange that
    /// did not honour the delivery). Read until
    /// [`needs_event`](Self::needs_event) says `false`.
    #[inline]
    pub fn accumulate(&mut self, event: Option<CallEvent>) -> usize {
        if self.ended.is_some() {
            return 0;
        }
        match event {
            Some(CallEvent::Chunk(_) | CallEvent::ChunkLent) => 1,
            Some(CallEvent::Done(result)) => {
                self.ended = Some(result.map(drop));
                0
            }
            None => {
                self.ended = Some(Ok(()));
                0
            }
        }
    }

    /// Records how the stream ended: the error to hand out, or `None`.
    fn end<T>(&mut self, result: Result<(), Error>) -> Option<Result<T, Error>> {
        let error = result.as_ref().err().cloned();
        self.ended = Some(result);
        error.map(Err)
    }

    /// Whether the stream has ended (after `[DONE]` or an error) and every
    /// chunk has been read.
    pub fn is_ended(&self) -> bool {
        self.ended.is_some() && self.first.is_none()
    }

    /// The error that ended the stream, if it ended with one.
    pub fn error(&self) -> Option<&Error> {
        self.ended.as_ref().and_then(|result| result.as_ref().err())
    }

    /// The completion assembled from every chunk so far (an empty one while
    /// the exchange has none).
    pub fn accumulated<'a>(&self, exchange: &'a Exchange) -> &'a ChatCompletion {
        match exchange.accumulated() {
            Some(completion) => completion,
            None => empty_completion(),
        }
    }

    /// The completion assembled so far, moved out of the exchange.
    pub fn into_completion(self, exchange: &mut Exchange) -> ChatCompletion {
        exchange.take_accumulated().unwrap_or_default()
    }

    /// After the rest has been read ([`accumulate`](Self::accumulate) until
    /// [`needs_event`](Self::needs_event) says `false`): the whole
    /// completion, or the error that ended the stream (its chunks stay in
    /// the exchange's [`accumulated`](Exchange::accumulated) completion).
    pub fn into_result(self, exchange: &mut Exchange) -> Result<ChatCompletion, Error> {
        match &self.ended {
            Some(Err(error)) => Err(error.clone()),
            _ => Ok(self.into_completion(exchange)),
        }
    }

    /// Adds the stream's state to a transport's `Debug` output: `id`,
    /// `model`, `status`, `attempts`, `chunks_received`, `chunk_buffered` and
    /// `ended` (`"done"` or `"failed"`), never a chunk's or an error's text:
    /// `front.debug_fields(exchange, &mut f.debug_struct("ChatStream")).finish()`.
    pub fn debug_fields<'d, 'a, 'b>(
        &self,
        exchange: &Exchange,
        debug: &'d mut fmt::DebugStruct<'a, 'b>,
    ) -> &'d mut fmt::DebugStruct<'a, 'b> {
        let completion = exchange.accumulated();
        debug
            .field("id", &completion.map(|c| c.id.as_str()))
            .field("model", &completion.map(|c| c.model.as_str()))
            .field("status", &exchange.response_status())
            .field("attempts", &exchange.attempts())
            .field("chunks_received", &exchange.chunks_delivered())
            .field("chunk_buffered", &self.first.is_some())
            .field("ended", &self.ended_state())
    }

    /// How the stream ended, without the error's text.
    fn ended_state(&self) -> Option<&'static str> {
        self.ended.as_ref().map(|result| match result {
            Ok(()) => "done",
            Err(_) => "failed",
        })
    }
}

impl fmt::Debug for StreamFront {
    // Chunks and errors quote the conversation, and a `Debug` line may end up
    // in a log: only the state is shown.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamFront")
            .field("chunk_buffered", &self.first.is_some())
            .field("chunk_held", &self.held.is_some())
            .field("ended", &self.ended_state())
            .finish()
    }
}

/// The completion of a stream before its exchange has one.
fn empty_completion() -> &'static ChatCompletion {
    static EMPTY: OnceLock<ChatCompletion> = OnceLock::new();
    EMPTY.get_or_init(ChatCompletion::default)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fallback_completion_is_empty() {
        assert!(empty_completion().choices.is_empty());
    }
}
