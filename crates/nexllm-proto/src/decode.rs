//! Turning a response (status, headers, body) into a typed value or an [`crate::Error`].
//!
//! Three rules hold for every function here:
//!
//! - An HTTP error status is an [`Error::Api`] whose message comes from the
//!   body, whatever its shape (OpenAI's `{"error": {..}}`, FastAPI's
//!   `{"detail": ..}`, vLLM's `{"object": "error", ..}`, Gemini's
//!   `[{"error": {..}}]`, plain text, an HTML error page, nothing at all).
//! - A success status whose body is an error object is an [`Error::Api`] too,
//!   and a body that is not what was asked for is an [`Error::Decode`]
//!   quoting it: never a default-filled value.
//! - Nothing a server sends makes these functions panic.
//!
//! ```
//! use http::{HeaderMap, StatusCode};
//! use nexllm_proto::decode;
//!
//! let mut headers = HeaderMap::new();
//! headers.insert("x-request-id", "req_42".parse().unwrap());
//! let body = br#"{"error": {"message": "Incorrect API key provided", "type": "invalid_request_error",
//!                 "param": null, "code": "invalid_api_key"}}"#;
//! let err = decode::chat_completion(StatusCode::UNAUTHORIZED, &headers, body).unwrap_err();
//! assert_eq!(
//!     err.to_string(),
//!     "401 Unauthorized (invalid_api_key): Incorrect API key provided [request id req_42]"
//! );
//! ```

use http::{HeaderMap, StatusCode};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::error::{ApiError, ApiErrorKind, Error, ErrorCode, excerpt};
use crate::types::{ChatCompletion, ModelList};

/// The headers that carry a request id, in the order they are looked up:
/// OpenAI and most servers, LiteLLM, OpenRouter, Anthropic-style gateways,
/// Azure API Management, Azure, AWS.
pub const REQUEST_ID_HEADERS: &[&str] = &[
    "x-request-id",
    "x-litellm-call-id",
    "x-generation-id",
    "request-id",
    "apim-request-id",
    "x-ms-request-id",
    "x-amzn-requestid",
];

/// The longest message taken from an error body, in characters.
const MAX_MESSAGE_CHARS: usize = 512;

/// The message of an error object that has none.
const NO_MESSAGE: &str = "the server reported an error without a message";

/// How deep error objects are searched for a message: the body is depth 0, so in
/// `[{"error": {..}}]` the object holding `error` is at depth 1.
const MAX_ERROR_DEPTH: usize = 4;

/// The request id of a response: `x-request-id`, else the first of the other
/// [`REQUEST_ID_HEADERS`] that is present, non-empty and readable text.
pub fn request_id(headers: &HeaderMap) -> Option<&str> {
    REQUEST_ID_HEADERS.iter().find_map(|name| {
        headers
            .get_all(*name)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .map(str::trim)
            .find(|value| !value.is_empty())
    })
}

/// Decodes the answer to a non-streaming chat completion request.
///
/// - A non-2xx status is an [`Error::Api`] built by [`api_error`].
/// - A body that is not UTF-8 or not JSON is an [`Error::Decode`] quoting it.
/// - A body that is an error object ([`error_from_value`]) is an [`Error::Api`].
/// - A JSON object counts as a completion when it has a `choices` key, or an
///   `object` starting with `chat.completion`, or both an `id` and a
///   `model`; anything else is an [`Error::Decode`] quoting the body.
///
/// Every error carries the request id of the response.
pub fn chat_completion(
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<ChatCompletion, Error> {
    decode_success(status, headers, body, "chat completion", |map| {
        map.contains_key("choices")
            || map
                .get("object")
                .and_then(Value::as_str)
                .is_some_and(|o| o.starts_with("chat.completion"))
            || (map.contains_key("id") && map.contains_key("model"))
    })
}

/// Decodes the answer to `GET /models`.
///
/// The rules of [`chat_completion`] apply; the body must be an object with a
/// `data` key. A bare JSON array of models, which a few servers send, is
/// accepted as the list.
pub fn models(status: StatusCode, headers: &HeaderMap, body: &[u8]) -> Result<ModelList, Error> {
    let value = success_json(status, headers, body)?;
    let rid = request_id(headers);
    if let Value::Array(items) = value {
        let data = items
            .into_iter()
            .map(serde_json::from_value)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| {
                decode_error(format!("the body is not a list of models: {e}"), body, rid)
            })?;
        return Ok(ModelList {
            object: "list".to_owned(),
            data,
            extra: crate::types::Extra::new(),
        });
    }
    typed_object(value, body, rid, "model list", |map| {
        map.contains_key("data")
    })
}

/// Shared path of [`chat_completion`] and similar decoders.
fn decode_success<T: DeserializeOwned>(
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
    what: &str,
    looks_right: impl Fn(&Map<String, Value>) -> bool,
) -> Result<T, Error> {
    let value = success_json(status, headers, body)?;
    typed_object(value, body, request_id(headers), what, looks_right)
}

/// Checks the status, then parses the body as JSON and rejects error objects.
fn success_json(status: StatusCode, headers: &HeaderMap, body: &[u8]) -> Result<Value, Error> {
    if !status.is_success() {
        return Err(Error::Api(Box::new(api_error(status, headers, body))));
    }
    let rid = request_id(headers);
    let text = std::str::from_utf8(body)
        .map_err(|_| decode_error("the body is not valid UTF-8", body, rid))?;
    if text.trim().is_empty() {
        return Err(decode_error("the body is empty", body, rid));
    }
    let value: Value = serde_json::from_str(text)
        .map_err(|e| decode_error(format!("the body is not JSON: {e}"), body, rid))?;
    if let Some(mut err) = error_from_value(&value) {
        err.request_id = rid.map(str::to_owned);
        err.raw_body = excerpt(text);
        return Err(Error::Api(Box::new(err)));
    }
    Ok(value)
}

fn typed_object<T: DeserializeOwned>(
    value: Value,
    body: &[u8],
    rid: Option<&str>,
    what: &str,
    looks_right: impl Fn(&Map<String, Value>) -> bool,
) -> Result<T, Error> {
    let Value::Object(map) = &value else {
        return Err(decode_error(
            format!("expected a {what} object, got {}", kind_of(&value)),
            body,
            rid,
        ));
    };
    if !looks_right(map) {
        return Err(decode_error(format!("the body is not a {what}"), body, rid));
    }
    serde_json::from_value(value)
        .map_err(|e| decode_error(format!("the body is not a valid {what}: {e}"), body, rid))
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn decode_error(message: impl Into<String>, body: &[u8], rid: Option<&str>) -> Error {
    Error::decode(message, &String::from_utf8_lossy(body)).with_request_id(rid)
}

/// Builds the [`ApiError`] of an error response.
///
/// The message, type, param and code come from the body when it has them,
/// whatever its shape: `{"error": {message, type, param, code}}`,
/// `{"error": "text"}`, `{"detail": "text"}` or FastAPI's list of
/// validation errors, a flat `{"message", "type", "code"}` object, vLLM's
/// `{"object": "error", ..}`, a JSON array of any of these (Gemini), plain
/// text, or an HTML page (its title). An empty or unreadable body gives the
/// status reason as the message. `raw_body` keeps an excerpt of the body,
/// `request_id` comes from the headers; `retry_after` and `attempts` are
/// left for the caller.
pub fn api_error(status: StatusCode, headers: &HeaderMap, body: &[u8]) -> ApiError {
    let text = String::from_utf8_lossy(body);
    let trimmed = text.trim();
    let mut fields = if trimmed.is_empty() {
        ErrorFields::default()
    } else if let Ok(value) = serde_json::from_str::<Value>(trimmed) {
        fields_from_body(&value, 0).unwrap_or_default()
    } else if looks_like_html(trimmed) {
        ErrorFields {
            message: html_title(trimmed),
            ..ErrorFields::default()
        }
    } else {
        ErrorFields {
            message: clean_text(trimmed),
            ..ErrorFields::default()
        }
    };
    if fields.message.is_none() {
        fields.message = Some(status_text(status));
    }
    let mut err = fields.into_api_error(Some(status));
    err.request_id = request_id(headers).map(str::to_owned);
    err.raw_body = excerpt(&text);
    err
}

/// Recognises an error object inside otherwise successful JSON, such as a
/// `data: {"error": {..}}` stream event, vLLM's `{"object": "error", ..}`,
/// or a JSON array whose first error element is one (Gemini). Returns `None`
/// when the value is not an error. The result has no status and kind
/// [`ApiErrorKind::Other`]; `raw_body` is the compact JSON, cut short.
pub fn error_from_value(value: &Value) -> Option<ApiError> {
    let mut fields = error_fields(value, 0)?;
    if fields.message.is_none() {
        fields.message = Some(NO_MESSAGE.to_owned());
    }
    let mut err = fields.into_api_error(None);
    err.raw_body = excerpt(&value.to_string());
    Some(err)
}

/// What an error body says.
#[derive(Debug, Default)]
struct ErrorFields {
    message: Option<String>,
    error_type: Option<String>,
    param: Option<String>,
    code: Option<ErrorCode>,
}

impl ErrorFields {
    fn into_api_error(self, status: Option<StatusCode>) -> ApiError {
        let mut err = ApiError::new(status, self.message.unwrap_or_default());
        err.kind = status.map_or(ApiErrorKind::Other, ApiErrorKind::from_status);
        err.error_type = self.error_type;
        err.param = self.param;
        err.code = self.code;
        err
    }
}

/// The error a value certainly is: an object with a non-null `error`, an
/// object with `"object": "error"`, or an array holding one of those.
fn error_fields(value: &Value, depth: usize) -> Option<ErrorFields> {
    if depth > MAX_ERROR_DEPTH {
        return None;
    }
    match value {
        Value::Object(map) => {
            match map.get("error") {
                Some(Value::Object(inner)) if !inner.is_empty() => {
                    return Some(fields_from_error_object(inner, map));
                }
                Some(Value::String(text)) if !text.trim().is_empty() => {
                    // `{"error": "Unauthorized", "message": "..."}` (Spring, some
                    // gateways): the string is the type when a message exists.
                    let mut fields = fields_from_flat_object(map);
                    if fields.message.is_none() {
                        fields.message = clean_text(text);
                    } else if fields.error_type.is_none() {
                        fields.error_type = clean_text(text);
                    }
                    return Some(fields);
                }
                Some(Value::Array(items)) => {
                    if let Some(fields) = items
                        .iter()
                        .find_map(|v| error_fields_or_flat(v, depth + 1))
                    {
                        return Some(fields);
                    }
                }
                _ => {}
            }
            if map.get("object").and_then(Value::as_str) == Some("error") {
                return Some(fields_from_flat_object(map));
            }
            None
        }
        Value::Array(items) => items
            .iter()
            .take(8)
            .find_map(|v| error_fields(v, depth + 1)),
        _ => None,
    }
}

/// [`error_fields`], or the flat fields of an object with a message.
fn error_fields_or_flat(value: &Value, depth: usize) -> Option<ErrorFields> {
    error_fields(value, depth).or_else(|| match value {
        Value::Object(map) => Some(fields_from_flat_object(map)).filter(|f| f.message.is_some()),
        Value::String(s) => clean_text(s).map(|message| ErrorFields {
            message: Some(message),
            ..ErrorFields::default()
        }),
        _ => None,
    })
}

/// Everything an error response body may say, most specific shape first.
fn fields_from_body(value: &Value, depth: usize) -> Option<ErrorFields> {
    if depth > MAX_ERROR_DEPTH {
        return None;
    }
    if let Some(fields) = error_fields(value, depth) {
        return Some(fields);
    }
    match value {
        Value::String(s) => clean_text(s).map(|message| ErrorFields {
            message: Some(message),
            ..ErrorFields::default()
        }),
        Value::Array(items) => items
            .iter()
            .take(8)
            .find_map(|v| fields_from_body(v, depth + 1)),
        Value::Object(map) => {
            // (`detail` was read by `fields_from_flat_object`, as deep as it goes.)
            let fields = fields_from_flat_object(map);
            if fields.message.is_none() {
                if let Some(Value::Array(errors)) = map.get("errors") {
                    if let Some(first) = errors
                        .iter()
                        .find_map(|v| error_fields_or_flat(v, depth + 1))
                    {
                        return Some(first);
                    }
                }
            }
            Some(fields)
                .filter(|f| f.message.is_some() || f.code.is_some() || f.error_type.is_some())
        }
        _ => None,
    }
}

/// The fields of the object under `error`. `outer` is the enclosing object,
/// which some servers use for the code or type.
fn fields_from_error_object(inner: &Map<String, Value>, outer: &Map<String, Value>) -> ErrorFields {
    let mut fields = fields_from_flat_object(inner);
    if fields.message.is_none() {
        // `{"error": {"error": {...}}}` and similar wrappings.
        if let Some(Value::Object(nested)) = inner.get("error") {
            fields = fields_from_flat_object(nested);
        } else if let Some(message) = outer.get("message").and_then(value_text) {
            fields.message = Some(message);
        }
    }
    if fields.code.is_none() {
        fields.code = outer.get("code").and_then(error_code);
    }
    // OpenRouter: "Provider returned error", with the provider's own body in
    // `metadata.raw`.
    if let Some(Value::Object(meta)) = inner.get("metadata") {
        if let Some(raw) = meta.get("raw").and_then(Value::as_str).map(str::trim) {
            let detail = serde_json::from_str::<Value>(raw)
                .ok()
                .and_then(|v| fields_from_body(&v, 1))
                .and_then(|f| f.message)
                .or_else(|| clean_text(raw));
            if let Some(detail) = detail {
                let provider = meta.get("provider_name").and_then(Value::as_str);
                fields.message = Some(match (fields.message.take(), provider) {
                    (Some(m), Some(p)) => cut(&format!("{m} ({p}): {detail}")),
                    (Some(m), None) => cut(&format!("{m}: {detail}")),
                    (None, _) => detail,
                });
            }
        }
    }
    fields
}

/// `message`, `type`, `param` and `code` of one object, under the names
/// servers use for them.
fn fields_from_flat_object(map: &Map<String, Value>) -> ErrorFields {
    let message = [
        "message",
        "Message",
        "msg",
        "error_message",
        "error_description",
    ]
    .iter()
    .find_map(|k| map.get(*k).and_then(value_text))
    .or_else(|| map.get("detail").and_then(|d| detail_message(d, 1)));
    let error_type = ["type", "error_type", "status"]
        .iter()
        .find_map(|k| map.get(*k).and_then(Value::as_str).and_then(meaningful));
    let param = map.get("param").and_then(|p| match p {
        Value::String(s) => meaningful(s),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    });
    let code = ["code", "error_code"]
        .iter()
        .find_map(|k| map.get(*k).and_then(error_code));
    ErrorFields {
        message,
        error_type,
        param,
        code,
    }
}

/// FastAPI's `detail`: a string, a list of validation errors
/// (`{"loc": [..], "msg": ..}`), or an object with a message.
fn detail_message(detail: &Value, depth: usize) -> Option<String> {
    match detail {
        Value::String(s) => clean_text(s),
        Value::Array(items) => {
            let parts: Vec<String> = items
                .iter()
                .take(5)
                .filter_map(|item| match item {
                    Value::Object(map) => {
                        let msg = map
                            .get("msg")
                            .or_else(|| map.get("message"))
                            .and_then(value_text)?;
                        let loc = map.get("loc").and_then(Value::as_array).map(|loc| {
                            loc.iter()
                                .map(|p| match p {
                                    Value::String(s) => s.clone(),
                                    other => other.to_string(),
                                })
                                .collect::<Vec<_>>()
                                .join(".")
                        });
                        Some(match loc {
                            Some(loc) if !loc.is_empty() => format!("{loc}: {msg}"),
                            _ => msg,
                        })
                    }
                    Value::String(s) => clean_text(s),
                    _ => None,
                })
                .collect();
            clean_text(&parts.join("; "))
        }
        Value::Object(_) => fields_from_body(detail, depth).and_then(|f| f.message),
        _ => None,
    }
}

/// A message value: a string, or other JSON written compactly.
fn value_text(value: &Value) -> Option<String> {
    match value {
        Value::Null => None,
        Value::String(s) => clean_text(s),
        Value::Object(map) if map.is_empty() => None,
        other => clean_text(&other.to_string()),
    }
}

/// A code sent as text or as an integer (`"invalid_api_key"`, `"429"`, `400`).
fn error_code(value: &Value) -> Option<ErrorCode> {
    match value {
        Value::String(s) => meaningful(s).map(ErrorCode::Text),
        Value::Number(n) => match n.as_i64() {
            Some(i) => Some(ErrorCode::Number(i)),
            None => match n.as_f64() {
                Some(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => {
                    Some(ErrorCode::Number(f as i64))
                }
                _ => Some(ErrorCode::Text(n.to_string())),
            },
        },
        _ => None,
    }
}

/// Text that says something: not empty, and not the `"None"`/`"null"`
/// placeholders some servers (LiteLLM) send for absent values.
fn meaningful(s: &str) -> Option<String> {
    let s = s.trim();
    match s {
        "" | "None" | "none" | "null" | "NULL" => None,
        _ => Some(cut(s)),
    }
}

fn clean_text(s: &str) -> Option<String> {
    let s = s.trim();
    (!s.is_empty()).then(|| cut(s))
}

/// Cuts a message to [`MAX_MESSAGE_CHARS`].
fn cut(s: &str) -> String {
    match s.char_indices().nth(MAX_MESSAGE_CHARS) {
        None => s.to_owned(),
        Some((at, _)) => format!("{}…", s.get(..at).unwrap_or(s)),
    }
}

/// The status reason (`Not Found`), or `HTTP 599` for a status without one.
fn status_text(status: StatusCode) -> String {
    status
        .canonical_reason()
        .map_or_else(|| format!("HTTP {}", status.as_u16()), str::to_owned)
}

fn looks_like_html(text: &str) -> bool {
    let head: String = text
        .chars()
        .take(256)
        .collect::<String>()
        .to_ascii_lowercase();
    head.starts_with("<!doctype html")
        || head.starts_with("<html")
        || head.contains("<head")
        || head.contains("<body")
        || (head.starts_with('<') && head.contains("<title"))
}

/// The readable title of an HTML error page: `<title>`, else the first
/// `<h1>`, with entities decoded and white space collapsed.
fn html_title(html: &str) -> Option<String> {
    // Looking only at the start bounds the work on a huge page.
    let head = match html.char_indices().nth(64 * 1024) {
        Some((at, _)) => html.get(..at).unwrap_or(html),
        None => html,
    };
    let lower = head.to_ascii_lowercase();
    ["title", "h1"].iter().find_map(|tag| {
        let open = lower.find(&format!("<{tag}"))?;
        let start = open + lower.get(open..)?.find('>')? + 1;
        let end = start + lower.get(start..)?.find(&format!("</{tag}"))?;
        let inner = head.get(start..end)?;
        let text = collapse_whitespace(&decode_entities(&strip_tags(inner)));
        clean_text(&text)
    })
}

fn strip_tags(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut in_tag = false;
    for c in s.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            _ if !in_tag => out.push(c),
            _ => {}
        }
    }
    out
}

fn decode_entities(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&#x27;", "'")
        .replace("&nbsp;", " ")
        .replace("&amp;", "&")
}

fn collapse_whitespace(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_titles() {
        let table = [
            (
                "<html><head><title>502 Bad Gateway</title></head><body>x</body></html>",
                Some("502 Bad Gateway"),
            ),
            (
                "<!DOCTYPE html><html><HEAD><TITLE>\n  example.com | 524: A timeout &amp; more\n</TITLE>",
                Some("example.com | 524: A timeout & more"),
            ),
            (
                "<html><body><h1>Service <b>Unavailable</b></h1></body></html>",
                Some("Service Unavailable"),
            ),
            ("<html><body>nothing</body></html>", None),
            ("<html><title></title></html>", None),
            ("<html><title>unterminated", None),
        ];
        for (html, title) in table {
            assert!(looks_like_html(html), "{html}");
            assert_eq!(html_title(html).as_deref(), title, "{html}");
        }
        assert!(!looks_like_html("upstream connect error"));
        assert!(!looks_like_html("<not really html"));
    }

    #[test]
    fn placeholders_are_not_values() {
        assert_eq!(meaningful("None"), None);
        assert_eq!(meaningful(" "), None);
        assert_eq!(meaningful("model").as_deref(), Some("model"));
    }

    #[test]
    fn codes() {
        assert_eq!(
            error_code(&serde_json::json!(400)),
            Some(ErrorCode::Number(400))
        );
        assert_eq!(
            error_code(&serde_json::json!(429.0)),
            Some(ErrorCode::Number(429))
        );
        assert_eq!(
            error_code(&serde_json::json!("429")),
            Some(ErrorCode::Text("429".into()))
        );
        assert_eq!(error_code(&serde_json::json!(null)), None);
        assert_eq!(
            error_code(&serde_json::json!(1.5)),
            Some(ErrorCode::Text("1.5".into()))
        );
    }

    #[test]
    fn long_messages_are_cut() {
        let long = "x".repeat(MAX_MESSAGE_CHARS * 2);
        let cut_text = cut(&long);
        assert_eq!(cut_text.chars().count(), MAX_MESSAGE_CHARS + 1);
    }
}
