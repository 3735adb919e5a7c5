//! Blocking client for the NexLLM / OpenAI Chat Completions API on ureq and rustls: no async runtime.
//!
//! The same API as `nexllm-hyper`, without `.await`:
//!
//! ```no_run
//! use nexllm_blocking::{ChatCompletionRequest, Client, Message};
//!
//! let client = Client::from_env()?; // NEXLLM_API_KEY, NEXLLM_BASE_URL
//! let request = ChatCompletionRequest::new("gpt-4o", vec![Message::user("Hello!")]);
//!
//! let completion = client.chat().create(&request)?;
//! println!("{}", completion.content().unwrap_or_default());
//!
//! let mut stream = client.chat().create_stream(&request)?;
//! for chunk in &mut stream {
//!     for choice in &chunk?.choices {
//!         print!("{}", choice.delta.content.as_deref().unwrap_or(""));
//!     }
//! }
//! let completion = stream.into_completion(); // everything received, also after an error
//! # Ok::<(), nexllm_blocking::Error>(())
//! ```
//!
//! The crate's README runs this against the local mock server, `nexllm-mock`.
//!
//! # How it works
//!
//! Every call is one [`Exchange`](nexllm_proto::Exchange) of the sans-IO core
//! `nexllm-proto`, which decides everything: the request bytes, retries,
//! backoff, `Retry-After`, status handling, SSE decoding, what each deadline
//! means. This crate only moves bytes: it sends with ureq, sleeps with
//! `std::thread::sleep` and reads the clock with `Instant::now`. Each wait of
//! the exchange is one blocking operation bounded by its deadline: sending an
//! attempt and reading its head (the connect timeout for the host name lookup
//! and again for the connection, then the first-byte or total deadline),
//! reading the next piece of the body (the idle timeout from the start of the
//! read, the total deadline, and after `[DONE]` the drain deadline), or a
//! backoff sleep.
//!
//! ureq fixes its timeouts per phase when a request starts, but the idle
//! timeout must hold for every read of a stream. So the client's ureq agent
//! ends its connector chain with a connector that wraps each connection (TCP,
//! or TLS over TCP): every read and write made while the client waits is cut
//! to the deadline of that wait, and ureq's TCP transport applies it as the
//! socket's read or write timeout. A server that goes silent mid-stream thus
//! fails the read when the idle timeout passes, and the exchange turns that
//! into [`TimeoutKind::Idle`] (retried only
//! if no chunk had reached the caller).
//!
//! # In scope, out of scope
//!
//! In: HTTP/1.1 over TCP or TLS (rustls with the *ring* provider, verified
//! certificates), a connection pool per [`Client`] ([`ClientBuilder`] sets its
//! size and idle time), HTTP proxies ([`Proxy`]: from the environment by
//! default, chosen once for the base URL; an `https://` base URL is reached
//! through a `CONNECT` tunnel, a plain `http://` one by sending each request
//! to the proxy in absolute form, `POST http://host:port/v1/... HTTP/1.1`,
//! with `Proxy-Authorization` when the proxy URL has credentials, as
//! `nexllm-hyper` does), gzip, the connect timeout, sleeping, reading the
//! clock, closing the connection of a dropped stream.
//!
//! Out, because the core decides it for every transport alike: retries and
//! backoff, `Retry-After`, status handling, what the first-byte, idle and
//! total deadlines mean, SSE and stream decoding, error decoding, request
//! encoding and validation. Out altogether: HTTP/2, async (use
//! `nexllm-hyper`), following redirects (a 3xx is an error), SOCKS proxies,
//! turning certificate verification off.
#![deny(missing_docs)]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod absolute_form;
mod call;
mod chat;
mod client;
mod forward_proxy;
mod http_agent;
mod io_deadline;
mod models;
mod proxy;
mod resolver;
mod seed;
mod stream;
mod transport_error;

pub use chat::Chat;
pub use client::{Client, ClientBuilder};
pub use http_agent::{DEFAULT_POOL_IDLE_TIMEOUT, DEFAULT_POOL_MAX_IDLE_PER_HOST};
pub use models::Models;
pub use nexllm_proto::response::{ApiResponse, RateLimit};
pub use proxy::Proxy;
pub use stream::ChatStream;

/// The README's code, compiled as doctests so it cannot go stale.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

pub use nexllm_proto;
pub use nexllm_proto::config::{Config, DEFAULT_BASE_URL, Limits, Timeouts};
pub use nexllm_proto::error::{
    ApiError, ApiErrorKind, DecodeError, Error, ErrorCode, InvalidRequestError, LimitError,
    StreamError, StreamErrorKind, TimeoutError, TimeoutKind, TransportError, TransportErrorKind,
};
pub use nexllm_proto::types::*;
