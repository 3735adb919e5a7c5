//! [`HyperTransportBuilder`]: the options of the default transport, for a
//! [`HyperTransport`] of your own (to wrap in a [`Transport`](crate::Transport)).

use std::fmt;
use std::time::Duration;

use http::Uri;
use nexllm_proto::{Config, Error};

use crate::hyper_transport::{HyperTransport, TransportOptions};
use crate::proxy::Proxy;

/// Builds a [`HyperTransport`] with options: the pool, HTTP/2, the proxy and
/// TLS, as [`ClientBuilder`](crate::ClientBuilder) sets them for the client's
/// own transport. For a transport that wraps this one (to add headers, log,
/// count), which [`ClientBuilder::transport`](crate::ClientBuilder::transport)
/// then uses as it is.
///
/// ```no_run
/// use std::sync::Arc;
/// use std::time::Duration;
/// use nexllm_hyper::{Client, Config, HyperTransport, Proxy};
///
/// let config = Config::new("sk-...");
/// let transport = HyperTransport::builder(&config)
///     .pool_max_idle_per_host(8)
///     .pool_idle_timeout(Some(Duration::from_secs(30)))
///     .proxy(Proxy::none())
///     .build()?;
/// // Wrap `transport` in a transport of your own here.
/// let client = Client::builder().config(config).transport(Arc::new(transport)).build()?;
/// # Ok::<(), nexllm_hyper::Error>(())
/// ```
pub struct HyperTransportBuilder {
    options: TransportOptions,
    /// The base URL's endpoint, for the checks of [`build`](Self::build).
    endpoint: Option<Uri>,
}

impl HyperTransportBuilder {
    pub(crate) fn new(config: &Config) -> Self {
        HyperTransportBuilder {
            options: TransportOptions::new(config),
            endpoint: config.endpoint("").ok(),
        }
    }

    /// How long an idle pooled connection is kept (default 90 s; `None` keeps it until the server closes it).
    #[must_use]
    pub fn pool_idle_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.options.pool_idle_timeout = timeout;
        self
    }

    /// How many idle connections are kept per host (default 32; 0 disables reuse).
    #[must_use]
    pub fn pool_max_idle_per_host(mut self, max: usize) -> Self {
        self.options.pool_max_idle_per_host = max;
        self
    }

    /// Whether to offer HTTP/2 by ALPN on HTTPS connections (default on when
    /// the `http2` feature is enabled; without the feature only HTTP/1.1 is spoken).
    /// Plain `http://` connections always use HTTP/1.1.
    #[must_use]
    pub fn http2(mut self, enabled: bool) -> Self {
        self.options.http2 = enabled;
        self
    }

    /// Which proxy to use (default: [`Proxy::from_env`]).
    #[must_use]
    pub fn proxy(mut self, proxy: Proxy) -> Self {
        self.options.proxy = proxy;
        self
    }

    /// Uses this rustls configuration for HTTPS (your own roots, client
    /// certificates). Its ALPN protocols are replaced according to
    /// [`http2`](Self::http2).
    #[must_use]
    pub fn tls_config(mut self, tls: rustls::ClientConfig) -> Self {
        self.options.tls = Some(tls);
        self
    }

    /// Builds the transport. Fails when the TLS roots cannot be loaded, or
    /// when the proxy chosen for the base URL of the configuration cannot be
    /// used (a proxy [`Error::Transport`]).
    pub fn build(self) -> Result<HyperTransport, Error> {
        let transport = HyperTransport::with_options(self.options);
        if let Some(error) = transport.tls_unavailable() {
            return Err(Error::Transport(Box::new(error.clone())));
        }
        if let Some(error) = self
            .endpoint
            .as_ref()
            .and_then(|endpoint| transport.unusable_for_endpoint(endpoint))
        {
            return Err(Error::Transport(Box::new(error)));
        }
        Ok(transport)
    }
}

impl fmt::Debug for HyperTransportBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HyperTransportBuilder")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}
