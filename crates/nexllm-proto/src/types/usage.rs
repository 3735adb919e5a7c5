//! [`Usage`]: token counts of a completion.

use serde::{Deserialize, Serialize};

use super::Extra;
use super::lenient;

/// How many tokens a request used. Counts a server leaves out (or sends as
/// `null`) are 0; counts sent as floats are accepted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// Tokens in the prompt.
    #[serde(default, deserialize_with = "lenient::lenient_u64")]
    pub prompt_tokens: u64,
    /// Tokens generated (reasoning tokens included).
    #[serde(default, deserialize_with = "lenient::lenient_u64")]
    pub completion_tokens: u64,
    /// Prompt plus completion tokens, as the server reported.
    #[serde(default, deserialize_with = "lenient::lenient_u64")]
    pub total_tokens: u64,
    /// A breakdown of the prompt tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_tokens_details: Option<PromptTokensDetails>,
    /// A breakdown of the completion tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion_tokens_details: Option<CompletionTokensDetails>,
    /// Unknown fields, kept (DeepSeek's `prompt_cache_hit_tokens`, OpenRouter's `cost`, ...).
    #[serde(flatten)]
    pub extra: Extra,
}

impl Usage {
    /// Usage with these prompt and completion counts and their sum as the total.
    pub fn new(prompt_tokens: u64, completion_tokens: u64) -> Self {
        Usage {
            prompt_tokens,
            completion_tokens,
            total_tokens: prompt_tokens.saturating_add(completion_tokens),
            ..Usage::default()
        }
    }
}

/// A breakdown of prompt tokens.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PromptTokensDetails {
    /// Tokens read from the prompt cache.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient::lenient_opt_u64"
    )]
    pub cached_tokens: Option<u64>,
    /// Audio input tokens.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient::lenient_opt_u64"
    )]
    pub audio_tokens: Option<u64>,
    /// Unknown fields, kept.
    #[serde(flatten)]
    pub extra: Extra,
}

/// A breakdown of completion tokens.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompletionTokensDetails {
    /// Tokens spent reasoning (not visible in the content).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient::lenient_opt_u64"
    )]
    pub reasoning_tokens: Option<u64>,
    /// Audio output tokens.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient::lenient_opt_u64"
    )]
    pub audio_tokens: Option<u64>,
    /// Predicted-output tokens that appeared in the completion.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient::lenient_opt_u64"
    )]
    pub accepted_prediction_tokens: Option<u64>,
    /// Predicted-output tokens that did not appear (still billed).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient::lenient_opt_u64"
    )]
    pub rejected_prediction_tokens: Option<u64>,
    /// Unknown fields, kept.
    #[serde(flatten)]
    pub extra: Extra,
}
