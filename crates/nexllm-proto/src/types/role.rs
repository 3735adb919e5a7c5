//! [`Role`]: who wrote a message.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The author of a message, sent as a lowercase string. A role this SDK does
/// not know decodes to [`Role::Other`] instead of failing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub enum Role {
    /// Instructions from the application (`"system"`).
    System,
    /// Instructions from the developer, for reasoning models (`"developer"`).
    Developer,
    /// The end user (`"user"`).
    User,
    /// The model (`"assistant"`).
    #[default]
    Assistant,
    /// The result of a tool call (`"tool"`).
    Tool,
    /// The result of a deprecated function call (`"function"`).
    Function,
    /// Any other role, kept as sent.
    Other(String),
}

impl Role {
    /// The role as it appears on the wire.
    pub fn as_str(&self) -> &str {
        match self {
            Role::System => "system",
            Role::Developer => "developer",
            Role::User => "user",
            Role::Assistant => "assistant",
            Role::Tool => "tool",
            Role::Function => "function",
            Role::Other(s) => s,
        }
    }
}

impl From<&str> for Role {
    fn from(s: &str) -> Self {
        match s {
            "system" => Role::System,
            "developer" => Role::Developer,
            "user" => Role::User,
            "assistant" => Role::Assistant,
            "tool" => Role::Tool,
            "function" => Role::Function,
            other => Role::Other(other.to_owned()),
        }
    }
}

impl From<String> for Role {
    fn from(s: String) -> Self {
        match Role::from(s.as_str()) {
            Role::Other(_) => Role::Other(s),
            known => known,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Role {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Role {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Role::from)
    }
}
