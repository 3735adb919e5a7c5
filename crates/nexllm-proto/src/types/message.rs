//! [`Message`]: one turn of the conversation sent in a request, and its
//! [`MessageContent`] (text or a list of [`ContentPart`]s).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::Extra;
use super::{FunctionCall, ResponseMessage, Role, ToolCall};

/// A message of the conversation in a request's `messages`.
///
/// One struct covers every role; the constructors set the fields each role
/// uses. Unknown fields (such as a provider's `cache_control`) are kept in
/// `extra`.
///
/// ```
/// use nexllm_proto::types::{ContentPart, Message, Role, ToolCall};
///
/// let conversation = vec![
///     Message::system("You are terse."),
///     Message::user("What is in this picture?"),
///     Message::user_parts(vec![
///         ContentPart::text("And this one?"),
///         ContentPart::image_url("https://example.com/cat.png"),
///     ]),
///     Message::assistant_tool_calls(vec![ToolCall::function("call_1", "lookup", r#"{"q":"cat"}"#)]),
///     Message::tool("call_1", "a cat"),
/// ];
/// assert_eq!(conversation[4].role, Role::Tool);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Message {
    /// Who wrote the message.
    pub role: Role,
    /// The text or the parts of the message. `None` for an assistant message
    /// that only calls tools.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<MessageContent>,
    /// An optional participant name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The tool calls an assistant message made. An empty list is left out
    /// of the JSON, like `None`: OpenAI refuses `"tool_calls": []` in a
    /// request, and servers such as vLLM send it in every answer.
    #[serde(default, skip_serializing_if = "super::lenient::is_none_or_empty")]
    pub tool_calls: Option<Vec<ToolCall>>,
    /// The call a tool message answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
    /// An assistant's refusal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refusal: Option<String>,
    /// The deprecated function call of an assistant message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function_call: Option<FunctionCall>,
    /// A reference to a previous audio answer (`{"id": ..}`).
    #[serde(default, skip_serializing_if = "super::lenient::is_none_or_null")]
    pub audio: Option<Value>,
    /// Unknown fields, kept.
    #[serde(flatten)]
    pub extra: Extra,
}

impl Message {
    /// A message with this role and text.
    pub fn new(role: Role, content: impl Into<MessageContent>) -> Self {
        Message {
            role,
            content: Some(content.into()),
            ..Message::default()
        }
    }

    /// A system message.
    pub fn system(content: impl Into<MessageContent>) -> Self {
        Message::new(Role::System, content)
    }

    /// A developer message (instructions for reasoning models).
    pub fn developer(content: impl Into<MessageContent>) -> Self {
        Message::new(Role::Developer, content)
    }

    /// A user message.
    pub fn user(content: impl Into<MessageContent>) -> Self {
        Message::new(Role::User, content)
    }

    /// A user message made of several parts (text, images, audio, files).
    pub fn user_parts(parts: Vec<ContentPart>) -> Self {
        Message::new(Role::User, MessageContent::Parts(parts))
    }

    /// An assistant message (an earlier answer of the model).
    pub fn assistant(content: impl Into<MessageContent>) -> Self {
        Message::new(Role::Assistant, content)
    }

    /// An assistant message that called tools and wrote no text.
    pub fn assistant_tool_calls(tool_calls: Vec<ToolCall>) -> Self {
        Message {
            role: Role::Assistant,
            tool_calls: Some(tool_calls),
            ..Message::default()
        }
    }

    /// A tool message: the result of the call `tool_call_id`.
    pub fn tool(tool_call_id: impl Into<String>, content: impl Into<MessageContent>) -> Self {
        Message {
            tool_call_id: Some(tool_call_id.into()),
            ..Message::new(Role::Tool, content)
        }
    }

    /// Sets the participant name.
    #[must_use]
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Adds a provider-specific field to the message object.
    #[must_use]
    pub fn extra_field(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        self.extra.insert(key.into(), value.into());
        self
    }

    /// The text of the message: the string content, or its text parts joined.
    pub fn text(&self) -> Option<String> {
        self.content.as_ref().map(MessageContent::text)
    }
}

/// Turns a model's answer into the assistant message that continues the
/// conversation: role, content, refusal, tool calls (with their extra fields,
/// which may carry signatures the provider wants back), function call and the
/// audio id. Unknown top-level fields such as `reasoning_content` are not
/// copied, as some providers reject them in requests.
///
/// An assistant message needs `content` unless it calls tools (or refers to
/// an audio answer), so an answer without content gets one: its refusal as a
/// `refusal` part, else the empty text.
impl From<ResponseMessage> for Message {
    fn from(m: ResponseMessage) -> Self {
        let needs_content = m.content.is_none()
            && m.tool_calls.as_ref().is_none_or(Vec::is_empty)
            && m.function_call.is_none()
            && m.audio.is_none();
        let content = match (m.content, &m.refusal) {
            (Some(text), _) => Some(MessageContent::Text(text)),
            (None, Some(refusal)) if needs_content => {
                Some(MessageContent::Parts(vec![ContentPart::Refusal {
                    refusal: refusal.clone(),
                    extra: Extra::new(),
                }]))
            }
            (None, None) if needs_content => Some(MessageContent::Text(String::new())),
            (None, _) => None,
        };
        let audio = m.audio.map(|audio| serde_json::json!({ "id": audio.id }));
        Message {
            role: m.role,
            content,
            refusal: m.refusal,
            tool_calls: m.tool_calls,
            function_call: m.function_call,
            audio,
            ..Message::default()
        }
    }
}

/// The content of a message: plain text or a list of parts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum MessageContent {
    /// Plain text.
    Text(String),
    /// Text, images, audio and files.
    Parts(Vec<ContentPart>),
}

impl MessageContent {
    /// The text: the string itself, or the text parts joined.
    pub fn text(&self) -> String {
        match self {
            MessageContent::Text(s) => s.clone(),
            MessageContent::Parts(parts) => parts
                .iter()
                .filter_map(|p| match p {
                    ContentPart::Text { text, .. } => Some(text.as_str()),
                    _ => None,
                })
                .collect(),
        }
    }
}

impl Default for MessageContent {
    fn default() -> Self {
        MessageContent::Text(String::new())
    }
}

impl From<String> for MessageContent {
    fn from(s: String) -> Self {
        MessageContent::Text(s)
    }
}

impl From<&str> for MessageContent {
    fn from(s: &str) -> Self {
        MessageContent::Text(s.to_owned())
    }
}

impl From<&String> for MessageContent {
    fn from(s: &String) -> Self {
        MessageContent::Text(s.clone())
    }
}

impl From<Vec<ContentPart>> for MessageContent {
    fn from(parts: Vec<ContentPart>) -> Self {
        MessageContent::Parts(parts)
    }
}

/// One part of a multi-part message, tagged by `type`. A part of a type this
/// SDK does not know is kept whole in [`ContentPart::Other`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum ContentPart {
    /// Text (`{"type": "text", "text": ..}`).
    Text {
        /// The text.
        text: String,
        /// Unknown fields, kept (e.g. `cache_control`).
        #[serde(flatten)]
        extra: Extra,
    },
    /// An image by URL or data URL (`{"type": "image_url", "image_url": {"url": ..}}`).
    ImageUrl {
        /// The image.
        image_url: ImageUrl,
        /// Unknown fields, kept.
        #[serde(flatten)]
        extra: Extra,
    },
    /// Base64 audio (`{"type": "input_audio", "input_audio": {"data": .., "format": ..}}`).
    InputAudio {
        /// The audio.
        input_audio: InputAudio,
        /// Unknown fields, kept.
        #[serde(flatten)]
        extra: Extra,
    },
    /// A file by id or inline data (`{"type": "file", "file": {..}}`).
    File {
        /// The file.
        file: FileInput,
        /// Unknown fields, kept.
        #[serde(flatten)]
        extra: Extra,
    },
    /// A refusal part of an assistant message.
    Refusal {
        /// The refusal text.
        refusal: String,
        /// Unknown fields, kept.
        #[serde(flatten)]
        extra: Extra,
    },
    /// Any other part, kept as sent.
    #[serde(untagged)]
    Other(Map<String, Value>),
}

impl ContentPart {
    /// A text part.
    pub fn text(text: impl Into<String>) -> Self {
        ContentPart::Text {
            text: text.into(),
            extra: Extra::new(),
        }
    }

    /// An image part from a URL or a `data:` URL.
    pub fn image_url(url: impl Into<String>) -> Self {
        ContentPart::ImageUrl {
            image_url: ImageUrl {
                url: url.into(),
                ..ImageUrl::default()
            },
            extra: Extra::new(),
        }
    }

    /// An audio part from base64 data and its format (`wav`, `mp3`).
    pub fn input_audio(data: impl Into<String>, format: impl Into<String>) -> Self {
        ContentPart::InputAudio {
            input_audio: InputAudio {
                data: data.into(),
                format: format.into(),
                extra: Extra::new(),
            },
            extra: Extra::new(),
        }
    }

    /// A file part.
    pub fn file(file: FileInput) -> Self {
        ContentPart::File {
            file,
            extra: Extra::new(),
        }
    }
}

/// The image of an `image_url` part.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ImageUrl {
    /// A URL or a `data:image/...;base64,` URL.
    pub url: String,
    /// `auto`, `low` or `high`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Unknown fields, kept.
    #[serde(flatten)]
    pub extra: Extra,
}

/// The audio of an `input_audio` part.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct InputAudio {
    /// Base64-encoded audio.
    pub data: String,
    /// The encoding: `wav` or `mp3`.
    pub format: String,
    /// Unknown fields, kept.
    #[serde(flatten)]
    pub extra: Extra,
}

/// The file of a `file` part: an uploaded file id or inline base64 data.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FileInput {
    /// The id of an uploaded file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_id: Option<String>,
    /// Base64-encoded file data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_data: Option<String>,
    /// The file name, with inline data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filename: Option<String>,
    /// Unknown fields, kept.
    #[serde(flatten)]
    pub extra: Extra,
}
