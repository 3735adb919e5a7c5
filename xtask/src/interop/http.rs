//! Plain HTTP/1.1 to the servers under test (ureq, statuses returned as
//! responses), for readiness probes and for sending the exact requests the
//! SDK encodes. The servers are on loopback: the caller's proxy variables are
//! ignored.

use std::time::Duration;

/// The most of a response body we read.
const BODY_LIMIT: u64 = 8 * 1024 * 1024;

/// A response, read whole.
#[derive(Debug, Clone)]
pub(crate) struct Response {
    /// The status code.
    pub(crate) status: http::StatusCode,
    /// The headers.
    pub(crate) headers: http::HeaderMap,
    /// The body as text.
    pub(crate) body: String,
}

impl Response {
    /// The first header of this name, when it is text.
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

fn agent(timeout: Duration) -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(timeout))
        .max_redirects(0)
        // Not `HTTP_PROXY` and friends, which ureq reads by default.
        .proxy(None)
        .build()
        .into()
}

/// Sends `request` and reads the whole answer within `timeout`.
pub(crate) fn send(request: http::Request<Vec<u8>>, timeout: Duration) -> Result<Response, String> {
    let uri = request.uri().to_string();
    let response = agent(timeout)
        .run(request)
        .map_err(|e| format!("{uri}: {e}"))?;
    let status = response.status();
    let headers = response.headers().clone();
    let body = response
        .into_body()
        .with_config()
        .limit(BODY_LIMIT)
        .read_to_string()
        .map_err(|e| format!("{uri}: reading the body: {e}"))?;
    Ok(Response {
        status,
        headers,
        body,
    })
}

/// `GET url` with optional bearer key.
pub(crate) fn get(url: &str, key: Option<&str>, timeout: Duration) -> Result<Response, String> {
    let mut builder = http::Request::get(url);
    if let Some(key) = key {
        builder = builder.header("authorization", format!("Bearer {key}"));
    }
    let request = builder
        .body(Vec::new())
        .map_err(|e| format!("{url}: {e}"))?;
    send(request, timeout)
}

/// `POST url` with a JSON body and optional bearer key.
pub(crate) fn post_json(
    url: &str,
    key: Option<&str>,
    body: &[u8],
    timeout: Duration,
) -> Result<Response, String> {
    let mut builder = http::Request::post(url).header("content-type", "application/json");
    if let Some(key) = key {
        builder = builder.header("authorization", format!("Bearer {key}"));
    }
    let request = builder
        .body(body.to_vec())
        .map_err(|e| format!("{url}: {e}"))?;
    send(request, timeout)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loopback_env::under_a_dead_proxy;

    #[test]
    fn loopback_calls_ignore_the_proxy_variables() {
        if !under_a_dead_proxy("interop::http::tests::loopback_calls_ignore_the_proxy_variables") {
            return;
        }
        assert!(agent(Duration::from_secs(1)).config().proxy().is_none());
        let server = nexllm_mock::MockServer::start_blocking().unwrap();
        let models = format!("{}/models", server.base_url());
        let response = get(&models, Some("sk-test"), Duration::from_secs(30));
        server.shutdown_blocking();
        let response = response.unwrap();
        assert!(response.status.is_success(), "{response:?}");
    }
}
