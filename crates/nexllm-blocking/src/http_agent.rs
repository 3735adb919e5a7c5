//! The ureq [`Agent`] a [`Client`](crate::Client) sends its requests with:
//! rustls with verified certificates, proxies from the environment, error
//! statuses returned as responses, no redirects, and the [`DeadlineConnector`]
//! at the end of the connector chain.

use std::time::Duration;

use ureq::Agent;
use ureq::unversioned::resolver::DefaultResolver;
use ureq::unversioned::transport::{Connector, DefaultConnector};

use crate::io_deadline::DeadlineConnector;

/// How long an idle pooled connection is kept for reuse.
const MAX_IDLE_AGE: Duration = Duration::from_secs(30);

/// Builds the agent.
///
/// - `http_status_as_error(false)`: a 4xx or 5xx is a response like any
///   other, so the exchange reads its JSON error body and decides on retries.
/// - Redirects are not followed (as with the async client): a redirected POST
///   would lose its body or its method, and the key must not follow it to
///   another origin. A 3xx reaches the exchange and becomes an error.
/// - Proxies come from `ALL_PROXY` / `HTTPS_PROXY` / `HTTP_PROXY` (and their
///   lower-case forms), minus `NO_PROXY`, read when the client is made.
/// - TLS is rustls with verified certificates: Mozilla's roots by default, the
///   platform's verifier with the `native-roots` feature. There is no switch
///   to turn verification off.
pub(crate) fn build() -> Agent {
    let config = Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .max_redirects_will_error(false)
        .proxy(ureq::Proxy::try_from_env())
        .https_only(false)
        .max_idle_age(MAX_IDLE_AGE)
        .tls_config(tls_config())
        .build();
    let connector = DefaultConnector::new().chain(DeadlineConnector);
    Agent::with_parts(config, connector, DefaultResolver::default())
}

#[cfg(not(feature = "native-roots"))]
fn tls_config() -> ureq::tls::TlsConfig {
    ureq::tls::TlsConfig::builder()
        .provider(ureq::tls::TlsProvider::Rustls)
        .root_certs(ureq::tls::RootCerts::WebPki)
        .build()
}

#[cfg(feature = "native-roots")]
fn tls_config() -> ureq::tls::TlsConfig {
    ureq::tls::TlsConfig::builder()
        .provider(ureq::tls::TlsProvider::Rustls)
        .root_certs(ureq::tls::RootCerts::PlatformVerifier)
        .build()
}
