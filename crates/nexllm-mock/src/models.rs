//! The built-in models: what each one answers, deterministically.

use serde_json::{Map, Value, json};

use crate::script::{Answer, ScriptedToolCall};
use crate::validate::ChatParams;

/// The model that echoes (or answers greetings from a small script).
pub const ECHO_MODEL: &str = "mock-echo";
/// The model that calls the first tool it is given, then uses the tool's result.
pub const TOOLS_MODEL: &str = "mock-tools";
/// Model ids served by the echo model by default, so demos with real ids work.
pub const DEFAULT_ALIASES: [&str; 3] = ["gpt-4o", "aws/claude-haiku-4-5", "gemini-2.5-flash"];
/// A model name starting with this selects a fault, e.g. `mock-fault:status=500`.
pub const FAULT_MODEL_PREFIX: &str = "mock-fault:";

/// How a model answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Behaviour {
    Echo,
    Tools,
}

/// The behaviour of `model`, or `None` when the server does not know it.
pub(crate) fn behaviour(model: &str, aliases: &[String]) -> Option<Behaviour> {
    if model == TOOLS_MODEL {
        Some(Behaviour::Tools)
    } else if model == ECHO_MODEL
        || model.starts_with(FAULT_MODEL_PREFIX)
        || aliases.iter().any(|alias| alias == model)
    {
        Some(Behaviour::Echo)
    } else {
        None
    }
}

/// The text of a message's `content` (a string, or the text parts of an array).
pub(crate) fn content_text(message: &Value) -> String {
    match message.get("content") {
        Some(Value::String(text)) => text.clone(),
        Some(Value::Array(parts)) => parts
            .iter()
            .filter_map(|part| part.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

fn role(message: &Value) -> &str {
    message.get("role").and_then(Value::as_str).unwrap_or("")
}

/// The answer `behaviour` gives to `params`.
pub(crate) fn answer(behaviour: Behaviour, params: &ChatParams<'_>) -> Answer {
    match behaviour {
        Behaviour::Echo => Answer::Text(echo(params.messages)),
        Behaviour::Tools => tools_answer(params),
    }
}

fn echo(messages: &[Value]) -> String {
    let Some(last_user) = messages
        .iter()
        .rev()
        .find(|message| role(message) == "user")
    else {
        return "Hello from the NexLLM mock. Send a user message and I will echo it.".to_owned();
    };
    let text = content_text(last_user);
    let normalized: String = text.trim().trim_end_matches(['!', '.', '?']).to_lowercase();
    match normalized.as_str() {
        "" => "You sent an empty message.".to_owned(),
        "hi" | "hello" | "hey" | "hello there" | "hi there" => {
            "Hello! I am the NexLLM mock model. I answer the same way every time, so your tests and demos are reproducible."
                .to_owned()
        }
        "what can you do" | "help" => {
            "I echo your last message, greet you back, and call tools when you use the mock-tools model.".to_owned()
        }
        "tell me a joke" => "Why did the HTTP request go to therapy? It had too many unresolved issues.".to_owned(),
        _ => text,
    }
}

fn tools_answer(params: &ChatParams<'_>) -> Answer {
    let Some(last) = params.messages.last() else {
        return Answer::Text(echo(params.messages));
    };
    if role(last) == "tool" {
        let call_id = last
            .get("tool_call_id")
            .and_then(Value::as_str)
            .unwrap_or("");
        let name =
            tool_name_for_call(params.messages, call_id).unwrap_or_else(|| "the tool".to_owned());
        return Answer::Text(format!("Based on {name}: {}", content_text(last)));
    }
    let wants_no_tool = params.tool_choice.and_then(Value::as_str) == Some("none");
    if params.tools.is_empty() || wants_no_tool {
        return Answer::Text(echo(params.messages));
    }
    let forced = params
        .tool_choice
        .and_then(|choice| choice.get("function"))
        .and_then(|function| function.get("name"))
        .and_then(Value::as_str);
    let tool = forced
        .and_then(|name| {
            params.tools.iter().find(|tool| {
                tool_function(tool)
                    .and_then(|f| f.get("name"))
                    .and_then(Value::as_str)
                    == Some(name)
            })
        })
        .or_else(|| {
            // Custom tools are accepted but never called: the first function tool is.
            params
                .tools
                .iter()
                .find(|tool| tool_function(tool).is_some())
        });
    let Some(function) = tool.and_then(tool_function) else {
        return Answer::Text(echo(params.messages));
    };
    let name = function
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or("tool")
        .to_owned();
    let arguments = arguments_for(function.get("parameters")).to_string();
    Answer::ToolCalls(vec![ScriptedToolCall { name, arguments }])
}

fn tool_function(tool: &Value) -> Option<&Value> {
    tool.get("function")
}

fn tool_name_for_call(messages: &[Value], call_id: &str) -> Option<String> {
    messages
        .iter()
        .rev()
        .filter_map(|message| message.get("tool_calls").and_then(Value::as_array))
        .flatten()
        .find(|call| call.get("id").and_then(Value::as_str) == Some(call_id))
        .and_then(|call| {
            call.get("function")?
                .get("name")?
                .as_str()
                .map(str::to_owned)
        })
}

/// Plausible arguments: a value for every required property of the JSON schema.
fn arguments_for(schema: Option<&Value>) -> Value {
    let mut arguments = Map::new();
    let Some(schema) = schema else {
        return Value::Object(arguments);
    };
    let properties = schema.get("properties").and_then(Value::as_object);
    let required = schema
        .get("required")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    for name in required.iter().filter_map(Value::as_str) {
        let property = properties.and_then(|properties| properties.get(name));
        arguments.insert(name.to_owned(), example_value(name, property, 0));
    }
    Value::Object(arguments)
}

fn example_value(name: &str, schema: Option<&Value>, depth: usize) -> Value {
    let Some(schema) = schema else {
        return json!("example");
    };
    if let Some(first) = schema
        .get("enum")
        .and_then(Value::as_array)
        .and_then(|values| values.first())
    {
        return first.clone();
    }
    let kind = match schema.get("type") {
        Some(Value::String(kind)) => kind.as_str(),
        Some(Value::Array(kinds)) => kinds
            .iter()
            .filter_map(Value::as_str)
            .find(|kind| *kind != "null")
            .unwrap_or("string"),
        _ => "string",
    };
    let lower = name.to_lowercase();
    match kind {
        "integer" => json!(1),
        "number" => json!(1.5),
        "boolean" => json!(true),
        "array" => json!([]),
        "object" if depth < 4 => {
            let mut nested = Map::new();
            let properties = schema.get("properties").and_then(Value::as_object);
            for required in schema
                .get("required")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
            {
                let property = properties.and_then(|properties| properties.get(required));
                nested.insert(
                    required.to_owned(),
                    example_value(required, property, depth + 1),
                );
            }
            Value::Object(nested)
        }
        "object" => json!({}),
        _ if lower.contains("city") || lower.contains("location") || lower.contains("place") => {
            json!("Paris")
        }
        _ if lower.contains("date") => json!("2025-01-01"),
        _ if lower.contains("query") || lower.contains("search") => json!("nexllm"),
        _ => json!("example"),
    }
}

/// Plausible token count of a text: four tokens for every three words, rounded up.
pub(crate) fn count_tokens(text: &str) -> u64 {
    let words = text.split_whitespace().count() as u64;
    words.saturating_mul(4).div_ceil(3)
}

/// Plausible token count of tool call arguments (about four characters a token).
pub(crate) fn count_argument_tokens(arguments: &str) -> u64 {
    (arguments.chars().count() as u64).div_ceil(4).max(1)
}

/// Plausible prompt token count: the words of every message plus a few per message.
pub(crate) fn count_prompt_tokens(messages: &[Value]) -> u64 {
    messages
        .iter()
        .map(|message| 4 + count_tokens(&content_text(message)))
        .sum::<u64>()
        + 3
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validate::validate_chat;

    fn answer_for(body: Value) -> Answer {
        let params = validate_chat(&body).unwrap();
        let behaviour = behaviour(params.model, &[]).unwrap();
        answer(behaviour, &params)
    }

    #[test]
    fn echo_repeats_the_last_user_message_and_greets() {
        let body = json!({"model": "mock-echo", "messages": [
            {"role": "user", "content": "first"},
            {"role": "assistant", "content": "x"},
            {"role": "user", "content": [{"type": "text", "text": "second"}]}
        ]});
        assert_eq!(answer_for(body), Answer::text("second"));
        let body =
            json!({"model": "mock-echo", "messages": [{"role": "user", "content": "Hello!"}]});
        let Answer::Text(greeting) = answer_for(body) else {
            panic!("expected text")
        };
        assert!(greeting.starts_with("Hello! I am the NexLLM mock"));
    }

    #[test]
    fn tools_model_calls_the_first_tool_with_required_arguments() {
        let body = json!({"model": "mock-tools", "messages": [{"role": "user", "content": "weather?"}], "tools": [
            {"type": "function", "function": {"name": "get_weather", "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}, "days": {"type": "integer"}},
                "required": ["city", "unit"]
            }}}
        ]});
        let Answer::ToolCalls(calls) = answer_for(body) else {
            panic!("expected a tool call")
        };
        assert_eq!(calls.len(), 1);
        assert_eq!(calls[0].name, "get_weather");
        let arguments: Value = serde_json::from_str(&calls[0].arguments).unwrap();
        assert_eq!(arguments, json!({"city": "Paris", "unit": "celsius"}));
    }

    #[test]
    fn tools_model_calls_the_first_function_tool_after_custom_ones() {
        let body = json!({"model": "mock-tools", "messages": [{"role": "user", "content": "run it"}], "tools": [
            {"type": "custom", "custom": {"name": "code_exec"}},
            {"type": "function", "function": {"name": "get_time"}}
        ]});
        let Answer::ToolCalls(calls) = answer_for(body) else {
            panic!("expected a tool call")
        };
        assert_eq!(calls[0].name, "get_time");
    }

    #[test]
    fn tools_model_uses_the_tool_result() {
        let body = json!({"model": "mock-tools", "messages": [
            {"role": "user", "content": "weather?"},
            {"role": "assistant", "content": null, "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "call_1", "content": "22 degrees and sunny"}
        ], "tools": [{"type": "function", "function": {"name": "get_weather"}}]});
        assert_eq!(
            answer_for(body),
            Answer::text("Based on get_weather: 22 degrees and sunny")
        );
    }

    #[test]
    fn token_counts_are_plausible() {
        assert_eq!(count_tokens(""), 0);
        assert_eq!(count_tokens("one two three"), 4);
        assert_eq!(count_tokens("one"), 2);
        assert_eq!(count_argument_tokens("{\"city\":\"Paris\"}"), 4);
    }
}
