//! Incremental WHATWG event-stream (Server-Sent Events) decoding.

/// The default limit on one SSE line or event: 16 MiB.
pub const DEFAULT_MAX_EVENT_BYTES: usize = 16 * 1024 * 1024;
