//! From [`ConnectionArgs`] to the SDK's [`Config`]: server, key, headers, retries, timeouts.
//!
//! The key goes into the `Config` and nowhere else: it is never printed, logged
//! or put in an error message (`Config`'s `Debug` redacts it).

use nexllm_proto::{Config, DEFAULT_BASE_URL};

use crate::cli::ConnectionArgs;
use crate::failure::Failure;

/// Builds the client configuration the options describe.
///
/// Without a key, the default NexLLM endpoint is refused up front (it would
/// answer 401); any other base URL is called without an `Authorization`
/// header, as local servers (nexllm-mock, Ollama, llama.cpp, vLLM) expect.
pub(crate) fn config_from_args(args: &ConnectionArgs) -> Result<Config, Failure> {
    let base_url = args
        .base_url
        .as_deref()
        .map(str::trim)
        .filter(|url| !url.is_empty());
    let key = args
        .api_key
        .as_deref()
        .map(str::trim)
        .filter(|key| !key.is_empty());

    let mut config = match (key, base_url) {
        (Some(key), _) => Config::new(key),
        (None, Some(url)) if !is_default_endpoint(url) => Config::without_key(),
        (None, _) => {
            return Err(Failure::usage(
                "no API key: set NEXLLM_API_KEY or pass --api-key \
                 (a server that needs no key: pass its --base-url)",
            ));
        }
    };
    if let Some(url) = base_url {
        config = config.base_url(url);
    }
    // Check the URL now, so a typo is a usage error before anything is sent.
    config.endpoint("chat/completions")?;

    for header in &args.headers {
        config = config.header(&header.name, &header.value)?;
    }
    if let Some(retries) = args.max_retries {
        config = config.max_retries(retries);
    }
    if let Some(total) = args.timeout {
        config = config.total_timeout(total.as_limit());
    }
    if let Some(idle) = args.idle_timeout {
        config = config.idle_timeout(idle.as_limit());
    }
    Ok(config)
}

fn is_default_endpoint(url: &str) -> bool {
    url.trim_end_matches('/') == DEFAULT_BASE_URL
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::cli::{HeaderArg, Seconds, Transport};

    fn args() -> ConnectionArgs {
        ConnectionArgs {
            base_url: None,
            api_key: None,
            max_retries: None,
            timeout: None,
            idle_timeout: None,
            headers: Vec::new(),
            transport: Transport::Hyper,
        }
    }

    #[test]
    fn the_default_endpoint_needs_a_key() {
        let err = config_from_args(&args()).unwrap_err();
        assert!(matches!(err, Failure::Usage(ref m) if m.contains("NEXLLM_API_KEY")));
        let mut a = args();
        a.base_url = Some("https://www.nexllm.ai/v1/".into());
        a.api_key = Some("   ".into());
        assert!(matches!(config_from_args(&a), Err(Failure::Usage(_))));
    }

    #[test]
    fn a_local_server_needs_no_key() {
        let mut a = args();
        a.base_url = Some("http://127.0.0.1:9/v1".into());
        let config = config_from_args(&a).unwrap();
        assert_eq!(config.api_key(), None);
        assert_eq!(config.base_url, "http://127.0.0.1:9/v1");
    }

    #[test]
    fn options_reach_the_config() {
        let mut a = args();
        a.api_key = Some(" sk-abc ".into());
        a.max_retries = Some(5);
        a.timeout = Some(Seconds(Duration::from_secs(7)));
        a.idle_timeout = Some(Seconds(Duration::ZERO));
        a.headers = vec![HeaderArg {
            name: "x-team".into(),
            value: "search".into(),
        }];
        let config = config_from_args(&a).unwrap();
        assert_eq!(config.api_key(), Some("sk-abc"));
        assert_eq!(config.base_url, DEFAULT_BASE_URL);
        assert_eq!(config.max_retries, 5);
        assert_eq!(config.timeouts.total, Some(Duration::from_secs(7)));
        assert_eq!(config.timeouts.idle, None);
        assert_eq!(config.headers["x-team"], "search");
    }

    #[test]
    fn bad_urls_and_headers_are_rejected_before_sending() {
        let mut a = args();
        a.api_key = Some("k".into());
        a.base_url = Some("localhost:8080".into());
        let err = config_from_args(&a).unwrap_err();
        assert!(matches!(
            err,
            Failure::Call(nexllm_proto::Error::InvalidRequest(_))
        ));

        let mut a = args();
        a.api_key = Some("k".into());
        a.headers = vec![HeaderArg {
            name: "bad name".into(),
            value: "v".into(),
        }];
        assert!(config_from_args(&a).is_err());
    }
}
