//! [`Client`] and [`ClientBuilder`]: the configuration, the transport and its pool options.

use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::BuildHasher;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use nexllm_proto::{Config, Error, TransportError};

use crate::chat::Chat;
use crate::hyper_transport::{HyperTransport, TransportOptions};
use crate::models::Models;
use crate::proxy::Proxy;
use crate::transport::Transport;

/// An async client for the Chat Completions API.
///
/// Cheap to clone: clones share one configuration, one transport and so one
/// connection pool. Needs a tokio runtime with timers enabled, and I/O too
/// for the default transport (`enable_all()`; `#[tokio::main]` has both):
/// without I/O, tokio panics when the first connection is opened.
///
/// ```no_run
/// # async fn demo() -> Result<(), nexllm_hyper::Error> {
/// use nexllm_hyper::{ChatCompletionRequest, Client, Config, Message};
///
/// let client = Client::new(Config::new("sk-...").base_url("http://127.0.0.1:4000/v1"));
/// let request = ChatCompletionRequest::new("gpt-4o", vec![Message::user("Hello!")]);
/// let completion = client.chat().create(&request).await?;
/// println!("{}", completion.content().unwrap_or_default());
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Client {
    inner: Arc<ClientInner>,
}

pub(crate) struct ClientInner {
    pub(crate) config: Config,
    pub(crate) transport: Arc<dyn Transport>,
    /// Why no call can be made (the default transport's proxy for the base
    /// URL cannot be used, or its TLS roots are missing); every call then
    /// fails with it before any I/O, without retries.
    unusable: Option<TransportError>,
    seeds: SeedSource,
}

impl ClientInner {
    pub(crate) fn next_seed(&self) -> u64 {
        self.seeds.next()
    }

    /// The error every call fails with before any I/O, if the client cannot make calls.
    pub(crate) fn unusable(&self) -> Option<&TransportError> {
        self.unusable.as_ref()
    }
}

impl Client {
    /// A client with this configuration and the default hyper transport
    /// (proxies from the environment, the default pool, HTTP/2 by ALPN when
    /// the `http2` feature is on).
    ///
    /// Never fails: should the TLS roots be unavailable (only possible with
    /// the `native-roots` feature alone), HTTPS calls fail with a TLS
    /// [`Error::Transport`] saying so, and should the environment name a
    /// proxy for the base URL that cannot be used (not `http://`), calls fail
    /// with a proxy [`Error::Transport`]; either before any I/O, without
    /// retries. Use [`Client::builder`] to get these failures up front instead.
    pub fn new(config: Config) -> Client {
        let options = TransportOptions::new(&config);
        Client::with_options(config, options)
    }

    /// A client on the default transport with these options.
    fn with_options(config: Config, options: TransportOptions) -> Client {
        let transport = HyperTransport::with_options(options);
        let unusable = transport.unusable_for(&config);
        Client::from_parts(config, Arc::new(transport), unusable)
    }

    /// A client configured from `NEXLLM_API_KEY` and `NEXLLM_BASE_URL` (see
    /// [`Config::from_env`]); fails when the key is not set.
    pub fn from_env() -> Result<Client, Error> {
        Ok(Client::new(Config::from_env()?))
    }

    /// A builder for the transport options (pool, HTTP/2, proxy, TLS) or a custom transport.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    fn from_parts(
        config: Config,
        transport: Arc<dyn Transport>,
        unusable: Option<TransportError>,
    ) -> Client {
        Client {
            inner: Arc::new(ClientInner {
                config,
                transport,
                unusable,
                seeds: SeedSource::new(),
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

    /// The transport calls go through.
    pub fn transport(&self) -> &Arc<dyn Transport> {
        &self.inner.transport
    }
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("config", &self.inner.config)
            .field("transport", &self.inner.transport)
            .finish()
    }
}

/// Builds a [`Client`]: its [`Config`], and either the options of the default
/// hyper transport or a transport of your own.
///
/// ```no_run
/// use std::time::Duration;
/// use nexllm_hyper::{Client, Config, Proxy};
///
/// let client = Client::builder()
///     .config(Config::new("sk-..."))
///     .pool_idle_timeout(Some(Duration::from_secs(30)))
///     .pool_max_idle_per_host(8)
///     .http2(true)
///     .proxy(Proxy::none())
///     .build()?;
/// # Ok::<(), nexllm_hyper::Error>(())
/// ```
#[derive(Default)]
pub struct ClientBuilder {
    config: Option<Config>,
    transport: Option<Arc<dyn Transport>>,
    pool_idle_timeout: Option<Option<Duration>>,
    pool_max_idle_per_host: Option<usize>,
    http2: Option<bool>,
    proxy: Option<Proxy>,
    tls: Option<rustls::ClientConfig>,
}

impl ClientBuilder {
    /// The configuration (key, base URL, retries, timeouts). Without one,
    /// [`build`](Self::build) reads it with [`Config::from_env`].
    #[must_use]
    pub fn config(mut self, config: Config) -> Self {
        self.config = Some(config);
        self
    }

    /// Sends every request through this transport instead of the default
    /// hyper one. The pool, HTTP/2, proxy and TLS options are options of the
    /// default transport: [`build`](Self::build) refuses them alongside a
    /// transport of your own (configure that transport instead; a
    /// [`HyperTransport`] you wrap takes them from [`HyperTransport::builder`]).
    #[must_use]
    pub fn transport(mut self, transport: Arc<dyn Transport>) -> Self {
        self.transport = Some(transport);
        self
    }

    /// How long an idle pooled connection is kept (default 90 s; `None` keeps it until the server closes it).
    #[must_use]
    pub fn pool_idle_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.pool_idle_timeout = Some(timeout);
        self
    }

    /// How many idle connections are kept per host (default 32; 0 disables reuse).
    #[must_use]
    pub fn pool_max_idle_per_host(mut self, max: usize) -> Self {
        self.pool_max_idle_per_host = Some(max);
        self
    }

    /// Whether to offer HTTP/2 by ALPN on HTTPS connections (default on when
    /// the `http2` feature is enabled; without the feature only HTTP/1.1 is spoken).
    /// Plain `http://` connections always use HTTP/1.1.
    #[must_use]
    pub fn http2(mut self, enabled: bool) -> Self {
        self.http2 = Some(enabled);
        self
    }

    /// Which proxy to use (default: [`Proxy::from_env`]).
    #[must_use]
    pub fn proxy(mut self, proxy: Proxy) -> Self {
        self.proxy = Some(proxy);
        self
    }

    /// Uses this rustls configuration for HTTPS (your own roots, client
    /// certificates). Its ALPN protocols are replaced according to
    /// [`http2`](Self::http2).
    #[must_use]
    pub fn tls_config(mut self, tls: rustls::ClientConfig) -> Self {
        self.tls = Some(tls);
        self
    }

    /// Builds the client. Fails when no configuration was given and the
    /// environment has none, when the TLS roots cannot be loaded, when the
    /// proxy chosen for the base URL cannot be used (a proxy
    /// [`Error::Transport`]), or when an option of the default transport
    /// (pool, HTTP/2, proxy, TLS) was set together with
    /// [`transport`](Self::transport) (an [`Error::InvalidRequest`] naming
    /// the option).
    pub fn build(self) -> Result<Client, Error> {
        if self.transport.is_some() {
            if let Some(option) = self.default_transport_option() {
                return Err(Error::invalid_request(
                    option,
                    "is an option of the default transport; it does not apply to a \
                     transport given with `ClientBuilder::transport`, which is used as it is \
                     (set it on `HyperTransport::builder` for a HyperTransport you wrap)",
                ));
            }
        }
        let config = match self.config {
            Some(config) => config,
            None => Config::from_env()?,
        };
        let transport: Arc<dyn Transport> = match self.transport {
            Some(transport) => transport,
            None => {
                let mut builder = HyperTransport::builder(&config);
                if let Some(timeout) = self.pool_idle_timeout {
                    builder = builder.pool_idle_timeout(timeout);
                }
                if let Some(max) = self.pool_max_idle_per_host {
                    builder = builder.pool_max_idle_per_host(max);
                }
                if let Some(http2) = self.http2 {
                    builder = builder.http2(http2);
                }
                if let Some(proxy) = self.proxy {
                    builder = builder.proxy(proxy);
                }
                if let Some(tls) = self.tls {
                    builder = builder.tls_config(tls);
                }
                Arc::new(builder.build()?)
            }
        };
        Ok(Client::from_parts(config, transport, None))
    }
}

impl ClientBuilder {
    /// The first option of the default transport that was set, by name.
    fn default_transport_option(&self) -> Option<&'static str> {
        [
            ("pool_idle_timeout", self.pool_idle_timeout.is_some()),
            (
                "pool_max_idle_per_host",
                self.pool_max_idle_per_host.is_some(),
            ),
            ("http2", self.http2.is_some()),
            ("proxy", self.proxy.is_some()),
            ("tls_config", self.tls.is_some()),
        ]
        .into_iter()
        .find_map(|(name, set)| set.then_some(name))
    }
}

impl fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("config", &self.config)
            .field("transport", &self.transport)
            .field("pool_idle_timeout", &self.pool_idle_timeout)
            .field("pool_max_idle_per_host", &self.pool_max_idle_per_host)
            .field("http2", &self.http2)
            .field("proxy", &self.proxy)
            .field("tls", &self.tls.as_ref().map(|_| "custom"))
            .finish()
    }
}

/// Seeds for the exchanges' jitter and idempotency keys: a per-client random
/// hasher over a counter, so no two calls share a seed and no RNG crate is needed.
struct SeedSource {
    hasher: RandomState,
    counter: AtomicU64,
}

impl SeedSource {
    fn new() -> Self {
        SeedSource {
            hasher: RandomState::new(),
            counter: AtomicU64::new(0),
        }
    }

    fn next(&self) -> u64 {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        self.hasher.hash_one(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_differ_between_calls_and_clients() {
        let a = SeedSource::new();
        let b = SeedSource::new();
        let from_a: Vec<u64> = (0..4).map(|_| a.next()).collect();
        let from_b: Vec<u64> = (0..4).map(|_| b.next()).collect();
        let mut all = from_a.clone();
        all.extend(&from_b);
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), 8, "{from_a:?} {from_b:?}");
    }

    /// The proxies of an environment whose `HTTPS_PROXY` cannot be used.
    fn socks_for_https() -> Proxy {
        Proxy::from_vars(
            |name| (name == "HTTPS_PROXY").then(|| "socks5://user:secret@p:1080".to_owned()),
            "test",
        )
    }

    #[test]
    fn the_builder_refuses_a_proxy_it_cannot_use_for_the_base_url() {
        let build = |base_url: &str| {
            Client::builder()
                .config(Config::new("k").base_url(base_url))
                .proxy(socks_for_https())
                .build()
        };
        match build("https://api.example.com/v1") {
            Err(Error::Transport(e)) => {
                assert_eq!(e.kind, nexllm_proto::TransportErrorKind::Proxy, "{e:?}");
                assert!(!e.message.contains("secret"), "{e:?}");
            }
            other => panic!("{other:?}"),
        }
        // HTTPS_PROXY says nothing about http:// URLs.
        assert!(build("http://127.0.0.1:4000/v1").is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn calls_through_a_proxy_that_cannot_be_used_fail_at_once() {
        let config = Config::new("k").base_url("https://api.example.com/v1");
        let mut options = TransportOptions::new(&config);
        options.proxy = socks_for_https();
        let client = Client::with_options(config, options);
        let request =
            nexllm_proto::ChatCompletionRequest::new("m", vec![nexllm_proto::Message::user("hi")]);
        let started = tokio::time::Instant::now();
        let results = [
            client.chat().create(&request).await.map(drop),
            client.chat().create_stream(&request).await.map(drop),
            client.models().list().await.map(drop),
        ];
        for result in results {
            match result {
                Err(Error::Transport(e)) => {
                    assert_eq!(e.kind, nexllm_proto::TransportErrorKind::Proxy, "{e:?}");
                    assert_eq!(e.attempts, 0, "nothing can be sent: {e:?}");
                }
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(started.elapsed(), Duration::ZERO, "no backoff was waited");
        // An invalid request is still refused as such first.
        let invalid = nexllm_proto::ChatCompletionRequest::new("m", vec![]);
        assert!(matches!(
            client.chat().create(&invalid).await,
            Err(Error::InvalidRequest(_))
        ));
    }

    #[test]
    fn debug_never_shows_the_key() {
        let client = Client::new(Config::new("sk-secret-debug-1234"));
        let shown = format!("{client:?}");
        assert!(!shown.contains("sk-secret-debug-1234"), "{shown}");
    }
}
