//! The request `nexllm chat` sends: a `--request` body, if any, with the options laid over it.
//!
//! Precedence, lowest first: the fields of the `--request` file (unknown ones,
//! and a `metadata` object with non-string values, are kept and sent as they
//! are), then `-m` (`NEXLLM_MODEL` only where the
//! file names no model), `--max-tokens`, `--temperature`,
//! `-s` (replaces a leading system message or adds one), the prompt (appended
//! as a user message) and `--no-stream`.

use nexllm_proto::types::{ChatCompletionRequest, Message, Role};
use serde_json::Value;

use crate::cli::ChatArgs;
use crate::failure::Failure;

/// The options that shape the request body (a view of [`ChatArgs`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct RequestOptions {
    /// `-m` (or `NEXLLM_MODEL`).
    pub(crate) model: Option<String>,
    /// `model` is `NEXLLM_MODEL`'s: a default, not an override of the `--request` body's model.
    pub(crate) model_from_env: bool,
    /// `-s`.
    pub(crate) system: Option<String>,
    /// `--max-tokens`.
    pub(crate) max_tokens: Option<u32>,
    /// `--temperature`.
    pub(crate) temperature: Option<f64>,
    /// `--no-stream`.
    pub(crate) no_stream: bool,
    /// Ask a stream for its token usage (`--usage`, `--json`).
    pub(crate) want_usage: bool,
}

impl RequestOptions {
    /// The request options of a `chat` command line.
    pub(crate) fn from_args(args: &ChatArgs) -> Self {
        RequestOptions {
            model: args.model.clone(),
            model_from_env: args.model_from_env,
            system: args.system.clone(),
            max_tokens: args.max_tokens,
            temperature: args.temperature,
            no_stream: args.no_stream,
            want_usage: args.usage || args.json,
        }
    }
}

/// Parses a `--request` body: a JSON object with any request fields. `model`
/// and `messages` may be left out (the options and the prompt supply them).
/// A `metadata` object with values that are not all strings is kept in
/// `extra` and sent as given (the typed field is left unset).
pub(crate) fn parse_request_body(
    text: &str,
    origin: &str,
) -> Result<ChatCompletionRequest, Failure> {
    let value: Value = serde_json::from_str(text)
        .map_err(|e| Failure::usage(format!("--request {origin}: not valid JSON: {e}")))?;
    let Value::Object(mut body) = value else {
        return Err(Failure::usage(format!(
            "--request {origin}: expected a JSON object (a chat completion request body)"
        )));
    };
    body.entry("model").or_insert_with(|| Value::from(""));
    body.entry("messages")
        .or_insert_with(|| Value::Array(Vec::new()));
    // Gateways (LiteLLM and others) take `metadata` values of any JSON type,
    // which the typed field (string values only) cannot hold: such an object
    // is sent through `extra`, as given. Any other shape is left to the typed
    // field, which refuses it.
    let untyped_metadata = match body.get("metadata") {
        Some(Value::Object(entries)) if entries.values().any(|value| !value.is_string()) => {
            body.remove("metadata")
        }
        _ => None,
    };
    let mut request: ChatCompletionRequest = serde_json::from_value(Value::Object(body))
        .map_err(|e| Failure::usage(format!("--request {origin}: {e}")))?;
    if let Some(metadata) = untyped_metadata {
        // The typed field is unset, so `extra` supplies it as given.
        request.extra.insert("metadata".to_owned(), metadata);
    }
    Ok(request)
}

/// Lays the options and the prompt over `base` (the `--request` body, or an
/// empty request) and checks that a model and at least one message remain.
pub(crate) fn build_request(
    base: Option<ChatCompletionRequest>,
    options: &RequestOptions,
    prompt: Option<String>,
) -> Result<ChatCompletionRequest, Failure> {
    let from_file = base.is_some();
    let mut request = base.unwrap_or_default();

    // `-m` overrides the body's model; `NEXLLM_MODEL` only stands in for a missing one.
    let keep_body_model = options.model_from_env && !request.model.trim().is_empty();
    if let Some(model) = options.model.as_deref().map(str::trim) {
        if !model.is_empty() && !keep_body_model {
            request.model = model.to_owned();
        }
    }
    if request.model.trim().is_empty() {
        return Err(Failure::usage(
            "no model: pass -m/--model or set NEXLLM_MODEL",
        ));
    }
    if let Some(system) = &options.system {
        set_system(&mut request.messages, system);
    }
    if let Some(prompt) = prompt {
        request.messages.push(Message::user(prompt));
    }
    if !request.messages.iter().any(|m| m.role != Role::System) {
        return Err(Failure::usage(if from_file {
            "no prompt: give one as an argument or put messages in the --request body"
        } else {
            "no prompt: give one as an argument or on stdin"
        }));
    }
    if options.max_tokens.is_some() {
        request.max_tokens = options.max_tokens;
    }
    if options.temperature.is_some() {
        request.temperature = options.temperature;
    }

    let stream = !options.no_stream && request.stream != Some(false);
    if stream {
        request.stream = Some(true);
        if options.want_usage {
            request = request.include_usage(true);
        }
    } else {
        request.stream = None;
        // Only valid with `stream: true`; servers reject it otherwise.
        request.stream_options = None;
    }
    Ok(request)
}

/// Replaces the text of a leading system message, or inserts one first.
pub(crate) fn set_system(messages: &mut Vec<Message>, system: &str) {
    match messages.first_mut() {
        Some(first) if first.role == Role::System => {
            first.content = Some(system.to_owned().into());
        }
        _ => messages.insert(0, Message::system(system.to_owned())),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn options(model: &str) -> RequestOptions {
        RequestOptions {
            model: Some(model.into()),
            ..RequestOptions::default()
        }
    }

    #[test]
    fn a_plain_prompt_streams_by_default() {
        let req = build_request(None, &options("gpt-4o"), Some("Hi".into())).unwrap();
        let json = serde_json::to_value(&req).unwrap();
        assert_eq!(
            json,
            json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "Hi"}], "stream": true})
        );
    }

    #[test]
    fn options_become_fields() {
        let opts = RequestOptions {
            model: Some("m".into()),
            system: Some("Be brief.".into()),
            max_tokens: Some(12),
            temperature: Some(0.3),
            no_stream: true,
            want_usage: true,
            ..RequestOptions::default()
        };
        let json =
            serde_json::to_value(build_request(None, &opts, Some("Q".into())).unwrap()).unwrap();
        assert_eq!(
            json["messages"][0],
            json!({"role": "system", "content": "Be brief."})
        );
        assert_eq!(json["messages"][1], json!({"role": "user", "content": "Q"}));
        assert_eq!(json["max_tokens"], 12);
        assert_eq!(json["temperature"], 0.3);
        assert!(json.get("stream").is_none());
        assert!(json.get("stream_options").is_none());
    }

    #[test]
    fn usage_is_asked_of_streams() {
        let opts = RequestOptions {
            want_usage: true,
            ..options("m")
        };
        let json =
            serde_json::to_value(build_request(None, &opts, Some("Q".into())).unwrap()).unwrap();
        assert_eq!(json["stream_options"], json!({"include_usage": true}));
    }

    #[test]
    fn a_request_file_keeps_unknown_fields_and_options_override() {
        let body = r#"{
            "model": "from-file",
            "messages": [{"role": "system", "content": "old"}, {"role": "user", "content": "a"}],
            "temperature": 1.5,
            "top_k": 40,
            "provider": {"order": ["x"]},
            "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
        }"#;
        let base = parse_request_body(body, "req.json").unwrap();
        let opts = RequestOptions {
            model: Some("from-flag".into()),
            system: Some("new".into()),
            temperature: Some(0.0),
            ..RequestOptions::default()
        };
        let json =
            serde_json::to_value(build_request(Some(base), &opts, Some("b".into())).unwrap())
                .unwrap();
        assert_eq!(json["model"], "from-flag");
        assert_eq!(json["temperature"], 0.0);
        assert_eq!(json["top_k"], 40);
        assert_eq!(json["provider"], json!({"order": ["x"]}));
        assert_eq!(json["tools"][0]["function"]["name"], "f");
        assert_eq!(
            json["messages"],
            json!([
                {"role": "system", "content": "new"},
                {"role": "user", "content": "a"},
                {"role": "user", "content": "b"}
            ])
        );
    }

    #[test]
    fn a_request_file_may_carry_metadata_with_any_values() {
        let metadata = json!({"tags": ["a", "b"], "trace_id": 7, "run": "42"});
        let body = json!({"model": "m", "metadata": metadata}).to_string();
        let base = parse_request_body(&body, "f").unwrap();
        assert_eq!(base.metadata, None);
        assert_eq!(base.extra.get("metadata"), Some(&metadata));
        let req = build_request(Some(base), &RequestOptions::default(), Some("p".into())).unwrap();
        assert!(req.validate().is_ok());
        assert_eq!(serde_json::to_value(&req).unwrap()["metadata"], metadata);

        // String values still fill the typed field.
        let base = parse_request_body(r#"{"metadata": {"run": "42"}}"#, "f").unwrap();
        assert_eq!(base.metadata.unwrap()["run"], "42");
        assert!(base.extra.is_empty());
        let base = parse_request_body(r#"{"metadata": null}"#, "f").unwrap();
        assert_eq!(base.metadata, None);
        assert!(base.extra.is_empty());
        // Metadata that is no object at all is still refused.
        for bad in [r#"{"metadata": ["a"]}"#, r#"{"metadata": "a"}"#] {
            assert!(
                matches!(parse_request_body(bad, "f"), Err(Failure::Usage(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn a_request_file_may_leave_out_model_and_messages() {
        let base =
            parse_request_body(r#"{"messages": [{"role": "user", "content": "x"}]}"#, "-").unwrap();
        let req = build_request(Some(base), &options("m"), None).unwrap();
        assert_eq!(req.model, "m");
        assert_eq!(req.messages.len(), 1);

        let base = parse_request_body(r#"{"model": "file-model"}"#, "-").unwrap();
        let req = build_request(Some(base), &RequestOptions::default(), Some("p".into())).unwrap();
        assert_eq!(req.model, "file-model");
    }

    #[test]
    fn the_environment_model_is_only_a_default_for_a_request_file() {
        let from_env = RequestOptions {
            model_from_env: true,
            ..options("env-model")
        };
        let with_model = || parse_request_body(r#"{"model": "file-model"}"#, "f").unwrap();
        let req = build_request(Some(with_model()), &from_env, Some("p".into())).unwrap();
        assert_eq!(req.model, "file-model");
        let req = build_request(Some(with_model()), &options("flag"), Some("p".into())).unwrap();
        assert_eq!(req.model, "flag");
        let without_model = parse_request_body("{}", "f").unwrap();
        let req = build_request(Some(without_model), &from_env, Some("p".into())).unwrap();
        assert_eq!(req.model, "env-model");
        let req = build_request(None, &from_env, Some("p".into())).unwrap();
        assert_eq!(req.model, "env-model");
    }

    #[test]
    fn a_file_that_says_stream_false_is_not_streamed() {
        let base = parse_request_body(
            r#"{"model": "m", "stream": false, "messages": [{"role": "user", "content": "x"}]}"#,
            "f",
        )
        .unwrap();
        let req = build_request(Some(base), &RequestOptions::default(), None).unwrap();
        assert!(!req.is_stream());
    }

    #[test]
    fn missing_pieces_are_usage_errors() {
        let no_model = build_request(None, &RequestOptions::default(), Some("x".into()));
        assert!(matches!(no_model, Err(Failure::Usage(ref m)) if m.contains("no model")));
        let no_prompt = build_request(None, &options("m"), None);
        assert!(matches!(no_prompt, Err(Failure::Usage(ref m)) if m.contains("no prompt")));
        let only_system = RequestOptions {
            system: Some("s".into()),
            ..options("m")
        };
        assert!(build_request(None, &only_system, None).is_err());
        for bad in ["", "[1]", "{\"model\": 3}", "{\"messages\": \"x\"}", "{"] {
            assert!(
                matches!(parse_request_body(bad, "f"), Err(Failure::Usage(_))),
                "{bad}"
            );
        }
    }
}
