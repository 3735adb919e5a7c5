//! [`Client`]: the configuration and the ureq agent (with its connection pool)
//! every call goes through.

use std::fmt;
use std::sync::Arc;

use nexllm_proto::{Config, Error};

use crate::chat::Chat;
use crate::models::Models;

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
}

impl Client {
    /// A client with this configuration.
    ///
    /// HTTPS uses rustls with verified certificates (Mozilla's roots, or the
    /// platform's verifier with the `native-roots` feature); a proxy is taken
    /// from `ALL_PROXY` / `HTTPS_PROXY` / `HTTP_PROXY` minus `NO_PROXY`, read
    /// now. Never fails: an invalid base URL or header fails each call, before
    /// any I/O, with [`Error::InvalidRequest`].
    pub fn new(config: Config) -> Client {
        Client {
            inner: Arc::new(ClientInner {
                config,
                agent: crate::http_agent::build(),
            }),
        }
    }

    /// A client configured from `NEXLLM_API_KEY` and `NEXLLM_BASE_URL` (see
    /// [`Config::from_env`]); fails when the key is not set.
    pub fn from_env() -> Result<Client, Error> {
        Ok(Client::new(Config::from_env()?))
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
    }
}
