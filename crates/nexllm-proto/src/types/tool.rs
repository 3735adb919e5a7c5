//! Tools: what a request offers ([`Tool`], [`ToolChoice`]) and what the model
//! calls ([`ToolCall`], and [`ToolCallDelta`] fragments in a stream).

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use super::Extra;
use super::lenient;

/// A tool the model may call, in a request's `tools`.
///
/// ```
/// use nexllm_proto::types::Tool;
/// use serde_json::json;
///
/// let tool = Tool::function(
///     "get_weather",
///     "Current weather for a city",
///     json!({"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}),
/// );
/// assert_eq!(serde_json::to_value(&tool).unwrap()["function"]["name"], "get_weather");
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Tool {
    /// A function tool (`{"type": "function", "function": {..}}`).
    Function {
        /// The function's name, description and JSON Schema.
        function: FunctionDefinition,
        /// Unknown fields, kept.
        #[serde(flatten)]
        extra: Extra,
    },
    /// A custom tool with free-form input (`{"type": "custom", "custom": {..}}`).
    Custom {
        /// The tool's definition (`name`, `description`, `format`).
        custom: Value,
        /// Unknown fields, kept.
        #[serde(flatten)]
        extra: Extra,
    },
    /// Any other tool object (a provider's built-in tool), passed through as is.
    #[serde(untagged)]
    Other(Map<String, Value>),
}

impl Tool {
    /// A function tool with a description and a JSON Schema for its parameters.
    pub fn function(
        name: impl Into<String>,
        description: impl Into<String>,
        parameters: Value,
    ) -> Self {
        Tool::Function {
            function: FunctionDefinition {
                name: name.into(),
                description: Some(description.into()),
                parameters: lenient::non_null(parameters),
                strict: None,
                extra: Extra::new(),
            },
            extra: Extra::new(),
        }
    }

    /// The function definition, when this is a function tool.
    pub fn as_function(&self) -> Option<&FunctionDefinition> {
        match self {
            Tool::Function { function, .. } => Some(function),
            _ => None,
        }
    }
}

impl From<FunctionDefinition> for Tool {
    fn from(function: FunctionDefinition) -> Self {
        Tool::Function {
            function,
            extra: Extra::new(),
        }
    }
}

/// A function the model may call.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FunctionDefinition {
    /// The function name (`a-z`, `A-Z`, `0-9`, `_` and `-`, at most 64 characters).
    pub name: String,
    /// What the function does, for the model to decide when to call it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The parameters as a JSON Schema object; `None` for no parameters.
    #[serde(default, skip_serializing_if = "lenient::is_none_or_null")]
    pub parameters: Option<Value>,
    /// Whether the model must follow the schema exactly (Structured Outputs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strict: Option<bool>,
    /// Unknown fields, kept.
    #[serde(flatten)]
    pub extra: Extra,
}

impl FunctionDefinition {
    /// A function with only a name.
    pub fn new(name: impl Into<String>) -> Self {
        FunctionDefinition {
            name: name.into(),
            ..FunctionDefinition::default()
        }
    }

    /// Sets the description.
    #[must_use]
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }

    /// Sets the JSON Schema of the parameters.
    #[must_use]
    pub fn parameters(mut self, parameters: Value) -> Self {
        self.parameters = lenient::non_null(parameters);
        self
    }

    /// Sets strict schema adherence.
    #[must_use]
    pub fn strict(mut self, strict: bool) -> Self {
        self.strict = Some(strict);
        self
    }
}

/// Which tool, if any, the model must call (`tool_choice`).
///
/// Sent as `"none"`, `"auto"`, `"required"` or
/// `{"type": "function", "function": {"name": ..}}`; any other shape (such as
/// `allowed_tools` or a custom tool) is kept in [`ToolChoice::Other`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ToolChoice {
    /// Call no tool.
    None,
    /// The model decides.
    Auto,
    /// Call at least one tool.
    Required,
    /// Call this function.
    Function {
        /// The function's name.
        name: String,
    },
    /// Any other value, sent as is.
    Other(Value),
}

impl ToolChoice {
    /// Forces a call of the named function.
    pub fn function(name: impl Into<String>) -> Self {
        ToolChoice::Function { name: name.into() }
    }

    fn to_value(&self) -> Value {
        match self {
            ToolChoice::None => Value::from("none"),
            ToolChoice::Auto => Value::from("auto"),
            ToolChoice::Required => Value::from("required"),
            ToolChoice::Function { name } => serde_json::json!({
                "type": "function",
                "function": { "name": name },
            }),
            ToolChoice::Other(v) => v.clone(),
        }
    }

    fn from_value(value: Value) -> Self {
        match value.as_str() {
            Some("none") => return ToolChoice::None,
            Some("auto") => return ToolChoice::Auto,
            Some("required") => return ToolChoice::Required,
            _ => {}
        }
        // Only the exact named-function shape becomes `Function`, so that
        // anything richer round-trips unchanged through `Other`.
        if let Value::Object(map) = &value {
            let is_function = map.get("type").and_then(Value::as_str) == Some("function");
            if let (true, 2, Some(Value::Object(function))) =
                (is_function, map.len(), map.get("function"))
            {
                if let (1, Some(Value::String(name))) = (function.len(), function.get("name")) {
                    return ToolChoice::Function { name: name.clone() };
                }
            }
        }
        ToolChoice::Other(value)
    }
}

impl From<&str> for ToolChoice {
    fn from(s: &str) -> Self {
        ToolChoice::from_value(Value::from(s))
    }
}

impl Serialize for ToolChoice {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_value().serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for ToolChoice {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Value::deserialize(deserializer).map(ToolChoice::from_value)
    }
}

fn default_tool_type() -> String {
    "function".to_owned()
}

/// A call without a function (a function call always has a name).
fn no_function(function: &FunctionCall) -> bool {
    function.name.is_empty() && function.arguments.is_empty() && function.extra.is_empty()
}

/// A tool call made by the model, in a response message (and in assistant
/// messages sent back in a conversation).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    /// The call id, echoed in the tool message that answers it.
    #[serde(default, deserialize_with = "lenient::lenient_string")]
    pub id: String,
    /// The tool type, `"function"` (the default when a server omits it).
    #[serde(
        rename = "type",
        default = "default_tool_type",
        deserialize_with = "tool_type"
    )]
    pub r#type: String,
    /// The function called and its arguments. Left out when it is empty:
    /// a call of another type (`custom`, whose `custom` member is kept in
    /// `extra`) has none, and must be sent back without one.
    #[serde(
        default,
        deserialize_with = "lenient::null_as_default",
        skip_serializing_if = "no_function"
    )]
    pub function: FunctionCall,
    /// Unknown fields, kept (Gemini sends `extra_content` with a thought
    /// signature that must be sent back).
    #[serde(flatten)]
    pub extra: Extra,
}

impl Default for ToolCall {
    fn default() -> Self {
        ToolCall {
            id: String::new(),
            r#type: default_tool_type(),
            function: FunctionCall::default(),
            extra: Extra::new(),
        }
    }
}

impl ToolCall {
    /// A function call with this id, function name and JSON arguments text.
    pub fn function(
        id: impl Into<String>,
        name: impl Into<String>,
        arguments: impl Into<String>,
    ) -> Self {
        ToolCall {
            id: id.into(),
            function: FunctionCall {
                name: name.into(),
                arguments: arguments.into(),
                extra: Extra::new(),
            },
            ..ToolCall::default()
        }
    }
}

fn tool_type<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    let s = lenient::lenient_string(deserializer)?;
    Ok(if s.is_empty() { default_tool_type() } else { s })
}

/// The function a tool call invokes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FunctionCall {
    /// The function's name.
    #[serde(default, deserialize_with = "lenient::lenient_string")]
    pub name: String,
    /// The arguments as JSON text, as the model wrote them (it may not be
    /// valid JSON). A server that sends an object gets it written as text.
    #[serde(default, deserialize_with = "lenient::string_or_json")]
    pub arguments: String,
    /// Unknown fields, kept.
    #[serde(flatten)]
    pub extra: Extra,
}

/// A fragment of a tool call in a stream chunk. The first fragment of a call
/// usually carries `id`, `type` and `function.name`; later ones add pieces of
/// `function.arguments`. `index` says which call a fragment belongs to.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ToolCallDelta {
    /// Which tool call of the choice this fragment extends.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient::lenient_opt_u32"
    )]
    pub index: Option<u32>,
    /// The call id (first fragment).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The tool type (first fragment).
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub r#type: Option<String>,
    /// The function name and an arguments fragment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function: Option<FunctionCallDelta>,
    /// Unknown fields, kept.
    #[serde(flatten)]
    pub extra: Extra,
}

/// A fragment of a function call in a stream chunk.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FunctionCallDelta {
    /// The function name (usually only in the first fragment).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The next piece of the arguments text.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient::opt_string_or_json"
    )]
    pub arguments: Option<String>,
    /// Unknown fields, kept.
    #[serde(flatten)]
    pub extra: Extra,
}
