//! One HTTP request in, one response out: authentication, routing, validation, faults,
//! and the answer.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{CONTENT_TYPE, HeaderName, HeaderValue, RETRY_AFTER};
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use hyper::body::Incoming;
use serde_json::{Value, json};

use crate::api_error::ErrorReply;
use crate::body::{BodyStep, ScriptedBody, split_frames};
use crate::completion::{self, CREATED, CompletionMeta};
use crate::fault::{Delivery, Fault, ResolvedFaults};
use crate::models::{self, ECHO_MODEL, FAULT_MODEL_PREFIX, TOOLS_MODEL};
use crate::recording::RecordedRequest;
use crate::script::Answer;
use crate::state::{ScriptDecision, Shared};
use crate::validate::validate_chat;

/// The largest request body the server reads; larger ones get 413.
pub const MAX_REQUEST_BODY_BYTES: usize = 16 * 1024 * 1024;
/// The header that selects a fault for one request.
pub const FAULT_HEADER: &str = "x-mock-fault";
const RATE_LIMIT_REQUESTS: u64 = 10_000;
const RATE_LIMIT_TOKENS: u64 = 2_000_000;
const ENDLESS_BLOCK_BYTES: usize = 8 * 1024;
/// How often `keep-open-after-done` sends its comment.
const KEEP_ALIVE_EVERY: Duration = Duration::from_millis(100);

/// Returned by the service to make hyper drop the connection without a response.
#[derive(Debug)]
pub(crate) struct CloseConnection;

impl fmt::Display for CloseConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("nexllm-mock closed the connection before the response head (injected fault)")
    }
}

impl std::error::Error for CloseConnection {}

/// Per-response values used in headers.
#[derive(Debug)]
struct Exchange {
    serial: u64,
    request_id: String,
    body_len: usize,
}

/// Answers one request.
pub(crate) async fn handle(
    shared: Arc<Shared>,
    request: Request<Incoming>,
) -> Result<Response<ScriptedBody>, CloseConnection> {
    let serial = shared.next_request_serial();
    let request_id = format!("req_mock_{serial}");
    let (parts, body) = request.into_parts();
    let body = match Limited::new(body, MAX_REQUEST_BODY_BYTES).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(error) if error.is::<LengthLimitError>() => {
            let exchange = Exchange {
                serial,
                request_id,
                body_len: 0,
            };
            let mut reply = ErrorReply::for_status(StatusCode::PAYLOAD_TOO_LARGE);
            reply.message = format!("Request body is larger than {MAX_REQUEST_BODY_BYTES} bytes.");
            return Ok(error_response(&exchange, &reply, &Delivery::default()));
        }
        Err(_) => return Err(CloseConnection),
    };
    let exchange = Exchange {
        serial,
        request_id: request_id.clone(),
        body_len: body.len(),
    };
    shared.record(RecordedRequest {
        method: parts.method.clone(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().map(str::to_owned),
        headers: parts.headers.clone(),
        body: body.clone(),
        request_id,
    });

    if let Some(reply) = check_api_key(&shared, &parts.headers) {
        return Ok(error_response(&exchange, &reply, &Delivery::default()));
    }
    let header_fault = match parts.headers.get(FAULT_HEADER) {
        None => None,
        Some(value) => {
            // UTF-8, not just visible ASCII: `message=…` may carry any text.
            let parsed = std::str::from_utf8(value.as_bytes())
                .map_err(|_| format!("the {FAULT_HEADER} header is not valid UTF-8"))
                .and_then(|spec| {
                    Fault::parse(spec)
                        .map(|fault| (fault, spec.to_owned()))
                        .map_err(|error| error.to_string())
                });
            match parsed {
                Ok(fault) => Some(fault),
                Err(message) => {
                    let reply =
                        ErrorReply::invalid(Some(FAULT_HEADER), Some("invalid_value"), message);
                    return Ok(error_response(&exchange, &reply, &Delivery::default()));
                }
            }
        }
    };
    let idempotency_key = parts
        .headers
        .get("idempotency-key")
        .and_then(|value| value.to_str().ok());
    let counted = |fault: &Fault, spec: &str| {
        let key = match idempotency_key {
            Some(key) => format!("idempotency-key:{key}|{spec}"),
            None => format!("spec:{spec}"),
        };
        shared.resolve_counted(fault, key)
    };

    let path = parts.uri.path();
    if path.ends_with("/chat/completions") {
        if parts.method != Method::POST {
            return Ok(invalid_url(&exchange, &parts.method, path));
        }
        return chat(&shared, &exchange, &body, header_fault, counted).await;
    }
    if parts.method == Method::GET {
        // Resolved only for a request that gets an answer, so a rejected one is no attempt.
        let faults = || {
            header_fault
                .as_ref()
                .map(|(fault, spec)| counted(fault, spec))
                .unwrap_or_default()
        };
        if path.ends_with("/models") {
            let data: Vec<Value> = model_ids(&shared)
                .iter()
                .map(|id| model_object(id))
                .collect();
            let list = json!({"object": "list", "data": data});
            return respond_json(&exchange, faults(), &list).await;
        }
        if let Some((_, id)) = path.split_once("/models/") {
            if models::behaviour(id, &shared.aliases).is_some()
                && !id.starts_with(FAULT_MODEL_PREFIX)
            {
                return respond_json(&exchange, faults(), &model_object(id)).await;
            }
            return Ok(error_response(
                &exchange,
                &model_not_found(id),
                &Delivery::default(),
            ));
        }
    }
    Ok(invalid_url(&exchange, &parts.method, path))
}

/// Answers a chat completion. Faults (from `header_fault`, the model name or the script)
/// are resolved only once the request passed validation and the model check, so a
/// rejected request neither counts as a `fail-first` attempt nor consumes a script step.
async fn chat(
    shared: &Shared,
    exchange: &Exchange,
    body: &Bytes,
    header_fault: Option<(Fault, String)>,
    counted: impl Fn(&Fault, &str) -> ResolvedFaults,
) -> Result<Response<ScriptedBody>, CloseConnection> {
    let Ok(value) = serde_json::from_slice::<Value>(body) else {
        let reply = ErrorReply::invalid(
            None,
            None,
            "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON.)",
        );
        return Ok(error_response(exchange, &reply, &Delivery::default()));
    };
    let params = match validate_chat(&value) {
        Ok(params) => params,
        Err(reply) => return Ok(error_response(exchange, &reply, &Delivery::default())),
    };
    let Some(behaviour) = models::behaviour(params.model, &shared.aliases) else {
        return Ok(error_response(
            exchange,
            &model_not_found(params.model),
            &Delivery::default(),
        ));
    };
    let mut scripted_answer = None;
    let faults = if let Some((fault, spec)) = &header_fault {
        counted(fault, spec)
    } else if let Some(spec) = params.model.strip_prefix(FAULT_MODEL_PREFIX) {
        match Fault::parse(spec) {
            Ok(fault) => counted(&fault, spec),
            Err(error) => {
                let reply =
                    ErrorReply::invalid(Some("model"), Some("invalid_value"), error.to_string());
                return Ok(error_response(exchange, &reply, &Delivery::default()));
            }
        }
    } else {
        match shared.next_script_decision() {
            Some(ScriptDecision::Faults(faults)) => *faults,
            Some(ScriptDecision::Answer(answer)) => {
                scripted_answer = Some(answer);
                ResolvedFaults::default()
            }
            None => ResolvedFaults::default(),
        }
    };
    if let Some(response) = apply_head_faults(exchange, &faults).await? {
        return Ok(response);
    }
    let answer = scripted_answer.unwrap_or_else(|| models::answer(behaviour, &params));
    let completion_serial = shared.next_completion_serial();
    let meta = CompletionMeta {
        id: format!("chatcmpl-mock-{completion_serial}"),
        serial: completion_serial,
        model: params.model.to_owned(),
        n: params.n,
        max_tokens: params.max_tokens,
        include_usage: params.include_usage,
        prompt_tokens: models::count_prompt_tokens(params.messages),
    };
    let delivery = &faults.delivery;
    if params.stream {
        let steps = stream_steps(&meta, &answer, delivery);
        let mut response = Response::new(ScriptedBody::new(steps, false));
        *response.status_mut() = StatusCode::OK;
        add_common_headers(&mut response, exchange, "text/event-stream; charset=utf-8");
        Ok(response)
    } else {
        let value = completion::completion(&meta, &answer);
        Ok(json_response(
            exchange,
            StatusCode::OK,
            value_bytes(&value),
            delivery,
        ))
    }
}

/// Applies the faults that act before or instead of the answer: the head delay, closing,
/// an error status, a 200 error body. `None` means: go on and answer.
async fn apply_head_faults(
    exchange: &Exchange,
    faults: &ResolvedFaults,
) -> Result<Option<Response<ScriptedBody>>, CloseConnection> {
    if let Some(delay) = faults.delivery.delay_head {
        tokio::time::sleep(delay).await;
    }
    if faults.close_before_head {
        return Err(CloseConnection);
    }
    if let Some(status) = &faults.status {
        let reply = ErrorReply::from_fault(status);
        let body = match &status.raw_body {
            Some(raw) => raw.clone().into_bytes(),
            None => reply.to_body(),
        };
        let content_type = if status.raw_body.is_some() {
            "text/html; charset=utf-8"
        } else {
            "application/json"
        };
        let (steps, announce) = whole_body_steps(Bytes::from(body), &faults.delivery);
        let mut response = Response::new(ScriptedBody::new(steps, announce));
        *response.status_mut() = status.status;
        add_common_headers(&mut response, exchange, content_type);
        let headers = response.headers_mut();
        if let Some(value) = status
            .retry_after
            .as_deref()
            .and_then(|value| HeaderValue::from_str(value).ok())
        {
            headers.insert(RETRY_AFTER, value);
        }
        if let Some(millis) = status.retry_after_ms {
            headers.insert(
                HeaderName::from_static("retry-after-ms"),
                HeaderValue::from(millis),
            );
        }
        if let Some(flag) = status.should_retry {
            headers.insert(
                HeaderName::from_static("x-should-retry"),
                HeaderValue::from_static(if flag { "true" } else { "false" }),
            );
        }
        return Ok(Some(response));
    }
    if faults.delivery.json_error_200 {
        let reply = ErrorReply::for_status(StatusCode::INTERNAL_SERVER_ERROR);
        return Ok(Some(json_response(
            exchange,
            StatusCode::OK,
            reply.to_body(),
            &faults.delivery,
        )));
    }
    Ok(None)
}

async fn respond_json(
    exchange: &Exchange,
    faults: ResolvedFaults,
    value: &Value,
) -> Result<Response<ScriptedBody>, CloseConnection> {
    if let Some(response) = apply_head_faults(exchange, &faults).await? {
        return Ok(response);
    }
    Ok(json_response(
        exchange,
        StatusCode::OK,
        value_bytes(value),
        &faults.delivery,
    ))
}

fn value_bytes(value: &Value) -> Vec<u8> {
    let mut bytes = value.to_string().into_bytes();
    bytes.push(b'\n');
    bytes
}

fn check_api_key(shared: &Shared, headers: &http::HeaderMap) -> Option<ErrorReply> {
    let expected = shared.api_key.as_deref()?;
    let provided = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| {
            value
                .strip_prefix("Bearer ")
                .or_else(|| value.strip_prefix("bearer "))
        })
        .map(str::trim);
    let mut reply = ErrorReply::for_status(StatusCode::UNAUTHORIZED);
    match provided {
        Some(key) if key == expected => None,
        None | Some("") => {
            reply.code = None;
            reply.message = "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).".to_owned();
            Some(reply)
        }
        Some(key) => {
            reply.message = format!(
                "Incorrect API key provided: {}. You can find your API key in your account settings.",
                mask_key(key)
            );
            Some(reply)
        }
    }
}

/// Shows only the ends of a key, as OpenAI does.
fn mask_key(key: &str) -> String {
    let characters: Vec<char> = key.chars().collect();
    if characters.len() <= 8 {
        return "*".repeat(characters.len());
    }
    let head: String = characters.iter().take(3).collect();
    let tail: String = characters.iter().skip(characters.len() - 4).collect();
    format!("{head}{}{tail}", "*".repeat(characters.len() - 7))
}

fn model_ids(shared: &Shared) -> Vec<String> {
    let mut ids = vec![ECHO_MODEL.to_owned(), TOOLS_MODEL.to_owned()];
    ids.extend(shared.aliases.iter().cloned());
    ids
}

fn model_object(id: &str) -> Value {
    json!({"id": id, "object": "model", "created": CREATED, "owned_by": "nexllm-mock"})
}

fn model_not_found(model: &str) -> ErrorReply {
    ErrorReply {
        status: StatusCode::NOT_FOUND,
        message: format!("The model `{model}` does not exist or you do not have access to it."),
        error_type: "invalid_request_error".to_owned(),
        param: None,
        code: Some("model_not_found".to_owned()),
    }
}

fn invalid_url(exchange: &Exchange, method: &Method, path: &str) -> Response<ScriptedBody> {
    let reply = ErrorReply {
        status: StatusCode::NOT_FOUND,
        message: format!("Invalid URL ({method} {path})"),
        error_type: "invalid_request_error".to_owned(),
        param: None,
        code: None,
    };
    error_response(exchange, &reply, &Delivery::default())
}

fn error_response(
    exchange: &Exchange,
    reply: &ErrorReply,
    delivery: &Delivery,
) -> Response<ScriptedBody> {
    json_response(exchange, reply.status, reply.to_body(), delivery)
}

fn json_response(
    exchange: &Exchange,
    status: StatusCode,
    body: Vec<u8>,
    delivery: &Delivery,
) -> Response<ScriptedBody> {
    let (steps, announce) = whole_body_steps(Bytes::from(body), delivery);
    let mut response = Response::new(ScriptedBody::new(steps, announce));
    *response.status_mut() = status;
    add_common_headers(&mut response, exchange, "application/json");
    response
}

fn add_common_headers(
    response: &mut Response<ScriptedBody>,
    exchange: &Exchange,
    content_type: &'static str,
) {
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(value) = HeaderValue::from_str(&exchange.request_id) {
        headers.insert(HeaderName::from_static("x-request-id"), value);
    }
    let used_tokens = u64::try_from(exchange.body_len / 4)
        .unwrap_or(u64::MAX)
        .min(RATE_LIMIT_TOKENS);
    let pairs: [(&'static str, HeaderValue); 7] = [
        ("openai-processing-ms", HeaderValue::from_static("1")),
        (
            "x-ratelimit-limit-requests",
            HeaderValue::from(RATE_LIMIT_REQUESTS),
        ),
        (
            "x-ratelimit-remaining-requests",
            HeaderValue::from(
                RATE_LIMIT_REQUESTS - 1 - (exchange.serial - 1) % RATE_LIMIT_REQUESTS,
            ),
        ),
        (
            "x-ratelimit-reset-requests",
            HeaderValue::from_static("6ms"),
        ),
        (
            "x-ratelimit-limit-tokens",
            HeaderValue::from(RATE_LIMIT_TOKENS),
        ),
        (
            "x-ratelimit-remaining-tokens",
            HeaderValue::from(RATE_LIMIT_TOKENS - used_tokens),
        ),
        ("x-ratelimit-reset-tokens", HeaderValue::from_static("0s")),
    ];
    for (name, value) in pairs {
        headers.insert(HeaderName::from_static(name), value);
    }
}

/// The steps of a body sent whole (JSON), with the faults that make sense for it.
/// Returns the steps and whether to announce the length.
fn whole_body_steps(body: Bytes, delivery: &Delivery) -> (Vec<BodyStep>, bool) {
    let half = body.len() / 2;
    let mut steps = Vec::new();
    if let Some(stall) = delivery.stall {
        steps.push(BodyStep::Pause(stall));
    }
    let mut announce = true;
    if delivery.endless_line {
        steps.push(BodyStep::Data(body.slice(..half)));
        steps.push(BodyStep::Endless(Bytes::from(vec![
            b'x';
            ENDLESS_BLOCK_BYTES
        ])));
        announce = false;
    } else if delivery.close_after.is_some() {
        steps.push(BodyStep::Data(body.slice(..half)));
        steps.push(BodyStep::Flush);
        steps.push(BodyStep::Abort);
        announce = false;
    } else if delivery.malformed_after.is_some() {
        steps.push(BodyStep::Data(body.slice(..half)));
    } else {
        steps.push(BodyStep::Data(body));
    }
    if let Some(pattern) = &delivery.split {
        steps = split_frames(steps, pattern);
    }
    (steps, announce)
}

/// The steps of an SSE stream for `answer`, with every stream fault applied.
fn stream_steps(meta: &CompletionMeta, answer: &Answer, delivery: &Delivery) -> Vec<BodyStep> {
    let line_end = if delivery.crlf { "\r\n" } else { "\n" };
    let event =
        |data: &str| BodyStep::Data(Bytes::from(format!("data: {data}{line_end}{line_end}")));
    let mut steps: Vec<BodyStep> = Vec::new();
    let push = |steps: &mut Vec<BodyStep>, step: BodyStep| {
        if let (Some(stall), false) = (delivery.stall, steps.is_empty()) {
            steps.push(BodyStep::Pause(stall));
        }
        steps.push(step);
    };
    let error_event = || {
        let reply = ErrorReply::for_status(StatusCode::INTERNAL_SERVER_ERROR);
        event(&reply.to_json().to_string())
    };
    let malformed = || {
        event(&format!(
            "{{\"id\":\"{}\",\"object\":\"chat.completion.chunk\",\"choices\":[{{\"delta\":{{\"content\":\"unterminated",
            meta.id
        ))
    };
    let endless_start = || {
        BodyStep::Data(Bytes::from(format!(
            "data: {{\"id\":\"{}\",\"choices\":[{{\"delta\":{{\"content\":\"",
            meta.id
        )))
    };
    let endless_block = || BodyStep::Endless(Bytes::from(vec![b'x'; ENDLESS_BLOCK_BYTES]));
    let chunks = completion::chunks(meta, answer);
    let count = chunks.len();
    for (index, chunk) in chunks.iter().enumerate() {
        if delivery.close_after == Some(index) {
            steps.push(BodyStep::Flush);
            steps.push(BodyStep::Abort);
            return finish(steps, delivery);
        }
        if delivery.error_event_after == Some(index) {
            push(&mut steps, error_event());
            return finish(steps, delivery);
        }
        if delivery.malformed_after == Some(index) {
            push(&mut steps, malformed());
        }
        if delivery.endless_line && index == 1 {
            push(&mut steps, endless_start());
            steps.push(endless_block());
            return finish(steps, delivery);
        }
        push(&mut steps, event(&chunk.to_string()));
    }
    if delivery.close_after.is_some_and(|after| after >= count) {
        steps.push(BodyStep::Flush);
        steps.push(BodyStep::Abort);
        return finish(steps, delivery);
    }
    if delivery
        .error_event_after
        .is_some_and(|after| after >= count)
    {
        push(&mut steps, error_event());
        return finish(steps, delivery);
    }
    if delivery.malformed_after.is_some_and(|after| after >= count) {
        push(&mut steps, malformed());
    }
    if delivery.endless_line {
        push(&mut steps, endless_start());
        steps.push(endless_block());
        return finish(steps, delivery);
    }
    if !delivery.no_done {
        push(&mut steps, event("[DONE]"));
    }
    if delivery.keep_open_after_done {
        let comment = Bytes::from(format!(": keep-alive{line_end}{line_end}"));
        steps.push(BodyStep::Every(KEEP_ALIVE_EVERY, comment));
    }
    finish(steps, delivery)
}

fn finish(steps: Vec<BodyStep>, delivery: &Delivery) -> Vec<BodyStep> {
    match &delivery.split {
        Some(pattern) => split_frames(steps, pattern),
        None => steps,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_keys() {
        assert_eq!(mask_key("sk-wrong-key-123"), "sk-*********-123");
        assert_eq!(mask_key("short"), "*****");
    }
}
