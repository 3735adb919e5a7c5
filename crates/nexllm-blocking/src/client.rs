//! [`Client`] and [`ClientBuilder`]: the configuration, and the ureq agent
//! (with its connection pool and proxy) every call goes through.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use nexllm_proto::{Config, Error, TransportError};

use crate::chat::Chat;
use crate::http_agent::AgentOptions;
use crate::models::Models;
use crate::proxy::{Proxy, ViaProxy};

/// A blocking client for the Chat Completions API.
///
/// Cheap to clone, and `Send + Sync`: clones share one configuration and one
/// connection pool, and may be used from many threads at once. No async
/// runtime is involved; each call blocks the thread that makes it.
///
/// ```no_run
/// use nexllm_blocking::{ChatCompletionRequest, Client, Config, Message};
///
/// let client = Client::new(Config::new("sk-...").base_url("http://127.0.0.1:4000/v1"));
/// let request = ChatCompletionRequest::new("gpt-4o", vec![Message::user("Hello!")]);
/// let completion = client.chat().create(&request)?;
/// println!("{}", completion.content().unwrap_or_default());
/// # Ok::<(), nexllm_blocking::Error>(())
/// ```
#[derive(Clone)]
pub struct Client {
    inner: Arc<ClientInner>,
}

pub(crate) struct ClientInner {
    pub(crate) config: Config,
    pub(crate) agent: ureq::Agent,
    /// Why no call can be made (a proxy from the environment that cannot be
    /// used); every call then fails with it before any I/O.
    pub(crate) unusable: Option<TransportError>,
    /// The proxy calls go through, if any, as their failures need to know it.
    pub(crate) via_proxy: Option<ViaProxy>,
}

impl Client {
    /// A client with this configuration, the default pool, and the proxy the
    /// environment gives for its base URL ([`Proxy::from_env`]).
    ///
    /// HTTPS uses rustls with verified certificates (Mozilla's roots, or the
    /// platform's verifier with the `native-roots` feature). Never fails: an
    /// invalid base URL or header fails each call, before any I/O, with
    /// [`Error::InvalidRequest`], and a proxy variable that cannot be used
    /// (not `http://`) fails each call with a proxy [`Error::Transport`]. Use
    /// [`Client::builder`] to get the latter up front instead.
    pub fn new(config: Config) -> Client {
        let (options, unusable) = match Proxy::from_env().for_base_url(&config.base_url) {
            Ok(proxy) => (
                AgentOptions {
                    proxy,
                    ..AgentOptions::default()
                },
                None,
            ),
            Err(error) => (AgentOptions::default(), Some(error)),
        };
        Client::from_parts(config, options, unusable)
    }

    /// A client configured from `NEXLLM_API_KEY` and `NEXLLM_BASE_URL` (see
    /// [`Config::from_env`]); fails when the key is not set.
    pub fn from_env() -> Result<Client, Error> {
        Ok(Client::new(Config::from_env()?))
    }

    /// A builder for the pool and proxy options.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    fn from_parts(
        config: Config,
        options: AgentOptions,
        unusable: Option<TransportError>,
    ) -> Client {
        let via_proxy = options.proxy.as_ref().map(ViaProxy::new);
        Client {
            inner: Arc::new(ClientInner {
                config,
                agent: crate::http_agent::build(options),
                unusable,
                via_proxy,
            }),
        }
    }

    /// The Chat Completions endpoint: `client.chat().create(&request)`.
    pub fn chat(&self) -> Chat<'_> {
        Chat::new(&self.inner)
    }

    /// The Models endpoint: `client.models().list()`.
    pub fn models(&self) -> Models<'_> {
        Models::new(&self.inner)
    }

    /// The configuration every call uses.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

/// Builds a [`Client`]: its [`Config`], its connection pool and its proxy.
///
/// ```no_run
/// use std::time::Duration;
/// use nexllm_blocking::{Client, Config, Proxy};
///
/// let client = Client::builder()
///     .config(Config::new("sk-..."))
///     .pool_idle_timeout(Some(Duration::from_secs(30)))
///     .pool_max_idle_per_host(8)
///     .proxy(Proxy::none())
///     .build()?;
/// # Ok::<(), nexllm_blocking::Error>(())
/// ```
#[derive(Default)]
pub struct ClientBuilder {
    config: Option<Config>,
    pool_idle_timeout: Option<Option<Duration>>,
    pool_max_idle_per_host: Option<usize>,
    proxy: Option<Proxy>,
    root_certificates: Option<Vec<ureq::tls::Certificate<'static>>>,
}

impl ClientBuilder {
    /// The configuration (key, base URL, retries, timeouts). Without one,
    /// [`build`](Self::build) reads it with [`Config::from_env`].
    #[must_use]
    pub fn config(mut self, config: Config) -> Self {
        self.config = Some(config);
        self
    }

    /// How long an idle pooled connection is kept (default
    /// [`DEFAULT_POOL_IDLE_TIMEOUT`](crate::DEFAULT_POOL_IDLE_TIMEOUT); `None`
    /// keeps it until the server closes it).
    #[must_use]
    pub fn pool_idle_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.pool_idle_timeout = Some(timeout);
        self
    }

    /// How many idle connections are kept per host (default
    /// [`DEFAULT_POOL_MAX_IDLE_PER_HOST`](crate::DEFAULT_POOL_MAX_IDLE_PER_HOST);
    /// 0 disables reuse).
    #[must_use]
    pub fn pool_max_idle_per_host(mut self, max: usize) -> Self {
        self.pool_max_idle_per_host = Some(max);
        self
    }

    /// Which proxy to use (default: [`Proxy::from_env`]).
    #[must_use]
    pub fn proxy(mut self, proxy: Proxy) -> Self {
        self.proxy = Some(proxy);
        self
    }

    /// Trusts only the CA certificates in `pem` (one or more `BEGIN
    /// CERTIFICATE` blocks) instead of the default roots: for a gateway
    /// whose certificate comes from a private CA. Certificates are still
    /// verified. Fails when `pem` holds no certificate.
    pub fn root_certificates_pem(mut self, pem: &[u8]) -> Result<Self, Error> {
        let mut certificates = Vec::new();
        for item in ureq::tls::parse_pem(pem) {
            let invalid = || Error::invalid_request("root_certificates", "is not valid PEM");
            if let ureq::tls::PemItem::Certificate(certificate) = item.map_err(|_| invalid())? {
                certificates.push(certificate);
            }
        }
        if certificates.is_empty() {
            return Err(Error::invalid_request(
                "root_certificates",
                "holds no certificate",
            ));
        }
        self.root_certificates = Some(certificates);
        Ok(self)
    }

    /// Builds the client. Fails when no configuration was given and the
    /// environment has none, or when the proxy chosen cannot be used.
    pub fn build(self) -> Result<Client, Error> {
        let config = match self.config {
            Some(config) => config,
            None => Config::from_env()?,
        };
        let proxy = self
            .proxy
            .unwrap_or_default()
            .for_base_url(&config.base_url)
            .map_err(Error::from)?;
        let mut options = AgentOptions {
            proxy,
            ..AgentOptions::default()
        };
        if let Some(timeout) = self.pool_idle_timeout {
            options.pool_idle_timeout = timeout;
        }
        if let Some(max) = self.pool_max_idle_per_host {
            options.pool_max_idle_per_host = max;
        }
        options.root_certificates = self.root_certificates;
        Ok(Client::from_parts(config, options, None))
    }
}

impl fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("config", &self.config)
            .field("pool_idle_timeout", &self.pool_idle_timeout)
            .field("pool_max_idle_per_host", &self.pool_max_idle_per_host)
            .field("proxy", &self.proxy)
            .field(
                "root_certificates",
                &self.root_certificates.as_ref().map(Vec::len),
            )
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn clients_are_shared_between_threads() {
        assert_send_sync::<Client>();
    }

    #[test]
    fn debug_never_shows_the_key() {
        let client = Client::new(Config::new("sk-secret-debug-1234"));
        let shown = format!("{client:?}");
        assert!(!shown.contains("sk-secret-debug-1234"), "{shown}");
        let builder = Client::builder().config(Config::new("sk-secret-debug-1234"));
        let shown = format!("{builder:?}");
        assert!(!shown.contains("sk-secret-debug-1234"), "{shown}");
    }

    #[test]
    fn root_certificates_must_be_pem_certificates() {
        let error = Client::builder()
            .root_certificates_pem(b"not pem at all")
            .unwrap_err();
        assert!(matches!(error, Error::InvalidRequest(ref e) if e.field == "root_certificates"));
        let pem = include_bytes!("../tests/fixtures/test-ca.pem");
        let builder = Client::builder().root_certificates_pem(pem).unwrap();
        assert_eq!(builder.root_certificates.map(|c| c.len()), Some(1));
    }

    #[test]
    fn the_builder_checks_the_proxy_for_the_base_url() {
        let proxy = Proxy::all("http://proxy.invalid:3128", "").unwrap();
        let client = Client::builder()
            .config(Config::new("k").base_url("https://api.example.com/v1"))
            .proxy(proxy)
            .pool_idle_timeout(None)
            .pool_max_idle_per_host(0)
            .build()
            .unwrap();
        assert!(client.inner.unusable.is_none());
    }
}
