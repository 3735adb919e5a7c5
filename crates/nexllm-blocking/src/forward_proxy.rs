//! Plain `http://` requests through an HTTP proxy, sent to it as a forward
//! proxy expects: [`ForwardProxyConnector`] connects to the proxy itself (not
//! through a `CONNECT` tunnel), and [`ForwardProxyTransport`] writes each
//! request in absolute form with the proxy's credentials ([`AbsoluteForm`]).
//!
//! `https://` requests are left to ureq's `ConnectProxyConnector`, which
//! tunnels them with `CONNECT` as before: the connector chain in
//! [`http_agent`](crate::http_agent) puts this connector first, and it only
//! acts for an `http://` URL when the agent has an HTTP proxy.

use std::io;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use http::uri::Scheme;
use ureq::unversioned::transport::{
    Buffers, ConnectionDetails, Connector, NextTimeout, TcpConnector, Transport,
};
use ureq::{Proxy, ProxyProtocol};

use crate::absolute_form::AbsoluteForm;

/// The first link of the connector chain: for an `http://` URL and an HTTP
/// proxy, a TCP connection to the proxy wrapped in a
/// [`ForwardProxyTransport`]; otherwise nothing, and the rest of the chain
/// connects (directly, or through a `CONNECT` tunnel for `https://`).
#[derive(Debug, Default)]
pub(crate) struct ForwardProxyConnector;

impl Connector<()> for ForwardProxyConnector {
    type Out = ForwardProxyTransport;

    fn connect(
        &self,
        details: &ConnectionDetails<'_>,
        _chained: Option<()>,
    ) -> Result<Option<Self::Out>, ureq::Error> {
        let Some(proxy) = details.config.proxy() else {
            return Ok(None);
        };
        let target = details.uri;
        if proxy.protocol() != ProxyProtocol::Http
            || target.scheme() != Some(&Scheme::HTTP)
            || proxy.is_no_proxy(target)
        {
            return Ok(None);
        }
        let Some(origin) = origin(target) else {
            return Err(ureq::Error::BadUri("the URL has no host".to_owned()));
        };
        // The proxy's own host is looked up here, as ureq's CONNECT connector
        // does; the target's is left to the proxy.
        let proxy_addrs = details
            .resolver
            .resolve(proxy.uri(), details.config, details.timeout)?;
        let proxy_details = ConnectionDetails {
            uri: proxy.uri(),
            addrs: proxy_addrs,
            config: details.config,
            request_level: details.request_level,
            resolver: details.resolver,
            now: details.now,
            timeout: details.timeout,
            current_time: details.current_time.clone(),
            run_connector: details.run_connector.clone(),
            register_shutdown: details.register_shutdown.clone(),
        };
        let inner = TcpConnector::default()
            .connect(&proxy_details, None::<()>)?
            .ok_or(ureq::Error::ConnectionFailed)?;
        tracing::debug!(origin, "connected to the forward proxy");
        Ok(Some(ForwardProxyTransport {
            inner: Box::new(inner),
            form: AbsoluteForm::new(origin, proxy_authorization(proxy)),
            rewritten: Vec::new(),
        }))
    }
}

/// A connection to a forward proxy: what ureq writes goes through
/// [`AbsoluteForm`] first; what the proxy answers is read as it is.
#[derive(Debug)]
pub(crate) struct ForwardProxyTransport {
    inner: Box<dyn Transport>,
    form: AbsoluteForm,
    /// The rewritten bytes of one write; kept to reuse its allocation.
    rewritten: Vec<u8>,
}

impl Transport for ForwardProxyTransport {
    // ureq writes into the inner transport's output buffer; `transmit_output`
    // takes the bytes back out and sends the rewritten ones instead.
    fn buffers(&mut self) -> &mut dyn Buffers {
        self.inner.buffers()
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), ureq::Error> {
        self.rewritten.clear();
        let Some(written) = self.inner.buffers().output().get(..amount) else {
            return Err(io_error("ureq wrote past the end of its output buffer"));
        };
        // The error travels inside an I/O error, the one way through ureq;
        // `transport_error` finds it there and makes it a `Request` error,
        // which is not retried.
        self.form
            .rewrite(written, &mut self.rewritten)
            .map_err(|error| ureq::Error::Io(io::Error::new(io::ErrorKind::InvalidInput, error)))?;
        // The rewritten bytes are longer than the ones written: send them in
        // pieces the size of the output buffer.
        let mut unsent = &self.rewritten[..];
        while !unsent.is_empty() {
            let output = self.inner.buffers().output();
            let size = output.len().min(unsent.len());
            let (piece, rest) = unsent.split_at(size);
            match output.get_mut(..size) {
                Some(slot) if size > 0 => slot.copy_from_slice(piece),
                _ => return Err(io_error("the connection has no output buffer")),
            }
            self.inner.transmit_output(size, timeout)?;
            unsent = rest;
        }
        Ok(())
    }

    fn maybe_await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        self.inner.maybe_await_input(timeout)
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        self.inner.await_input(timeout)
    }

    // A connection left in the middle of a request is not taken for another.
    fn is_open(&mut self) -> bool {
        self.form.between_requests() && self.inner.is_open()
    }

    fn is_tls(&self) -> bool {
        false
    }
}

fn io_error(why: &'static str) -> ureq::Error {
    ureq::Error::Io(io::Error::other(why))
}

/// `http://host[:port]` of `target`, without any credentials it carries.
fn origin(target: &http::Uri) -> Option<String> {
    let host = target.host()?;
    Some(match target.port_u16() {
        Some(port) => format!("http://{host}:{port}"),
        None => format!("http://{host}"),
    })
}

/// The `Proxy-Authorization` value for the proxy's credentials, as ureq's
/// `CONNECT` sends it: `Basic base64(user:password)`, from the decoded
/// user name and password of the proxy URL.
fn proxy_authorization(proxy: &Proxy) -> Option<String> {
    if proxy.username().is_none() && proxy.password().is_none() {
        return None;
    }
    let user = proxy.username().unwrap_or_default();
    let password = proxy.password().unwrap_or_default();
    Some(format!(
        "Basic {}",
        STANDARD.encode(format!("{user}:{password}"))
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_come_decoded_from_the_proxy_url() {
        let authorization = |url: &str| proxy_authorization(&Proxy::new(url).unwrap());
        assert_eq!(
            authorization("http://user:secret@proxy:3128").as_deref(),
            Some("Basic dXNlcjpzZWNyZXQ=")
        );
        // `p@ss` percent-encoded in the URL.
        assert_eq!(
            authorization("http://user:p%40ss@proxy:3128").as_deref(),
            Some("Basic dXNlcjpwQHNz")
        );
        assert_eq!(
            authorization("http://user@proxy:3128").as_deref(),
            Some("Basic dXNlcjo=")
        );
        assert_eq!(authorization("http://proxy:3128"), None);
    }

    #[test]
    fn the_origin_has_no_credentials_and_keeps_the_port() {
        let origin_of = |url: &str| origin(&url.parse().unwrap());
        assert_eq!(
            origin_of("http://localhost:8000/v1").as_deref(),
            Some("http://localhost:8000")
        );
        assert_eq!(
            origin_of("http://me:pw@example.com/v1").as_deref(),
            Some("http://example.com")
        );
        assert_eq!(
            origin_of("http://[::1]:11434/v1").as_deref(),
            Some("http://[::1]:11434")
        );
    }
}
