//! The ureq [`Agent`] a [`Client`](crate::Client) sends its requests with:
//! rustls with verified certificates, the proxy chosen for the base URL, error
//! statuses returned as responses, no redirects, the pool options, the
//! connector chain (the [`ForwardProxyConnector`] first, the
//! [`DeadlineConnector`] last), and the [`HostResolver`].

use std::time::Duration;

use ureq::Agent;
use ureq::unversioned::resolver::Resolver;
use ureq::unversioned::transport::{
    ConnectProxyConnector, Connector, RustlsConnector, TcpConnector,
};

use crate::forward_proxy::ForwardProxyConnector;
use crate::io_deadline::DeadlineConnector;
use crate::resolver::HostResolver;

/// How long an idle pooled connection is kept by default.
pub const DEFAULT_POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(90);

/// The default number of idle connections kept per host.
pub const DEFAULT_POOL_MAX_IDLE_PER_HOST: usize = 32;

/// Stands for "no age limit" in the pool: ureq wants a duration, and adds it
/// to an `Instant`, so it must stay far from overflowing.
const NO_IDLE_LIMIT: Duration = Duration::from_secs(365 * 24 * 3600);

/// What the agent is built from.
#[derive(Debug)]
pub(crate) struct AgentOptions {
    pub(crate) proxy: Option<ureq::Proxy>,
    pub(crate) pool_idle_timeout: Option<Duration>,
    pub(crate) pool_max_idle_per_host: usize,
    /// CA certificates trusted instead of the default roots.
    pub(crate) root_certificates: Option<Vec<ureq::tls::Certificate<'static>>>,
}

impl Default for AgentOptions {
    fn default() -> Self {
        AgentOptions {
            proxy: None,
            pool_idle_timeout: Some(DEFAULT_POOL_IDLE_TIMEOUT),
            pool_max_idle_per_host: DEFAULT_POOL_MAX_IDLE_PER_HOST,
            root_certificates: None,
        }
    }
}

/// Builds the agent.
///
/// - `http_status_as_error(false)`: a 4xx or 5xx is a response like any
///   other, so the exchange reads its JSON error body and decides on retries.
/// - Redirects are not followed (as with the async client): a redirected POST
///   would lose its body or its method, and the key must not follow it to
///   another origin. A 3xx reaches the exchange and becomes an error.
/// - TLS is rustls with verified certificates: Mozilla's roots by default, the
///   platform's verifier with the `native-roots` feature, or the CA
///   certificates given. There is no switch to turn verification off.
///
/// The connector chain is ureq's `DefaultConnector` (without its SOCKS and
/// missing-TLS-provider links, which cannot apply here) with two links of
/// ours: first the [`ForwardProxyConnector`], which sends plain `http://`
/// requests to an HTTP proxy in absolute form instead of through the
/// `CONNECT` tunnel ureq would open; last the [`DeadlineConnector`].
pub(crate) fn build(options: AgentOptions) -> Agent {
    let connector = ForwardProxyConnector
        .chain(ConnectProxyConnector::default())
        .chain(TcpConnector::default())
        .chain(RustlsConnector::default())
        .chain(DeadlineConnector);
    build_with(options, connector, HostResolver::default())
}

/// [`build`], connecting with `connector` and looking host names up with `resolver`.
pub(crate) fn build_with(
    options: AgentOptions,
    connector: impl Connector,
    resolver: impl Resolver,
) -> Agent {
    let max_idle_age = options
        .pool_idle_timeout
        .map_or(NO_IDLE_LIMIT, |timeout| timeout.min(NO_IDLE_LIMIT));
    let config = Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .max_redirects_will_error(false)
        .proxy(options.proxy)
        .https_only(false)
        .max_idle_age(max_idle_age)
        .max_idle_connections(options.pool_max_idle_per_host)
        .max_idle_connections_per_host(options.pool_max_idle_per_host)
        .tls_config(tls_config(options.root_certificates))
        .build();
    Agent::with_parts(config, connector, resolver)
}

fn tls_config(
    root_certificates: Option<Vec<ureq::tls::Certificate<'static>>>,
) -> ureq::tls::TlsConfig {
    let roots = match root_certificates {
        Some(certificates) => ureq::tls::RootCerts::from(certificates),
        None => default_roots(),
    };
    ureq::tls::TlsConfig::builder()
        .provider(ureq::tls::TlsProvider::Rustls)
        .root_certs(roots)
        .build()
}

#[cfg(not(feature = "native-roots"))]
fn default_roots() -> ureq::tls::RootCerts {
    ureq::tls::RootCerts::WebPki
}

#[cfg(feature = "native-roots")]
fn default_roots() -> ureq::tls::RootCerts {
    ureq::tls::RootCerts::PlatformVerifier
}
