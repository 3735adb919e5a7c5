//! Error bodies of every shape servers send, and how they become `ApiError`s.

#![allow(
    clippy::unwrap_used,
    clippy::panic,
    reason = "a test fails loudly on an unexpected value"
)]

use http::{HeaderMap, HeaderValue, StatusCode};
use nexllm_proto::decode::{api_error, chat_completion, error_from_value, models, request_id};
use nexllm_proto::{ApiErrorKind, Error, ErrorCode};
use serde_json::json;

fn text(s: &str) -> Option<ErrorCode> {
    Some(ErrorCode::Text(s.to_owned()))
}

struct Case {
    name: &'static str,
    status: u16,
    body: &'static str,
    kind: ApiErrorKind,
    message: &'static str,
    error_type: Option<&'static str>,
    param: Option<&'static str>,
    code: Option<ErrorCode>,
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "OpenAI",
            status: 401,
            body: r#"{"error": {"message": "Incorrect API key provided: sk-abc***.", "type": "invalid_request_error", "param": null, "code": "invalid_api_key"}}"#,
            kind: ApiErrorKind::Authentication,
            message: "Incorrect API key provided: sk-abc***.",
            error_type: Some("invalid_request_error"),
            param: None,
            code: text("invalid_api_key"),
        },
        Case {
            name: "OpenAI with param",
            status: 400,
            body: r#"{"error": {"message": "Invalid value for 'temperature'.", "type": "invalid_request_error", "param": "temperature", "code": "invalid_value"}}"#,
            kind: ApiErrorKind::BadRequest,
            message: "Invalid value for 'temperature'.",
            error_type: Some("invalid_request_error"),
            param: Some("temperature"),
            code: text("invalid_value"),
        },
        Case {
            name: "OpenAI rate limit",
            status: 429,
            body: r#"{"error": {"message": "Rate limit reached for gpt-4o", "type": "tokens", "param": null, "code": "rate_limit_exceeded"}}"#,
            kind: ApiErrorKind::RateLimit,
            message: "Rate limit reached for gpt-4o",
            error_type: Some("tokens"),
            param: None,
            code: text("rate_limit_exceeded"),
        },
        Case {
            name: "LiteLLM (string code, \"None\" placeholders)",
            status: 429,
            body: r#"{"error": {"message": "litellm.RateLimitError: Rate limit exceeded", "type": "None", "param": "None", "code": "429"}}"#,
            kind: ApiErrorKind::RateLimit,
            message: "litellm.RateLimitError: Rate limit exceeded",
            error_type: None,
            param: None,
            code: text("429"),
        },
        Case {
            name: "vLLM new (numeric code)",
            status: 400,
            body: r#"{"error": {"message": "max_tokens must be at least 1, got 0.", "type": "BadRequestError", "param": null, "code": 400}}"#,
            kind: ApiErrorKind::BadRequest,
            message: "max_tokens must be at least 1, got 0.",
            error_type: Some("BadRequestError"),
            param: None,
            code: Some(ErrorCode::Number(400)),
        },
        Case {
            name: "vLLM old object error",
            status: 404,
            body: r#"{"object": "error", "message": "The model `gpt-5` does not exist.", "type": "NotFoundError", "param": null, "code": 404}"#,
            kind: ApiErrorKind::NotFound,
            message: "The model `gpt-5` does not exist.",
            error_type: Some("NotFoundError"),
            param: None,
            code: Some(ErrorCode::Number(404)),
        },
        Case {
            name: "llama.cpp",
            status: 400,
            body: r#"{"error": {"code": 400, "message": "the request exceeds the available context size", "type": "exceed_context_size_error", "n_prompt_tokens": 9000, "n_ctx": 4096}}"#,
            kind: ApiErrorKind::BadRequest,
            message: "the request exceeds the available context size",
            error_type: Some("exceed_context_size_error"),
            param: None,
            code: Some(ErrorCode::Number(400)),
        },
        Case {
            name: "Ollama native string error",
            status: 404,
            body: r#"{"error": "model \"llama9\" not found, try pulling it first"}"#,
            kind: ApiErrorKind::NotFound,
            message: "model \"llama9\" not found, try pulling it first",
            error_type: None,
            param: None,
            code: None,
        },
        Case {
            name: "Gemini array",
            status: 400,
            body: r#"[{"error": {"code": 400, "message": "API key not valid. Please pass a valid API key.", "status": "INVALID_ARGUMENT", "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID"}]}}]"#,
            kind: ApiErrorKind::BadRequest,
            message: "API key not valid. Please pass a valid API key.",
            error_type: Some("INVALID_ARGUMENT"),
            param: None,
            code: Some(ErrorCode::Number(400)),
        },
        Case {
            name: "Gemini object",
            status: 429,
            body: r#"{"error": {"code": 429, "message": "Resource has been exhausted (e.g. check quota).", "status": "RESOURCE_EXHAUSTED"}}"#,
            kind: ApiErrorKind::RateLimit,
            message: "Resource has been exhausted (e.g. check quota).",
            error_type: Some("RESOURCE_EXHAUSTED"),
            param: None,
            code: Some(ErrorCode::Number(429)),
        },
        Case {
            name: "OpenRouter with provider detail",
            status: 502,
            body: r#"{"error": {"message": "Provider returned error", "code": 502, "metadata": {"raw": "{\"error\":{\"message\":\"upstream overloaded\"}}", "provider_name": "Together"}}, "user_id": "u1"}"#,
            kind: ApiErrorKind::InternalServer,
            message: "Provider returned error (Together): upstream overloaded",
            error_type: None,
            param: None,
            code: Some(ErrorCode::Number(502)),
        },
        Case {
            name: "Anthropic-style",
            status: 529,
            body: r#"{"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}"#,
            kind: ApiErrorKind::InternalServer,
            message: "Overloaded",
            error_type: Some("overloaded_error"),
            param: None,
            code: None,
        },
        Case {
            name: "FastAPI detail string",
            status: 404,
            body: r#"{"detail": "Not Found"}"#,
            kind: ApiErrorKind::NotFound,
            message: "Not Found",
            error_type: None,
            param: None,
            code: None,
        },
        Case {
            name: "FastAPI validation list",
            status: 422,
            body: r#"{"detail": [{"type": "missing", "loc": ["body", "model"], "msg": "Field required", "input": {}}, {"type": "float_type", "loc": ["body", "temperature"], "msg": "Input should be a valid number"}]}"#,
            kind: ApiErrorKind::UnprocessableEntity,
            message: "body.model: Field required; body.temperature: Input should be a valid number",
            error_type: None,
            param: None,
            code: None,
        },
        Case {
            name: "FastAPI detail string unlike the reason",
            status: 404,
            body: r#"{"detail": "Model gpt-9 does not exist"}"#,
            kind: ApiErrorKind::NotFound,
            message: "Model gpt-9 does not exist",
            error_type: None,
            param: None,
            code: None,
        },
        Case {
            name: "FastAPI detail list of strings",
            status: 422,
            body: r#"{"detail": ["messages is empty", "model is required"]}"#,
            kind: ApiErrorKind::UnprocessableEntity,
            message: "messages is empty; model is required",
            error_type: None,
            param: None,
            code: None,
        },
        Case {
            name: "FastAPI validation item with an empty location",
            status: 422,
            body: r#"{"detail": [{"type": "missing", "loc": [], "msg": "Field required"}]}"#,
            kind: ApiErrorKind::UnprocessableEntity,
            message: "Field required",
            error_type: None,
            param: None,
            code: None,
        },
        Case {
            name: "detail object with a message",
            status: 400,
            body: r#"{"detail": {"message": "context too long", "code": "context_length_exceeded"}}"#,
            kind: ApiErrorKind::BadRequest,
            message: "context too long",
            error_type: None,
            param: None,
            code: None,
        },
        Case {
            name: "error array of objects",
            status: 400,
            body: r#"{"error": [{"message": "quota exceeded", "code": "insufficient_quota"}]}"#,
            kind: ApiErrorKind::BadRequest,
            message: "quota exceeded",
            error_type: None,
            param: None,
            code: text("insufficient_quota"),
        },
        Case {
            name: "error array of strings",
            status: 503,
            body: r#"{"error": ["model is overloaded"]}"#,
            kind: ApiErrorKind::InternalServer,
            message: "model is overloaded",
            error_type: None,
            param: None,
            code: None,
        },
        Case {
            name: "numeric param",
            status: 400,
            body: r#"{"error": {"message": "Invalid tool", "type": "invalid_request_error", "param": 2}}"#,
            kind: ApiErrorKind::BadRequest,
            message: "Invalid tool",
            error_type: Some("invalid_request_error"),
            param: Some("2"),
            code: None,
        },
        Case {
            name: "flat code only",
            status: 429,
            body: r#"{"code": "quota_exceeded"}"#,
            kind: ApiErrorKind::RateLimit,
            message: "Too Many Requests",
            error_type: None,
            param: None,
            code: text("quota_exceeded"),
        },
        Case {
            name: "JSON array of plain text",
            status: 503,
            body: r#"["service unavailable, retry later"]"#,
            kind: ApiErrorKind::InternalServer,
            message: "service unavailable, retry later",
            error_type: None,
            param: None,
            code: None,
        },
        Case {
            name: "flat message/type/code",
            status: 403,
            body: r#"{"message": "Model not allowed for this key", "type": "permission_error", "code": "model_not_allowed"}"#,
            kind: ApiErrorKind::PermissionDenied,
            message: "Model not allowed for this key",
            error_type: Some("permission_error"),
            param: None,
            code: text("model_not_allowed"),
        },
        Case {
            name: "Kong message only",
            status: 401,
            body: r#"{"message":"No API key found in request"}"#,
            kind: ApiErrorKind::Authentication,
            message: "No API key found in request",
            error_type: None,
            param: None,
            code: None,
        },
        Case {
            name: "Spring-style error text plus message",
            status: 409,
            body: r#"{"timestamp": "2025-01-01T00:00:00Z", "status": 409, "error": "Conflict", "message": "request already in progress", "path": "/v1/chat/completions"}"#,
            kind: ApiErrorKind::Conflict,
            message: "request already in progress",
            error_type: Some("Conflict"),
            param: None,
            code: None,
        },
        Case {
            name: "Cloudflare errors array",
            status: 403,
            body: r#"{"success": false, "errors": [{"code": 10000, "message": "Authentication error"}], "messages": [], "result": null}"#,
            kind: ApiErrorKind::PermissionDenied,
            message: "Authentication error",
            error_type: None,
            param: None,
            code: Some(ErrorCode::Number(10000)),
        },
        Case {
            name: "plain text",
            status: 503,
            body: "upstream connect error or disconnect/reset before headers. reset reason: overflow\n",
            kind: ApiErrorKind::InternalServer,
            message: "upstream connect error or disconnect/reset before headers. reset reason: overflow",
            error_type: None,
            param: None,
            code: None,
        },
        Case {
            name: "nginx HTML",
            status: 502,
            body: "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n",
            kind: ApiErrorKind::InternalServer,
            message: "502 Bad Gateway",
            error_type: None,
            param: None,
            code: None,
        },
        Case {
            name: "HTML with only a doctype",
            status: 503,
            body: "<!DOCTYPE html>\n<h1>Upstream unavailable</h1>\n",
            kind: ApiErrorKind::InternalServer,
            message: "Upstream unavailable",
            error_type: None,
            param: None,
            code: None,
        },
        Case {
            name: "HTML with only an html tag",
            status: 502,
            body: "<html><h1>Gateway down</h1></html>",
            kind: ApiErrorKind::InternalServer,
            message: "Gateway down",
            error_type: None,
            param: None,
            code: None,
        },
        Case {
            name: "HTML head after some text",
            status: 502,
            body: "Proxy error\n<head><title>Origin unreachable</title></head>",
            kind: ApiErrorKind::InternalServer,
            message: "Origin unreachable",
            error_type: None,
            param: None,
            code: None,
        },
        Case {
            name: "HTML that is only a title",
            status: 504,
            body: "<title>Upstream timed out</title><p>try again</p>",
            kind: ApiErrorKind::InternalServer,
            message: "Upstream timed out",
            error_type: None,
            param: None,
            code: None,
        },
        Case {
            name: "HTML without a title",
            status: 500,
            body: "<!DOCTYPE html><html><body><p>Something broke</p></body></html>",
            kind: ApiErrorKind::InternalServer,
            message: "Internal Server Error",
            error_type: None,
            param: None,
            code: None,
        },
        Case {
            name: "empty body",
            status: 500,
            body: "",
            kind: ApiErrorKind::InternalServer,
            message: "Internal Server Error",
            error_type: None,
            param: None,
            code: None,
        },
        Case {
            name: "white space body",
            status: 429,
            body: " \r\n",
            kind: ApiErrorKind::RateLimit,
            message: "Too Many Requests",
            error_type: None,
            param: None,
            code: None,
        },
        Case {
            name: "unrecognised JSON",
            status: 418,
            body: r#"{"teapot": true}"#,
            kind: ApiErrorKind::Other,
            message: "I'm a teapot",
            error_type: None,
            param: None,
            code: None,
        },
        Case {
            name: "JSON string",
            status: 400,
            body: r#""bad request: messages is empty""#,
            kind: ApiErrorKind::BadRequest,
            message: "bad request: messages is empty",
            error_type: None,
            param: None,
            code: None,
        },
        Case {
            name: "error with an object message",
            status: 400,
            body: r#"{"error": {"message": {"reason": "bad"}, "type": "invalid_request_error"}}"#,
            kind: ApiErrorKind::BadRequest,
            message: r#"{"reason":"bad"}"#,
            error_type: Some("invalid_request_error"),
            param: None,
            code: None,
        },
        Case {
            name: "error with an empty object message",
            status: 500,
            body: r#"{"error": {"message": {}, "code": "server_error"}}"#,
            kind: ApiErrorKind::InternalServer,
            message: "Internal Server Error",
            error_type: None,
            param: None,
            code: text("server_error"),
        },
        Case {
            name: "error object without a message",
            status: 500,
            body: r#"{"error": {"code": "server_error"}}"#,
            kind: ApiErrorKind::InternalServer,
            message: "Internal Server Error",
            error_type: None,
            param: None,
            code: text("server_error"),
        },
        Case {
            name: "status without a reason",
            status: 599,
            body: "",
            kind: ApiErrorKind::InternalServer,
            message: "HTTP 599",
            error_type: None,
            param: None,
            code: None,
        },
    ]
}

fn headers_with_id(id: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert("x-request-id", HeaderValue::from_str(id).unwrap());
    headers
}

#[test]
fn error_body_table() {
    for case in cases() {
        let status = StatusCode::from_u16(case.status).unwrap();
        let err = api_error(status, &headers_with_id("req_7"), case.body.as_bytes());
        let name = case.name;
        assert_eq!(err.status, Some(status), "{name}");
        assert_eq!(err.kind, case.kind, "{name}");
        assert_eq!(err.message, case.message, "{name}");
        assert_eq!(err.error_type.as_deref(), case.error_type, "{name}");
        assert_eq!(err.param.as_deref(), case.param, "{name}");
        assert_eq!(err.code, case.code, "{name}");
        assert_eq!(err.request_id.as_deref(), Some("req_7"), "{name}");
        assert_eq!(err.raw_body, case.body, "{name}");
        assert_eq!(err.retry_after, None, "{name}");
        assert_eq!(err.attempts, 0, "{name}");
        // The same body through the completion and model decoders.
        for result in [
            chat_completion(status, &headers_with_id("req_7"), case.body.as_bytes()).map(drop),
            models(status, &headers_with_id("req_7"), case.body.as_bytes()).map(drop),
        ] {
            match result {
                Err(Error::Api(e)) => assert_eq!(*e, err, "{name}"),
                other => panic!("{name}: {other:?}"),
            }
        }
    }
}

#[test]
fn a_huge_html_page_is_not_the_message() {
    let page = format!(
        "<!DOCTYPE html><html><head><title>Just a moment...</title></head><body>{}</body></html>",
        "<div>challenge</div>".repeat(10_000)
    );
    let err = api_error(StatusCode::FORBIDDEN, &HeaderMap::new(), page.as_bytes());
    assert_eq!(err.message, "Just a moment...");
    assert!(err.raw_body.chars().count() <= nexllm_proto::error::RAW_EXCERPT_CHARS + 1);
}

#[test]
fn a_title_after_a_long_head_is_found() {
    let page = format!(
        "<!DOCTYPE html><html><head><style>{}</style><title>Service paused</title></head></html>",
        "body { margin: 0 } ".repeat(200)
    );
    let err = api_error(
        StatusCode::SERVICE_UNAVAILABLE,
        &HeaderMap::new(),
        page.as_bytes(),
    );
    assert_eq!(err.message, "Service paused");
}

#[test]
fn long_plain_text_is_cut() {
    let body = "e".repeat(10_000);
    let err = api_error(StatusCode::BAD_GATEWAY, &HeaderMap::new(), body.as_bytes());
    assert!(err.message.chars().count() <= 513);
    assert!(err.message.ends_with('…'));
}

#[test]
fn invalid_utf8_error_bodies_still_read() {
    let err = api_error(
        StatusCode::INTERNAL_SERVER_ERROR,
        &HeaderMap::new(),
        b"bad \xff\xfe bytes",
    );
    assert_eq!(err.message, "bad \u{fffd}\u{fffd} bytes");
}

#[test]
fn display_reads_like_a_sentence() {
    let err = api_error(
        StatusCode::TOO_MANY_REQUESTS,
        &headers_with_id("req_1"),
        br#"{"error": {"message": "Slow down", "type": "requests", "code": "rate_limit_exceeded"}}"#,
    );
    assert_eq!(
        Error::Api(Box::new(err)).to_string(),
        "429 Too Many Requests (rate_limit_exceeded): Slow down [request id req_1]"
    );
}

/// Header name and value pairs.
type Headers = Vec<(&'static str, &'static str)>;

#[test]
fn request_id_headers_in_order() {
    let table: Vec<(Headers, Option<&str>)> = vec![
        (vec![("x-request-id", "req_a")], Some("req_a")),
        (vec![("x-litellm-call-id", "call_b")], Some("call_b")),
        (
            vec![("x-litellm-call-id", "call_b"), ("x-request-id", "req_a")],
            Some("req_a"),
        ),
        (vec![("x-generation-id", "gen-123")], Some("gen-123")),
        (vec![("request-id", "req_011")], Some("req_011")),
        (vec![("apim-request-id", "5f1c")], Some("5f1c")),
        (vec![("x-ms-request-id", "ms1")], Some("ms1")),
        (vec![("x-amzn-requestid", "aws1")], Some("aws1")),
        (
            vec![("x-request-id", ""), ("x-litellm-call-id", "c")],
            Some("c"),
        ),
        (vec![("X-Request-ID", "  padded  ")], Some("padded")),
        (vec![("cf-ray", "8a1b2c3d4e5f-AMS")], None),
        (vec![], None),
    ];
    for (pairs, expected) in table {
        let mut headers = HeaderMap::new();
        for (name, value) in &pairs {
            headers.append(
                http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        assert_eq!(request_id(&headers), expected, "{pairs:?}");
    }
    let mut opaque = HeaderMap::new();
    opaque.insert("x-request-id", HeaderValue::from_bytes(b"\xffid").unwrap());
    opaque.insert("x-litellm-call-id", HeaderValue::from_static("fallback"));
    assert_eq!(request_id(&opaque), Some("fallback"));
}

#[test]
fn error_from_value_recognises_only_errors() {
    let errors = [
        (
            json!({"error": {"message": "boom", "type": "server_error", "code": "internal"}}),
            "boom",
        ),
        (json!({"error": "overloaded"}), "overloaded"),
        (
            json!({"object": "error", "message": "out of memory", "type": "InternalServerError", "code": 500}),
            "out of memory",
        ),
        (
            json!([{"error": {"code": 503, "message": "The model is overloaded.", "status": "UNAVAILABLE"}}]),
            "The model is overloaded.",
        ),
        (
            json!({"id": "gen-1", "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"content": ""}, "finish_reason": "error"}],
                   "error": {"code": 502, "message": "Provider disconnected"}}),
            "Provider disconnected",
        ),
        (
            json!({"error": {"code": "server_error"}}),
            "the server reported an error without a message",
        ),
    ];
    for (value, message) in errors {
        let err = error_from_value(&value).unwrap_or_else(|| panic!("{value}"));
        assert_eq!(err.message, message, "{value}");
        assert_eq!(err.status, None);
        assert_eq!(err.kind, ApiErrorKind::Other);
        assert_eq!(err.raw_body, value.to_string());
    }
    let not_errors = [
        json!({"id": "c", "object": "chat.completion.chunk", "choices": []}),
        json!({"id": "c", "choices": [], "error": null}),
        json!({"error": ""}),
        json!({"error": {}}),
        json!({"message": "a flat object in a stream is not an error"}),
        json!({"detail": "nor is this"}),
        json!("error"),
        json!(null),
        json!([1, 2, 3]),
        json!([]),
    ];
    for value in not_errors {
        assert!(error_from_value(&value).is_none(), "{value}");
    }
    let gemini = error_from_value(
        &json!([{"error": {"code": 503, "message": "m", "status": "UNAVAILABLE"}}]),
    )
    .unwrap();
    assert_eq!(gemini.code, Some(ErrorCode::Number(503)));
    assert_eq!(gemini.error_type.as_deref(), Some("UNAVAILABLE"));
}

/// Error bodies are searched four levels deep (`MAX_ERROR_DEPTH`): a message
/// at that depth is found, one level deeper is not (the status reason is the
/// message then), whichever way the nesting is built.
#[test]
fn error_search_depth_is_bounded() {
    let api_table = [
        // Nested arrays of text.
        (r#"[[[["at the limit"]]]]"#, "at the limit"),
        (r#"[[[[["too deep"]]]]]"#, "Bad Request"),
        // An `errors` list (Cloudflare) of nested arrays.
        (
            r#"{"errors": [[[[{"error": {"message": "at the limit"}}]]]]}"#,
            "at the limit",
        ),
        (
            r#"{"errors": [[[[[{"error": {"message": "too deep"}}]]]]]}"#,
            "Bad Request",
        ),
        // The same under a `detail` object, one level down.
        (
            r#"{"detail": {"errors": [[[{"error": {"message": "at the limit"}}]]]}}"#,
            "at the limit",
        ),
        (
            r#"{"detail": {"errors": [[[[{"error": {"message": "too deep"}}]]]]}}"#,
            "Bad Request",
        ),
    ];
    for (body, message) in api_table {
        let err = api_error(StatusCode::BAD_REQUEST, &HeaderMap::new(), body.as_bytes());
        assert_eq!(err.message, message, "{body}");
    }
    let found = [
        json!([[[[{"error": {"message": "at the limit"}}]]]]),
        json!({"error": [{"error": [{"error": [{"error": [{"error": "at the limit"}]}]}]}]}),
    ];
    for value in found {
        let err = error_from_value(&value).unwrap_or_else(|| panic!("{value}"));
        assert_eq!(err.message, "at the limit", "{value}");
    }
    let too_deep = [
        json!([[[[[{"error": {"message": "too deep"}}]]]]]),
        json!({"error": [{"error": [{"error": [{"error": [{"error": [{"error": "too deep"}]}]}]}]}]}),
    ];
    for value in too_deep {
        assert!(error_from_value(&value).is_none(), "{value}");
    }
}
