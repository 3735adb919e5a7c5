//! The wire types of the Chat Completions API.
//!
//! Names and fields follow the JSON exactly. Requests are encoded with every
//! unset option left out. Responses decode tolerantly: unknown fields are kept
//! in an [`Extra`] map on every object (so decoding then encoding keeps them),
//! unknown enum values become an `Other(..)` variant, and the small
//! deviations of OpenAI-compatible servers (missing `object` or `created`,
//! floats for integers, `null` for lists) are accepted.

mod chunk;
mod extra;
mod finish_reason;
mod lenient;
mod message;
mod model;
mod request;
mod response;
mod role;
mod shared_str;
mod tool;
mod usage;
mod validate;

pub use chunk::{ChatCompletionChunk, ChunkChoice, Delta};
pub(crate) use chunk::{ChunkSeed, RepeatedStrings};
pub use extra::Extra;
pub use finish_reason::FinishReason;
pub use message::{ContentPart, FileInput, ImageUrl, InputAudio, Message, MessageContent};
pub use model::{Model, ModelList};
pub use request::{
    AudioParams, ChatCompletionRequest, CustomVoice, JsonSchemaFormat, Prediction, REQUEST_FIELDS,
    ReasoningEffort, ResponseFormat, Stop, StreamOptions, Voice,
};
pub use response::{
    ChatCompletion, Choice, Logprobs, ResponseAudio, ResponseMessage, TokenLogprob, TopLogprob,
};
pub use role::Role;
pub use shared_str::SharedStr;
pub use tool::{
    FunctionCall, FunctionCallDelta, FunctionDefinition, Tool, ToolCall, ToolCallDelta, ToolChoice,
};
pub use usage::{CompletionTokensDetails, PromptTokensDetails, Usage};
