//! The scenario table: one entry per behaviour every transport must show.

use std::time::Duration;

use nexllm_proto::types::{FinishReason, Message, Tool, ToolCall};
use nexllm_proto::{
    ApiErrorKind, ChatCompletionRequest, Config, Error, Limits, StreamErrorKind, TimeoutKind,
};
use serde_json::json;

use crate::checks::{
    accumulated, attempts, body, completion, content_is, ensure, error, headers_reported, observed,
    one_idempotency_key, partial_kept, requests, streamed_text, text,
};
use crate::{Call, Run, Scenario};

/// The text the echo model sends back.
const TEXT: &str = "The quick brown fox jumps over the lazy dog.";

fn echo() -> ChatCompletionRequest {
    ChatCompletionRequest::new("mock-echo", vec![Message::user(TEXT)])
}

fn echo_with_usage() -> ChatCompletionRequest {
    echo().include_usage(true)
}

fn weather_tool() -> Tool {
    Tool::function(
        "get_weather",
        "Current weather in a city",
        json!({
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"]
        }),
    )
}

fn tools() -> ChatCompletionRequest {
    ChatCompletionRequest::new("mock-tools", vec![Message::user("Weather in Paris?")])
        .tool(weather_tool())
}

fn tool_result() -> ChatCompletionRequest {
    ChatCompletionRequest::new(
        "mock-tools",
        vec![
            Message::user("Weather in Paris?"),
            Message::assistant_tool_calls(vec![ToolCall::function(
                "call_1",
                "get_weather",
                r#"{"city":"Paris"}"#,
            )]),
            Message::tool("call_1", "18C and sunny"),
        ],
    )
    .tool(weather_tool())
}

fn same(config: Config) -> Result<Config, Error> {
    Ok(config)
}

fn fault(config: Config, spec: &str) -> Result<Config, Error> {
    config.header("x-mock-fault", spec)
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn api_error(run: &Run) -> Result<&nexllm_proto::ApiError, String> {
    match error(run)? {
        Error::Api(e) => Ok(e),
        other => Err(format!("expected an API error, got {other:?}")),
    }
}

fn timeout_kind(run: &Run, kind: TimeoutKind) -> Result<(), String> {
    match error(run)? {
        Error::Timeout(e) if e.kind == kind => Ok(()),
        other => Err(format!("expected a {kind:?} timeout, got {other:?}")),
    }
}

/// A stream that must arrive whole and equal to the plain one.
fn whole_stream(run: &Run) -> Result<(), String> {
    let observed = observed(run)?;
    let done = completion(run)?;
    content_is(done, TEXT)?;
    let streamed = streamed_text(&observed.chunks);
    ensure(streamed == TEXT, || format!("chunks carried {streamed:?}"))?;
    let usage = done
        .usage
        .as_ref()
        .ok_or("no usage despite include_usage")?;
    ensure(usage.completion_tokens > 0, || format!("usage {usage:?}"))?;
    ensure(done.finish_reason() == Some(&FinishReason::Stop), || {
        format!("finish reason {:?}", done.finish_reason())
    })?;
    ensure(accumulated(run)? == done, || {
        "the accumulated completion differs from the result".to_owned()
    })?;
    requests(run, 1)
}

/// Every scenario, in a stable order.
pub fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario {
            name: "chat_plain",
            call: Call::Chat,
            request: echo,
            config: same,
            check: |run| {
                let done = completion(run)?;
                content_is(done, TEXT)?;
                ensure(done.finish_reason() == Some(&FinishReason::Stop), || {
                    format!("finish reason {:?}", done.finish_reason())
                })?;
                ensure(done.usage.is_some(), || "no usage".to_owned())?;
                requests(run, 1)?;
                let sent = body(run, 0)?;
                ensure(sent["model"] == "mock-echo", || {
                    format!("model sent: {}", sent["model"])
                })?;
                ensure(sent.get("stream").is_none_or(|s| s == false), || {
                    format!("a whole call sent stream {}", sent["stream"])
                })?;
                let auth = run.requests[0].header("authorization");
                ensure(auth == Some(&format!("Bearer {}", crate::API_KEY)), || {
                    "the request did not carry the key as a Bearer token".to_owned()
                })
            },
        },
        Scenario {
            name: "chat_response_headers",
            call: Call::Chat,
            request: echo,
            config: same,
            check: headers_reported,
        },
        Scenario {
            name: "chat_tool_result_round_trip",
            call: Call::Chat,
            request: tool_result,
            config: same,
            check: |run| {
                content_is(completion(run)?, "Based on get_weather: 18C and sunny")?;
                let sent = body(run, 0)?;
                let messages = &sent["messages"];
                ensure(
                    messages[1]["tool_calls"][0]["function"]["name"] == "get_weather"
                        && messages[2]["tool_call_id"] == "call_1",
                    || format!("messages sent: {messages}"),
                )
            },
        },
        Scenario {
            name: "stream_plain_with_usage",
            call: Call::Stream,
            request: echo_with_usage,
            config: same,
            check: |run| {
                whole_stream(run)?;
                let observed = observed(run)?;
                let last = observed.chunks.last().ok_or("no chunks")?;
                ensure(last.choices.is_empty() && last.usage.is_some(), || {
                    format!("the last chunk is not the usage chunk: {last:?}")
                })?;
                let sent = body(run, 0)?;
                ensure(
                    sent["stream"] == true && sent["stream_options"]["include_usage"] == true,
                    || {
                        format!(
                            "sent stream {} options {}",
                            sent["stream"], sent["stream_options"]
                        )
                    },
                )?;
                headers_reported(run)
            },
        },
        Scenario {
            name: "stream_two_choices",
            call: Call::Stream,
            request: || echo().n(2),
            config: same,
            check: |run| {
                let done = completion(run)?;
                ensure(done.choices.len() == 2, || {
                    format!("{} choices", done.choices.len())
                })?;
                for choice in &done.choices {
                    ensure(choice.message.content.as_deref() == Some(TEXT), || {
                        format!("choice {} has {:?}", choice.index, choice.message.content)
                    })?;
                }
                Ok(())
            },
        },
        Scenario {
            name: "stream_tool_call_assembled",
            call: Call::Stream,
            request: tools,
            config: same,
            check: |run| {
                let done = completion(run)?;
                let calls = done.tool_calls();
                let call = calls.first().ok_or("no tool call")?;
                ensure(
                    call.function.name == "get_weather" && !call.id.is_empty(),
                    || format!("tool call {call:?}"),
                )?;
                let args: serde_json::Value = serde_json::from_str(&call.function.arguments)
                    .map_err(|e| format!("arguments {:?}: {e}", call.function.arguments))?;
                ensure(args["city"] == "Paris", || format!("arguments {args}"))?;
                ensure(
                    done.finish_reason() == Some(&FinishReason::ToolCalls),
                    || format!("finish reason {:?}", done.finish_reason()),
                )?;
                let fragments = observed(run)?
                    .chunks
                    .iter()
                    .filter(|c| c.choices.iter().any(|ch| ch.delta.tool_calls.is_some()))
                    .count();
                ensure(fragments > 2, || {
                    format!("only {fragments} tool-call chunk(s)")
                })
            },
        },
        Scenario {
            name: "retry_after_429_then_success",
            call: Call::Chat,
            request: echo,
            config: |c| fault(c, "fail-first=1;status=429;retry-after=1"),
            check: |run| {
                content_is(completion(run)?, TEXT)?;
                requests(run, 2)?;
                one_idempotency_key(run)?;
                ensure(run.elapsed >= ms(950), || {
                    format!(
                        "retried after {:?}, before the 1 s Retry-After",
                        run.elapsed
                    )
                })
            },
        },
        Scenario {
            name: "retries_exhausted_503",
            call: Call::Chat,
            request: echo,
            config: |c| Ok(fault(c, "status=503;retry-after-ms=10")?.max_retries(2)),
            check: |run| {
                let e = api_error(run)?;
                ensure(e.status.map(|s| s.as_u16()) == Some(503), || {
                    format!("{e:?}")
                })?;
                attempts(error(run)?, 3)?;
                requests(run, 3)?;
                one_idempotency_key(run)
            },
        },
        Scenario {
            name: "should_retry_false_is_final",
            call: Call::Chat,
            request: echo,
            config: |c| fault(c, "status=503;should-retry=false"),
            check: |run| {
                let e = api_error(run)?;
                ensure(e.kind == ApiErrorKind::InternalServer, || format!("{e:?}"))?;
                attempts(error(run)?, 1)?;
                requests(run, 1)
            },
        },
        Scenario {
            name: "wrong_key_401",
            call: Call::Chat,
            request: echo,
            config: |c| Ok(Config::new("sk-wrong-key-0000000000").base_url(c.base_url.clone())),
            check: |run| {
                let e = api_error(run)?;
                ensure(e.kind == ApiErrorKind::Authentication, || format!("{e:?}"))?;
                ensure(e.code_is("invalid_api_key"), || {
                    format!("code {:?}", e.code)
                })?;
                ensure(
                    !error(run)?.to_string().contains("sk-wrong-key-0000000000"),
                    || "the error shows the whole key".to_owned(),
                )?;
                requests(run, 1)
            },
        },
        Scenario {
            name: "unknown_model_404",
            call: Call::Chat,
            request: || echo().model("no-such-model"),
            config: same,
            check: |run| {
                let e = api_error(run)?;
                ensure(e.kind == ApiErrorKind::NotFound, || format!("{e:?}"))?;
                ensure(e.code_is("model_not_found"), || {
                    format!("code {:?}", e.code)
                })?;
                ensure(e.request_id.is_some(), || {
                    "no request id on the error".to_owned()
                })?;
                requests(run, 1)
            },
        },
        Scenario {
            name: "invalid_request_sends_nothing",
            call: Call::Chat,
            request: || echo().model(""),
            config: same,
            check: |run| {
                match error(run)? {
                    Error::InvalidRequest(e) => {
                        ensure(e.field == "model", || format!("field {}", e.field))?
                    }
                    other => return Err(format!("expected an invalid request, got {other:?}")),
                }
                requests(run, 0)
            },
        },
        Scenario {
            name: "html_error_page_kept",
            call: Call::Chat,
            request: echo,
            config: |c| {
                fault(
                    c,
                    "status=502;should-retry=false;raw-body=<html>Bad gateway</html>",
                )
            },
            check: |run| {
                let e = api_error(run)?;
                ensure(e.status.map(|s| s.as_u16()) == Some(502), || {
                    format!("{e:?}")
                })?;
                ensure(e.raw_body.contains("Bad gateway"), || {
                    format!("raw body {:?}", e.raw_body)
                })
            },
        },
        Scenario {
            name: "chat_close_before_head_retried",
            call: Call::Chat,
            request: echo,
            config: |c| fault(c, "fail-first=1;close-before-head"),
            check: |run| {
                content_is(completion(run)?, TEXT)?;
                requests(run, 2)?;
                one_idempotency_key(run)
            },
        },
        Scenario {
            name: "stream_close_before_head_retried",
            call: Call::Stream,
            request: echo_with_usage,
            config: |c| fault(c, "fail-first=1;close-before-head"),
            check: |run| {
                content_is(completion(run)?, TEXT)?;
                requests(run, 2)?;
                one_idempotency_key(run)
            },
        },
        Scenario {
            name: "chat_close_mid_body_retried",
            call: Call::Chat,
            request: echo,
            config: |c| Ok(fault(c, "close-after=1")?.max_retries(1)),
            check: |run| {
                match error(run)? {
                    Error::Transport(_) => {}
                    other => return Err(format!("expected a transport error, got {other:?}")),
                }
                attempts(error(run)?, 2)?;
                requests(run, 2)
            },
        },
        Scenario {
            name: "stream_close_mid_stream_keeps_partial",
            call: Call::Stream,
            request: echo,
            config: |c| fault(c, "close-after=3"),
            check: |run| {
                cut_by_the_connection(error(run)?)?;
                partial_kept(run, 3)?;
                ensure(!text(accumulated(run)?).is_empty(), || {
                    "nothing was kept".to_owned()
                })?;
                requests(run, 1)
            },
        },
        Scenario {
            name: "stream_error_event",
            call: Call::Stream,
            request: echo,
            config: |c| fault(c, "error-event-after=2"),
            check: |run| {
                let e = api_error(run)?;
                ensure(e.status.is_none(), || format!("status {:?}", e.status))?;
                partial_kept(run, 2)?;
                requests(run, 1)
            },
        },
        Scenario {
            name: "stream_malformed_chunk",
            call: Call::Stream,
            request: echo,
            config: |c| fault(c, "malformed-after=2"),
            check: |run| {
                match error(run)? {
                    Error::Decode(_) => {}
                    other => return Err(format!("expected a decode error, got {other:?}")),
                }
                partial_kept(run, 2)?;
                requests(run, 1)
            },
        },
        Scenario {
            name: "chat_malformed_body",
            call: Call::Chat,
            request: echo,
            config: |c| fault(c, "malformed-after=0"),
            check: |run| match error(run)? {
                Error::Decode(e) => ensure(!e.raw.is_empty(), || "no raw text kept".to_owned()),
                other => Err(format!("expected a decode error, got {other:?}")),
            },
        },
        Scenario {
            name: "stream_split_frames",
            call: Call::Stream,
            request: echo_with_usage,
            config: |c| fault(c, "split=3,5,1"),
            check: whole_stream,
        },
        Scenario {
            name: "stream_split_seeded",
            call: Call::Stream,
            request: echo_with_usage,
            config: |c| fault(c, "split=seed:42"),
            check: whole_stream,
        },
        Scenario {
            name: "stream_crlf",
            call: Call::Stream,
            request: echo_with_usage,
            config: |c| fault(c, "crlf"),
            check: whole_stream,
        },
        Scenario {
            name: "stream_one_byte_at_a_time",
            call: Call::Stream,
            request: echo_with_usage,
            config: |c| fault(c, "one-byte"),
            check: whole_stream,
        },
        Scenario {
            name: "stream_idle_timeout",
            call: Call::Stream,
            request: echo,
            config: |c| Ok(fault(c, "stall=2s")?.idle_timeout(Some(ms(60)))),
            check: |run| {
                timeout_kind(run, TimeoutKind::Idle)?;
                let chunks = observed(run)?.chunks.len();
                partial_kept(run, chunks)?;
                ensure(chunks >= 1, || "no chunk before the stall".to_owned())?;
                ensure(run.elapsed < ms(1500), || format!("took {:?}", run.elapsed))?;
                requests(run, 1)
            },
        },
        Scenario {
            name: "chat_idle_timeout",
            call: Call::Chat,
            request: echo,
            config: |c| {
                Ok(fault(c, "stall=2s")?
                    .idle_timeout(Some(ms(60)))
                    .max_retries(0))
            },
            check: |run| {
                timeout_kind(run, TimeoutKind::Idle)?;
                ensure(run.elapsed < ms(1500), || format!("took {:?}", run.elapsed))?;
                requests(run, 1)
            },
        },
        Scenario {
            name: "first_byte_timeout_retried",
            call: Call::Chat,
            request: echo,
            config: |c| {
                Ok(fault(c, "delay-head=2s")?
                    .first_byte_timeout(Some(ms(60)))
                    .max_retries(1))
            },
            check: |run| {
                timeout_kind(run, TimeoutKind::FirstByte)?;
                attempts(error(run)?, 2)?;
                ensure(run.elapsed < ms(1900), || format!("took {:?}", run.elapsed))?;
                requests(run, 2)
            },
        },
        Scenario {
            name: "total_deadline",
            call: Call::Chat,
            request: echo,
            config: |c| Ok(fault(c, "delay-head=3s")?.total_timeout(Some(ms(150)))),
            check: |run| {
                timeout_kind(run, TimeoutKind::Total)?;
                ensure(run.elapsed >= ms(140) && run.elapsed < ms(1500), || {
                    format!("took {:?}", run.elapsed)
                })
            },
        },
        Scenario {
            name: "stream_total_deadline_keeps_partial",
            call: Call::Stream,
            request: echo,
            config: |c| {
                Ok(fault(c, "stall=100ms")?
                    .total_timeout(Some(ms(250)))
                    .idle_timeout(None))
            },
            check: |run| {
                timeout_kind(run, TimeoutKind::Total)?;
                let chunks = observed(run)?.chunks.len();
                ensure(chunks >= 1, || "no chunk before the deadline".to_owned())?;
                partial_kept(run, chunks)
            },
        },
        Scenario {
            name: "stream_json_error_200",
            call: Call::Stream,
            request: echo,
            config: |c| fault(c, "json-error-200"),
            check: |run| {
                let e = api_error(run)?;
                ensure(!e.message.is_empty(), || format!("{e:?}"))?;
                ensure(observed(run)?.chunks.is_empty(), || {
                    "chunks before the error".to_owned()
                })
            },
        },
        Scenario {
            name: "stream_without_done_but_finished",
            call: Call::Stream,
            request: echo,
            config: |c| fault(c, "no-done"),
            check: |run| {
                // Every choice finished: servers that omit [DONE] (some gateways) still work.
                content_is(completion(run)?, TEXT)?;
                requests(run, 1)
            },
        },
        Scenario {
            name: "stream_aborted_instead_of_done",
            call: Call::Stream,
            request: echo_with_usage,
            config: |c| fault(c, "close-after=100"),
            check: |run| {
                // Every chunk arrived, but the body broke instead of ending: an error, content kept.
                cut_by_the_connection(error(run)?)?;
                let chunks = observed(run)?.chunks.len();
                partial_kept(run, chunks)?;
                content_is(accumulated(run)?, TEXT)?;
                requests(run, 1)
            },
        },
        Scenario {
            name: "stream_endless_line_is_bounded",
            call: Call::Stream,
            request: echo,
            config: |c| {
                let mut limits = Limits::default();
                limits.max_event_bytes = 64 * 1024;
                Ok(fault(c, "endless-line")?.limits(limits))
            },
            check: |run| match error(run)? {
                Error::LimitExceeded(_) => requests(run, 1),
                other => Err(format!("expected a limit error, got {other:?}")),
            },
        },
        Scenario {
            name: "models_list",
            call: Call::Models,
            request: echo,
            config: same,
            check: |run| {
                let models = run
                    .models
                    .as_ref()
                    .ok_or("no models call")?
                    .as_ref()
                    .map_err(|e| format!("models failed: {e:?}"))?;
                ensure(models.data.iter().any(|m| m.id == "mock-echo"), || {
                    format!(
                        "models: {:?}",
                        models.data.iter().map(|m| &m.id).collect::<Vec<_>>()
                    )
                })?;
                requests(run, 1)
            },
        },
        Scenario {
            name: "models_retried",
            call: Call::Models,
            request: echo,
            config: |c| fault(c, "fail-first=1;status=500;retry-after-ms=10"),
            check: |run| {
                let ok = run.models.as_ref().is_some_and(Result::is_ok);
                ensure(ok, || format!("models: {:?}", run.models))?;
                requests(run, 2)
            },
        },
    ]
}

/// A stream that the connection cut after chunks had reached the caller: a
/// truncated-stream error whose cause is the transport's failure.
fn cut_by_the_connection(error: &Error) -> Result<(), String> {
    match error {
        Error::Stream(e) if e.kind == StreamErrorKind::Truncated && e.cause.is_some() => {
            ensure(e.chunks_received > 0, || {
                format!("a cut stream should count its chunks: {e:?}")
            })
        }
        other => Err(format!(
            "expected a truncated stream caused by the connection, got {other:?}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_snake_case() {
        let names: Vec<&str> = scenarios().iter().map(|s| s.name).collect();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), names.len(), "duplicate scenario names");
        for name in names {
            assert!(
                name.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
                "{name}"
            );
        }
    }

    #[test]
    fn every_config_builds() {
        for scenario in scenarios() {
            let config = (scenario.config)(Config::new("k").base_url("http://127.0.0.1:1/v1"));
            assert!(config.is_ok(), "{}: {config:?}", scenario.name);
        }
    }
}
