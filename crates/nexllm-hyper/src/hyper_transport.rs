//! [`HyperTransport`]: the default [`Transport`], on hyper-util's pooled client
//! with hyper-rustls (ring provider), proxies and a connect timeout.

use std::error::Error as StdError;
use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::Uri;
use http_body_util::Full;
#[cfg(any(feature = "webpki-roots", feature = "native-roots"))]
use hyper_rustls::ConfigBuilderExt as _;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client as PooledClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use nexllm_proto::proxy_env::forward_proxy_refusal;
use nexllm_proto::{Config, TransportError, TransportErrorKind};
use tower_service::Service;

use crate::proxy::{BoxError, Proxy, ProxyConnector, ProxyFailure};
use crate::transport::{Body, SendError, Transport};
use crate::transport_builder::HyperTransportBuilder;

/// The default idle time of a pooled connection.
pub const DEFAULT_POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(90);

/// The default number of idle connections kept per host.
pub const DEFAULT_POOL_MAX_IDLE_PER_HOST: usize = 32;

/// The longest transport error message kept.
const MAX_MESSAGE_CHARS: usize = 400;

/// The options of the default transport; set through [`ClientBuilder`](crate::ClientBuilder)
/// or [`HyperTransportBuilder`].
#[derive(Debug)]
pub(crate) struct TransportOptions {
    pub(crate) connect_timeout: Duration,
    pub(crate) pool_idle_timeout: Option<Duration>,
    pub(crate) pool_max_idle_per_host: usize,
    pub(crate) http2: bool,
    pub(crate) proxy: Proxy,
    pub(crate) tls: Option<rustls::ClientConfig>,
}

impl TransportOptions {
    pub(crate) fn new(config: &Config) -> Self {
        TransportOptions {
            connect_timeout: config.timeouts.connect,
            pool_idle_timeout: Some(DEFAULT_POOL_IDLE_TIMEOUT),
            pool_max_idle_per_host: DEFAULT_POOL_MAX_IDLE_PER_HOST,
            http2: cfg!(feature = "http2"),
            proxy: Proxy::from_env(),
            tls: None,
        }
    }
}

type Connector = ConnectTimeout<HttpsConnector<ProxyConnector>>;

/// The default transport: hyper-util's pooled client over hyper-rustls.
///
/// HTTPS with verified certificates (the Mozilla roots of `webpki-roots` by
/// default, the system's with the `native-roots` feature), HTTP/1.1 and
/// HTTP/2 by ALPN, plain HTTP when the base URL says `http://`, proxies, and
/// the connect timeout of the [`Config`] (covering TCP, proxy tunnel and TLS).
/// Clones share the connection pool.
///
/// Every status is a response, but one: a `407 Proxy Authentication
/// Required` answer to a plain `http://` request sent to a forward proxy is
/// the proxy's refusal, and fails the send with the error a 407 to a
/// tunnel's `CONNECT` gives
/// ([`forward_proxy_refusal`](nexllm_proto::proxy_env::forward_proxy_refusal)).
///
/// [`Client::new`](crate::Client::new) makes one; build one yourself to wrap it
/// in a transport of your own.
#[derive(Clone)]
pub struct HyperTransport {
    client: PooledClient<Connector, Full<Bytes>>,
    proxy: Proxy,
    tls_unavailable: Option<TransportError>,
}

impl HyperTransport {
    /// A transport with the default options and the connect timeout of `config`.
    pub fn new(config: &Config) -> Self {
        HyperTransport::with_options(TransportOptions::new(config))
    }

    /// A transport with options of your choosing (pool, HTTP/2, proxy, TLS)
    /// and the connect timeout of `config`.
    pub fn builder(config: &Config) -> HyperTransportBuilder {
        HyperTransportBuilder::new(config)
    }

    pub(crate) fn with_options(options: TransportOptions) -> Self {
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_keepalive(Some(Duration::from_secs(60)));
        let proxy = ProxyConnector::new(http, &options.proxy);

        let (tls, tls_unavailable) = match options.tls {
            Some(mut tls) => {
                tls.alpn_protocols.clear();
                (tls, None)
            }
            None => match default_tls_config() {
                Ok(tls) => (tls, None),
                Err(error) => (empty_roots_tls_config(), Some(error)),
            },
        };
        let builder = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1();
        #[cfg(feature = "http2")]
        let https = if options.http2 {
            builder.enable_http2().wrap_connector(proxy)
        } else {
            builder.wrap_connector(proxy)
        };
        #[cfg(not(feature = "http2"))]
        let https = builder.wrap_connector(proxy);

        let connector = ConnectTimeout {
            inner: https,
            timeout: options.connect_timeout,
        };
        let mut pool = PooledClient::builder(TokioExecutor::new());
        pool.pool_timer(TokioTimer::new())
            .timer(TokioTimer::new())
            .pool_idle_timeout(options.pool_idle_timeout)
            .pool_max_idle_per_host(options.pool_max_idle_per_host);
        HyperTransport {
            client: pool.build(connector),
            proxy: options.proxy.clone(),
            tls_unavailable,
        }
    }

    /// Why HTTPS cannot work, when the TLS roots could not be loaded.
    pub(crate) fn tls_unavailable(&self) -> Option<&TransportError> {
        self.tls_unavailable.as_ref()
    }

    /// Why no request to the base URL of `config` can be made: the proxy
    /// chosen for it cannot be used, or it is HTTPS and the TLS roots could
    /// not be loaded. Such a call fails before any I/O, and retrying it
    /// cannot help.
    pub(crate) fn unusable_for(&self, config: &Config) -> Option<TransportError> {
        // An invalid base URL fails every call before any I/O anyway.
        let dst = config.endpoint("").ok()?;
        self.unusable_for_endpoint(&dst)
    }

    /// [`unusable_for`](Self::unusable_for) the endpoint of a base URL.
    pub(crate) fn unusable_for_endpoint(&self, dst: &Uri) -> Option<TransportError> {
        if let Some(error) = self.proxy.unusable_for(dst) {
            return Some(error);
        }
        if dst.scheme_str() == Some("https") {
            return self.tls_unavailable.clone();
        }
        None
    }
}

impl fmt::Debug for HyperTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HyperTransport")
            .field("proxy", &self.proxy)
            .field("tls_available", &self.tls_unavailable.is_none())
            .finish_non_exhaustive()
    }
}

#[async_trait::async_trait]
impl Transport for HyperTransport {
    async fn send(&self, request: http::Request<Bytes>) -> Result<http::Response<Body>, SendError> {
        let (mut parts, body) = request.into_parts();
        // When the request goes to a forward proxy: whether with credentials.
        let mut forward_proxy_credentials = None;
        match parts.uri.scheme_str() {
            Some("https") => {
                if let Some(error) = &self.tls_unavailable {
                    return Err(SendError::Transport(error.clone()));
                }
            }
            Some("http") => {
                if let Some(intercept) = self.proxy.intercept(&parts.uri) {
                    // A forward proxy sees the request itself: give it the
                    // proxy's credentials, in place of any the caller set.
                    let auth = intercept.basic_auth().cloned();
                    forward_proxy_credentials = Some(auth.is_some());
                    if let Some(auth) = auth {
                        parts
                            .headers
                            .insert(http::header::PROXY_AUTHORIZATION, auth);
                    }
                }
            }
            _ => {}
        }
        let request = http::Request::from_parts(parts, Full::new(body));
        let response = self
            .client
            .request(request)
            .await
            .map_err(|e| classify_send_error(&e))?;
        if let Some(error) = forward_proxy_credentials
            .and_then(|credentials| forward_proxy_refusal(response.status(), credentials))
        {
            // Dropping the response closes the connection.
            return Err(SendError::Transport(error));
        }
        Ok(response.map(Body::hyper))
    }
}

/// The rustls configuration: the ring provider, safe protocol versions and the
/// roots the features choose.
fn default_tls_config() -> Result<rustls::ClientConfig, TransportError> {
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| TransportError::new(TransportErrorKind::Tls, e.to_string()))?;
    Ok(with_roots(builder)?.with_no_client_auth())
}

type VerifierBuilder = rustls::ConfigBuilder<rustls::ClientConfig, rustls::WantsVerifier>;
type ClientCertBuilder =
    rustls::ConfigBuilder<rustls::ClientConfig, rustls::client::WantsClientCert>;

#[cfg(feature = "native-roots")]
fn with_roots(builder: VerifierBuilder) -> Result<ClientCertBuilder, TransportError> {
    match builder.clone().with_native_roots() {
        Ok(builder) => Ok(builder),
        #[cfg(feature = "webpki-roots")]
        Err(error) => {
            tracing::debug!(%error, "no usable system root certificates; using the webpki roots");
            Ok(builder.with_webpki_roots())
        }
        #[cfg(not(feature = "webpki-roots"))]
        Err(error) => Err(TransportError::new(
            TransportErrorKind::Tls,
            format!("could not load the system's root certificates: {error}"),
        )),
    }
}

#[cfg(all(feature = "webpki-roots", not(feature = "native-roots")))]
fn with_roots(builder: VerifierBuilder) -> Result<ClientCertBuilder, TransportError> {
    Ok(builder.with_webpki_roots())
}

#[cfg(not(any(feature = "webpki-roots", feature = "native-roots")))]
fn with_roots(_builder: VerifierBuilder) -> Result<ClientCertBuilder, TransportError> {
    Err(TransportError::new(
        TransportErrorKind::Tls,
        "no root certificates: enable the `webpki-roots` or `native-roots` feature, \
         or pass ClientBuilder::tls_config",
    ))
}

/// A configuration that trusts nothing, for a transport whose roots failed to
/// load (it refuses HTTPS before connecting anyway).
fn empty_roots_tls_config() -> rustls::ClientConfig {
    rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map(|b| {
            b.with_root_certificates(rustls::RootCertStore::empty())
                .with_no_client_auth()
        })
        .unwrap_or_else(|_| {
            rustls::ClientConfig::builder_with_provider(Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map(|b| {
                b.with_root_certificates(rustls::RootCertStore::empty())
                    .with_no_client_auth()
            })
            .unwrap_or_else(|_| {
                rustls::ClientConfig::builder()
                    .with_root_certificates(rustls::RootCertStore::empty())
                    .with_no_client_auth()
            })
        })
}

/// The connector's deadline passed.
#[derive(Debug)]
struct ConnectTimedOut;

impl fmt::Display for ConnectTimedOut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("connect timed out")
    }
}

impl StdError for ConnectTimedOut {}

/// Applies the connect timeout to the whole connection setup: TCP, proxy tunnel and TLS.
#[derive(Clone)]
struct ConnectTimeout<C> {
    inner: C,
    timeout: Duration,
}

impl<C> Service<Uri> for ConnectTimeout<C>
where
    C: Service<Uri>,
    C::Future: Send + 'static,
    C::Response: Send + 'static,
    C::Error: Into<BoxError>,
{
    type Response = C::Response;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<C::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, dst: Uri) -> Self::Future {
        let connecting = self.inner.call(dst);
        let timeout = self.timeout;
        Box::pin(async move {
            match tokio::time::timeout(timeout, connecting).await {
                Ok(result) => result.map_err(Into::into),
                Err(_elapsed) => Err(Box::new(ConnectTimedOut) as BoxError),
            }
        })
    }
}

/// Turns a pooled client's error into what the exchange needs to know.
fn classify_send_error(error: &hyper_util::client::legacy::Error) -> SendError {
    let mut kind = None;
    let mut source: Option<&(dyn StdError + 'static)> = Some(error);
    while let Some(cause) = source {
        if cause.is::<ConnectTimedOut>() {
            return SendError::ConnectTimeout;
        }
        // The connector's own verdict (a proxy refusing its credentials), as it is.
        if let Some(error) = cause.downcast_ref::<TransportError>() {
            return SendError::Transport(error.clone());
        }
        // A proxy failure says all there is to say, with its causes.
        if let Some(failure) = cause.downcast_ref::<ProxyFailure>() {
            return SendError::Transport(TransportError::new(
                TransportErrorKind::Proxy,
                bounded(failure.0.clone()),
            ));
        }
        kind = kind.or_else(|| kind_of(cause));
        source = cause.source();
    }
    let kind = kind.unwrap_or(if error.is_connect() {
        TransportErrorKind::Connect
    } else {
        TransportErrorKind::Io
    });
    SendError::Transport(TransportError::new(kind, describe(error)))
}

/// Turns an error while reading a body into a transport error.
pub(crate) fn classify_body_error(error: &hyper::Error) -> TransportError {
    let mut kind = None;
    let mut source: Option<&(dyn StdError + 'static)> = Some(error);
    while let Some(cause) = source {
        kind = kind.or_else(|| kind_of(cause));
        source = cause.source();
    }
    TransportError::new(kind.unwrap_or(TransportErrorKind::Io), describe(error))
}

/// The kind one error of a cause chain reveals, if any.
fn kind_of(cause: &(dyn StdError + 'static)) -> Option<TransportErrorKind> {
    if cause.is::<ProxyFailure>() {
        return Some(TransportErrorKind::Proxy);
    }
    if cause.is::<rustls::Error>() {
        return Some(TransportErrorKind::Tls);
    }
    if let Some(io_error) = cause.downcast_ref::<io::Error>() {
        // An I/O error may wrap another (tokio-rustls wraps rustls's errors, and
        // the connector wraps those again); its `source` skips the wrapped one.
        if let Some(kind) = io_error
            .get_ref()
            .and_then(|inner| kind_of(inner as &(dyn StdError + 'static)))
        {
            return Some(kind);
        }
        return Some(match io_error.kind() {
            io::ErrorKind::ConnectionRefused
            | io::ErrorKind::AddrNotAvailable
            | io::ErrorKind::TimedOut => TransportErrorKind::Connect,
            io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe
            | io::ErrorKind::UnexpectedEof => TransportErrorKind::Reset,
            _ => TransportErrorKind::Io,
        });
    }
    if let Some(hyper_error) = cause.downcast_ref::<hyper::Error>() {
        if hyper_error.is_incomplete_message() || hyper_error.is_canceled() {
            return Some(TransportErrorKind::Reset);
        }
    }
    // hyper-util's connector names DNS failures this way (its error type is private).
    if cause.to_string() == "dns error" {
        return Some(TransportErrorKind::Dns);
    }
    None
}

/// The error and its causes on one line, cut to a readable length. None of
/// hyper's, rustls's or the OS's messages include request headers, so the
/// key never appears here.
fn describe(error: &(dyn StdError + 'static)) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !message.ends_with(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = cause.source();
    }
    bounded(message)
}

/// `message`, cut to a readable length.
fn bounded(mut message: String) -> String {
    if message.chars().count() > MAX_MESSAGE_CHARS {
        message = message.chars().take(MAX_MESSAGE_CHARS).collect();
        message.push('…');
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_errors_map_to_kinds() {
        let table = [
            (
                io::ErrorKind::ConnectionRefused,
                TransportErrorKind::Connect,
            ),
            (io::ErrorKind::ConnectionReset, TransportErrorKind::Reset),
            (io::ErrorKind::UnexpectedEof, TransportErrorKind::Reset),
            (io::ErrorKind::Other, TransportErrorKind::Io),
        ];
        for (io_kind, want) in table {
            let error = io::Error::new(io_kind, "x");
            assert_eq!(kind_of(&error), Some(want), "{io_kind:?}");
        }
        let tls = io::Error::new(
            io::ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer),
        );
        assert_eq!(kind_of(&tls), Some(TransportErrorKind::Tls));
        let wrapped_twice = io::Error::other(tls);
        assert_eq!(kind_of(&wrapped_twice), Some(TransportErrorKind::Tls));
        assert_eq!(
            kind_of(&ProxyFailure("refused".into())),
            Some(TransportErrorKind::Proxy)
        );
    }

    #[test]
    fn descriptions_are_bounded() {
        let long = io::Error::other("x".repeat(5000));
        assert!(describe(&long).chars().count() <= MAX_MESSAGE_CHARS + 1);
    }

    #[test]
    fn the_default_tls_config_loads_roots() {
        let config = default_tls_config();
        assert!(config.is_ok(), "{config:?}");
    }
}
