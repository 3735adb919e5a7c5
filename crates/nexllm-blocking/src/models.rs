//! [`Models`]: `GET /models`.

use nexllm_proto::exchange::{Exchange, Outcome};
use nexllm_proto::{Error, ModelList};

use crate::call::{Call, run_to_end};
use crate::client::ClientInner;
use nexllm_proto::response::ApiResponse;

/// The Models endpoint of a [`Client`](crate::Client). Get it with
/// [`Client::models`](crate::Client::models).
#[derive(Clone, Copy)]
pub struct Models<'a> {
    client: &'a ClientInner,
}

impl std::fmt::Debug for Models<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Models").finish_non_exhaustive()
    }
}

impl<'a> Models<'a> {
    pub(crate) fn new(client: &'a ClientInner) -> Self {
        Models { client }
    }

    /// Lists the models the server offers.
    pub fn list(&self) -> Result<ModelList, Error> {
        Ok(self.list_with_response()?.data)
    }

    /// Like [`list`](Self::list), and also returns the response's status, headers and attempt count.
    pub fn list_with_response(&self) -> Result<ApiResponse<ModelList>, Error> {
        let config = &self.client.config;
        let span = tracing::debug_span!(
            "nexllm.models",
            method = "GET",
            endpoint = "models",
            status = tracing::field::Empty,
            attempts = tracing::field::Empty,
            request_id = tracing::field::Empty,
            latency_ms = tracing::field::Empty,
        );
        let mut call = Call::start(self.client, span, &|now, seed| {
            Exchange::list_models(config, now, seed)
        })?;
        match run_to_end(&mut call)? {
            Outcome::Models(models) => Ok(crate::chat::api_response(&call, models)),
            _ => Err(Error::decode("the call ended without a model list", "")),
        }
    }
}
