//! A local OpenAI-compatible Chat Completions server with scripted answers and fault
//! injection, for tests and demos.
//!
//! The server parses requests as plain JSON and writes responses itself in OpenAI's exact
//! wire format, so it catches client serializer bugs instead of sharing them.
//!
//! In scope: `POST …/chat/completions` (any path prefix), whole and streamed (SSE)
//! answers with `n`, `max_tokens`/`max_completion_tokens` and
//! `stream_options.include_usage`; `GET …/models`; validation with OpenAI's errors; an
//! optional API key; `x-request-id` and rate-limit headers; deterministic models
//! ([`ECHO_MODEL`], [`TOOLS_MODEL`] and aliases); every [`Fault`] a transport must survive;
//! request recording; connection counting.
//!
//! Out of scope: TLS, HTTP/2, other endpoints, real language models.
//!
//! ```
//! # async fn demo() -> std::io::Result<()> {
//! use nexllm_mock::{Answer, Fault, MockServer, StatusFault};
//!
//! let server = MockServer::builder().api_key("sk-test").start().await?;
//! let base_url = server.base_url(); // "http://127.0.0.1:PORT/v1"
//! // The next chat completion fails with 429 and Retry-After: 1, the one after answers "Hi".
//! server.push_script(Fault::Status(StatusFault::new(http::StatusCode::TOO_MANY_REQUESTS).retry_after("1")));
//! server.push_script(Answer::text("Hi"));
//! // ... point a client at base_url with key "sk-test", then:
//! for request in server.requests() {
//!     let _body = request.body_json();
//! }
//! server.shutdown().await;
//! # Ok(())
//! # }
//! ```
//!
//! Faults are also selected per request with the `x-mock-fault` header or a
//! `mock-fault:<spec>` model name; the README lists the grammar and every fault.

#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod api_error;
mod body;
mod completion;
mod fault;
mod handler;
mod models;
mod recording;
mod script;
mod server;
mod state;
mod validate;

pub use completion::MAX_ANSWER_TOKENS;
pub use fault::{Fault, FaultSpecError, SplitPattern, StatusFault};
pub use handler::{FAULT_HEADER, MAX_REQUEST_BODY_BYTES};
pub use models::{DEFAULT_ALIASES, ECHO_MODEL, FAULT_MODEL_PREFIX, TOOLS_MODEL};
pub use recording::RecordedRequest;
pub use script::{Answer, Script, ScriptStep, ScriptedToolCall};
pub use server::{DEFAULT_SHUTDOWN_GRACE, MockServer, MockServerBuilder};
pub use state::{MAX_RECORDED_BYTES, MAX_RECORDED_REQUESTS};
