//! [`ChatCompletionRequest`]: the body of `POST /chat/completions`, with
//! every OpenAI parameter, chainable setters, and the small types its
//! parameters use.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use super::Extra;
use super::{FunctionDefinition, Message, MessageContent, Tool, ToolChoice, lenient};

/// A chat completion request.
///
/// Every parameter of OpenAI's Chat Completions API is a field; unset ones
/// are left out of the JSON (never sent as `null`). Provider-specific
/// parameters go in `extra`, which is flattened into the top-level object.
///
/// ```
/// use nexllm_proto::types::{ChatCompletionRequest, Message};
///
/// let request = ChatCompletionRequest::new("gpt-4o-mini", vec![Message::user("Hello")])
///     .max_tokens(64)
///     .temperature(0.2)
///     .stream(true)
///     .include_usage(true)
///     .extra_param("top_k", 40);
/// assert!(request.validate().is_ok());
/// let json = serde_json::to_value(&request).unwrap();
/// assert_eq!(json["top_k"], 40);
/// assert_eq!(json["stream_options"]["include_usage"], true);
/// assert!(json.get("top_p").is_none());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChatCompletionRequest {
    /// The model id, e.g. `gpt-4o` or `aws/claude-haiku-4-5`.
    pub model: String,
    /// The conversation so far (at least one message).
    pub messages: Vec<Message>,
    /// Audio output parameters (with `modalities: ["text", "audio"]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audio: Option<AudioParams>,
    /// Penalty for tokens by how often they appeared so far, -2.0 to 2.0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frequency_penalty: Option<f64>,
    /// Deprecated: use `tool_choice`.
    #[serde(default, skip_serializing_if = "lenient::is_none_or_null")]
    pub function_call: Option<Value>,
    /// Deprecated: use `tools`. An empty list is left out (the API needs at
    /// least one function).
    #[serde(default, skip_serializing_if = "lenient::is_none_or_empty")]
    pub functions: Option<Vec<FunctionDefinition>>,
    /// Token id (as text) to bias, -100 to 100. Whole biases are sent as
    /// JSON integers (`-100`, not `-100.0`), as the API types them.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "logit_bias_as_integers"
    )]
    pub logit_bias: Option<BTreeMap<String, f64>>,
    /// Whether to return log probabilities of the output tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logprobs: Option<bool>,
    /// Upper bound on generated tokens, reasoning tokens included.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_completion_tokens: Option<u32>,
    /// Upper bound on generated tokens (older name; still the most widely supported).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    /// Key-value pairs stored with the completion.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<BTreeMap<String, String>>,
    /// Output modalities, e.g. `["text"]` or `["text", "audio"]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modalities: Option<Vec<String>>,
    /// Moderation settings for the request and its output.
    #[serde(default, skip_serializing_if = "lenient::is_none_or_null")]
    pub moderation: Option<Value>,
    /// How many choices to generate (at least 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n: Option<u32>,
    /// Whether the model may call several tools in one turn.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parallel_tool_calls: Option<bool>,
    /// Predicted output, to speed up regeneration of mostly known text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prediction: Option<Prediction>,
    /// Penalty for tokens that already appeared, -2.0 to 2.0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub presence_penalty: Option<f64>,
    /// A key grouping requests that share a prompt prefix, for caching.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_cache_key: Option<String>,
    /// Prompt caching options (`ttl`, `mode`).
    #[serde(default, skip_serializing_if = "lenient::is_none_or_null")]
    pub prompt_cache_options: Option<Value>,
    /// How long cached prefixes are kept: `in_memory` or `24h` (deprecated for
    /// `prompt_cache_options.ttl`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_cache_retention: Option<String>,
    /// How hard a reasoning model thinks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_effort: Option<ReasoningEffort>,
    /// The output format: text, any JSON object, or JSON following a schema.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_format: Option<ResponseFormat>,
    /// A stable hashed identifier of the end user, for abuse detection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub safety_identifier: Option<String>,
    /// A seed for best-effort deterministic sampling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<i64>,
    /// The processing tier: `auto`, `default`, `flex`, `scale`, `priority`, `fast`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_tier: Option<String>,
    /// Up to four sequences where generation stops. An empty list is left
    /// out, like `None` (the API needs at least one sequence).
    #[serde(default, skip_serializing_if = "no_stop")]
    pub stop: Option<Stop>,
    /// Whether to store the completion.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store: Option<bool>,
    /// Whether the answer is streamed as server-sent events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<bool>,
    /// Streaming options (only with `stream: true`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_options: Option<StreamOptions>,
    /// Sampling temperature, 0.0 to 2.0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    /// Which tool the model must call, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<ToolChoice>,
    /// The tools the model may call. An empty list is left out, like
    /// `None`: OpenAI and DeepSeek refuse `"tools": []`.
    #[serde(default, skip_serializing_if = "lenient::is_none_or_empty")]
    pub tools: Option<Vec<Tool>>,
    /// How many most likely tokens to return at each position, 0 to 20 (needs `logprobs`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_logprobs: Option<u32>,
    /// Nucleus sampling mass, 0.0 to 1.0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    /// Deprecated end-user identifier (see `safety_identifier` and `prompt_cache_key`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// How verbose the answer is: `low`, `medium`, `high`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verbosity: Option<String>,
    /// Web search settings, for search models.
    #[serde(default, skip_serializing_if = "lenient::is_none_or_null")]
    pub web_search_options: Option<Value>,
    /// Provider-specific parameters, flattened into the JSON object after
    /// the typed fields (`top_k`, `repetition_penalty`, `thinking`, ...).
    ///
    /// A key may also name a typed field that is unset (one that would be
    /// left out of the JSON: `None`, or an empty `tools`, `functions` or
    /// `stop`, or a `null` free-form value), to send a value the typed field
    /// cannot hold, such as the non-string `metadata` values LiteLLM and
    /// other gateways accept. A key that names a typed field that is set
    /// (and so `model` and `messages`, always) would send the field twice;
    /// [`ChatCompletionRequest::validate`] rejects that. A request sent so
    /// does not decode back into this type when the value does not fit the
    /// typed field.
    #[serde(flatten)]
    pub extra: Extra,
}

/// Writes `logit_bias` with each whole bias as a JSON integer: the API types
/// the biases as integers and refuses a decimal number such as `-100.0`
/// (which is how serde writes an `f64`). A fractional bias, which some
/// servers accept, is written as it is.
fn logit_bias_as_integers<S: Serializer>(
    biases: &Option<BTreeMap<String, f64>>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    /// One bias, as an integer when it is whole.
    struct Bias(f64);

    impl Serialize for Bias {
        fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            // Below 2^53 every whole f64 is an exact i64.
            if self.0.fract() == 0.0 && self.0.abs() < 9.0e15 {
                serializer.serialize_i64(self.0 as i64)
            } else {
                serializer.serialize_f64(self.0)
            }
        }
    }

    match biases {
        Some(biases) => {
            serializer.collect_map(biases.iter().map(|(token, &bias)| (token, Bias(bias))))
        }
        None => serializer.serialize_none(),
    }
}

/// The JSON names of the typed fields of [`ChatCompletionRequest`].
pub const REQUEST_FIELDS: &[&str] = &[
    "model",
    "messages",
    "audio",
    "frequency_penalty",
    "function_call",
    "functions",
    "logit_bias",
    "logprobs",
    "max_completion_tokens",
    "max_tokens",
    "metadata",
    "modalities",
    "moderation",
    "n",
    "parallel_tool_calls",
    "prediction",
    "presence_penalty",
    "prompt_cache_key",
    "prompt_cache_options",
    "prompt_cache_retention",
    "reasoning_effort",
    "response_format",
    "safety_identifier",
    "seed",
    "service_tier",
    "stop",
    "store",
    "stream",
    "stream_options",
    "temperature",
    "tool_choice",
    "tools",
    "top_logprobs",
    "top_p",
    "user",
    "verbosity",
    "web_search_options",
];

impl ChatCompletionRequest {
    /// Whether the typed field named `name` (its JSON name) is written when
    /// the request is encoded: each arm is that field's
    /// `skip_serializing_if`, negated. `model` and `messages` are always
    /// written; a name that is not a typed field is never.
    ///
    /// The pattern names every field, so a new field fails to compile here
    /// until it is given an arm.
    pub(crate) fn typed_field_is_sent(&self, name: &str) -> bool {
        let ChatCompletionRequest {
            model: _,
            messages: _,
            audio,
            frequency_penalty,
            function_call,
            functions,
            logit_bias,
            logprobs,
            max_completion_tokens,
            max_tokens,
            metadata,
            modalities,
            moderation,
            n,
            parallel_tool_calls,
            prediction,
            presence_penalty,
            prompt_cache_key,
            prompt_cache_options,
            prompt_cache_retention,
            reasoning_effort,
            response_format,
            safety_identifier,
            seed,
            service_tier,
            stop,
            store,
            stream,
            stream_options,
            temperature,
            tool_choice,
            tools,
            top_logprobs,
            top_p,
            user,
            verbosity,
            web_search_options,
            extra: _,
        } = self;
        match name {
            "model" | "messages" => true,
            "audio" => audio.is_some(),
            "frequency_penalty" => frequency_penalty.is_some(),
            "function_call" => !lenient::is_none_or_null(function_call),
            "functions" => !lenient::is_none_or_empty(functions),
            "logit_bias" => logit_bias.is_some(),
            "logprobs" => logprobs.is_some(),
            "max_completion_tokens" => max_completion_tokens.is_some(),
            "max_tokens" => max_tokens.is_some(),
            "metadata" => metadata.is_some(),
            "modalities" => modalities.is_some(),
            "moderation" => !lenient::is_none_or_null(moderation),
            "n" => n.is_some(),
            "parallel_tool_calls" => parallel_tool_calls.is_some(),
            "prediction" => prediction.is_some(),
            "presence_penalty" => presence_penalty.is_some(),
            "prompt_cache_key" => prompt_cache_key.is_some(),
            "prompt_cache_options" => !lenient::is_none_or_null(prompt_cache_options),
            "prompt_cache_retention" => prompt_cache_retention.is_some(),
            "reasoning_effort" => reasoning_effort.is_some(),
            "response_format" => response_format.is_some(),
            "safety_identifier" => safety_identifier.is_some(),
            "seed" => seed.is_some(),
            "service_tier" => service_tier.is_some(),
            "stop" => !no_stop(stop),
            "store" => store.is_some(),
            "stream" => stream.is_some(),
            "stream_options" => stream_options.is_some(),
            "temperature" => temperature.is_some(),
            "tool_choice" => tool_choice.is_some(),
            "tools" => !lenient::is_none_or_empty(tools),
            "top_logprobs" => top_logprobs.is_some(),
            "top_p" => top_p.is_some(),
            "user" => user.is_some(),
            "verbosity" => verbosity.is_some(),
            "web_search_options" => !lenient::is_none_or_null(web_search_options),
            _ => false,
        }
    }
}

/// Setters that take any `impl Into<T>` (strings, enums, JSON values).
macro_rules! setters {
    ($( $(#[$doc:meta])* $name:ident: $ty:ty ),* $(,)?) => {
        $(
            $(#[$doc])*
            #[must_use]
            pub fn $name(mut self, value: impl Into<$ty>) -> Self {
                self.$name = Some(value.into());
                self
            }
        )*
    };
}

/// Setters of free-form JSON parameters; `null` leaves the parameter unset.
macro_rules! value_setters {
    ($( $(#[$doc:meta])* $name:ident ),* $(,)?) => {
        $(
            $(#[$doc])*
            #[must_use]
            pub fn $name(mut self, value: impl Into<Value>) -> Self {
                self.$name = lenient::non_null(value.into());
                self
            }
        )*
    };
}

/// Setters that take exactly `T`, so that number literals infer their type.
macro_rules! exact_setters {
    ($( $(#[$doc:meta])* $name:ident: $ty:ty ),* $(,)?) => {
        $(
            $(#[$doc])*
            #[must_use]
            pub fn $name(mut self, value: $ty) -> Self {
                self.$name = Some(value);
                self
            }
        )*
    };
}

impl ChatCompletionRequest {
    /// A request for `model` with these messages and nothing else set.
    pub fn new(model: impl Into<String>, messages: Vec<Message>) -> Self {
        ChatCompletionRequest {
            model: model.into(),
            messages,
            ..ChatCompletionRequest::default()
        }
    }

    /// Sets the model.
    #[must_use]
    pub fn model(mut self, model: impl Into<String>) -> Self {
        self.model = model.into();
        self
    }

    /// Appends a message.
    #[must_use]
    pub fn message(mut self, message: Message) -> Self {
        self.messages.push(message);
        self
    }

    /// Replaces the messages.
    #[must_use]
    pub fn messages(mut self, messages: Vec<Message>) -> Self {
        self.messages = messages;
        self
    }

    setters! {
        /// Sets `audio`.
        audio: AudioParams,
        /// Sets `modalities`.
        modalities: Vec<String>,
        /// Sets `prediction`.
        prediction: Prediction,
        /// Sets `prompt_cache_key`.
        prompt_cache_key: String,
        /// Sets `prompt_cache_retention`.
        prompt_cache_retention: String,
        /// Sets `reasoning_effort`.
        reasoning_effort: ReasoningEffort,
        /// Sets `response_format`.
        response_format: ResponseFormat,
        /// Sets `safety_identifier`.
        safety_identifier: String,
        /// Sets `service_tier`.
        service_tier: String,
        /// Sets `stop` (a string or a list of strings).
        stop: Stop,
        /// Sets `stream_options`.
        stream_options: StreamOptions,
        /// Sets `tool_choice` (`"auto"`, `"none"`, `"required"` or a [`ToolChoice`]).
        tool_choice: ToolChoice,
        /// Sets `tools`.
        tools: Vec<Tool>,
        /// Sets `user`.
        user: String,
        /// Sets `verbosity`.
        verbosity: String,
        /// Sets the deprecated `functions`.
        functions: Vec<FunctionDefinition>,
    }

    value_setters! {
        /// Sets `moderation` (`null` unsets it).
        moderation,
        /// Sets `prompt_cache_options` (`null` unsets it).
        prompt_cache_options,
        /// Sets `web_search_options` (`null` unsets it).
        web_search_options,
        /// Sets the deprecated `function_call` (`null` unsets it).
        function_call,
    }

    exact_setters! {
        /// Sets `frequency_penalty` (-2.0 to 2.0).
        frequency_penalty: f64,
        /// Sets `logprobs`.
        logprobs: bool,
        /// Sets `max_completion_tokens` (at least 1).
        max_completion_tokens: u32,
        /// Sets `max_tokens` (at least 1).
        max_tokens: u32,
        /// Sets `n` (at least 1).
        n: u32,
        /// Sets `parallel_tool_calls`.
        parallel_tool_calls: bool,
        /// Sets `presence_penalty` (-2.0 to 2.0).
        presence_penalty: f64,
        /// Sets `seed`.
        seed: i64,
        /// Sets `store`.
        store: bool,
        /// Sets `stream`.
        stream: bool,
        /// Sets `temperature` (0.0 to 2.0).
        temperature: f64,
        /// Sets `top_logprobs` (0 to 20).
        top_logprobs: u32,
        /// Sets `top_p` (0.0 to 1.0).
        top_p: f64,
    }

    /// Sets the bias of one token id (-100 to 100).
    #[must_use]
    pub fn logit_bias(mut self, token_id: impl Into<String>, bias: f64) -> Self {
        self.logit_bias
            .get_or_insert_with(BTreeMap::new)
            .insert(token_id.into(), bias);
        self
    }

    /// Sets one `metadata` entry.
    #[must_use]
    pub fn metadata(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.metadata
            .get_or_insert_with(BTreeMap::new)
            .insert(key.into(), value.into());
        self
    }

    /// Appends a tool.
    #[must_use]
    pub fn tool(mut self, tool: impl Into<Tool>) -> Self {
        self.tools.get_or_insert_with(Vec::new).push(tool.into());
        self
    }

    /// Sets `stream_options.include_usage`: the last chunk of a stream then
    /// carries the token usage.
    #[must_use]
    pub fn include_usage(mut self, include_usage: bool) -> Self {
        self.stream_options
            .get_or_insert_with(StreamOptions::default)
            .include_usage = Some(include_usage);
        self
    }

    /// Adds a provider-specific parameter, flattened into the JSON object.
    /// It may name a typed field only while that field is unset (see
    /// [`ChatCompletionRequest::extra`]).
    #[must_use]
    pub fn extra_param(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        self.extra.insert(key.into(), value.into());
        self
    }

    /// Whether the request asks for a stream (`stream: true`).
    pub fn is_stream(&self) -> bool {
        self.stream == Some(true)
    }
}

/// Options of a streamed answer.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StreamOptions {
    /// Whether a last chunk carries the token usage of the whole request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include_usage: Option<bool>,
    /// Whether chunks carry random padding against side channels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include_obfuscation: Option<bool>,
    /// Unknown fields, kept.
    #[serde(flatten)]
    pub extra: Extra,
}

/// For `skip_serializing_if`: no stop sequence at all. The spec gives the
/// list `minItems: 1`, and servers refuse `"stop": []`.
fn no_stop(stop: &Option<Stop>) -> bool {
    match stop {
        None => true,
        Some(Stop::Many(sequences)) => sequences.is_empty(),
        Some(Stop::One(_)) => false,
    }
}

/// Stop sequences: one string or a list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Stop {
    /// One sequence.
    One(String),
    /// Several sequences (OpenAI accepts up to four).
    Many(Vec<String>),
}

impl Stop {
    /// The sequences as a slice-like list.
    pub fn sequences(&self) -> Vec<&str> {
        match self {
            Stop::One(s) => vec![s.as_str()],
            Stop::Many(v) => v.iter().map(String::as_str).collect(),
        }
    }
}

impl From<&str> for Stop {
    fn from(s: &str) -> Self {
        Stop::One(s.to_owned())
    }
}

impl From<String> for Stop {
    fn from(s: String) -> Self {
        Stop::One(s)
    }
}

impl From<Vec<String>> for Stop {
    fn from(v: Vec<String>) -> Self {
        Stop::Many(v)
    }
}

impl From<Vec<&str>> for Stop {
    fn from(v: Vec<&str>) -> Self {
        Stop::Many(v.into_iter().map(str::to_owned).collect())
    }
}

/// The format the model must answer in (`response_format`).
///
/// An object with more members than its type's (such as Together's and
/// Fireworks' `{"type": "json_object", "schema": {..}}`) decodes to
/// [`ResponseFormat::Other`], so that it encodes back whole.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum ResponseFormat {
    /// Free text (the default).
    Text,
    /// Any valid JSON object ("JSON mode").
    JsonObject,
    /// JSON that follows a schema (Structured Outputs).
    JsonSchema {
        /// The schema and its name.
        json_schema: JsonSchemaFormat,
    },
    /// Any other format object, sent as is.
    #[serde(untagged)]
    Other(Map<String, Value>),
}

impl<'de> Deserialize<'de> for ResponseFormat {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let map = Map::<String, Value>::deserialize(deserializer)?;
        // A typed variant only for the exact shape, so nothing is dropped.
        let typed = match (map.get("type").and_then(Value::as_str), map.len()) {
            (Some("text"), 1) => Some(ResponseFormat::Text),
            (Some("json_object"), 1) => Some(ResponseFormat::JsonObject),
            (Some("json_schema"), 2) => map
                .get("json_schema")
                .and_then(|schema| JsonSchemaFormat::deserialize(schema).ok())
                .map(|json_schema| ResponseFormat::JsonSchema { json_schema }),
            _ => None,
        };
        Ok(typed.unwrap_or(ResponseFormat::Other(map)))
    }
}

impl ResponseFormat {
    /// A strict JSON Schema format.
    pub fn json_schema(name: impl Into<String>, schema: Value) -> Self {
        ResponseFormat::JsonSchema {
            json_schema: JsonSchemaFormat {
                name: name.into(),
                description: None,
                schema: lenient::non_null(schema),
                strict: Some(true),
                extra: Extra::new(),
            },
        }
    }
}

/// The schema of a `json_schema` response format.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct JsonSchemaFormat {
    /// The format's name (`a-z`, `A-Z`, `0-9`, `_`, `-`; at most 64 characters).
    pub name: String,
    /// What the format is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The JSON Schema.
    #[serde(default, skip_serializing_if = "lenient::is_none_or_null")]
    pub schema: Option<Value>,
    /// Whether the schema must be followed exactly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strict: Option<bool>,
    /// Unknown fields, kept.
    #[serde(flatten)]
    pub extra: Extra,
}

/// How much a reasoning model thinks before answering.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ReasoningEffort {
    /// `"none"`.
    None,
    /// `"minimal"`.
    Minimal,
    /// `"low"`.
    Low,
    /// `"medium"`.
    Medium,
    /// `"high"`.
    High,
    /// `"xhigh"`.
    XHigh,
    /// Any other value, sent as is.
    Other(String),
}

impl ReasoningEffort {
    /// The value as sent.
    pub fn as_str(&self) -> &str {
        match self {
            ReasoningEffort::None => "none",
            ReasoningEffort::Minimal => "minimal",
            ReasoningEffort::Low => "low",
            ReasoningEffort::Medium => "medium",
            ReasoningEffort::High => "high",
            ReasoningEffort::XHigh => "xhigh",
            ReasoningEffort::Other(s) => s,
        }
    }
}

impl From<&str> for ReasoningEffort {
    fn from(s: &str) -> Self {
        match s {
            "none" => ReasoningEffort::None,
            "minimal" => ReasoningEffort::Minimal,
            "low" => ReasoningEffort::Low,
            "medium" => ReasoningEffort::Medium,
            "high" => ReasoningEffort::High,
            "xhigh" => ReasoningEffort::XHigh,
            other => ReasoningEffort::Other(other.to_owned()),
        }
    }
}

impl fmt::Display for ReasoningEffort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for ReasoningEffort {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ReasoningEffort {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(|s| ReasoningEffort::from(s.as_str()))
    }
}

/// Audio output parameters.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AudioParams {
    /// The voice: a built-in one by name (`"alloy".into()`), or a custom one
    /// by id.
    pub voice: Voice,
    /// The encoding, e.g. `wav`, `mp3`, `pcm16`.
    pub format: String,
    /// Unknown fields, kept.
    #[serde(flatten)]
    pub extra: Extra,
}

/// The voice of audio output.
///
/// ```
/// use nexllm_proto::types::Voice;
///
/// assert_eq!(serde_json::to_string(&Voice::from("alloy")).unwrap(), r#""alloy""#);
/// let custom = Voice::custom("voice_1234");
/// assert_eq!(serde_json::to_string(&custom).unwrap(), r#"{"id":"voice_1234"}"#);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Voice {
    /// A built-in voice by name, e.g. `alloy`, `ash`, `coral`.
    Name(String),
    /// A custom voice: `{"id": "voice_1234"}`.
    Custom(CustomVoice),
}

/// A custom voice, by its id.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CustomVoice {
    /// The voice's id, e.g. `voice_1234`.
    pub id: String,
    /// Unknown fields, kept.
    #[serde(flatten)]
    pub extra: Extra,
}

impl Voice {
    /// A custom voice with this id.
    pub fn custom(id: impl Into<String>) -> Self {
        Voice::Custom(CustomVoice {
            id: id.into(),
            extra: Extra::new(),
        })
    }
}

impl Default for Voice {
    fn default() -> Self {
        Voice::Name(String::new())
    }
}

impl From<&str> for Voice {
    fn from(name: &str) -> Self {
        Voice::Name(name.to_owned())
    }
}

impl From<String> for Voice {
    fn from(name: String) -> Self {
        Voice::Name(name)
    }
}

/// Predicted output (`{"type": "content", "content": ..}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Prediction {
    /// Always `content` today.
    #[serde(rename = "type")]
    pub r#type: String,
    /// The predicted text, or text parts.
    pub content: MessageContent,
    /// Unknown fields, kept.
    #[serde(flatten)]
    pub extra: Extra,
}

impl Prediction {
    /// A prediction of this text.
    pub fn content(content: impl Into<MessageContent>) -> Self {
        Prediction {
            r#type: "content".to_owned(),
            content: content.into(),
            extra: Extra::new(),
        }
    }
}
