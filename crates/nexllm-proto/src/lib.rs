//! Deterministic, sans-IO core of the nexllm SDK: no sockets, no clock, no sleeping, no randomness.
//!
//! (Crate docs are completed as the modules land.)
#![deny(missing_docs)]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod config;
pub mod decode;
pub mod encode;
pub mod error;
pub mod exchange;
pub mod sse;
pub mod stream;
pub mod types;

#[cfg(feature = "proptest")]
#[cfg_attr(docsrs, doc(cfg(feature = "proptest")))]
pub mod strategies;

pub use config::{Config, DEFAULT_BASE_URL, Limits, Timeouts};
pub use error::{
    ApiError, ApiErrorKind, DecodeError, Error, ErrorCode, InvalidRequestError, LimitError,
    StreamError, StreamErrorKind, TimeoutError, TimeoutKind, TransportError, TransportErrorKind,
};
pub use exchange::{Action, AttemptId, Exchange, Outcome, Wait, WaitReason};
pub use sse::{SseDecoder, SseEvent};
pub use stream::{ChatStreamDecoder, StreamAccumulator};
pub use types::*;
