//! The request lifecycle: retries, backoff, `Retry-After` and deadlines as a
//! sans-IO state machine, [`Exchange`].
//!
//! One `Exchange` is one logical call, every attempt included. It never reads
//! a clock, sleeps or touches a socket: the transport feeds it what happened,
//! each input stamped with the current [`Instant`](std::time::Instant), and
//! asks it what to do next with [`Exchange::poll`]. Both of our transports
//! drive it the same way, so they behave identically, and so can yours.
//!
//! # The drive loop
//!
//! ```text
//! let mut ex = Exchange::chat(&config, &request, now(), seed)?;
//! loop {
//!     match ex.poll() {
//!         Some(Action::Send { attempt, request }) => start sending `request`; remember `attempt`
//!         Some(Action::Abandon(attempt))         => drop that attempt's connection / body
//!         Some(Action::Chunk(chunk))             => hand `chunk` to the caller
//!         Some(Action::ChunkLent)                => show `exchange.lent_chunk()` to the caller
//!                                                   (only after `set_chunk_delivery(Lent)`)
//!         Some(Action::Done(result))             => return `result`
//!         None                                   => return (Done was already taken)
//!         Some(Action::Wait(wait)) => wait for whichever comes first:
//!             the response head   -> ex.handle_head(attempt, status, headers, now())
//!             body bytes          -> ex.handle_body(attempt, &bytes, now())
//!                                    (or handle_body_bytes(attempt, bytes, now()) for a `Bytes`)
//!             end of body         -> ex.handle_end(attempt, now())
//!             a transport failure -> ex.handle_transport_error(attempt, error, now())
//!             the connect timeout -> ex.handle_connect_timeout(attempt, now())
//!             `wait.until` passes -> ex.handle_timeout(now())
//!             the caller gives up -> ex.cancel(now())
//!     }
//! }
//! ```
//!
//! After every input, drain `poll` until it answers `Wait` again. An input
//! about an attempt that was abandoned is ignored, so a transport need not
//! guard against races between a late response and a retry.
//!
//! A transport's chat stream sits on this loop with a [`StreamFront`]: its
//! loop hands up each [`CallEvent`] (a chunk, a lent chunk, the end), and the
//! front decides what each read of the stream returns, so every transport's
//! stream behaves the same.
//!
//! # States
//!
//! ```text
//!            poll: Send                head 2xx (stream)        [DONE]
//!  Ready ───────────────► AwaitingHead ───────────────► Streaming ──────► Draining
//!    ▲                         │  head (other)              │  end / idle      │ end / drain
//!    │ backoff over            ▼                            ▼                  ▼
//!  Backoff ◄──── retryable ── ReadingBody ──── end ──────► Done ◄─────────────┘
//!          failure, retries left,        (completion, models or final error)
//!          delay before the total deadline
//! ```
//!
//! Failures of an attempt (connection errors that
//! [`transport_error_is_retryable`] accepts, the first-byte and idle
//! timeouts, a stream cut before its first chunk) and error statuses that
//! [`status_is_retryable`] accepts are retried while retries remain and the
//! wait ends before the total deadline. A stream is never retried once a chunk
//! has reached the caller; the error then ends it, and
//! [`Exchange::accumulated`] keeps everything received.
//!
//! # Deadlines
//!
//! - **total** (default 10 min): the whole call, attempts and waits included.
//!   This differs from openai-python, whose timeout applies to each attempt
//!   (a 30 s timeout with 2 retries can take over 90 s there; here it takes 30 s).
//! - **connect** (default 5 s): applied by the transport's connector, which
//!   reports it with [`Exchange::handle_connect_timeout`]; the connection
//!   phase is invisible from outside a pooled HTTP client.
//! - **first byte** (default none): from sending to the response head.
//! - **idle** (default 600 s, openai-python's read timeout): the longest gap
//!   between body reads; for streams, between chunks. A reasoning model
//!   streams nothing while it thinks, for minutes at times.
//! - **drain** ([`MAX_DRAIN_TIME`], 1 s, and [`MAX_DRAIN_BYTES`]): after
//!   `[DONE]` the answer is complete and the rest of the body is read only so
//!   that the connection can be reused. A server that keeps the body open
//!   (keep-alive comments after `[DONE]`, or a stall) ends the call well once
//!   either limit passes, and the connection is abandoned; openai-python reads
//!   such a tail until the server ends it.

mod action;
mod backoff;
mod jitter;
mod machine;
mod retry;
mod retry_after;
mod stream_front;

pub use action::{Action, AttemptId, CallEvent, ChunkDelivery, Outcome, Wait, WaitReason};
pub use backoff::{INITIAL_RETRY_DELAY, JITTER_FRACTION, MAX_RETRY_DELAY};
pub use machine::{
    Exchange, IDEMPOTENCY_KEY_HEADER, MAX_DRAIN_BYTES, MAX_DRAIN_TIME, RETRY_COUNT_HEADER,
};
pub use retry::{status_is_retryable, transport_error_is_retryable};
pub use retry_after::{parse_http_date, server_retry_delay};
pub use stream_front::StreamFront;
