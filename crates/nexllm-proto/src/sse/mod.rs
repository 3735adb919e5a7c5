//! Incremental WHATWG event-stream (Server-Sent Events) decoding.
//!
//! [`SseDecoder`] turns the bytes of a `text/event-stream` body, arriving in
//! pieces of any size, into [`SseEvent`]s, following the parsing rules of the
//! WHATWG HTML standard exactly (line ends, BOM, comments, field parsing, id
//! and retry handling, invalid UTF-8, discarding an unfinished event at the
//! end). It is sans-IO: bytes in, events out, nothing else.
//!
//! [`encode_event`] and [`SseEncoder`] write events back as text, for tests
//! and mock servers.

mod decoder;
mod encode;
mod event;

#[cfg(feature = "proptest")]
#[cfg_attr(docsrs, doc(cfg(feature = "proptest")))]
pub mod strategies;

pub(crate) use decoder::BOM;
pub use decoder::SseDecoder;
pub use encode::{SseEncoder, encode_event};
pub use event::{DEFAULT_EVENT_TYPE, SseEvent, SseEventRef};

/// The default limit on one SSE line or event: 16 MiB.
pub const DEFAULT_MAX_EVENT_BYTES: usize = 16 * 1024 * 1024;
