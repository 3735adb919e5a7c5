//! Chat streams: bytes of an SSE body in, [`ChatCompletionChunk`]s out
//! ([`ChatStreamDecoder`]), and chunks assembled into a [`ChatCompletion`]
//! ([`StreamAccumulator`]).
//!
//! ```
//! use nexllm_proto::stream::{ChatStreamDecoder, StreamAccumulator};
//!
//! let body = concat!(
//!     ": keep-alive\n\n",
//!     "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",",
//!     "\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"Hel\"}}]}\n\n",
//!     "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",",
//!     "\"choices\":[{\"index\":0,\"delta\":{\"content\":\"lo\"},\"finish_reason\":\"stop\"}]}\n\n",
//!     "data: [DONE]\n\n",
//! );
//! let mut decoder = ChatStreamDecoder::new();
//! let mut accumulator = StreamAccumulator::new();
//! // Bytes arrive in pieces of any size; chunks come out as soon as they are complete.
//! for piece in body.as_bytes().chunks(7) {
//!     decoder.feed(piece);
//!     while let Some(chunk) = decoder.next_chunk()? {
//!         accumulator.push(&chunk);
//!     }
//! }
//! decoder.finish()?; // an error here means the stream was cut short
//! while let Some(chunk) = decoder.next_chunk()? {
//!     accumulator.push(&chunk);
//! }
//! assert_eq!(accumulator.completion().choices[0].message.content.as_deref(), Some("Hello"));
//! # Ok::<(), nexllm_proto::Error>(())
//! ```
//!
//! [`ChatCompletionChunk`]: crate::types::ChatCompletionChunk
//! [`ChatCompletion`]: crate::types::ChatCompletion

mod accumulator;
mod chunk_parser;
mod decoder;
mod json_fallback;
mod spare;

pub use accumulator::StreamAccumulator;
pub use decoder::ChatStreamDecoder;
