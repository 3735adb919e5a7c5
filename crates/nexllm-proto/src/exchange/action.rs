//! What an [`Exchange`](super::Exchange) asks its transport to do next.

use std::fmt;
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::types::{ChatCompletion, ChatCompletionChunk, ModelList};

/// Identifies one HTTP attempt of an exchange (1 for the first, 2 for the first retry, …).
///
/// Every input names the attempt it is about; inputs about an attempt the
/// exchange has already abandoned are ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AttemptId(pub(crate) u32);

impl AttemptId {
    /// The attempt number, starting at 1.
    pub fn number(self) -> u32 {
        self.0
    }
}

impl fmt::Display for AttemptId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "attempt {}", self.0)
    }
}

/// The next thing the transport must do. Returned by [`Exchange::poll`](super::Exchange::poll).
#[derive(Debug)]
pub enum Action {
    /// Start a new attempt: send this request. Report what happens with the
    /// `handle_*` methods, naming `attempt`.
    Send {
        /// The attempt this request belongs to.
        attempt: AttemptId,
        /// The request to send, body included. Boxed, as sends are rare and
        /// every action is as large as its largest kind.
        request: Box<http::Request<Bytes>>,
    },
    /// Stop working on this attempt: drop its connection or body. Nothing more
    /// about it will be listened to.
    Abandon(AttemptId),
    /// Hand this chunk to the caller (streaming calls only).
    Chunk(ChatCompletionChunk),
    /// A chunk is ready, lent rather than given
    /// ([`ChunkDelivery::Lent`]): read it with
    /// [`Exchange::lent_chunk`](super::Exchange::lent_chunk) before the next
    /// call to the exchange.
    ChunkLent,
    /// Nothing to do until an input arrives or, when `until` is set, until that
    /// instant passes; then call [`Exchange::handle_timeout`](super::Exchange::handle_timeout).
    Wait(Wait),
    /// The call is over. After this, `poll` returns `None`.
    Done(Result<Outcome, crate::Error>),
}

/// What a transport's drive loop hands up to the code that called it: the
/// [`Action`]s that are for the caller rather than for the I/O (`Send`,
/// `Abandon` and `Wait` stay inside the loop). [`StreamFront`](super::StreamFront)
/// takes these, with `None` for a loop whose [`Exchange::poll`](super::Exchange::poll)
/// has answered `None`.
#[derive(Debug)]
pub enum CallEvent {
    /// A chunk for the caller (streams only): [`Action::Chunk`].
    Chunk(ChatCompletionChunk),
    /// A chunk lent by the exchange ([`ChunkDelivery::Lent`]), read with
    /// [`Exchange::lent_chunk`](super::Exchange::lent_chunk): [`Action::ChunkLent`].
    ChunkLent,
    /// The call is over: [`Action::Done`].
    Done(Result<Outcome, crate::Error>),
}

/// How a streaming [`Exchange`](super::Exchange) hands its chunks out; set
/// with [`Exchange::set_chunk_delivery`](super::Exchange::set_chunk_delivery).
/// Every chunk is added to the
/// [`accumulated`](super::Exchange::accumulated) completion whichever it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ChunkDelivery {
    /// Each chunk in an [`Action::Chunk`], the caller's to keep (the default).
    #[default]
    Owned,
    /// Each chunk announced by [`Action::ChunkLent`] and lent until the next
    /// call to the exchange, parsed where it is lent from: no chunk is moved
    /// out through the actions. For a caller that reads each chunk and keeps
    /// none (prints it, sums it).
    Lent,
    /// No chunk handed out: each is only added to the accumulated
    /// completion, lent by the decoder as with `Lent`. For a caller that
    /// wants the whole completion, not the chunks.
    AccumulateOnly,
}

/// How long to wait, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Wait {
    /// The deadline, or `None` to wait for input with no time limit.
    pub until: Option<Instant>,
    /// Which deadline `until` is.
    pub reason: WaitReason,
}

impl Wait {
    /// How long from `now` until the deadline (zero if it has passed), or `None` without one.
    pub fn duration_from(&self, now: Instant) -> Option<Duration> {
        self.until.map(|until| until.saturating_duration_since(now))
    }
}

/// Why the exchange is waiting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum WaitReason {
    /// Pausing before the next attempt.
    Backoff,
    /// Waiting for the response head; the deadline is the first-byte timeout.
    FirstByte,
    /// Waiting for more body bytes; the deadline is the idle timeout.
    Idle,
    /// Waiting for input; the deadline is the total timeout of the call.
    Total,
    /// Waiting for input with no deadline at all.
    Input,
    /// `[DONE]` came and the answer is complete; the rest of the body is read
    /// so that the connection can be reused, until [`MAX_DRAIN_TIME`](super::MAX_DRAIN_TIME)
    /// after `[DONE]`. When the deadline passes the call ends well and the
    /// connection is abandoned.
    Drain,
}

/// What a successful call produced.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
#[allow(
    clippy::large_enum_variant,
    reason = "made once per call and moved to the caller; boxing would only add an allocation"
)]
pub enum Outcome {
    /// A non-streaming chat call: the completion. Boxed, as every action is
    /// as large as its largest kind, and each chunk of a stream is moved
    /// in one.
    Completion(Box<ChatCompletion>),
    /// A streaming chat call ended properly; every chunk has been handed out
    /// and [`Exchange::accumulated`](super::Exchange::accumulated) holds the whole completion.
    StreamEnded,
    /// A model listing.
    Models(ModelList),
}
