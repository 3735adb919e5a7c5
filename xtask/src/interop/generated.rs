//! Generated requests for the schema property: random but valid requests
//! built with the SDK's builders (messages of every role and content kind,
//! parameters in their documented ranges, tools and tool choices, response
//! formats, streaming options) with text that stresses JSON escaping.
//!
//! "Valid" means within OpenAI's documented ranges, which are sometimes
//! narrower than what the SDK's own validation accepts: `logit_bias` values
//! are integers in the schema (the SDK takes any finite number), and `n` is
//! at most 128 there.

use nexllm_proto::strategies::delta_text;
use nexllm_proto::types::{
    ChatCompletionRequest, ContentPart, FileInput, Message, MessageContent, ReasoningEffort,
    ResponseFormat, Tool, ToolCall, ToolChoice,
};
use proptest::prelude::*;
use serde_json::{Value, json};

/// Any text, escaping-heavy or long.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => delta_text(),
        1 => any::<String>(),
        1 => "[a-zA-Z ,.]{40,200}",
    ]
}

fn identifier() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9_-]{1,64}"
}

fn part() -> impl Strategy<Value = ContentPart> {
    prop_oneof![
        3 => text().prop_map(ContentPart::text),
        1 => "[a-z0-9]{1,12}".prop_map(|n| ContentPart::image_url(format!("https://example.com/{n}.png"))),
        1 => Just(ContentPart::image_url("data:image/png;base64,iVBORw0KGgo=")),
        1 => prop_oneof![Just("wav"), Just("mp3")]
            .prop_map(|format| ContentPart::input_audio("UklGRiQAAABXQVZF", format)),
        1 => ("[a-z]{1,8}", any::<bool>()).prop_map(|(name, inline)| {
            let mut file = FileInput::default();
            if inline {
                file.filename = Some(format!("{name}.txt"));
                file.file_data = Some("data:text/plain;base64,aGk=".to_owned());
            } else {
                file.file_id = Some(format!("file-{name}"));
            }
            ContentPart::file(file)
        }),
    ]
}

fn text_parts() -> impl Strategy<Value = MessageContent> {
    prop::collection::vec(text().prop_map(ContentPart::text), 1..3).prop_map(MessageContent::Parts)
}

fn text_or_parts() -> impl Strategy<Value = MessageContent> {
    prop_oneof![
        3 => text().prop_map(MessageContent::Text),
        1 => text_parts(),
    ]
}

fn tool_call() -> impl Strategy<Value = ToolCall> {
    ("call_[a-zA-Z0-9]{1,24}", identifier(), text())
        .prop_map(|(id, name, arguments)| ToolCall::function(id, name, arguments))
}

fn message() -> impl Strategy<Value = Message> {
    prop_oneof![
        text_or_parts().prop_map(Message::system),
        text_or_parts().prop_map(Message::developer),
        (text(), prop::option::of("[a-zA-Z0-9_-]{1,16}")).prop_map(|(t, name)| {
            let m = Message::user(t);
            match name {
                Some(name) => m.name(name),
                None => m,
            }
        }),
        prop::collection::vec(part(), 1..5).prop_map(Message::user_parts),
        text_or_parts().prop_map(Message::assistant),
        prop::collection::vec(tool_call(), 1..3).prop_map(Message::assistant_tool_calls),
        ("call_[a-zA-Z0-9]{1,24}", text_or_parts()).prop_map(|(id, c)| Message::tool(id, c)),
    ]
}

/// A small JSON Schema object with generated property names.
fn parameters_schema() -> impl Strategy<Value = Value> {
    prop::collection::btree_map(
        "[a-z_]{1,12}",
        prop_oneof![
            Just(json!({"type": "string"})),
            Just(json!({"type": "integer"})),
            Just(json!({"type": "boolean"})),
            Just(json!({"type": "array", "items": {"type": "number"}})),
        ],
        0..4,
    )
    .prop_map(|props| {
        let required: Vec<&String> = props.keys().collect();
        json!({
            "type": "object",
            "properties": props,
            "required": required,
            "additionalProperties": false,
        })
    })
}

fn tool() -> impl Strategy<Value = Tool> {
    (identifier(), text(), parameters_schema())
        .prop_map(|(name, description, parameters)| Tool::function(name, description, parameters))
}

/// Tools and a tool choice that fits them.
fn tools() -> impl Strategy<Value = (Vec<Tool>, Option<ToolChoice>)> {
    prop::collection::vec(tool(), 0..4).prop_flat_map(|tools| {
        let names: Vec<String> = tools
            .iter()
            .filter_map(|t| t.as_function().map(|f| f.name.clone()))
            .collect();
        let mut choices = vec![
            Just(None).boxed(),
            Just(Some(ToolChoice::Auto)).boxed(),
            Just(Some(ToolChoice::None)).boxed(),
            Just(Some(ToolChoice::Required)).boxed(),
        ];
        if !names.is_empty() {
            choices.push(
                prop::sample::select(names)
                    .prop_map(|n| Some(ToolChoice::function(n)))
                    .boxed(),
            );
        }
        let choice = prop::strategy::Union::new(choices);
        (Just(tools), choice)
    })
}

fn response_format() -> impl Strategy<Value = ResponseFormat> {
    prop_oneof![
        Just(ResponseFormat::Text),
        Just(ResponseFormat::JsonObject),
        (identifier(), parameters_schema())
            .prop_map(|(name, schema)| ResponseFormat::json_schema(name, schema)),
    ]
}

/// One optional parameter, in its documented range.
#[derive(Debug, Clone)]
enum Setting {
    Temperature(f64),
    TopP(f64),
    PresencePenalty(f64),
    FrequencyPenalty(f64),
    N(u32),
    MaxTokens(u32),
    MaxCompletionTokens(u32),
    Seed(i64),
    Stop(Vec<String>),
    Logprobs(u32),
    LogitBias(u32, i8),
    User(String),
    Metadata(String, String),
    ReasoningEffort(ReasoningEffort),
    ServiceTier(&'static str),
    Verbosity(&'static str),
    Store(bool),
    ParallelToolCalls(bool),
}

fn setting() -> impl Strategy<Value = Setting> {
    prop_oneof![
        (0.0..=2.0f64).prop_map(Setting::Temperature),
        (0.0..=1.0f64).prop_map(Setting::TopP),
        (-2.0..=2.0f64).prop_map(Setting::PresencePenalty),
        (-2.0..=2.0f64).prop_map(Setting::FrequencyPenalty),
        (1u32..=128).prop_map(Setting::N),
        (1u32..100_000).prop_map(Setting::MaxTokens),
        (1u32..100_000).prop_map(Setting::MaxCompletionTokens),
        any::<i64>().prop_map(Setting::Seed),
        prop::collection::vec(text(), 1..5).prop_map(Setting::Stop),
        (0u32..=20).prop_map(Setting::Logprobs),
        (0u32..200_000, -100i8..=100).prop_map(|(t, b)| Setting::LogitBias(t, b)),
        text().prop_map(Setting::User),
        ("[a-z_]{1,16}", text()).prop_map(|(k, v)| Setting::Metadata(k, v)),
        prop_oneof![
            Just(ReasoningEffort::None),
            Just(ReasoningEffort::Minimal),
            Just(ReasoningEffort::Low),
            Just(ReasoningEffort::Medium),
            Just(ReasoningEffort::High),
            Just(ReasoningEffort::XHigh),
        ]
        .prop_map(Setting::ReasoningEffort),
        prop::sample::select(vec!["auto", "default", "flex", "scale", "priority"])
            .prop_map(Setting::ServiceTier),
        prop::sample::select(vec!["low", "medium", "high"]).prop_map(Setting::Verbosity),
        any::<bool>().prop_map(Setting::Store),
        any::<bool>().prop_map(Setting::ParallelToolCalls),
    ]
}

fn apply(r: ChatCompletionRequest, setting: Setting) -> ChatCompletionRequest {
    match setting {
        Setting::Temperature(v) => r.temperature(v),
        Setting::TopP(v) => r.top_p(v),
        Setting::PresencePenalty(v) => r.presence_penalty(v),
        Setting::FrequencyPenalty(v) => r.frequency_penalty(v),
        Setting::N(v) => r.n(v),
        Setting::MaxTokens(v) => r.max_tokens(v),
        Setting::MaxCompletionTokens(v) => r.max_completion_tokens(v),
        Setting::Seed(v) => r.seed(v),
        Setting::Stop(v) => {
            if v.len() == 1 {
                r.stop(v.concat())
            } else {
                r.stop(v)
            }
        }
        Setting::Logprobs(top) => r.logprobs(true).top_logprobs(top),
        Setting::LogitBias(token, bias) => r.logit_bias(token.to_string(), f64::from(bias)),
        Setting::User(v) => r.user(v),
        Setting::Metadata(k, v) => r.metadata(k, v),
        Setting::ReasoningEffort(v) => r.reasoning_effort(v),
        Setting::ServiceTier(v) => r.service_tier(v),
        Setting::Verbosity(v) => r.verbosity(v),
        Setting::Store(v) => r.store(v),
        Setting::ParallelToolCalls(v) => r.parallel_tool_calls(v),
    }
}

/// How the answer is asked for.
#[derive(Debug, Clone, Copy)]
enum Streaming {
    Unset,
    Off,
    On { include_usage: Option<bool> },
}

fn streaming() -> impl Strategy<Value = Streaming> {
    prop_oneof![
        Just(Streaming::Unset),
        Just(Streaming::Off),
        prop::option::of(any::<bool>()).prop_map(|include_usage| Streaming::On { include_usage }),
    ]
}

/// A valid request of any shape.
pub(crate) fn request() -> impl Strategy<Value = ChatCompletionRequest> {
    (
        "[a-z0-9][a-z0-9./:_-]{0,40}",
        prop::collection::vec(message(), 1..6),
        prop::collection::vec(setting(), 0..8),
        tools(),
        prop::option::of(response_format()),
        streaming(),
    )
        .prop_map(
            |(model, messages, settings, (tools, choice), format, stream)| {
                let mut r = ChatCompletionRequest::new(model, messages);
                for setting in settings {
                    r = apply(r, setting);
                }
                if !tools.is_empty() {
                    r = r.tools(tools);
                }
                if let Some(choice) = choice {
                    r = r.tool_choice(choice);
                }
                if let Some(format) = format {
                    r = r.response_format(format);
                }
                match stream {
                    Streaming::Unset => r,
                    Streaming::Off => r.stream(false),
                    Streaming::On { include_usage } => {
                        let r = r.stream(true);
                        match include_usage {
                            Some(include) => r.include_usage(include),
                            None => r,
                        }
                    }
                }
            },
        )
}
