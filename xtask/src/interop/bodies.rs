//! Every kind of request body the SDK can produce, built with its own
//! builders (so the JSON is exactly what users send): each parameter, the
//! message kinds, tools and every `tool_choice`, each `response_format`,
//! multi-part content, tool results and `stream_options`.

use nexllm_proto::types::{
    AudioParams, ChatCompletionRequest, ContentPart, FileInput, FunctionDefinition, Message,
    MessageContent, Prediction, ReasoningEffort, ResponseFormat, StreamOptions, Tool, ToolCall,
    ToolChoice,
};
use serde_json::json;

/// A 1x1 PNG as a data URL.
const PNG_DATA_URL: &str = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==";

/// A few bytes of WAV, base64.
const WAV_BASE64: &str = "UklGRiQAAABXQVZFZm10IBAAAAABAAEAQB8AAIA+AAACABAAZGF0YQAAAAA=";

/// The catalogue: a name and a request.
pub(crate) fn catalogue(model: &str) -> Vec<(&'static str, ChatCompletionRequest)> {
    let hi = || vec![Message::user("Hello!")];
    let weather = || {
        Tool::function(
            "get_weather",
            "The weather in a city",
            json!({
                "type": "object",
                "properties": {
                    "city": {"type": "string"},
                    "unit": {"type": "string", "enum": ["c", "f"]}
                },
                "required": ["city", "unit"],
                "additionalProperties": false
            }),
        )
    };
    let strict_tool = FunctionDefinition::new("lookup")
        .description("Looks a word up")
        .parameters(json!({
            "type": "object",
            "properties": {"word": {"type": "string"}},
            "required": ["word"],
            "additionalProperties": false
        }))
        .strict(true);
    let strict_tool = Tool::Function {
        function: strict_tool,
        extra: nexllm_proto::types::Extra::new(),
    };

    let audio = AudioParams {
        voice: "alloy".into(),
        format: "wav".to_owned(),
        ..AudioParams::default()
    };

    let file_inline = FileInput {
        filename: Some("notes.pdf".to_owned()),
        file_data: Some("data:application/pdf;base64,JVBERi0xLjQK".to_owned()),
        ..FileInput::default()
    };
    let file_id = FileInput {
        file_id: Some("file-abc123".to_owned()),
        ..FileInput::default()
    };

    let mut high_detail = ContentPart::image_url("https://example.com/cat.png");
    if let ContentPart::ImageUrl { image_url, .. } = &mut high_detail {
        image_url.detail = Some("high".to_owned());
    }

    let tool_turn = || {
        vec![
            Message::user("What is the weather in Paris?"),
            Message::assistant_tool_calls(vec![ToolCall::function(
                "call_1",
                "get_weather",
                r#"{"city":"Paris","unit":"c"}"#,
            )]),
            Message::tool("call_1", r#"{"temperature":21}"#),
        ]
    };

    let stream_options = StreamOptions {
        include_usage: Some(true),
        include_obfuscation: Some(false),
        ..StreamOptions::default()
    };

    vec![
        ("minimal", ChatCompletionRequest::new(model, hi())),
        (
            "every sampling and output parameter",
            ChatCompletionRequest::new(model, hi())
                .frequency_penalty(0.5)
                .presence_penalty(-0.5)
                .logit_bias("50256", -100.0)
                .logit_bias("15339", 5.0)
                .logprobs(true)
                .top_logprobs(3)
                .max_completion_tokens(64)
                .max_tokens(64)
                .n(2)
                .seed(42)
                .stop("\n\n")
                .temperature(0.7)
                .top_p(0.9)
                .user("user-1234")
                .safety_identifier("hashed-user-1234")
                .prompt_cache_key("interop-cache-key")
                .prompt_cache_retention("24h")
                .service_tier("auto")
                .verbosity("low")
                .reasoning_effort(ReasoningEffort::Low)
                .store(true)
                .metadata("purpose", "interop")
                .metadata("run", "ci")
                .modalities(vec!["text".to_owned()])
                .web_search_options(json!({"search_context_size": "low"})),
        ),
        (
            "stop as a list",
            ChatCompletionRequest::new(model, hi()).stop(vec!["END", "STOP", "\u{2028}"]),
        ),
        (
            "every reasoning effort value (xhigh)",
            ChatCompletionRequest::new(model, hi()).reasoning_effort(ReasoningEffort::XHigh),
        ),
        (
            "system, developer, named user and assistant messages",
            ChatCompletionRequest::new(
                model,
                vec![
                    Message::system("You are terse."),
                    Message::developer("Answer in French."),
                    Message::user("Bonjour").name("alice"),
                    Message::assistant("Salut !"),
                    Message::user("Ça va ? \"quotes\" \\ backslash \u{7f} \t tab 🙂"),
                ],
            ),
        ),
        (
            "tools with tool_choice auto",
            ChatCompletionRequest::new(model, hi())
                .tools(vec![weather(), strict_tool.clone()])
                .tool_choice(ToolChoice::Auto)
                .parallel_tool_calls(false),
        ),
        (
            "tool_choice none",
            ChatCompletionRequest::new(model, hi())
                .tool(weather())
                .tool_choice(ToolChoice::None),
        ),
        (
            "tool_choice required",
            ChatCompletionRequest::new(model, hi())
                .tool(weather())
                .tool_choice(ToolChoice::Required),
        ),
        (
            "tool_choice naming a function",
            ChatCompletionRequest::new(model, hi())
                .tool(weather())
                .tool(strict_tool)
                .tool_choice(ToolChoice::function("lookup")),
        ),
        (
            "tool_choice allowed_tools (passed through)",
            ChatCompletionRequest::new(model, hi())
                .tool(weather())
                .tool_choice(ToolChoice::Other(json!({
                    "type": "allowed_tools",
                    "allowed_tools": {
                        "mode": "auto",
                        "tools": [{"type": "function", "function": {"name": "get_weather"}}]
                    }
                }))),
        ),
        (
            "a custom tool",
            ChatCompletionRequest::new(model, hi()).tool(Tool::Custom {
                custom: json!({"name": "sql", "description": "Runs SQL", "format": {"type": "text"}}),
                extra: nexllm_proto::types::Extra::new(),
            }),
        ),
        (
            "response_format text",
            ChatCompletionRequest::new(model, hi()).response_format(ResponseFormat::Text),
        ),
        (
            "response_format json_object",
            ChatCompletionRequest::new(model, vec![Message::user("Answer in JSON")])
                .response_format(ResponseFormat::JsonObject),
        ),
        (
            "response_format json_schema",
            ChatCompletionRequest::new(model, hi()).response_format(ResponseFormat::json_schema(
                "greeting",
                json!({
                    "type": "object",
                    "properties": {"text": {"type": "string"}, "language": {"type": "string"}},
                    "required": ["text", "language"],
                    "additionalProperties": false
                }),
            )),
        ),
        (
            "multi-part content with images, audio and files",
            ChatCompletionRequest::new(
                model,
                vec![Message::user_parts(vec![
                    ContentPart::text("What is in these?"),
                    ContentPart::image_url("https://example.com/cat.png"),
                    high_detail,
                    ContentPart::image_url(PNG_DATA_URL),
                    ContentPart::input_audio(WAV_BASE64, "wav"),
                    ContentPart::file(file_inline),
                    ContentPart::file(file_id),
                ])],
            ),
        ),
        (
            "multi-part system and assistant messages",
            ChatCompletionRequest::new(
                model,
                vec![
                    Message::system(MessageContent::Parts(vec![ContentPart::text("Be brief.")])),
                    Message::user("Hi"),
                    Message::assistant(MessageContent::Parts(vec![ContentPart::text("Hello.")])),
                    Message::user("Again"),
                ],
            ),
        ),
        (
            "a tool call and its result",
            ChatCompletionRequest::new(model, tool_turn()).tool(weather()),
        ),
        (
            "a tool result in parts",
            ChatCompletionRequest::new(
                model,
                vec![
                    Message::user("Weather?"),
                    Message::assistant_tool_calls(vec![
                        ToolCall::function("call_a", "get_weather", r#"{"city":"Oslo","unit":"c"}"#),
                        ToolCall::function("call_b", "get_weather", r#"{"city":"Rome","unit":"c"}"#),
                    ]),
                    Message::tool(
                        "call_a",
                        MessageContent::Parts(vec![ContentPart::text("-3")]),
                    ),
                    Message::tool("call_b", "18"),
                ],
            )
            .tool(weather()),
        ),
        (
            "stream with stream_options",
            ChatCompletionRequest::new(model, hi())
                .stream(true)
                .stream_options(stream_options),
        ),
        (
            "stream with include_usage",
            ChatCompletionRequest::new(model, hi()).include_usage(true),
        ),
        (
            "audio output",
            ChatCompletionRequest::new(model, hi())
                .modalities(vec!["text".to_owned(), "audio".to_owned()])
                .audio(audio),
        ),
        (
            "predicted output",
            ChatCompletionRequest::new(model, vec![Message::user("Rename x to y: let x = 1;")])
                .prediction(Prediction::content("let y = 1;")),
        ),
        (
            "deprecated functions and function_call",
            ChatCompletionRequest::new(model, hi())
                .functions(vec![FunctionDefinition::new("ping").parameters(json!({
                    "type": "object",
                    "properties": {}
                }))])
                .function_call(json!({"name": "ping"})),
        ),
    ]
}
