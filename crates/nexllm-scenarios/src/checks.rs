//! Small assertions the scenario checks are written with; each returns a readable failure.

use nexllm_proto::{ChatCompletion, ChatCompletionChunk, Error};
use serde_json::Value;

use crate::{Observed, Run};

/// Fails with `why` unless `condition` holds.
pub(crate) fn ensure(condition: bool, why: impl FnOnce() -> String) -> Result<(), String> {
    if condition { Ok(()) } else { Err(why()) }
}

/// The chat or stream observation.
pub(crate) fn observed(run: &Run) -> Result<&Observed, String> {
    run.observed
        .as_ref()
        .ok_or_else(|| "the driver made no chat call".to_owned())
}

/// The successful completion.
pub(crate) fn completion(run: &Run) -> Result<&ChatCompletion, String> {
    match &observed(run)?.result {
        Ok(completion) => Ok(completion),
        Err(error) => Err(format!("expected a completion, got the error {error:?}")),
    }
}

/// The error the call ended with.
pub(crate) fn error(run: &Run) -> Result<&Error, String> {
    match &observed(run)?.result {
        Ok(completion) => Err(format!(
            "expected an error, got a completion with content {:?}",
            completion.content()
        )),
        Err(error) => Ok(error),
    }
}

/// The mock received exactly `n` requests.
pub(crate) fn requests(run: &Run, n: usize) -> Result<(), String> {
    ensure(run.requests.len() == n, || {
        format!(
            "expected {n} request(s) at the mock, saw {}",
            run.requests.len()
        )
    })
}

/// The error reports `n` attempts.
pub(crate) fn attempts(error: &Error, n: u32) -> Result<(), String> {
    ensure(error.attempts() == n, || {
        format!(
            "expected the error to report {n} attempt(s), it says {}",
            error.attempts()
        )
    })
}

/// The text of choice 0 across the chunks.
pub(crate) fn streamed_text(chunks: &[ChatCompletionChunk]) -> String {
    chunks
        .iter()
        .flat_map(|c| c.choices.iter())
        .filter(|choice| choice.index == 0)
        .filter_map(|choice| choice.delta.content.as_deref())
        .collect()
}

/// The content of choice 0 of a completion, `""` when absent.
pub(crate) fn text(completion: &ChatCompletion) -> &str {
    completion.content().unwrap_or_default()
}

/// The completion's content equals `want`.
pub(crate) fn content_is(completion: &ChatCompletion, want: &str) -> Result<(), String> {
    ensure(text(completion) == want, || {
        format!("expected content {want:?}, got {:?}", text(completion))
    })
}

/// The accumulated completion of a stream, which must be present.
pub(crate) fn accumulated(run: &Run) -> Result<&ChatCompletion, String> {
    observed(run)?
        .accumulated
        .as_ref()
        .ok_or_else(|| "the stream's accumulated completion is missing".to_owned())
}

/// The stream yielded `n` chunks and its accumulated completion holds exactly their text.
pub(crate) fn partial_kept(run: &Run, n: usize) -> Result<(), String> {
    let observed = observed(run)?;
    ensure(observed.chunks.len() == n, || {
        format!(
            "expected {n} chunk(s) before the error, got {}",
            observed.chunks.len()
        )
    })?;
    let acc = accumulated(run)?;
    let streamed = streamed_text(&observed.chunks);
    ensure(text(acc) == streamed, || {
        format!(
            "accumulated content {:?} differs from the chunks' {streamed:?}",
            text(acc)
        )
    })
}

/// The JSON body of request `i`.
pub(crate) fn body(run: &Run, i: usize) -> Result<Value, String> {
    run.requests
        .get(i)
        .ok_or_else(|| format!("no request #{i} at the mock"))?
        .body_json()
        .ok_or_else(|| format!("request #{i} has no JSON body"))
}

/// Every request carried the same non-empty idempotency key, and retry counts 0, 1, ….
pub(crate) fn one_idempotency_key(run: &Run) -> Result<(), String> {
    let keys: Vec<Option<&str>> = run
        .requests
        .iter()
        .map(|r| r.header("idempotency-key"))
        .collect();
    let first = keys.first().copied().flatten();
    ensure(
        first.is_some_and(|k| !k.is_empty()) && keys.iter().all(|k| *k == first),
        || format!("expected one idempotency key on every attempt, saw {keys:?}"),
    )?;
    for (i, request) in run.requests.iter().enumerate() {
        let want = i.to_string();
        ensure(
            request.header("x-nexllm-retry-count") == Some(want.as_str()),
            || {
                format!(
                    "request #{i}: x-nexllm-retry-count is {:?}, expected {want}",
                    request.header("x-nexllm-retry-count")
                )
            },
        )?;
    }
    Ok(())
}

/// Headers and request id were reported and agree with the mock's.
pub(crate) fn headers_reported(run: &Run) -> Result<(), String> {
    let observed = observed(run)?;
    let headers = observed
        .headers
        .as_ref()
        .ok_or_else(|| "no response headers reported".to_owned())?;
    for name in [
        "x-request-id",
        "x-ratelimit-limit-requests",
        "x-ratelimit-remaining-requests",
        "x-ratelimit-reset-requests",
        "x-ratelimit-limit-tokens",
        "x-ratelimit-remaining-tokens",
        "x-ratelimit-reset-tokens",
    ] {
        ensure(headers.contains_key(name), || {
            format!("header {name} missing")
        })?;
    }
    let last = run
        .requests
        .last()
        .ok_or_else(|| "the mock saw no request".to_owned())?;
    ensure(
        observed.request_id.as_deref() == Some(last.request_id.as_str()),
        || {
            format!(
                "request id {:?}, the mock answered with {:?}",
                observed.request_id, last.request_id
            )
        },
    )
}
