//! Request validation with the status, message, `param` and `code` the real service uses.

use serde_json::Value;

use crate::api_error::ErrorReply;

/// The parameters of a valid chat completion request that the mock acts on.
#[derive(Debug)]
pub(crate) struct ChatParams<'a> {
    pub(crate) model: &'a str,
    pub(crate) messages: &'a [Value],
    pub(crate) stream: bool,
    pub(crate) include_usage: bool,
    pub(crate) n: u32,
    pub(crate) max_tokens: Option<u64>,
    pub(crate) tools: &'a [Value],
    pub(crate) tool_choice: Option<&'a Value>,
}

const ROLES: [&str; 6] = [
    "system",
    "developer",
    "user",
    "assistant",
    "tool",
    "function",
];
const MAX_N: u64 = 128;
/// `top_logprobs`: `maximum: 20` in the spec.
const MAX_TOP_LOGPROBS: u64 = 20;
/// `stop`: up to 4 sequences (`maxItems: 4`).
const MAX_STOP_SEQUENCES: usize = 4;

/// Checks `body` as the real service does; the error is the 400 it would answer.
pub(crate) fn validate_chat(body: &Value) -> Result<ChatParams<'_>, ErrorReply> {
    let Some(object) = body.as_object() else {
        return Err(ErrorReply::invalid(
            None,
            None,
            format!(
                "Invalid type for request body: expected an object, but got {} instead.",
                describe(body)
            ),
        ));
    };
    let model = match object.get("model") {
        None | Some(Value::Null) => {
            return Err(ErrorReply::invalid(
                None,
                None,
                "you must provide a model parameter",
            ));
        }
        Some(Value::String(model)) if model.is_empty() => {
            return Err(ErrorReply::invalid(
                None,
                None,
                "you must provide a model parameter",
            ));
        }
        Some(Value::String(model)) => model.as_str(),
        Some(other) => return Err(invalid_type("model", "a string", other)),
    };
    let messages = match object.get("messages") {
        None | Some(Value::Null) => {
            return Err(ErrorReply::invalid(
                Some("messages"),
                Some("missing_required_parameter"),
                "Missing required parameter: 'messages'.",
            ));
        }
        Some(Value::Array(messages)) => messages.as_slice(),
        Some(other) => return Err(invalid_type("messages", "an array", other)),
    };
    if messages.is_empty() {
        return Err(empty_array("messages"));
    }
    for (index, message) in messages.iter().enumerate() {
        validate_message(index, message)?;
    }
    let stream = optional_bool(object.get("stream"), "stream")?.unwrap_or(false);
    let include_usage = match object.get("stream_options") {
        None | Some(Value::Null) => false,
        Some(_) if !stream => {
            return Err(ErrorReply::invalid(
                Some("stream_options"),
                Some("invalid_value"),
                "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
            ));
        }
        Some(Value::Object(options)) => {
            optional_bool(options.get("include_usage"), "stream_options.include_usage")?
                .unwrap_or(false)
        }
        Some(other) => return Err(invalid_type("stream_options", "an object", other)),
    };
    number_in_range(object.get("temperature"), "temperature", 0.0, 2.0)?;
    number_in_range(object.get("top_p"), "top_p", 0.0, 1.0)?;
    number_in_range(
        object.get("presence_penalty"),
        "presence_penalty",
        -2.0,
        2.0,
    )?;
    number_in_range(
        object.get("frequency_penalty"),
        "frequency_penalty",
        -2.0,
        2.0,
    )?;
    let n = integer_in_range(object.get("n"), "n", 1, MAX_N)?.unwrap_or(1);
    let max_tokens = integer_in_range(object.get("max_tokens"), "max_tokens", 1, u64::MAX)?;
    let max_completion_tokens = integer_in_range(
        object.get("max_completion_tokens"),
        "max_completion_tokens",
        1,
        u64::MAX,
    )?;
    let max_tokens = match (max_tokens, max_completion_tokens) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    let logprobs = optional_bool(object.get("logprobs"), "logprobs")?.unwrap_or(false);
    if let Some(top) = integer_in_range(object.get("top_logprobs"), "top_logprobs", 0, u64::MAX)? {
        // The real service reports these two without a code.
        if top > MAX_TOP_LOGPROBS {
            return Err(ErrorReply::invalid(
                Some("top_logprobs"),
                None,
                format!(
                    "Invalid value for 'top_logprobs': must be less than or equal to {MAX_TOP_LOGPROBS}."
                ),
            ));
        }
        if !logprobs {
            return Err(ErrorReply::invalid(
                Some("top_logprobs"),
                None,
                "The 'top_logprobs' parameter is only allowed when 'logprobs' is enabled.",
            ));
        }
    }
    if let Some(Value::Array(stop)) = object.get("stop") {
        if stop.len() > MAX_STOP_SEQUENCES {
            return Err(ErrorReply::invalid(
                Some("stop"),
                Some("array_above_max_length"),
                format!(
                    "Invalid 'stop': array too long. Expected an array with maximum length {MAX_STOP_SEQUENCES}, but got an array with length {} instead.",
                    stop.len()
                ),
            ));
        }
    }
    let tools = match object.get("tools") {
        None | Some(Value::Null) => &[][..],
        // `tools` has `minItems: 1` in the spec, and OpenAI refuses `[]`.
        Some(Value::Array(tools)) if tools.is_empty() => return Err(empty_array("tools")),
        Some(Value::Array(tools)) => tools.as_slice(),
        Some(other) => return Err(invalid_type("tools", "an array", other)),
    };
    // The deprecated `functions` has `minItems: 1` too, and OpenAI refuses `[]` alike.
    if matches!(object.get("functions"), Some(Value::Array(functions)) if functions.is_empty()) {
        return Err(empty_array("functions"));
    }
    for (index, tool) in tools.iter().enumerate() {
        // A function tool (`function.name`) or a custom tool (`custom.name`), as in the spec.
        let kind = match tool.get("type").and_then(Value::as_str) {
            Some(kind @ ("function" | "custom")) => kind,
            None => return Err(missing(&format!("tools[{index}].type"))),
            Some(_) => {
                let param = format!("tools[{index}].type");
                return Err(ErrorReply::invalid(
                    Some(&param),
                    Some("invalid_value"),
                    format!("Invalid value for '{param}': expected 'function' or 'custom'."),
                ));
            }
        };
        let name = tool
            .get(kind)
            .and_then(|definition| definition.get("name"))
            .and_then(Value::as_str);
        if name.is_none_or(str::is_empty) {
            let param = format!("tools[{index}].{kind}.name");
            return Err(ErrorReply::invalid(
                Some(&param),
                Some("missing_required_parameter"),
                format!("Missing required parameter: '{param}'."),
            ));
        }
    }
    let tool_choice = object.get("tool_choice").filter(|choice| !choice.is_null());
    let parallel_tool_calls =
        optional_bool(object.get("parallel_tool_calls"), "parallel_tool_calls")?;
    if tools.is_empty() {
        let needs_tools = [
            ("tool_choice", tool_choice.is_some()),
            ("parallel_tool_calls", parallel_tool_calls.is_some()),
        ];
        if let Some((param, _)) = needs_tools.iter().find(|(_, given)| *given) {
            return Err(ErrorReply::invalid(
                Some(param),
                None,
                format!(
                    "Invalid value for '{param}': '{param}' is only allowed when 'tools' are specified."
                ),
            ));
        }
    }
    let n = u32::try_from(n).unwrap_or(1);
    Ok(ChatParams {
        model,
        messages,
        stream,
        include_usage,
        n,
        max_tokens,
        tools,
        tool_choice,
    })
}

fn validate_message(index: usize, message: &Value) -> Result<(), ErrorReply> {
    let Some(object) = message.as_object() else {
        return Err(invalid_type(
            &format!("messages[{index}]"),
            "an object",
            message,
        ));
    };
    let role = match object.get("role") {
        Some(Value::String(role)) => role.as_str(),
        None | Some(Value::Null) => return Err(missing(&format!("messages[{index}].role"))),
        Some(other) => {
            return Err(invalid_type(
                &format!("messages[{index}].role"),
                "a string",
                other,
            ));
        }
    };
    if !ROLES.contains(&role) {
        return Err(ErrorReply::invalid(
            Some(&format!("messages[{index}].role")),
            Some("invalid_value"),
            format!(
                "Invalid value: '{role}'. Supported values are: 'system', 'assistant', 'user', 'function', 'tool', and 'developer'."
            ),
        ));
    }
    let content = object.get("content").filter(|content| !content.is_null());
    let has_tool_calls = object
        .get("tool_calls")
        .is_some_and(|calls| calls.as_array().is_some_and(|calls| !calls.is_empty()));
    match content {
        None if role == "assistant" && has_tool_calls => {}
        None if role == "assistant"
            && object
                .get("function_call")
                .is_some_and(|call| !call.is_null()) => {}
        // A (deprecated) function message's content is required but may be null.
        None if role == "function" && object.contains_key("content") => {}
        None => return Err(missing(&format!("messages[{index}].content"))),
        Some(Value::Array(parts)) if parts.is_empty() => {
            // Every content array in the spec has `minItems: 1`.
            return Err(empty_array(&format!("messages[{index}].content")));
        }
        Some(Value::String(_) | Value::Array(_)) => {}
        Some(other) => {
            return Err(invalid_type(
                &format!("messages[{index}].content"),
                "a string or an array",
                other,
            ));
        }
    }
    if role == "tool" && !object.get("tool_call_id").is_some_and(Value::is_string) {
        return Err(missing(&format!("messages[{index}].tool_call_id")));
    }
    if role == "function" && !object.get("name").is_some_and(Value::is_string) {
        return Err(missing(&format!("messages[{index}].name")));
    }
    Ok(())
}

fn missing(param: &str) -> ErrorReply {
    ErrorReply::invalid(
        Some(param),
        Some("missing_required_parameter"),
        format!("Missing required parameter: '{param}'."),
    )
}

/// An empty list where the spec has `minItems: 1`, as OpenAI words it.
fn empty_array(param: &str) -> ErrorReply {
    ErrorReply::invalid(
        Some(param),
        Some("empty_array"),
        format!(
            "Invalid '{param}': empty array. Expected an array with minimum length 1, but got an empty array instead."
        ),
    )
}

fn invalid_type(param: &str, expected: &str, got: &Value) -> ErrorReply {
    ErrorReply::invalid(
        Some(param),
        Some("invalid_type"),
        format!(
            "Invalid type for '{param}': expected {expected}, but got {} instead.",
            describe(got)
        ),
    )
}

fn describe(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(number) if number.is_f64() => "a decimal",
        Value::Number(_) => "an integer",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn optional_bool(value: Option<&Value>, param: &str) -> Result<Option<bool>, ErrorReply> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(flag)) => Ok(Some(*flag)),
        Some(other) => Err(invalid_type(param, "a boolean", other)),
    }
}

fn number_in_range(
    value: Option<&Value>,
    param: &str,
    min: f64,
    max: f64,
) -> Result<(), ErrorReply> {
    let number = match value {
        None | Some(Value::Null) => return Ok(()),
        Some(Value::Number(number)) => number.as_f64().unwrap_or(f64::NAN),
        Some(other) => return Err(invalid_type(param, "a decimal", other)),
    };
    if number < min {
        return Err(ErrorReply::invalid(
            Some(param),
            Some("decimal_below_min_value"),
            format!(
                "Invalid '{param}': decimal below minimum value. Expected a value >= {min}, but got {number} instead."
            ),
        ));
    }
    if number > max || number.is_nan() {
        return Err(ErrorReply::invalid(
            Some(param),
            Some("decimal_above_max_value"),
            format!(
                "Invalid '{param}': decimal above maximum value. Expected a value <= {max}, but got {number} instead."
            ),
        ));
    }
    Ok(())
}

fn integer_in_range(
    value: Option<&Value>,
    param: &str,
    min: u64,
    max: u64,
) -> Result<Option<u64>, ErrorReply> {
    let integer = match value {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Number(number)) => match (number.as_u64(), number.as_i64()) {
            (Some(integer), _) => integer,
            (None, Some(_negative)) => 0,
            (None, None) => {
                return Err(invalid_type(
                    param,
                    "an integer",
                    &Value::Number(number.clone()),
                ));
            }
        },
        Some(other) => return Err(invalid_type(param, "an integer", other)),
    };
    if integer < min
        || value
            .and_then(Value::as_i64)
            .is_some_and(|signed| signed < 0)
    {
        let shown = value.map(Value::to_string).unwrap_or_default();
        return Err(ErrorReply::invalid(
            Some(param),
            Some("integer_below_min_value"),
            format!(
                "Invalid '{param}': integer below minimum value. Expected a value >= {min}, but got {shown} instead."
            ),
        ));
    }
    if integer > max {
        return Err(ErrorReply::invalid(
            Some(param),
            Some("integer_above_max_value"),
            format!(
                "Invalid '{param}': integer above maximum value. Expected a value <= {max}, but got {integer} instead."
            ),
        ));
    }
    Ok(Some(integer))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn rejection(body: Value) -> ErrorReply {
        validate_chat(&body).unwrap_err()
    }

    #[test]
    fn accepts_a_minimal_request() {
        let body = json!({"model": "mock-echo", "messages": [{"role": "user", "content": "hi"}]});
        let params = validate_chat(&body).unwrap();
        assert_eq!(params.model, "mock-echo");
        assert!(!params.stream);
        assert_eq!(params.n, 1);
    }

    #[test]
    fn rejects_like_the_real_service() {
        let user = json!([{"role": "user", "content": "hi"}]);
        let cases = [
            (json!({"messages": user}), None, None),
            (
                json!({"model": "m"}),
                Some("messages"),
                Some("missing_required_parameter"),
            ),
            (
                json!({"model": "m", "messages": []}),
                Some("messages"),
                Some("empty_array"),
            ),
            (
                json!({"model": "m", "messages": [{"role": "boss", "content": "x"}]}),
                Some("messages[0].role"),
                Some("invalid_value"),
            ),
            (
                json!({"model": "m", "messages": [{"role": "user"}]}),
                Some("messages[0].content"),
                Some("missing_required_parameter"),
            ),
            (
                json!({"model": "m", "messages": [{"role": "user", "content": []}]}),
                Some("messages[0].content"),
                Some("empty_array"),
            ),
            (
                json!({"model": "m", "messages": user, "temperature": 2.5}),
                Some("temperature"),
                Some("decimal_above_max_value"),
            ),
            (
                json!({"model": "m", "messages": user, "temperature": -0.1}),
                Some("temperature"),
                Some("decimal_below_min_value"),
            ),
            (
                json!({"model": "m", "messages": user, "temperature": "hot"}),
                Some("temperature"),
                Some("invalid_type"),
            ),
            (
                json!({"model": "m", "messages": user, "n": 0}),
                Some("n"),
                Some("integer_below_min_value"),
            ),
            (
                json!({"model": "m", "messages": user, "max_tokens": -3}),
                Some("max_tokens"),
                Some("integer_below_min_value"),
            ),
            (
                json!({"model": "m", "messages": user, "stream_options": {"include_usage": true}}),
                Some("stream_options"),
                Some("invalid_value"),
            ),
            (
                json!({"model": "m", "messages": user, "tools": [{"type": "function", "function": {}}]}),
                Some("tools[0].function.name"),
                Some("missing_required_parameter"),
            ),
        ];
        for (body, param, code) in cases {
            let error = rejection(body.clone());
            assert_eq!(error.status, http::StatusCode::BAD_REQUEST, "{body}");
            assert_eq!(error.param.as_deref(), param, "{body}");
            assert_eq!(error.code.as_deref(), code, "{body}");
        }
    }

    #[test]
    fn accepts_custom_tools_as_the_spec_does() {
        // CreateChatCompletionRequest.tools: oneOf ChatCompletionTool, CustomToolChatCompletions.
        let body = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}], "tools": [
            {"type": "custom", "custom": {"name": "code_exec", "format": {"type": "text"}}},
            {"type": "function", "function": {"name": "get_weather"}}
        ]});
        let params = validate_chat(&body).unwrap();
        assert_eq!(params.tools.len(), 2);
        let nameless = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}], "tools": [
            {"type": "custom", "custom": {}}
        ]});
        let error = rejection(nameless);
        assert_eq!(error.param.as_deref(), Some("tools[0].custom.name"));
        assert_eq!(error.code.as_deref(), Some("missing_required_parameter"));
        let unknown = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}], "tools": [
            {"type": "retrieval", "function": {"name": "f"}}
        ]});
        let error = rejection(unknown);
        assert_eq!(error.param.as_deref(), Some("tools[0].type"));
        assert_eq!(error.code.as_deref(), Some("invalid_value"));
    }

    #[test]
    fn function_messages_may_have_null_content_but_need_a_name() {
        // ChatCompletionRequestFunctionMessage: content is string or null, name required.
        let body = json!({"model": "m", "messages": [
            {"role": "user", "content": "hi"},
            {"role": "function", "name": "lookup", "content": null}
        ]});
        assert!(validate_chat(&body).is_ok());
        let nameless = json!({"model": "m", "messages": [
            {"role": "function", "content": "result"}
        ]});
        let error = rejection(nameless);
        assert_eq!(error.param.as_deref(), Some("messages[0].name"));
        assert_eq!(error.code.as_deref(), Some("missing_required_parameter"));
    }

    #[test]
    fn rejects_parameters_openai_rejects_in_combination_or_out_of_range() {
        let user = json!([{"role": "user", "content": "hi"}]);
        let tools = json!([{"type": "function", "function": {"name": "f"}}]);
        let cases = [
            // top_logprobs: integer, minimum 0, maximum 20; `logprobs` must be true.
            (
                json!({"model": "m", "messages": user, "logprobs": true, "top_logprobs": 21}),
                "top_logprobs",
                None,
                "Invalid value for 'top_logprobs': must be less than or equal to 20.",
            ),
            (
                json!({"model": "m", "messages": user, "logprobs": true, "top_logprobs": -1}),
                "top_logprobs",
                Some("integer_below_min_value"),
                "Invalid 'top_logprobs': integer below minimum value. Expected a value >= 0, but got -1 instead.",
            ),
            (
                json!({"model": "m", "messages": user, "top_logprobs": 2}),
                "top_logprobs",
                None,
                "The 'top_logprobs' parameter is only allowed when 'logprobs' is enabled.",
            ),
            (
                json!({"model": "m", "messages": user, "logprobs": false, "top_logprobs": 2}),
                "top_logprobs",
                None,
                "The 'top_logprobs' parameter is only allowed when 'logprobs' is enabled.",
            ),
            // tool_choice and parallel_tool_calls need tools.
            (
                json!({"model": "m", "messages": user, "tool_choice": "auto"}),
                "tool_choice",
                None,
                "Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' are specified.",
            ),
            (
                json!({"model": "m", "messages": user, "parallel_tool_calls": false}),
                "parallel_tool_calls",
                None,
                "Invalid value for 'parallel_tool_calls': 'parallel_tool_calls' is only allowed when 'tools' are specified.",
            ),
            // StopConfiguration: up to 4 sequences.
            (
                json!({"model": "m", "messages": user, "stop": ["a", "b", "c", "d", "e"]}),
                "stop",
                Some("array_above_max_length"),
                "Invalid 'stop': array too long. Expected an array with maximum length 4, but got an array with length 5 instead.",
            ),
            // tools: `minItems: 1`.
            (
                json!({"model": "m", "messages": user, "tools": []}),
                "tools",
                Some("empty_array"),
                "Invalid 'tools': empty array. Expected an array with minimum length 1, but got an empty array instead.",
            ),
            (
                json!({"model": "m", "messages": user, "tools": [], "tool_choice": "auto"}),
                "tools",
                Some("empty_array"),
                "Invalid 'tools': empty array. Expected an array with minimum length 1, but got an empty array instead.",
            ),
            // functions (deprecated): `minItems: 1`, like `tools`.
            (
                json!({"model": "m", "messages": user, "functions": []}),
                "functions",
                Some("empty_array"),
                "Invalid 'functions': empty array. Expected an array with minimum length 1, but got an empty array instead.",
            ),
            (
                json!({"model": "m", "messages": user, "functions": [], "function_call": "auto"}),
                "functions",
                Some("empty_array"),
                "Invalid 'functions': empty array. Expected an array with minimum length 1, but got an empty array instead.",
            ),
            // An assistant message needs content unless it has tool calls or a function call.
            (
                json!({"model": "m", "messages": [
                    {"role": "user", "content": "hi"},
                    {"role": "assistant", "function_call": null}
                ]}),
                "messages[1].content",
                Some("missing_required_parameter"),
                "Missing required parameter: 'messages[1].content'.",
            ),
        ];
        for (body, param, code, message) in cases {
            let error = rejection(body.clone());
            assert_eq!(error.status, http::StatusCode::BAD_REQUEST, "{body}");
            assert_eq!(error.error_type, "invalid_request_error", "{body}");
            assert_eq!(error.param.as_deref(), Some(param), "{body}");
            assert_eq!(error.code.as_deref(), code, "{body}");
            assert_eq!(error.message, message, "{body}");
        }
        let accepted = [
            json!({"model": "m", "messages": user, "logprobs": true, "top_logprobs": 20}),
            json!({"model": "m", "messages": user, "logprobs": true, "top_logprobs": 0}),
            json!({"model": "m", "messages": user, "tools": tools, "tool_choice": "required", "parallel_tool_calls": false}),
            json!({"model": "m", "messages": user, "tool_choice": null, "parallel_tool_calls": null}),
            json!({"model": "m", "messages": user, "stop": ["a", "b", "c", "d"]}),
            json!({"model": "m", "messages": user, "stop": "a"}),
            json!({"model": "m", "messages": [
                {"role": "user", "content": "hi"},
                {"role": "assistant", "function_call": {"name": "f", "arguments": "{}"}}
            ]}),
        ];
        for body in accepted {
            assert!(validate_chat(&body).is_ok(), "{body}");
        }
    }

    #[test]
    fn caps_with_the_smaller_token_limit() {
        let body = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 9, "max_completion_tokens": 4});
        assert_eq!(validate_chat(&body).unwrap().max_tokens, Some(4));
    }
}
