//! [`ChatCompletionRequest::validate`]: the checks made before any I/O, so a
//! request a server would certainly reject fails fast with the field named.

use std::ops::RangeInclusive;

use super::ChatCompletionRequest;
use crate::error::Error;

impl ChatCompletionRequest {
    /// Checks the request before it is sent.
    ///
    /// Rejected, each as an [`Error::InvalidRequest`] naming the JSON field:
    /// an empty `model`; no `messages`; a non-finite number; `temperature`
    /// outside 0..=2; `top_p` outside 0..=1; `n` of 0; `max_tokens` or
    /// `max_completion_tokens` of 0; `presence_penalty` or
    /// `frequency_penalty` outside -2..=2; `top_logprobs` above 20; a
    /// `logit_bias` value outside -100..=100; and an `extra` key that repeats
    /// a typed field that is set (it would be sent twice). An `extra` key
    /// may name a typed field that is unset: it then supplies that field.
    pub fn validate(&self) -> Result<(), Error> {
        if self.model.trim().is_empty() {
            return Err(Error::invalid_request("model", "must not be empty"));
        }
        if self.messages.is_empty() {
            return Err(Error::invalid_request(
                "messages",
                "must contain at least one message",
            ));
        }
        check_range("temperature", self.temperature, 0.0..=2.0)?;
        check_range("top_p", self.top_p, 0.0..=1.0)?;
        check_range("presence_penalty", self.presence_penalty, -2.0..=2.0)?;
        check_range("frequency_penalty", self.frequency_penalty, -2.0..=2.0)?;
        check_at_least_one("n", self.n)?;
        check_at_least_one("max_tokens", self.max_tokens)?;
        check_at_least_one("max_completion_tokens", self.max_completion_tokens)?;
        if let Some(top) = self.top_logprobs {
            if top > 20 {
                return Err(Error::invalid_request(
                    "top_logprobs",
                    format!("must be between 0 and 20, got {top}"),
                ));
            }
        }
        if let Some(biases) = &self.logit_bias {
            for (token, &bias) in biases {
                if !bias.is_finite() {
                    return Err(Error::invalid_request(
                        "logit_bias",
                        format!("must be a finite number for token {token:?}, got {bias}"),
                    ));
                }
                if !(-100.0..=100.0).contains(&bias) {
                    return Err(Error::invalid_request(
                        "logit_bias",
                        format!("must be between -100 and 100 for token {token:?}, got {bias}"),
                    ));
                }
            }
        }
        if let Some(key) = self.extra.keys().find(|key| self.typed_field_is_sent(key)) {
            return Err(Error::invalid_request(
                "extra",
                format!("repeats the typed parameter `{key}`; set it with its own setter"),
            ));
        }
        Ok(())
    }
}

fn check_range(
    field: &'static str,
    value: Option<f64>,
    range: RangeInclusive<f64>,
) -> Result<(), Error> {
    let Some(value) = value else { return Ok(()) };
    if !value.is_finite() {
        return Err(Error::invalid_request(
            field,
            format!("must be a finite number, got {value}"),
        ));
    }
    if !range.contains(&value) {
        return Err(Error::invalid_request(
            field,
            format!(
                "must be between {} and {}, got {value}",
                range.start(),
                range.end()
            ),
        ));
    }
    Ok(())
}

fn check_at_least_one(field: &'static str, value: Option<u32>) -> Result<(), Error> {
    match value {
        Some(0) => Err(Error::invalid_request(field, "must be at least 1, got 0")),
        _ => Ok(()),
    }
}
