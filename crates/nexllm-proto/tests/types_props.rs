//! Properties of the request types: any request built through the API
//! serializes and parses back equal, validates, and encodes to a body that
//! parses back equal.

#![allow(
    clippy::unwrap_used,
    reason = "a property fails loudly on an unexpected value"
)]

use nexllm_proto::Config;
use nexllm_proto::encode::chat_request;
use nexllm_proto::types::{
    AudioParams, ChatCompletionRequest, ContentPart, Extra, FileInput, FunctionDefinition,
    ImageUrl, Message, Prediction, REQUEST_FIELDS, ReasoningEffort, ResponseFormat, Stop,
    StreamOptions, Tool, ToolCall, ToolChoice,
};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::strategy::Union;
use serde_json::{Map, Value, json};

/// Text with the characters JSON must escape, and some beyond ASCII.
fn arb_text() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9 _\\-\n\t\"\\\\/éß€😀\u{7f}\u{1}]{0,16}"
}

fn arb_name() -> impl Strategy<Value = String> {
    "[a-zA-Z][a-zA-Z0-9_-]{0,15}"
}

/// A decimal in `min..=max` with at most three fractional digits: such
/// values are written and read back exactly.
fn arb_decimal(min: i32, max: i32) -> impl Strategy<Value = f64> {
    (min * 1000..=max * 1000).prop_map(|v| f64::from(v) / 1000.0)
}

/// JSON values for schemas, extra parameters and the like (integers only,
/// so that values compare equal after a text round trip).
fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        arb_text().prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..4).prop_map(Value::Array),
            vec((arb_name(), inner), 0..4)
                .prop_map(|pairs| Value::Object(pairs.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// An `extra` map whose keys cannot repeat a typed field.
fn arb_extra() -> impl Strategy<Value = Extra> {
    vec(("x_[a-z0-9_]{1,8}", arb_json()), 0..3).prop_map(|pairs| pairs.into_iter().collect())
}

fn arb_part() -> impl Strategy<Value = ContentPart> {
    prop_oneof![
        arb_text().prop_map(ContentPart::text),
        (
            arb_text(),
            proptest::option::of(prop_oneof![Just("auto"), Just("low"), Just("high")])
        )
            .prop_map(|(url, detail)| ContentPart::ImageUrl {
                image_url: ImageUrl {
                    url,
                    detail: detail.map(str::to_owned),
                    extra: Extra::new(),
                },
                extra: Extra::new(),
            }),
        ("[A-Za-z0-9+/]{0,12}", prop_oneof![Just("wav"), Just("mp3")])
            .prop_map(|(data, format)| ContentPart::input_audio(data, format)),
        (
            proptest::option::of(arb_name()),
            proptest::option::of(arb_text())
        )
            .prop_map(|(file_id, filename)| ContentPart::file(FileInput {
                file_id,
                filename,
                ..FileInput::default()
            })),
        (arb_text(), arb_extra()).prop_map(|(text, extra)| ContentPart::Text { text, extra }),
    ]
}

fn arb_tool_call() -> impl Strategy<Value = ToolCall> {
    (arb_name(), arb_name(), arb_text(), arb_extra()).prop_map(|(id, name, args, extra)| {
        let mut call = ToolCall::function(id, name, args);
        call.extra = extra;
        call
    })
}

fn arb_message() -> impl Strategy<Value = Message> {
    let base = prop_oneof![
        arb_text().prop_map(Message::system),
        arb_text().prop_map(Message::developer),
        arb_text().prop_map(Message::user),
        vec(arb_part(), 0..4).prop_map(Message::user_parts),
        arb_text().prop_map(Message::assistant),
        vec(arb_tool_call(), 1..3).prop_map(Message::assistant_tool_calls),
        (arb_name(), arb_text()).prop_map(|(id, text)| Message::tool(id, text)),
    ];
    (base, proptest::option::of(arb_name()), arb_extra()).prop_map(|(message, name, extra)| {
        let mut message = match name {
            Some(name) => message.name(name),
            None => message,
        };
        message.extra = extra;
        message
    })
}

fn arb_tool() -> impl Strategy<Value = Tool> {
    prop_oneof![
        (arb_name(), arb_text(), arb_json())
            .prop_map(|(name, description, schema)| Tool::function(name, description, schema)),
        (arb_name(), any::<bool>())
            .prop_map(|(name, strict)| FunctionDefinition::new(name).strict(strict).into()),
    ]
}

fn arb_tool_choice() -> impl Strategy<Value = ToolChoice> {
    prop_oneof![
        Just(ToolChoice::None),
        Just(ToolChoice::Auto),
        Just(ToolChoice::Required),
        arb_name().prop_map(ToolChoice::function),
    ]
}

fn arb_response_format() -> impl Strategy<Value = ResponseFormat> {
    prop_oneof![
        Just(ResponseFormat::Text),
        Just(ResponseFormat::JsonObject),
        (arb_name(), arb_json())
            .prop_map(|(name, schema)| ResponseFormat::json_schema(name, schema)),
    ]
}

fn arb_reasoning_effort() -> impl Strategy<Value = ReasoningEffort> {
    prop_oneof![
        Just("none"),
        Just("minimal"),
        Just("low"),
        Just("medium"),
        Just("high"),
        Just("xhigh"),
        Just("maximum"),
    ]
    .prop_map(ReasoningEffort::from)
}

/// One call of a setter, with its argument.
#[derive(Debug, Clone)]
enum Setting {
    Audio(String, String),
    FrequencyPenalty(f64),
    LogitBias(u32, f64),
    Logprobs(bool),
    MaxCompletionTokens(u32),
    MaxTokens(u32),
    Metadata(String, String),
    Modalities(Vec<String>),
    N(u32),
    ParallelToolCalls(bool),
    Prediction(String),
    PresencePenalty(f64),
    PromptCacheKey(String),
    ReasoningEffort(ReasoningEffort),
    ResponseFormat(ResponseFormat),
    SafetyIdentifier(String),
    Seed(i64),
    ServiceTier(String),
    Stop(Stop),
    Store(bool),
    Stream(bool),
    IncludeUsage(bool),
    StreamOptions(bool),
    Temperature(f64),
    ToolChoice(ToolChoice),
    Tool(Tool),
    TopLogprobs(u32),
    TopP(f64),
    User(String),
    Verbosity(String),
    WebSearch(Value),
    Extra(String, Value),
}

impl Setting {
    fn apply(self, r: ChatCompletionRequest) -> ChatCompletionRequest {
        match self {
            Setting::Audio(voice, format) => r.audio(AudioParams {
                voice: voice.into(),
                format,
                extra: Extra::new(),
            }),
            Setting::FrequencyPenalty(v) => r.frequency_penalty(v),
            Setting::LogitBias(token, bias) => r.logit_bias(token.to_string(), bias),
            Setting::Logprobs(v) => r.logprobs(v),
            Setting::MaxCompletionTokens(v) => r.max_completion_tokens(v),
            Setting::MaxTokens(v) => r.max_tokens(v),
            Setting::Metadata(k, v) => r.metadata(k, v),
            Setting::Modalities(v) => r.modalities(v),
            Setting::N(v) => r.n(v),
            Setting::ParallelToolCalls(v) => r.parallel_tool_calls(v),
            Setting::Prediction(v) => r.prediction(Prediction::content(v)),
            Setting::PresencePenalty(v) => r.presence_penalty(v),
            Setting::PromptCacheKey(v) => r.prompt_cache_key(v),
            Setting::ReasoningEffort(v) => r.reasoning_effort(v),
            Setting::ResponseFormat(v) => r.response_format(v),
            Setting::SafetyIdentifier(v) => r.safety_identifier(v),
            Setting::Seed(v) => r.seed(v),
            Setting::ServiceTier(v) => r.service_tier(v),
            Setting::Stop(v) => r.stop(v),
            Setting::Store(v) => r.store(v),
            Setting::Stream(v) => r.stream(v),
            Setting::IncludeUsage(v) => r.include_usage(v),
            Setting::StreamOptions(v) => r.stream_options(StreamOptions {
                include_obfuscation: Some(v),
                ..StreamOptions::default()
            }),
            Setting::Temperature(v) => r.temperature(v),
            Setting::ToolChoice(v) => r.tool_choice(v),
            Setting::Tool(v) => r.tool(v),
            Setting::TopLogprobs(v) => r.top_logprobs(v),
            Setting::TopP(v) => r.top_p(v),
            Setting::User(v) => r.user(v),
            Setting::Verbosity(v) => r.verbosity(v),
            Setting::WebSearch(v) => r.web_search_options(v),
            Setting::Extra(k, v) => r.extra_param(k, v),
        }
    }
}

fn arb_setting() -> impl Strategy<Value = Setting> {
    Union::new(vec![
        (arb_name(), arb_name())
            .prop_map(|(v, f)| Setting::Audio(v, f))
            .boxed(),
        arb_decimal(-2, 2)
            .prop_map(Setting::FrequencyPenalty)
            .boxed(),
        (any::<u32>(), arb_decimal(-100, 100))
            .prop_map(|(t, b)| Setting::LogitBias(t, b))
            .boxed(),
        any::<bool>().prop_map(Setting::Logprobs).boxed(),
        (1..=u32::MAX)
            .prop_map(Setting::MaxCompletionTokens)
            .boxed(),
        (1..=u32::MAX).prop_map(Setting::MaxTokens).boxed(),
        (arb_name(), arb_text())
            .prop_map(|(k, v)| Setting::Metadata(k, v))
            .boxed(),
        vec(arb_name(), 0..3).prop_map(Setting::Modalities).boxed(),
        (1..=128u32).prop_map(Setting::N).boxed(),
        any::<bool>().prop_map(Setting::ParallelToolCalls).boxed(),
        arb_text().prop_map(Setting::Prediction).boxed(),
        arb_decimal(-2, 2)
            .prop_map(Setting::PresencePenalty)
            .boxed(),
        arb_text().prop_map(Setting::PromptCacheKey).boxed(),
        arb_reasoning_effort()
            .prop_map(Setting::ReasoningEffort)
            .boxed(),
        arb_response_format()
            .prop_map(Setting::ResponseFormat)
            .boxed(),
        arb_text().prop_map(Setting::SafetyIdentifier).boxed(),
        any::<i64>().prop_map(Setting::Seed).boxed(),
        arb_name().prop_map(Setting::ServiceTier).boxed(),
        prop_oneof![
            arb_text().prop_map(Stop::One),
            // An empty list is left out of the JSON (it reads back as unset).
            vec(arb_text(), 1..=4).prop_map(Stop::Many)
        ]
        .prop_map(Setting::Stop)
        .boxed(),
        any::<bool>().prop_map(Setting::Store).boxed(),
        any::<bool>().prop_map(Setting::Stream).boxed(),
        any::<bool>().prop_map(Setting::IncludeUsage).boxed(),
        any::<bool>().prop_map(Setting::StreamOptions).boxed(),
        arb_decimal(0, 2).prop_map(Setting::Temperature).boxed(),
        arb_tool_choice().prop_map(Setting::ToolChoice).boxed(),
        arb_tool().prop_map(Setting::Tool).boxed(),
        (0..=20u32).prop_map(Setting::TopLogprobs).boxed(),
        arb_decimal(0, 1).prop_map(Setting::TopP).boxed(),
        arb_text().prop_map(Setting::User).boxed(),
        prop_oneof![Just("low"), Just("medium"), Just("high")]
            .prop_map(|v| Setting::Verbosity(v.to_owned()))
            .boxed(),
        arb_json().prop_map(Setting::WebSearch).boxed(),
        ("x_[a-z0-9_]{1,8}", arb_json())
            .prop_map(|(k, v)| Setting::Extra(k, v))
            .boxed(),
    ])
}

/// Any valid request, built through the public constructors and setters.
fn arb_request() -> impl Strategy<Value = ChatCompletionRequest> {
    (
        "[a-zA-Z0-9][a-zA-Z0-9._:/-]{0,30}",
        vec(arb_message(), 1..5),
        vec(arb_setting(), 0..12),
    )
        .prop_map(|(model, messages, settings)| {
            settings
                .into_iter()
                .fold(ChatCompletionRequest::new(model, messages), |r, s| {
                    s.apply(r)
                })
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn requests_round_trip_through_json(request in arb_request()) {
        let text = serde_json::to_string(&request).unwrap();
        let back: ChatCompletionRequest = serde_json::from_str(&text).unwrap();
        prop_assert_eq!(&back, &request);
        // Unset options are left out, never sent as null.
        let value: Value = serde_json::from_str(&text).unwrap();
        for (key, v) in value.as_object().unwrap() {
            if REQUEST_FIELDS.contains(&key.as_str()) {
                prop_assert!(!v.is_null(), "{} is null", key);
            }
        }
    }

    #[test]
    fn built_requests_validate_and_encode(request in arb_request()) {
        prop_assert_eq!(request.validate(), Ok(()));
        let http_request = chat_request(&Config::new("k"), &request).unwrap();
        let back: ChatCompletionRequest = serde_json::from_slice(http_request.body()).unwrap();
        prop_assert_eq!(&back, &request);
        let accept = if request.stream == Some(true) { "text/event-stream" } else { "application/json" };
        prop_assert_eq!(http_request.headers()["accept"].to_str().unwrap(), accept);
    }

    #[test]
    fn messages_round_trip(message in arb_message()) {
        let value = serde_json::to_value(&message).unwrap();
        let back: Message = serde_json::from_value(value).unwrap();
        prop_assert_eq!(back, message);
    }
}

#[test]
fn the_generator_covers_every_typed_field() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut seen = std::collections::BTreeSet::new();
    let mut runner = TestRunner::deterministic();
    let strategy = arb_request();
    for _ in 0..2000 {
        let request = strategy.new_tree(&mut runner).unwrap().current();
        let value = serde_json::to_value(&request).unwrap();
        seen.extend(value.as_object().unwrap().keys().cloned());
    }
    // Deprecated and free-form parameters are set directly, not generated.
    let not_generated = [
        "function_call",
        "functions",
        "moderation",
        "prompt_cache_options",
        "prompt_cache_retention",
    ];
    for field in REQUEST_FIELDS {
        if !not_generated.contains(field) {
            assert!(seen.contains(*field), "{field} is never generated");
        }
    }
    let _ = json!(null);
}
