//! [`Models`]: `GET /models`.

use std::future::poll_fn;
use std::sync::Arc;

use nexllm_proto::exchange::{Exchange, Outcome};
use nexllm_proto::{Error, ModelList};

use crate::client::ClientInner;
use crate::driver::{CallDriver, Event, now};
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
    pub async fn list(self) -> Result<ModelList, Error> {
        Ok(self.list_with_response().await?.data)
    }

    /// Like [`list`](Self::list), and also returns the response's status, headers and attempt count.
    pub async fn list_with_response(self) -> Result<ApiResponse<ModelList>, Error> {
        let span = tracing::debug_span!(
            "nexllm.models",
            method = "GET",
            endpoint = "models",
            status = tracing::field::Empty,
            attempts = tracing::field::Empty,
            request_id = tracing::field::Empty,
            latency_ms = tracing::field::Empty,
        );
        let exchange = Exchange::list_models(&self.client.config, now(), self.client.next_seed())?
            .with_wall_clock(std::time::SystemTime::now());
        if let Some(error) = self.client.unusable() {
            // A setting no retry can fix (as for an invalid request): fail before any I/O.
            span.in_scope(|| tracing::debug!(error = %error, "the client cannot make calls"));
            return Err(Error::Transport(Box::new(error.clone())));
        }
        let mut driver = CallDriver::new(exchange, Arc::clone(&self.client.transport), span);
        loop {
            match poll_fn(|cx| driver.poll_event(cx)).await {
                Some(Event::Done(Ok(Outcome::Models(models)))) => {
                    let exchange = driver.exchange();
                    return Ok(ApiResponse {
                        data: models,
                        status: exchange.response_status().unwrap_or(http::StatusCode::OK),
                        headers: exchange.response_headers().cloned().unwrap_or_default(),
                        attempts: exchange.attempts(),
                    });
                }
                Some(Event::Done(Ok(_))) | None => {
                    return Err(Error::decode("the call ended without a model list", ""));
                }
                Some(Event::Done(Err(error))) => return Err(error),
                Some(Event::Chunk(_) | Event::ChunkLent) => {}
            }
        }
    }
}
