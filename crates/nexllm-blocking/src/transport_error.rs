//! What went wrong in ureq, in the core's terms: a timeout of ours or ureq's,
//! or a [`TransportError`] of some [`TransportErrorKind`]. A request the
//! forward proxy connection cannot frame is of kind
//! [`Request`](TransportErrorKind::Request), which is not retried.

use std::io;

use http::StatusCode;
use nexllm_proto::proxy_env::proxy_credentials_refused;
use nexllm_proto::{TransportError, TransportErrorKind};
use ureq::Timeout;

use crate::absolute_form::AbsoluteFormError;
use crate::proxy::ViaProxy;

/// A ureq failure, sorted for the exchange.
#[derive(Debug)]
pub(crate) enum Failure {
    /// ureq's connect timeout (`Config::timeouts.connect`) passed, while
    /// connecting or looking the host up.
    ConnectTimeout,
    /// A deadline passed: the thread's I/O deadline or the total deadline
    /// given to ureq. The exchange decides which of its deadlines it was.
    Deadline,
    /// The connection failed.
    Transport(TransportError),
}

impl Failure {
    /// Sorts a ureq error. `secret` (the API key) is cut out of the message,
    /// should any layer ever echo it. `via_proxy` is the proxy the call goes
    /// through, if any.
    pub(crate) fn from_ureq(
        error: ureq::Error,
        secret: Option<&str>,
        via_proxy: Option<ViaProxy>,
    ) -> Failure {
        match error {
            ureq::Error::Timeout(Timeout::Connect | Timeout::Resolve) => Failure::ConnectTimeout,
            ureq::Error::Timeout(_) => Failure::Deadline,
            ureq::Error::Io(e) if e.kind() == io::ErrorKind::TimedOut => Failure::Deadline,
            ureq::Error::ConnectProxyFailed(reason) => {
                let message = redact(&format!("CONNECT proxy failed: {reason}"), secret);
                Failure::Transport(match connect_refusal_status(&reason) {
                    Some(StatusCode::PROXY_AUTHENTICATION_REQUIRED) => {
                        proxy_credentials_refused(via_proxy.is_some_and(|via| via.credentials))
                    }
                    Some(status) => TransportError::proxy_refused(status, message),
                    None => TransportError::new(TransportErrorKind::Proxy, message),
                })
            }
            other => {
                let kind = kind_of(&other);
                let message = redact(&describe(&other), secret);
                match kind {
                    // With a proxy, the only host looked up and connected to is the proxy's.
                    TransportErrorKind::Dns | TransportErrorKind::Connect
                        if via_proxy.is_some() =>
                    {
                        Failure::Transport(TransportError::new(
                            TransportErrorKind::Proxy,
                            format!("could not connect to the proxy: {message}"),
                        ))
                    }
                    _ => Failure::Transport(TransportError::new(kind, message)),
                }
            }
        }
    }

    /// Sorts an error from reading a response body: ureq hands its own errors
    /// through `std::io::Error`, so they are unwrapped first.
    pub(crate) fn from_body_read(
        error: io::Error,
        secret: Option<&str>,
        via_proxy: Option<ViaProxy>,
    ) -> Failure {
        Failure::from_ureq(ureq::Error::from(error), secret, via_proxy)
    }
}

/// The error for a response head that is a forward proxy's refusal: `407
/// Proxy Authentication Required` to a plain `http://` request sent through
/// the proxy (`via_proxy`), which an origin server never sends. It is the
/// error a 407 to a tunnel's `CONNECT` gives, never retried. `None` for
/// every other answer: another status, a call that went direct, or an
/// `https://` one (its answers come through the tunnel from the server).
pub(crate) fn forward_proxy_refusal(
    status: StatusCode,
    uri: &http::Uri,
    via_proxy: Option<ViaProxy>,
) -> Option<TransportError> {
    let via = via_proxy?;
    if uri.scheme() != Some(&http::uri::Scheme::HTTP) {
        return None;
    }
    nexllm_proto::proxy_env::forward_proxy_refusal(status, via.credentials)
}

/// The status of a proxy's answer to `CONNECT`, from ureq's description of
/// the refusal (`proxy server responded 407/Proxy Authentication Required`).
fn connect_refusal_status(reason: &str) -> Option<StatusCode> {
    let code = reason.strip_prefix("proxy server responded ")?.get(..3)?;
    StatusCode::from_u16(code.parse().ok()?).ok()
}

fn kind_of(error: &ureq::Error) -> TransportErrorKind {
    match error {
        ureq::Error::HostNotFound => TransportErrorKind::Dns,
        ureq::Error::ConnectionFailed => TransportErrorKind::Connect,
        ureq::Error::Io(e) if wraps_absolute_form_error(e) => TransportErrorKind::Request,
        ureq::Error::Io(e) if wraps_tls_error(e) => TransportErrorKind::Tls,
        ureq::Error::Io(e) => match e.kind() {
            io::ErrorKind::ConnectionRefused
            | io::ErrorKind::HostUnreachable
            | io::ErrorKind::NetworkUnreachable
            | io::ErrorKind::NetworkDown
            | io::ErrorKind::AddrNotAvailable
            | io::ErrorKind::AddrInUse => TransportErrorKind::Connect,
            io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::UnexpectedEof
            | io::ErrorKind::BrokenPipe
            | io::ErrorKind::NotConnected => TransportErrorKind::Reset,
            _ => TransportErrorKind::Io,
        },
        ureq::Error::Tls(_) | ureq::Error::Rustls(_) | ureq::Error::Pem(_) => {
            TransportErrorKind::Tls
        }
        ureq::Error::TlsRequired | ureq::Error::RequireHttpsOnly(_) => TransportErrorKind::Tls,
        ureq::Error::ConnectProxyFailed(_) | ureq::Error::InvalidProxyUrl => {
            TransportErrorKind::Proxy
        }
        _ => TransportErrorKind::Io,
    }
}

/// Whether an I/O error carries an [`AbsoluteFormError`]: a request the
/// forward proxy connection could not frame, which the same request would
/// meet again (the `forward_proxy` module hands it to ureq this way).
fn wraps_absolute_form_error(error: &io::Error) -> bool {
    error
        .get_ref()
        .is_some_and(|inner| inner.is::<AbsoluteFormError>())
}

/// Whether an I/O error carries a TLS failure: rustls reports a failed
/// handshake or a bad record through `std::io::Error`, as its stream adapters do.
fn wraps_tls_error(error: &io::Error) -> bool {
    match error.get_ref() {
        Some(inner) if inner.is::<rustls::Error>() => true,
        Some(inner) => match inner.downcast_ref::<ureq::Error>() {
            Some(ureq::Error::Rustls(_) | ureq::Error::Tls(_)) => true,
            Some(ureq::Error::Io(nested)) => wraps_tls_error(nested),
            _ => false,
        },
        None => false,
    }
}

fn describe(error: &ureq::Error) -> String {
    match error {
        ureq::Error::Io(e) => e.to_string(),
        ureq::Error::Rustls(e) => e.to_string(),
        ureq::Error::HostNotFound => "the host name did not resolve".to_owned(),
        ureq::Error::ConnectionFailed => "no connection could be made".to_owned(),
        other => other.to_string(),
    }
}

/// `message` with every occurrence of the API key replaced. A key shorter
/// than [`MIN_REDACTED_LEN`] is no secret (a local gateway's `x` or `test`),
/// and replacing it would garble ordinary words of the message.
fn redact(message: &str, secret: Option<&str>) -> String {
    match secret {
        Some(secret) if secret.len() >= MIN_REDACTED_LEN && message.contains(secret) => {
            message.replace(secret, "<redacted>")
        }
        _ => message.to_owned(),
    }
}

/// The shortest key worth hiding: real API keys are far longer.
const MIN_REDACTED_LEN: usize = 8;

#[cfg(test)]
mod tests {
    use super::*;

    fn transport(error: ureq::Error) -> TransportError {
        match Failure::from_ureq(error, Some("sk-secret"), None) {
            Failure::Transport(e) => e,
            other => panic!("not a transport error: {other:?}"),
        }
    }

    #[test]
    fn only_keys_long_enough_to_be_secrets_are_redacted() {
        let message = "Connection refused (os error 111) for sk-secret-key";
        assert_eq!(
            redact(message, Some("sk-secret-key")),
            "Connection refused (os error 111) for <redacted>"
        );
        for short in ["o", "k", "test", "1234567"] {
            assert_eq!(redact(message, Some(short)), message, "{short}");
        }
        assert_eq!(redact(message, None), message);
    }

    #[test]
    fn sorts_timeouts() {
        for reason in [Timeout::Connect, Timeout::Resolve] {
            assert!(matches!(
                Failure::from_ureq(ureq::Error::Timeout(reason), None, None),
                Failure::ConnectTimeout
            ));
        }
        for reason in [Timeout::PerRead, Timeout::PerWrite, Timeout::Global] {
            assert!(matches!(
                Failure::from_ureq(ureq::Error::Timeout(reason), None, None),
                Failure::Deadline
            ));
        }
        let wrapped = ureq::Error::Timeout(Timeout::PerRead).into_io();
        assert!(matches!(
            Failure::from_body_read(wrapped, None, None),
            Failure::Deadline
        ));
    }

    #[test]
    fn sorts_connection_failures() {
        let table = [
            (ureq::Error::HostNotFound, TransportErrorKind::Dns),
            (
                ureq::Error::Io(io::ErrorKind::ConnectionRefused.into()),
                TransportErrorKind::Connect,
            ),
            (
                ureq::Error::Io(io::ErrorKind::UnexpectedEof.into()),
                TransportErrorKind::Reset,
            ),
            (
                ureq::Error::Io(io::ErrorKind::ConnectionReset.into()),
                TransportErrorKind::Reset,
            ),
            (ureq::Error::Tls("bad certificate"), TransportErrorKind::Tls),
            (
                ureq::Error::ConnectProxyFailed("403".into()),
                TransportErrorKind::Proxy,
            ),
            (ureq::Error::BodyStalled, TransportErrorKind::Io),
            (
                ureq::Error::Io(io::Error::new(
                    io::ErrorKind::InvalidData,
                    rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer),
                )),
                TransportErrorKind::Tls,
            ),
            (
                ureq::Error::Io(io::Error::other(ureq::Error::Tls("handshake failed"))),
                TransportErrorKind::Tls,
            ),
            (
                ureq::Error::Io(io::Error::new(io::ErrorKind::InvalidData, "garbage")),
                TransportErrorKind::Io,
            ),
        ];
        for (error, kind) in table {
            let shown = error.to_string();
            assert_eq!(transport(error).kind, kind, "{shown}");
        }
    }

    #[test]
    fn a_request_that_cannot_be_framed_is_not_retried() {
        let mut form = crate::absolute_form::AbsoluteForm::new("http://h".to_owned(), None);
        let framing = form
            .rewrite(b"GET x HTTP/1.1\r\n", &mut Vec::new())
            .unwrap_err();
        // As the forward proxy transport hands it to ureq.
        let error = ureq::Error::Io(io::Error::new(io::ErrorKind::InvalidInput, framing));
        let e = transport(error);
        assert_eq!(e.kind, TransportErrorKind::Request, "{e:?}");
        assert!(e.message.contains("absolute form"), "{e}");
        assert!(!nexllm_proto::exchange::transport_error_is_retryable(&e));
        // Another invalid-input I/O error stays an I/O error, retried.
        let other = ureq::Error::Io(io::Error::new(io::ErrorKind::InvalidInput, "odd"));
        assert_eq!(transport(other).kind, TransportErrorKind::Io);
    }

    #[test]
    fn a_proxy_refusal_keeps_its_status() {
        let refused = |reason: &str, credentials: bool| {
            let error = ureq::Error::ConnectProxyFailed(reason.to_owned());
            match Failure::from_ureq(error, None, Some(ViaProxy { credentials })) {
                Failure::Transport(e) => e,
                other => panic!("{other:?}"),
            }
        };
        let e = refused(
            "proxy server responded 407/Proxy Authentication Required",
            true,
        );
        assert_eq!(e.kind, TransportErrorKind::Proxy);
        assert_eq!(
            e.proxy_status,
            Some(StatusCode::PROXY_AUTHENTICATION_REQUIRED)
        );
        assert!(
            e.message.contains("refused the credentials"),
            "{}",
            e.message
        );
        let e = refused(
            "proxy server responded 407/Proxy Authentication Required",
            false,
        );
        assert!(e.message.contains("has none"), "{}", e.message);
        let e = refused("proxy server responded 502/Bad Gateway", false);
        assert_eq!(e.proxy_status, Some(StatusCode::BAD_GATEWAY));
        assert_eq!(
            e.message,
            "CONNECT proxy failed: proxy server responded 502/Bad Gateway"
        );
        let e = refused("proxy server did not respond", false);
        assert_eq!((e.kind, e.proxy_status), (TransportErrorKind::Proxy, None));
    }

    #[test]
    fn a_407_is_the_forward_proxys_only_on_a_plain_http_call_through_it() {
        let http: http::Uri = "http://api.example.com/v1/chat/completions"
            .parse()
            .unwrap();
        let https: http::Uri = "https://api.example.com/v1/chat/completions"
            .parse()
            .unwrap();
        let auth = StatusCode::PROXY_AUTHENTICATION_REQUIRED;
        let with = Some(ViaProxy { credentials: true });
        let without = Some(ViaProxy { credentials: false });
        let refused = |status, uri, via| forward_proxy_refusal(status, uri, via);

        let e = refused(auth, &http, with).unwrap();
        assert_eq!(
            (e.kind, e.proxy_status),
            (TransportErrorKind::Proxy, Some(auth))
        );
        assert!(e.message.contains("refused the credentials"), "{e}");
        assert!(!nexllm_proto::exchange::transport_error_is_retryable(&e));
        let e = refused(auth, &http, without).unwrap();
        assert!(e.message.contains("has none"), "{e}");

        // The server's answer: no proxy, through a tunnel, or another status.
        assert_eq!(refused(auth, &http, None), None);
        assert_eq!(refused(auth, &https, with), None);
        assert_eq!(refused(StatusCode::UNAUTHORIZED, &http, with), None);
        assert_eq!(refused(StatusCode::BAD_GATEWAY, &http, without), None);
    }

    #[test]
    fn with_a_proxy_a_failure_to_connect_is_the_proxys() {
        let via = Some(ViaProxy { credentials: false });
        let table = [
            (ureq::Error::HostNotFound, TransportErrorKind::Proxy),
            (ureq::Error::ConnectionFailed, TransportErrorKind::Proxy),
            (
                ureq::Error::Io(io::ErrorKind::ConnectionRefused.into()),
                TransportErrorKind::Proxy,
            ),
            (
                ureq::Error::Io(io::ErrorKind::ConnectionReset.into()),
                TransportErrorKind::Reset,
            ),
        ];
        for (error, kind) in table {
            let shown = error.to_string();
            match Failure::from_ureq(error, None, via) {
                Failure::Transport(e) => {
                    assert_eq!(e.kind, kind, "{shown}");
                    if kind == TransportErrorKind::Proxy {
                        assert!(
                            e.message.starts_with("could not connect to the proxy: "),
                            "{e}"
                        );
                    }
                }
                other => panic!("{shown}: {other:?}"),
            }
        }
    }

    #[test]
    fn a_body_read_error_keeps_its_kind() {
        let eof = io::Error::new(io::ErrorKind::UnexpectedEof, "Peer disconnected");
        match Failure::from_body_read(eof, None, None) {
            Failure::Transport(e) => {
                assert_eq!(e.kind, TransportErrorKind::Reset);
                assert!(e.message.contains("Peer disconnected"), "{}", e.message);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn never_shows_the_key() {
        let e = transport(ureq::Error::ConnectProxyFailed(
            "proxy said: bad token sk-secret".into(),
        ));
        assert!(!e.message.contains("sk-secret"), "{}", e.message);
        assert!(e.message.contains("<redacted>"));
    }
}
