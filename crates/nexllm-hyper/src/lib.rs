//! Async client for the NexLLM / OpenAI Chat Completions API on hyper, rustls and tokio.
//!
//! ```no_run
//! # async fn demo() -> Result<(), nexllm_hyper::Error> {
//! use nexllm_hyper::{ChatCompletionRequest, Client, Message};
//!
//! let client = Client::from_env()?; // NEXLLM_API_KEY, NEXLLM_BASE_URL
//! let request = ChatCompletionRequest::new("gpt-4o", vec![Message::user("Hello!")]);
//!
//! let completion = client.chat().create(&request).await?;
//! println!("{}", completion.content().unwrap_or_default());
//!
//! let mut stream = client.chat().create_stream(&request).await?;
//! while let Some(chunk) = stream.next_chunk().await {
//!     for choice in &chunk?.choices {
//!         print!("{}", choice.delta.content.as_deref().unwrap_or(""));
//!     }
//! }
//! # Ok(())
//! # }
//! ```
//!
//! # What this crate does, and what it leaves to the core
//!
//! In scope: connecting (hyper-util's pooled client, HTTP/1.1 and HTTP/2 by
//! ALPN), TLS (rustls with the *ring* provider, verified certificates),
//! proxies (`HTTPS_PROXY`, `HTTP_PROXY`, `NO_PROXY`), the connect timeout,
//! sleeping and reading the clock (tokio's, so `tokio::time::pause()` works in
//! tests), cancellation on drop, and tracing.
//!
//! Out of scope, because [`nexllm_proto`]'s `Exchange` decides it for every
//! transport alike: retries and backoff, `Retry-After`, status handling, the
//! first-byte, idle and total deadlines, SSE and stream decoding, error
//! decoding, request encoding and validation.
//!
//! # Transports
//!
//! [`Client`] talks to a [`Transport`]; the default is [`HyperTransport`].
//! Implement [`Transport`] to use another HTTP stack or a test double and pass
//! it to [`ClientBuilder::transport`].
//!
//! # Tracing
//!
//! Each call runs in a `nexllm.chat` or `nexllm.models` span (debug level)
//! with the method, endpoint, model, whether it streams, and once known the
//! status, attempt count, request id and latency; debug events mark each
//! attempt, response head, failure and backoff. The API key, message content
//! and error bodies are never recorded.
//!
//! # Crypto provider
//!
//! TLS uses rustls with the *ring* provider, passed explicitly (the
//! process-wide default provider is neither needed nor changed). ring builds
//! with a C compiler alone, quickly, on every tier-1 target; aws-lc-rs needs
//! CMake (and sometimes NASM or bindgen) and takes far longer to build, which
//! buys nothing for a client that only verifies certificates and runs
//! AES-GCM/ChaCha20.
#![deny(missing_docs)]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod chat;
mod client;
mod driver;
mod hyper_transport;
mod models;
mod proxy;
mod stream;
mod transport;
mod transport_builder;

pub use chat::Chat;
pub use client::{Client, ClientBuilder};
pub use hyper_transport::{
    DEFAULT_POOL_IDLE_TIMEOUT, DEFAULT_POOL_MAX_IDLE_PER_HOST, HyperTransport,
};
pub use models::Models;
pub use nexllm_proto::response::{ApiResponse, RateLimit};
pub use proxy::Proxy;
pub use stream::ChatStream;
pub use transport::{Body, SendError, Transport};
pub use transport_builder::HyperTransportBuilder;

pub use nexllm_proto;
pub use nexllm_proto::error::{
    ApiError, ApiErrorKind, DecodeError, Error, ErrorCode, InvalidRequestError, LimitError,
    StreamError, StreamErrorKind, TimeoutError, TimeoutKind, TransportError, TransportErrorKind,
};
pub use nexllm_proto::types::{
    ChatCompletion, ChatCompletionChunk, ChatCompletionRequest, Message, ModelList, Role, Tool,
    ToolCall,
};
pub use nexllm_proto::{Config, Limits, Timeouts};
