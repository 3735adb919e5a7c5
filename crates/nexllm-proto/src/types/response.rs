//! [`ChatCompletion`]: the answer to a non-streaming request, its
//! [`Choice`]s, [`ResponseMessage`] and [`Logprobs`].

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use super::Extra;
use super::{FinishReason, FunctionCall, Role, ToolCall, Usage, finish_reason, lenient};

/// The answer to a chat completion request.
///
/// Decoding is tolerant of what OpenAI-compatible servers really send:
/// `object`, `created` and `usage` may be missing, `created` may be a float,
/// `id` may be empty, `choices` may be `null`. Unknown fields are kept in
/// `extra`, so a decoded value encodes back with them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChatCompletion {
    /// The completion id (may be empty on some servers).
    #[serde(default, deserialize_with = "lenient::lenient_string")]
    pub id: String,
    /// The object type, `chat.completion` (empty when the server omits it).
    #[serde(default, deserialize_with = "lenient::lenient_string")]
    pub object: String,
    /// Creation time, in Unix seconds (0 when the server omits it).
    #[serde(default, deserialize_with = "lenient::lenient_u64")]
    pub created: u64,
    /// The model that answered (may differ from the one requested).
    #[serde(default, deserialize_with = "lenient::lenient_string")]
    pub model: String,
    /// The choices (one unless the request set `n`).
    #[serde(default, deserialize_with = "lenient::null_as_default")]
    pub choices: Vec<Choice>,
    /// Token usage, when the server reported it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    /// The backend configuration fingerprint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_fingerprint: Option<String>,
    /// The tier that processed the request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_tier: Option<String>,
    /// Unknown fields, kept (OpenRouter's `provider`, vLLM's `prompt_logprobs`, ...).
    #[serde(flatten)]
    pub extra: Extra,
}

impl ChatCompletion {
    /// The content of the first choice, if any: the usual way to read an answer.
    pub fn content(&self) -> Option<&str> {
        self.choices.first()?.message.content.as_deref()
    }

    /// The tool calls of the first choice (empty when there are none).
    pub fn tool_calls(&self) -> &[ToolCall] {
        self.choices
            .first()
            .and_then(|c| c.message.tool_calls.as_deref())
            .unwrap_or(&[])
    }

    /// The finish reason of the first choice.
    pub fn finish_reason(&self) -> Option<&FinishReason> {
        self.choices.first()?.finish_reason.as_ref()
    }
}

/// One answer of a [`ChatCompletion`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Choice {
    /// The choice's position.
    #[serde(default, deserialize_with = "lenient::lenient_u32")]
    pub index: u32,
    /// The message the model wrote.
    #[serde(default, deserialize_with = "lenient::null_as_default")]
    pub message: ResponseMessage,
    /// Why the model stopped (`None` if the server did not say).
    #[serde(default, deserialize_with = "finish_reason::optional")]
    pub finish_reason: Option<FinishReason>,
    /// Log probabilities, when requested.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logprobs: Option<Logprobs>,
    /// Unknown fields, kept (vLLM's `stop_reason`, ...).
    #[serde(flatten)]
    pub extra: Extra,
}

/// The message in a [`Choice`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ResponseMessage {
    /// Always the assistant in practice (the default when missing).
    #[serde(default, deserialize_with = "lenient::null_as_default")]
    pub role: Role,
    /// The text. `None` when the model only called tools or refused. A server
    /// that sends an array of parts has its text parts joined.
    #[serde(default, deserialize_with = "lenient::content_text")]
    pub content: Option<String>,
    /// The refusal message, when the model refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refusal: Option<String>,
    /// The tools the model called.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<ToolCall>>,
    /// The deprecated function call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function_call: Option<FunctionCall>,
    /// The audio answer, with `modalities: ["audio"]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audio: Option<ResponseAudio>,
    /// Citations (web search), kept as sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<Vec<Value>>,
    /// Unknown fields, kept: `reasoning_content` (DeepSeek, vLLM, Groq),
    /// `reasoning` (OpenRouter, Ollama), `reasoning_details`, ...
    #[serde(flatten)]
    pub extra: Extra,
}

impl ResponseMessage {
    /// The reasoning text some providers send next to the content
    /// (`reasoning_content` or `reasoning`), if any.
    pub fn reasoning(&self) -> Option<&str> {
        reasoning_text(&self.extra)
    }
}

/// The reasoning text in unknown fields: `reasoning_content` (DeepSeek,
/// vLLM, SGLang) or `reasoning` (OpenRouter, Ollama, newer vLLM), whichever
/// holds text. Servers that send both may leave one `null` or empty.
pub(crate) fn reasoning_text(extra: &Extra) -> Option<&str> {
    let field = |key| extra.get(key).and_then(Value::as_str);
    match (field("reasoning_content"), field("reasoning")) {
        (Some(""), Some(reasoning)) => Some(reasoning),
        (content, reasoning) => content.or(reasoning),
    }
}

/// The audio of an answer.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ResponseAudio {
    /// The id to refer to this audio in a later message.
    #[serde(default, deserialize_with = "lenient::lenient_string")]
    pub id: String,
    /// Base64-encoded audio.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
    /// When the audio expires on the server, in Unix seconds.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient::lenient_opt_u64"
    )]
    pub expires_at: Option<u64>,
    /// The transcript of the audio.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transcript: Option<String>,
    /// Unknown fields, kept.
    #[serde(flatten)]
    pub extra: Extra,
}

/// Log probabilities of a choice.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Logprobs {
    /// One entry per content token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<Vec<TokenLogprob>>,
    /// One entry per refusal token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refusal: Option<Vec<TokenLogprob>>,
    /// Unknown fields, kept.
    #[serde(flatten)]
    pub extra: Extra,
}

/// The log probability of one token, and the most likely alternatives.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TokenLogprob {
    /// The token.
    #[serde(default, deserialize_with = "lenient::lenient_string")]
    pub token: String,
    /// Its log probability (`-inf` when the server sent `null`).
    #[serde(default = "neg_infinity", deserialize_with = "logprob")]
    pub logprob: f64,
    /// The token's UTF-8 bytes (`None` when the server sent none, or a list
    /// that is not bytes, such as code points past 255).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient::lenient_bytes"
    )]
    pub bytes: Option<Vec<u8>>,
    /// The most likely tokens at this position.
    #[serde(default, deserialize_with = "lenient::null_as_default")]
    pub top_logprobs: Vec<TopLogprob>,
    /// Unknown fields, kept.
    #[serde(flatten)]
    pub extra: Extra,
}

/// One of the most likely tokens at a position.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TopLogprob {
    /// The token.
    #[serde(default, deserialize_with = "lenient::lenient_string")]
    pub token: String,
    /// Its log probability (`-inf` when the server sent `null`).
    #[serde(default = "neg_infinity", deserialize_with = "logprob")]
    pub logprob: f64,
    /// The token's UTF-8 bytes (`None` when the server sent none, or a list
    /// that is not bytes, such as code points past 255).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient::lenient_bytes"
    )]
    pub bytes: Option<Vec<u8>>,
    /// Unknown fields, kept.
    #[serde(flatten)]
    pub extra: Extra,
}

fn neg_infinity() -> f64 {
    f64::NEG_INFINITY
}

/// A log probability; `null` (what a JSON encoder writes for `-inf`) is `-inf`.
fn logprob<'de, D: Deserializer<'de>>(deserializer: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(deserializer)?.unwrap_or(f64::NEG_INFINITY))
}
