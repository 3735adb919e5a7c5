//! Proxy settings from the environment, read as curl reads them, for the
//! transports: which proxy a destination goes through, and whether
//! `NO_PROXY` exempts its host. Pure functions: the environment is passed in,
//! so both transports decide alike and tests need no process environment.

// `core::net`: addresses as values only; the core opens no socket.
use core::net::IpAddr;

use http::{StatusCode, Uri};

use crate::error::TransportError;

/// The variables that can set a proxy ([`for_destination`] reads them; `NO_PROXY`
/// only exempts hosts): a program that must reach a loopback server directly
/// removes these from its children's environment.
pub const PROXY_VARIABLES: [&str; 6] = [
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "http_proxy",
    "https_proxy",
    "all_proxy",
];

/// The error for a proxy that answered `407 Proxy Authentication Required`,
/// to a tunnel's `CONNECT` or to a plain `http://` request sent to it as a
/// forward proxy: it refused the credentials of the proxy URL
/// (`credentials_given`), or wants some and the URL has none. Retrying cannot
/// help, so the call fails at once
/// ([`transport_error_is_retryable`](crate::exchange::transport_error_is_retryable)).
pub fn proxy_credentials_refused(credentials_given: bool) -> TransportError {
    let why = if credentials_given {
        "the proxy refused the credentials given in the proxy URL"
    } else {
        "the proxy wants credentials and the proxy URL has none \
         (give them as http://user:password@host:port)"
    };
    TransportError::proxy_refused(
        StatusCode::PROXY_AUTHENTICATION_REQUIRED,
        format!("407 Proxy Authentication Required: {why}"),
    )
}

/// The error for a forward proxy's answer to a plain `http://` request sent
/// to it (with the proxy URL's credentials when `credentials_given`), when
/// that answer is the proxy's refusal rather than the server's: `407 Proxy
/// Authentication Required`, which an origin server never sends. It is the
/// error a 407 to a tunnel's `CONNECT` gives ([`proxy_credentials_refused`]),
/// never retried. `None` for any other status.
///
/// ```
/// use http::StatusCode;
/// use nexllm_proto::proxy_env::forward_proxy_refusal;
///
/// assert!(forward_proxy_refusal(StatusCode::PROXY_AUTHENTICATION_REQUIRED, true).is_some());
/// assert!(forward_proxy_refusal(StatusCode::UNAUTHORIZED, true).is_none());
/// ```
pub fn forward_proxy_refusal(
    status: StatusCode,
    credentials_given: bool,
) -> Option<TransportError> {
    (status == StatusCode::PROXY_AUTHENTICATION_REQUIRED)
        .then(|| proxy_credentials_refused(credentials_given))
}

/// Why a proxy URL cannot be used, if it cannot.
pub fn check_proxy_url(url: &str) -> Result<(), &'static str> {
    let uri: Uri = url.parse().map_err(|_| "is not a valid URL")?;
    if uri.scheme_str() != Some("http") || uri.host().is_none_or(str::is_empty) {
        return Err("must be an http:// URL with a host");
    }
    Ok(())
}

/// curl reads `host:port` as `http://host:port`.
pub fn with_default_scheme(url: &str) -> String {
    if url.contains("://") {
        url.to_owned()
    } else {
        format!("http://{url}")
    }
}

/// The proxy URL and the `NO_PROXY` list the environment `env` gives for a
/// destination of this scheme (`https` or not): `HTTPS_PROXY` or
/// `HTTP_PROXY`, then `ALL_PROXY`, upper-case names first, then lower-case;
/// a variable set to blanks counts as unset. The upper-case `HTTP_PROXY` is
/// ignored when `REQUEST_METHOD` says the process is a CGI script (a
/// client's `Proxy:` header reaches it as that variable).
///
/// ```
/// use nexllm_proto::proxy_env::for_destination;
///
/// let env = |name: &str| (name == "https_proxy").then(|| "http://proxy:3128".to_owned());
/// assert_eq!(for_destination(true, env), Some(("http://proxy:3128".to_owned(), String::new())));
/// assert_eq!(for_destination(false, env), None);
/// ```
pub fn for_destination(
    https: bool,
    env: impl Fn(&str) -> Option<String>,
) -> Option<(String, String)> {
    let set = |name: &str| env(name).filter(|value| !value.trim().is_empty());
    let is_cgi = set("REQUEST_METHOD").is_some();
    let specific = if https {
        set("HTTPS_PROXY").or_else(|| set("https_proxy"))
    } else {
        let upper = if is_cgi { None } else { set("HTTP_PROXY") };
        upper.or_else(|| set("http_proxy"))
    };
    let url = specific
        .or_else(|| set("ALL_PROXY"))
        .or_else(|| set("all_proxy"))?;
    let no_proxy = set("NO_PROXY")
        .or_else(|| set("no_proxy"))
        .unwrap_or_default();
    Some((url, no_proxy))
}

/// Whether the `NO_PROXY` list `list` exempts `host`.
pub fn no_proxy_matches(list: &str, host: &str) -> bool {
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_ascii_lowercase();
    let host_ip: Option<IpAddr> = host.parse().ok();
    list.split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .any(|entry| {
            if entry == "*" {
                return true;
            }
            if let Some(ip) = host_ip {
                return ip_matches(entry, ip);
            }
            let domain = entry
                .trim_start_matches("*.")
                .trim_start_matches('.')
                .to_ascii_lowercase();
            !domain.is_empty()
                && (host == domain
                    || host
                        .strip_suffix(domain.as_str())
                        .is_some_and(|rest| rest.ends_with('.')))
        })
}

/// Whether `entry` (an address or a CIDR range) covers `ip`.
fn ip_matches(entry: &str, ip: IpAddr) -> bool {
    let entry = entry.trim_start_matches('[').trim_end_matches(']');
    let (address, prefix) = match entry.split_once('/') {
        Some((address, prefix)) => (address, Some(prefix)),
        None => (entry, None),
    };
    let Ok(network) = address.parse::<IpAddr>() else {
        return false;
    };
    match (network, ip) {
        (IpAddr::V4(network), IpAddr::V4(ip)) => {
            let bits = match prefix.map(str::parse::<u32>) {
                None => 32,
                Some(Ok(bits)) if bits <= 32 => bits,
                Some(_) => return false,
            };
            let mask = u32::MAX.checked_shl(32 - bits).unwrap_or(0);
            u32::from(network) & mask == u32::from(ip) & mask
        }
        (IpAddr::V6(network), IpAddr::V6(ip)) => {
            let bits = match prefix.map(str::parse::<u32>) {
                None => 128,
                Some(Ok(bits)) if bits <= 128 => bits,
                Some(_) => return false,
            };
            let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
            u128::from(network) & mask == u128::from(ip) & mask
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    #[test]
    fn only_a_407_is_the_forward_proxys_refusal() {
        for credentials in [true, false] {
            let refused =
                forward_proxy_refusal(StatusCode::PROXY_AUTHENTICATION_REQUIRED, credentials)
                    .unwrap();
            assert_eq!(refused, proxy_credentials_refused(credentials));
            assert!(!crate::exchange::transport_error_is_retryable(&refused));
            for status in [200, 401, 403, 502] {
                let status = StatusCode::from_u16(status).unwrap();
                assert_eq!(forward_proxy_refusal(status, credentials), None, "{status}");
            }
        }
    }

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        let map: HashMap<&str, &str> = vars.iter().copied().collect();
        move |name| map.get(name).map(|v| (*v).to_owned())
    }

    #[test]
    fn the_variable_follows_the_scheme() {
        let vars = [
            ("HTTPS_PROXY", "http://secure:1"),
            ("http_proxy", "http://plain:2"),
            ("ALL_PROXY", "http://all:3"),
            ("NO_PROXY", "internal"),
        ];
        assert_eq!(
            for_destination(true, env(&vars)),
            Some(("http://secure:1".to_owned(), "internal".to_owned()))
        );
        assert_eq!(
            for_destination(false, env(&vars)),
            Some(("http://plain:2".to_owned(), "internal".to_owned()))
        );
        let only_all = [("all_proxy", "http://all:3")];
        assert_eq!(
            for_destination(true, env(&only_all)).map(|p| p.0),
            Some("http://all:3".to_owned())
        );
        assert_eq!(for_destination(true, env(&[])), None);
        assert_eq!(for_destination(true, env(&[("HTTPS_PROXY", " ")])), None);
    }

    #[test]
    fn cgi_scripts_ignore_the_upper_case_http_proxy() {
        let vars = [
            ("HTTP_PROXY", "http://injected:1"),
            ("REQUEST_METHOD", "GET"),
        ];
        assert_eq!(for_destination(false, env(&vars)), None);
        let vars = [("http_proxy", "http://mine:1"), ("REQUEST_METHOD", "GET")];
        assert_eq!(
            for_destination(false, env(&vars)).map(|p| p.0),
            Some("http://mine:1".to_owned())
        );
    }

    #[test]
    fn a_proxy_url_without_a_scheme_is_http() {
        assert_eq!(with_default_scheme("proxy:3128"), "http://proxy:3128");
        assert_eq!(with_default_scheme("10.0.0.1"), "http://10.0.0.1");
        assert_eq!(
            with_default_scheme("http://proxy:3128"),
            "http://proxy:3128"
        );
        assert_eq!(
            with_default_scheme("socks5://proxy:1080"),
            "socks5://proxy:1080"
        );
    }

    #[test]
    fn only_http_proxy_urls_with_a_host_are_usable() {
        for good in [
            "http://proxy:3128",
            "http://user:pw@proxy:3128",
            "http://[::1]:8080",
        ] {
            assert_eq!(check_proxy_url(good), Ok(()), "{good:?}");
        }
        assert_eq!(check_proxy_url(&with_default_scheme("proxy:3128")), Ok(()));
        for bad in [
            "https://proxy:3128",
            "socks5://proxy:1080",
            "proxy:3128",
            "/just/a/path",
        ] {
            assert_eq!(
                check_proxy_url(bad),
                Err("must be an http:// URL with a host"),
                "{bad:?}"
            );
        }
        assert_eq!(check_proxy_url("http://pro xy"), Err("is not a valid URL"));
    }

    #[test]
    fn no_proxy_lists() {
        let table = [
            ("example.com", "example.com", true),
            ("example.com", "api.example.com", true),
            ("example.com", "badexample.com", false),
            (".example.com", "api.example.com", true),
            ("*.example.com", "api.example.com", true),
            ("other.org, example.com", "EXAMPLE.com", true),
            ("*", "anything", true),
            ("", "example.com", false),
            ("127.0.0.1", "127.0.0.1", true),
            ("127.0.0.1", "127.0.0.2", false),
            ("10.0.0.0/8", "10.1.2.3", true),
            ("10.0.0.0/8", "11.1.2.3", false),
            ("10.0.0.0/99", "10.1.2.3", false),
            ("::1", "[::1]", true),
            ("fd00::/8", "[fd12::1]", true),
            ("fd00::/8", "[fe80::1]", false),
            ("::1", "[::2]", false),
            ("fd00::/129", "[fd12::1]", false),
            ("localhost", "127.0.0.1", false),
        ];
        for (list, host, want) in table {
            assert_eq!(no_proxy_matches(list, host), want, "{list:?} {host:?}");
        }
    }
}
