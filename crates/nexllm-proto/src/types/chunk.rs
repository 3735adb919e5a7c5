//! [`ChatCompletionChunk`]: one event of a streamed answer, with its
//! [`ChunkChoice`]s and their [`Delta`]s.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

use super::{FinishReason, Logprobs, Role, ToolCallDelta, Usage, finish_reason, lenient};

/// One chunk of a streamed answer (`data: {..}` in the event stream).
///
/// As tolerant as [`super::ChatCompletion`]: `object`, `created`, `usage`
/// may be missing, `created` may be a float, `choices` may be `null` or
/// missing (the usage-only last chunk has an empty list).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChatCompletionChunk {
    /// The completion id, the same in every chunk of a stream.
    #[serde(default, deserialize_with = "lenient::lenient_string")]
    pub id: String,
    /// The object type, `chat.completion.chunk` (empty when omitted).
    #[serde(default, deserialize_with = "lenient::lenient_string")]
    pub object: String,
    /// Creation time, in Unix seconds (0 when omitted).
    #[serde(default, deserialize_with = "lenient::lenient_u64")]
    pub created: u64,
    /// The model that answered.
    #[serde(default, deserialize_with = "lenient::lenient_string")]
    pub model: String,
    /// The choices this chunk extends.
    #[serde(default, deserialize_with = "lenient::null_as_default")]
    pub choices: Vec<ChunkChoice>,
    /// Token usage: on the last chunk with `include_usage` (and on every
    /// chunk with some servers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    /// The backend configuration fingerprint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_fingerprint: Option<String>,
    /// The tier that processed the request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_tier: Option<String>,
    /// Unknown fields, kept.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A piece of one choice in a [`ChatCompletionChunk`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChunkChoice {
    /// Which choice this piece extends.
    #[serde(default, deserialize_with = "lenient::lenient_u32")]
    pub index: u32,
    /// What is new in this choice (empty when missing).
    #[serde(default, deserialize_with = "lenient::null_as_default")]
    pub delta: Delta,
    /// Set on the choice's last chunk. An empty string counts as unset.
    #[serde(default, deserialize_with = "finish_reason::optional")]
    pub finish_reason: Option<FinishReason>,
    /// Log probabilities of the new tokens, when requested.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logprobs: Option<Logprobs>,
    /// Unknown fields, kept.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// What a chunk adds to a choice. Every field is optional.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Delta {
    /// The role, usually only in the first chunk. An empty string counts as unset.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "optional_role"
    )]
    pub role: Option<Role>,
    /// The next piece of text.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient::content_text"
    )]
    pub content: Option<String>,
    /// The next piece of a refusal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refusal: Option<String>,
    /// Fragments of tool calls.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<ToolCallDelta>>,
    /// Unknown fields, kept (`reasoning_content`, `reasoning`, a deprecated
    /// `function_call`, ...).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Delta {
    /// The reasoning text fragment some providers stream next to the content
    /// (`reasoning_content` or `reasoning`), if any.
    pub fn reasoning(&self) -> Option<&str> {
        self.extra
            .get("reasoning_content")
            .or_else(|| self.extra.get("reasoning"))
            .and_then(Value::as_str)
    }
}

fn optional_role<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Role>, D::Error> {
    Ok(match Option::<Value>::deserialize(deserializer)? {
        Some(Value::String(s)) if !s.is_empty() => Some(Role::from(s)),
        _ => None,
    })
}
