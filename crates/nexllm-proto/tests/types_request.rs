//! Request types: JSON shape of every parameter, omitted unset options,
//! flattened extras, message constructors and validation.

#![allow(
    clippy::unwrap_used,
    clippy::panic,
    reason = "a test fails loudly on an unexpected value"
)]

use nexllm_proto::Error;
use nexllm_proto::types::{
    ChatCompletionRequest, ContentPart, FunctionDefinition, Message, MessageContent, Prediction,
    REQUEST_FIELDS, ReasoningEffort, ResponseFormat, ResponseMessage, Role, Stop, Tool, ToolCall,
    ToolChoice,
};
use serde_json::{Value, json};

fn hello() -> ChatCompletionRequest {
    ChatCompletionRequest::new("gpt-4o-mini", vec![Message::user("Hello")])
}

#[test]
fn minimal_request_has_only_model_and_messages() {
    let json = serde_json::to_value(hello()).unwrap();
    assert_eq!(
        json,
        json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hello"}]})
    );
}

#[test]
fn a_custom_voice_goes_as_an_object() {
    let audio = json!({"voice": {"id": "voice_1234"}, "format": "mp3"});
    let params: nexllm_proto::types::AudioParams = serde_json::from_value(audio.clone()).unwrap();
    assert_eq!(
        params.voice,
        nexllm_proto::types::Voice::custom("voice_1234")
    );
    assert_eq!(serde_json::to_value(&params).unwrap(), audio);
    let named: nexllm_proto::types::AudioParams =
        serde_json::from_value(json!({"voice": "alloy", "format": "wav"})).unwrap();
    assert_eq!(named.voice, "alloy".into());
}

#[test]
fn every_setter_lands_on_its_json_name() {
    let request = hello()
        .audio(nexllm_proto::types::AudioParams {
            voice: "alloy".into(),
            format: "wav".into(),
            extra: Default::default(),
        })
        .frequency_penalty(0.5)
        .logit_bias("50256", -100.0)
        .logprobs(true)
        .max_completion_tokens(300)
        .max_tokens(200)
        .metadata("team", "search")
        .modalities(vec!["text".to_owned()])
        .moderation(json!({"model": "omni-moderation-latest"}))
        .n(2)
        .parallel_tool_calls(false)
        .prediction(Prediction::content("fn main() {}"))
        .presence_penalty(-0.5)
        .prompt_cache_key("k1")
        .prompt_cache_options(json!({"ttl": "30m"}))
        .prompt_cache_retention("24h")
        .reasoning_effort("low")
        .response_format(ResponseFormat::JsonObject)
        .safety_identifier("user-hash")
        .seed(42)
        .service_tier("flex")
        .stop(vec!["END", "STOP"])
        .store(false)
        .stream(true)
        .include_usage(true)
        .temperature(0.25)
        .tool(Tool::function("f", "does f", json!({"type": "object"})))
        .tool_choice("required")
        .top_logprobs(5)
        .top_p(0.5)
        .user("u1")
        .verbosity("low")
        .web_search_options(json!({"search_context_size": "low"}))
        .extra_param("top_k", 40);
    let json = serde_json::to_value(&request).unwrap();
    let expected = json!({
        "model": "gpt-4o-mini",
        "messages": [{"role": "user", "content": "Hello"}],
        "audio": {"voice": "alloy", "format": "wav"},
        "frequency_penalty": 0.5,
        "logit_bias": {"50256": -100},
        "logprobs": true,
        "max_completion_tokens": 300,
        "max_tokens": 200,
        "metadata": {"team": "search"},
        "modalities": ["text"],
        "moderation": {"model": "omni-moderation-latest"},
        "n": 2,
        "parallel_tool_calls": false,
        "prediction": {"type": "content", "content": "fn main() {}"},
        "presence_penalty": -0.5,
        "prompt_cache_key": "k1",
        "prompt_cache_options": {"ttl": "30m"},
        "prompt_cache_retention": "24h",
        "reasoning_effort": "low",
        "response_format": {"type": "json_object"},
        "safety_identifier": "user-hash",
        "seed": 42,
        "service_tier": "flex",
        "stop": ["END", "STOP"],
        "store": false,
        "stream": true,
        "stream_options": {"include_usage": true},
        "temperature": 0.25,
        "tools": [{"type": "function", "function": {"name": "f", "description": "does f", "parameters": {"type": "object"}}}],
        "tool_choice": "required",
        "top_logprobs": 5,
        "top_p": 0.5,
        "user": "u1",
        "verbosity": "low",
        "web_search_options": {"search_context_size": "low"},
        "top_k": 40
    });
    assert_eq!(json, expected);
    request.validate().unwrap();
    let back: ChatCompletionRequest = serde_json::from_value(json).unwrap();
    assert_eq!(back, request);
}

#[test]
fn whole_logit_biases_are_sent_as_integers() {
    // The API types the biases as integers and refuses `-100.0` ("expected an
    // integer, but got a decimal number"); a fractional one goes as it is.
    let request = hello()
        .logit_bias("50256", -100.0)
        .logit_bias("15", 5.0)
        .logit_bias("16", 0.5)
        .logit_bias("17", -0.0);
    let text = serde_json::to_string(&request).unwrap();
    assert!(
        text.contains(r#""logit_bias":{"15":5,"16":0.5,"17":0,"50256":-100}"#),
        "{text}"
    );
    // A request file's integers survive decoding and encoding again.
    let decoded: ChatCompletionRequest = serde_json::from_str(&text).unwrap();
    assert_eq!(serde_json::to_string(&decoded).unwrap(), text);
}

#[test]
fn no_null_is_ever_sent() {
    let request = hello()
        .message(Message::assistant_tool_calls(vec![ToolCall::function(
            "call_1", "f", "{}",
        )]))
        .message(Message::tool("call_1", "42"));
    let text = serde_json::to_string(&request).unwrap();
    assert!(!text.contains("null"), "{text}");
}

#[test]
fn message_constructors() {
    let table: Vec<(Message, Value)> = vec![
        (
            Message::system("s"),
            json!({"role": "system", "content": "s"}),
        ),
        (
            Message::developer("d"),
            json!({"role": "developer", "content": "d"}),
        ),
        (Message::user("u"), json!({"role": "user", "content": "u"})),
        (
            Message::assistant("a"),
            json!({"role": "assistant", "content": "a"}),
        ),
        (
            Message::tool("call_9", "result"),
            json!({"role": "tool", "content": "result", "tool_call_id": "call_9"}),
        ),
        (
            Message::assistant_tool_calls(vec![ToolCall::function(
                "call_9",
                "get_weather",
                r#"{"city":"Paris"}"#,
            )]),
            json!({"role": "assistant", "tool_calls": [{"id": "call_9", "type": "function",
                "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}]}),
        ),
        (
            Message::user_parts(vec![
                ContentPart::text("look"),
                ContentPart::image_url("data:image/png;base64,AAAA"),
                ContentPart::input_audio("UklGRg==", "wav"),
            ]),
            json!({"role": "user", "content": [
                {"type": "text", "text": "look"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
                {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}}
            ]}),
        ),
        (
            Message::user("hi")
                .name("ann")
                .extra_field("cache_control", json!({"type": "ephemeral"})),
            json!({"role": "user", "content": "hi", "name": "ann", "cache_control": {"type": "ephemeral"}}),
        ),
    ];
    for (message, expected) in table {
        assert_eq!(serde_json::to_value(&message).unwrap(), expected);
        let back: Message = serde_json::from_value(expected).unwrap();
        assert_eq!(back, message);
    }
}

#[test]
fn unknown_content_parts_and_part_fields_are_kept() {
    let raw = json!({"role": "user", "content": [
        {"type": "text", "text": "cached", "cache_control": {"type": "ephemeral"}},
        {"type": "video_url", "video_url": {"url": "https://v"}},
        {"type": "file", "file": {"file_id": "file-1"}}
    ]});
    let message: Message = serde_json::from_value(raw.clone()).unwrap();
    let Some(MessageContent::Parts(parts)) = &message.content else {
        panic!("{message:?}")
    };
    assert!(
        matches!(&parts[0], ContentPart::Text { text, extra } if text == "cached" && extra.contains_key("cache_control"))
    );
    assert!(matches!(&parts[1], ContentPart::Other(map) if map["type"] == "video_url"));
    assert!(
        matches!(&parts[2], ContentPart::File { file, .. } if file.file_id.as_deref() == Some("file-1"))
    );
    assert_eq!(message.text().as_deref(), Some("cached"));
    assert_eq!(serde_json::to_value(&message).unwrap(), raw);
}

#[test]
fn roles_decode_unknown_values() {
    for (text, role) in [
        ("system", Role::System),
        ("developer", Role::Developer),
        ("user", Role::User),
        ("assistant", Role::Assistant),
        ("tool", Role::Tool),
        ("function", Role::Function),
        ("model", Role::Other("model".into())),
    ] {
        let decoded: Role = serde_json::from_value(json!(text)).unwrap();
        assert_eq!(decoded, role);
        assert_eq!(serde_json::to_value(&role).unwrap(), json!(text));
    }
}

#[test]
fn tool_choice_shapes() {
    let table = [
        (ToolChoice::None, json!("none")),
        (ToolChoice::Auto, json!("auto")),
        (ToolChoice::Required, json!("required")),
        (
            ToolChoice::function("get_weather"),
            json!({"type": "function", "function": {"name": "get_weather"}}),
        ),
        (
            ToolChoice::Other(
                json!({"type": "allowed_tools", "allowed_tools": {"mode": "auto", "tools": []}}),
            ),
            json!({"type": "allowed_tools", "allowed_tools": {"mode": "auto", "tools": []}}),
        ),
        (ToolChoice::Other(json!("any")), json!("any")),
    ];
    for (choice, expected) in table {
        assert_eq!(serde_json::to_value(&choice).unwrap(), expected);
        let back: ToolChoice = serde_json::from_value(expected).unwrap();
        assert_eq!(back, choice);
    }
}

#[test]
fn response_format_stop_and_effort_shapes() {
    let schema = json!({"type": "object", "properties": {"a": {"type": "integer"}}});
    let table = [
        (
            serde_json::to_value(ResponseFormat::Text).unwrap(),
            json!({"type": "text"}),
        ),
        (
            serde_json::to_value(ResponseFormat::json_schema("answer", schema.clone())).unwrap(),
            json!({"type": "json_schema", "json_schema": {"name": "answer", "schema": schema, "strict": true}}),
        ),
        (serde_json::to_value(Stop::from("\n")).unwrap(), json!("\n")),
        (
            serde_json::to_value(ReasoningEffort::from("xhigh")).unwrap(),
            json!("xhigh"),
        ),
        (
            serde_json::to_value(ReasoningEffort::from("max")).unwrap(),
            json!("max"),
        ),
    ];
    for (got, expected) in table {
        assert_eq!(got, expected);
    }
    let unknown: ResponseFormat =
        serde_json::from_value(json!({"type": "grammar", "grammar": "root ::= x"})).unwrap();
    assert!(matches!(unknown, ResponseFormat::Other(_)));
    let typed: ResponseFormat = serde_json::from_value(
        json!({"type": "json_schema", "json_schema": {"name": "a", "schema": schema}}),
    )
    .unwrap();
    assert!(matches!(typed, ResponseFormat::JsonSchema { .. }));
    let json_mode: ResponseFormat = serde_json::from_value(json!({"type": "json_object"})).unwrap();
    assert_eq!(json_mode, ResponseFormat::JsonObject);
    // Members a typed variant has no place for are kept: Together's and
    // Fireworks' JSON mode with a schema, or anything a provider adds.
    for format in [
        json!({"type": "json_object", "schema": schema}),
        json!({"type": "text", "x_mode": 1}),
        json!({"type": "json_schema", "json_schema": {"name": "a"}, "x_mode": 1}),
        json!({"type": "json_schema", "json_schema": {"schema": schema}}),
    ] {
        let decoded: ResponseFormat = serde_json::from_value(format.clone()).unwrap();
        assert!(matches!(decoded, ResponseFormat::Other(_)), "{format}");
        assert_eq!(serde_json::to_value(&decoded).unwrap(), format);
    }
    assert!(serde_json::from_value::<ResponseFormat>(json!("json_object")).is_err());
    let custom: Tool =
        serde_json::from_value(json!({"type": "custom", "custom": {"name": "sql"}})).unwrap();
    assert!(matches!(custom, Tool::Custom { .. }));
    let builtin: Tool = serde_json::from_value(json!({"type": "web_search"})).unwrap();
    assert!(matches!(builtin, Tool::Other(_)));
    let f: Tool = FunctionDefinition::new("f").strict(true).into();
    assert_eq!(f.as_function().unwrap().strict, Some(true));
}

#[test]
fn response_message_becomes_the_next_assistant_message() {
    let answer: ResponseMessage = serde_json::from_value(json!({
        "role": "assistant",
        "content": null,
        "reasoning_content": "thinking...",
        "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"},
                        "extra_content": {"google": {"thought_signature": "sig"}}}]
    }))
    .unwrap();
    let message = Message::from(answer);
    let json = serde_json::to_value(&message).unwrap();
    assert_eq!(
        json,
        json!({"role": "assistant", "tool_calls": [{"id": "c1", "type": "function",
            "function": {"name": "f", "arguments": "{}"},
            "extra_content": {"google": {"thought_signature": "sig"}}}]})
    );
}

#[test]
fn an_empty_tool_call_list_is_not_sent_back() {
    // vLLM (and others) answer with `"tool_calls": []`; OpenAI refuses that
    // list in a request ("Invalid 'messages[1].tool_calls': empty array").
    let answer: ResponseMessage = serde_json::from_value(json!({
        "role": "assistant", "content": "Hi!", "tool_calls": [], "reasoning_content": null
    }))
    .unwrap();
    let request = hello().message(Message::from(answer));
    let json = serde_json::to_value(&request).unwrap();
    assert_eq!(
        json["messages"][1],
        json!({"role": "assistant", "content": "Hi!"})
    );
    let built = serde_json::to_value(Message::assistant_tool_calls(Vec::new())).unwrap();
    assert_eq!(built, json!({"role": "assistant"}));
}

#[test]
fn empty_tool_and_stop_lists_are_left_out() {
    // OpenAI: "Invalid 'tools': empty array. Expected an array with minimum
    // length 1"; DeepSeek refuses it too, and the spec gives `stop` (and
    // `functions`) `minItems: 1`. No tools or stops is said by leaving it out.
    let request = hello()
        .tools(Vec::new())
        .functions(Vec::new())
        .stop(Vec::<String>::new());
    let json = serde_json::to_value(&request).unwrap();
    assert_eq!(json, serde_json::to_value(hello()).unwrap());
    request.validate().unwrap();
}

#[test]
fn an_answer_without_content_goes_back_with_some() {
    // The spec: an assistant message's content is "Required unless
    // `tool_calls` or `function_call` is specified"; OpenAI answers a message
    // without it with "Missing required parameter: 'messages[1].content'".
    let back = |answer: Value| {
        let answer: ResponseMessage = serde_json::from_value(answer).unwrap();
        serde_json::to_value(Message::from(answer)).unwrap()
    };
    assert_eq!(
        back(json!({"role": "assistant", "content": null, "refusal": "I can't help with that."})),
        json!({"role": "assistant", "refusal": "I can't help with that.",
               "content": [{"type": "refusal", "refusal": "I can't help with that."}]})
    );
    // A reasoning model cut short while thinking (vLLM sends null content).
    assert_eq!(
        back(
            json!({"role": "assistant", "content": null, "tool_calls": [],
                    "reasoning_content": "Let me think"})
        ),
        json!({"role": "assistant", "content": ""})
    );
    // Tool calls, a function call or an audio answer need no content.
    assert_eq!(
        back(
            json!({"content": null, "audio": {"id": "audio_1", "data": "AA", "transcript": "hi"}})
        ),
        json!({"role": "assistant", "audio": {"id": "audio_1"}})
    );
    assert_eq!(
        back(json!({"content": null, "function_call": {"name": "f", "arguments": "{}"}})),
        json!({"role": "assistant", "function_call": {"name": "f", "arguments": "{}"}})
    );
    assert!(
        back(json!({"content": null, "tool_calls": [{"id": "c", "function": {"name": "f"}}]}))
            .get("content")
            .is_none()
    );
}

fn invalid_field(request: &ChatCompletionRequest) -> &'static str {
    match request.validate() {
        Err(Error::InvalidRequest(e)) => e.field,
        other => panic!("expected an invalid request, got {other:?}"),
    }
}

#[test]
fn validation_names_the_field() {
    let table: Vec<(ChatCompletionRequest, &str)> = vec![
        (
            ChatCompletionRequest::new("", vec![Message::user("x")]),
            "model",
        ),
        (
            ChatCompletionRequest::new("  ", vec![Message::user("x")]),
            "model",
        ),
        (ChatCompletionRequest::new("m", vec![]), "messages"),
        (hello().temperature(f64::NAN), "temperature"),
        (hello().temperature(f64::INFINITY), "temperature"),
        (hello().temperature(-0.1), "temperature"),
        (hello().temperature(2.01), "temperature"),
        (hello().top_p(1.5), "top_p"),
        (hello().top_p(-0.01), "top_p"),
        (hello().top_p(f64::NEG_INFINITY), "top_p"),
        (hello().n(0), "n"),
        (hello().max_tokens(0), "max_tokens"),
        (hello().max_completion_tokens(0), "max_completion_tokens"),
        (hello().presence_penalty(2.5), "presence_penalty"),
        (hello().presence_penalty(f64::NAN), "presence_penalty"),
        (hello().frequency_penalty(-2.5), "frequency_penalty"),
        (hello().top_logprobs(21), "top_logprobs"),
        (hello().logit_bias("1", 100.5), "logit_bias"),
        (hello().logit_bias("1", f64::NAN), "logit_bias"),
        (
            hello().temperature(1.0).extra_param("temperature", 0.5),
            "extra",
        ),
    ];
    for (request, field) in table {
        assert_eq!(invalid_field(&request), field, "{request:?}");
    }
}

#[test]
fn validation_accepts_the_edges() {
    let ok = [
        hello().temperature(0.0),
        hello().temperature(2.0),
        hello().top_p(0.0),
        hello().top_p(1.0),
        hello().n(1),
        hello().max_tokens(1),
        hello().presence_penalty(-2.0),
        hello().frequency_penalty(2.0),
        hello().top_logprobs(0),
        hello().top_logprobs(20),
        hello().logit_bias("1", -100.0).logit_bias("2", 100.0),
        hello().extra_param("top_k", 1),
    ];
    for request in ok {
        assert_eq!(request.validate(), Ok(()), "{request:?}");
    }
}

#[test]
fn extra_supplies_a_typed_field_that_is_unset() {
    // LiteLLM and other gateways take metadata values that are not strings;
    // the typed `metadata` holds strings only, so such metadata goes in `extra`.
    let request = hello()
        .extra_param("metadata", json!({"tags": ["a", "b"], "trace_id": 7}))
        .extra_param("top_k", 40);
    assert_eq!(request.validate(), Ok(()));
    let body = nexllm_proto::encode::chat_request(&nexllm_proto::Config::new("k"), &request)
        .unwrap()
        .into_body();
    assert_eq!(
        std::str::from_utf8(&body).unwrap(),
        r#"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hello"}],"metadata":{"tags":["a","b"],"trace_id":7},"top_k":40}"#
    );
    // A typed field left out of the JSON (an empty `tools` or `stop`, a `null`
    // free-form value) is unset too.
    let unset = hello()
        .tools(vec![])
        .stop(Vec::<String>::new())
        .web_search_options(Value::Null)
        .extra_param(
            "tools",
            json!([{"type": "custom", "custom": {"name": "c"}}]),
        )
        .extra_param("stop", "END")
        .extra_param("web_search_options", json!({}));
    assert_eq!(unset.validate(), Ok(()));
    let json = serde_json::to_value(&unset).unwrap();
    assert_eq!(json["tools"][0]["type"], "custom");
    assert_eq!(json["stop"], "END");
    assert_eq!(json["web_search_options"], json!({}));
}

/// A request with every typed field set.
fn every_field_set() -> ChatCompletionRequest {
    serde_json::from_value(json!({
        "model": "gpt-4o-mini",
        "messages": [{"role": "user", "content": "Hello"}],
        "audio": {"voice": "alloy", "format": "wav"},
        "frequency_penalty": 0.5,
        "function_call": "auto",
        "functions": [{"name": "f"}],
        "logit_bias": {"50256": -100},
        "logprobs": true,
        "max_completion_tokens": 300,
        "max_tokens": 200,
        "metadata": {"team": "search"},
        "modalities": ["text"],
        "moderation": {"model": "omni-moderation-latest"},
        "n": 2,
        "parallel_tool_calls": false,
        "prediction": {"type": "content", "content": "fn main() {}"},
        "presence_penalty": -0.5,
        "prompt_cache_key": "k1",
        "prompt_cache_options": {"ttl": "30m"},
        "prompt_cache_retention": "24h",
        "reasoning_effort": "low",
        "response_format": {"type": "json_object"},
        "safety_identifier": "user-hash",
        "seed": 42,
        "service_tier": "flex",
        "stop": ["END"],
        "store": false,
        "stream": true,
        "stream_options": {"include_usage": true},
        "temperature": 0.25,
        "tool_choice": "required",
        "tools": [{"type": "function", "function": {"name": "f"}}],
        "top_logprobs": 5,
        "top_p": 0.5,
        "user": "u1",
        "verbosity": "low",
        "web_search_options": {"search_context_size": "low"}
    }))
    .unwrap()
}

#[test]
fn extra_may_not_repeat_a_typed_field_that_is_set() {
    let full = every_field_set();
    let json = serde_json::to_value(&full).unwrap();
    assert_eq!(json.as_object().unwrap().len(), REQUEST_FIELDS.len());
    for &field in REQUEST_FIELDS {
        let set = full.clone().extra_param(field, json!({"x": 1}));
        match set.validate() {
            Err(Error::InvalidRequest(e)) => {
                assert_eq!(e.field, "extra");
                assert_eq!(
                    e.reason,
                    format!("repeats the typed parameter `{field}`; set it with its own setter")
                );
            }
            other => panic!("{field}: expected an invalid request, got {other:?}"),
        }
        // The same key with the typed field unset supplies the field;
        // `model` and `messages` are always sent, so never.
        let unset = hello().extra_param(field, json!({"x": 1}));
        if field == "model" || field == "messages" {
            assert_eq!(invalid_field(&unset), "extra", "{field}");
        } else {
            assert_eq!(unset.validate(), Ok(()), "{field}");
        }
    }
}

#[test]
fn invalid_request_reads_well() {
    let err = hello().temperature(3.0).validate().unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid request: `temperature` must be between 0 and 2, got 3"
    );
}
