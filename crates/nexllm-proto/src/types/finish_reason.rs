//! [`FinishReason`]: why a choice stopped.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Why the model stopped writing a choice. A reason this SDK does not know
/// decodes to [`FinishReason::Other`]; decoding never fails.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum FinishReason {
    /// A natural end or a stop sequence (`"stop"`).
    Stop,
    /// The token limit was reached (`"length"`).
    Length,
    /// The model called one or more tools (`"tool_calls"`).
    ToolCalls,
    /// Content was withheld by a filter (`"content_filter"`).
    ContentFilter,
    /// The model called a deprecated function (`"function_call"`).
    FunctionCall,
    /// Any other reason, kept as sent (`"eos"`, `"error"`, `"recitation"`, ...).
    Other(String),
}

impl FinishReason {
    /// The reason as it appears on the wire.
    pub fn as_str(&self) -> &str {
        match self {
            FinishReason::Stop => "stop",
            FinishReason::Length => "length",
            FinishReason::ToolCalls => "tool_calls",
            FinishReason::ContentFilter => "content_filter",
            FinishReason::FunctionCall => "function_call",
            FinishReason::Other(s) => s,
        }
    }
}

impl From<&str> for FinishReason {
    fn from(s: &str) -> Self {
        match s {
            "stop" => FinishReason::Stop,
            "length" => FinishReason::Length,
            "tool_calls" => FinishReason::ToolCalls,
            "content_filter" => FinishReason::ContentFilter,
            "function_call" => FinishReason::FunctionCall,
            other => FinishReason::Other(other.to_owned()),
        }
    }
}

impl fmt::Display for FinishReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for FinishReason {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for FinishReason {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(match serde_json::Value::deserialize(deserializer)? {
            serde_json::Value::String(s) => FinishReason::from(s.as_str()),
            other => FinishReason::Other(other.to_string()),
        })
    }
}

/// Decodes an optional finish reason: `null`, an absent field and the empty
/// string (which some servers send on chunks that did not finish) are `None`;
/// a non-string value is kept as its JSON text in [`FinishReason::Other`].
pub(crate) fn optional<'de, D>(deserializer: D) -> Result<Option<FinishReason>, D::Error>
where
    D: Deserializer<'de>,
{
    use super::lenient::StrOrJson;
    Ok(match StrOrJson::deserialize(deserializer)? {
        StrOrJson::Null | StrOrJson::Other(serde_json::Value::Null) => None,
        StrOrJson::Str(s) if s.is_empty() => None,
        StrOrJson::Str(s) => Some(FinishReason::from(&*s)),
        StrOrJson::Other(other) => Some(FinishReason::Other(other.to_string())),
    })
}
