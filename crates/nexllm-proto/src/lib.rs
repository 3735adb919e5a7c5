//! Deterministic, sans-IO core of the nexllm SDK: no sockets, no clock, no sleeping, no randomness.
//!
//! `nexllm-proto` is the whole protocol of the NexLLM Chat Completions API
//! (which is OpenAI's Chat Completions format, so it also speaks to OpenAI,
//! LiteLLM, OpenRouter, vLLM, Ollama, llama.cpp and friends), written as
//! plain functions and state machines. Bytes and [`http`] types go in and
//! out; time and randomness are arguments. Transports (`nexllm-hyper`,
//! `nexllm-blocking`, or yours) only move bytes and set timers.
//!
//! **In scope:** the wire [`types`]; request validation and encoding
//! ([`encode`]); response and error-body decoding ([`decode`]); the
//! Server-Sent Events decoder ([`sse`]); chat stream decoding and
//! accumulation ([`stream`]); retries, backoff, `Retry-After` and deadlines
//! ([`exchange`]); one error type ([`Error`]).
//!
//! **Out of scope:** connecting, TLS, proxies, pooling, sleeping, reading the
//! clock, spawning. [`Config::from_env`] is the only function that touches the
//! outside world (it reads two environment variables).
//!
//! # Driving a call
//!
//! An [`Exchange`] is one call with all its attempts. After creating it and
//! after each input, drain [`Exchange::poll`] until it says [`Action::Wait`]:
//!
//! ```
//! use std::time::{Duration, Instant};
//! use http::{HeaderMap, StatusCode};
//! use nexllm_proto::{Action, ChatCompletionRequest, Config, Exchange, Message, Outcome, WaitReason};
//!
//! let config = Config::new("sk-test").base_url("http://127.0.0.1:4000/v1");
//! let request = ChatCompletionRequest::new("gpt-4o", vec![Message::user("Say hi")]).stream(true);
//! let start = Instant::now(); // the transport reads the clock, never the core
//! let mut exchange = Exchange::chat(&config, &request, start, 42)?;
//!
//! // 1. The exchange asks for a request to be sent.
//! let Some(Action::Send { attempt, request }) = exchange.poll() else { unreachable!() };
//! assert_eq!(request.uri(), "http://127.0.0.1:4000/v1/chat/completions");
//! assert_eq!(request.headers()["accept"], "text/event-stream");
//! assert!(std::str::from_utf8(request.body()).unwrap().contains(r#""stream":true"#));
//!
//! // 2. Nothing to do until the server answers (or the total deadline passes).
//! let Some(Action::Wait(wait)) = exchange.poll() else { unreachable!() };
//! assert_eq!(wait.reason, WaitReason::Total);
//!
//! // 3. The head, then body bytes, split anywhere.
//! let now = start + Duration::from_millis(80);
//! exchange.handle_head(attempt, StatusCode::OK, HeaderMap::new(), now);
//! exchange.handle_body(attempt, b"data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"}}]}\n", now);
//! exchange.handle_body(attempt, b"\ndata: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n", now);
//! exchange.handle_end(attempt, now);
//!
//! // 4. Chunks come out as soon as they are complete; then the call is done.
//! let mut text = String::new();
//! while let Some(action) = exchange.poll() {
//!     match action {
//!         Action::Chunk(chunk) => text.push_str(chunk.choices[0].delta.content.as_deref().unwrap_or("")),
//!         Action::Done(result) => assert_eq!(result?, Outcome::StreamEnded),
//!         other => unreachable!("{other:?}"),
//!     }
//! }
//! assert_eq!(text, "Hi");
//! assert_eq!(exchange.accumulated().unwrap().choices[0].message.content.as_deref(), Some("Hi"));
//! # Ok::<(), nexllm_proto::Error>(())
//! ```
//!
//! The [`exchange`] module documents the loop and the states in full;
//! `docs/embedding.md` in the repository drives it over a plain `TcpStream`.
//!
//! # Decoding a stream by hand
//!
//! The decoders work on their own too. Feed bytes as they arrive and take
//! chunks as they complete; see [`stream`] for a worked example, and
//! [`sse::SseDecoder`] for the event-stream layer beneath it.
//!
//! # Features
//!
//! - `proptest`: exports `strategies` (generated chat streams with the
//!   completion they add up to) and `sse::strategies` (arbitrary event-stream
//!   bodies and split points), to property-test your own code.
#![deny(missing_docs)]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod config;
pub mod decode;
pub mod encode;
pub mod error;
pub mod exchange;
pub mod proxy_env;
pub mod response;
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
pub use response::{ApiResponse, RateLimit};
pub use sse::{SseDecoder, SseEvent};
pub use stream::{ChatStreamDecoder, StreamAccumulator};
pub use types::*;
