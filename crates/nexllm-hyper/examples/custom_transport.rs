//! A custom [`Transport`]: wraps the default hyper transport to count requests
//! and print each request line and status (never headers: they hold the key).
//! The same seam takes a whole other HTTP stack, or a test double.
//!
//! Against a local mock: start `cargo run -p nexllm-mock -- --port 0`, then
//! `NEXLLM_BASE_URL=<the printed URL> NEXLLM_API_KEY=sk-test cargo run -p nexllm-hyper --example custom_transport`.

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use nexllm_hyper::{
    Body, ChatCompletionRequest, Client, Config, HyperTransport, Message, SendError, Transport,
};

#[derive(Debug)]
struct Logging {
    inner: HyperTransport,
    sent: AtomicU64,
}

#[async_trait::async_trait]
impl Transport for Logging {
    async fn send(&self, request: http::Request<Bytes>) -> Result<http::Response<Body>, SendError> {
        let n = self.sent.fetch_add(1, Ordering::Relaxed) + 1;
        let line = format!("#{n} {} {}", request.method(), request.uri().path());
        let result = self.inner.send(request).await;
        let outcome = match &result {
            Ok(response) => response.status().to_string(),
            Err(error) => format!("failed: {error}"),
        };
        // Ignoring a failed write to stdout: logging must not fail the request.
        let _ = writeln!(std::io::stdout(), "{line} -> {outcome}");
        result
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let config = Config::from_env()?;
    let transport = Arc::new(Logging {
        inner: HyperTransport::new(&config),
        sent: AtomicU64::new(0),
    });
    let client = Client::builder()
        .config(config)
        .transport(Arc::clone(&transport) as Arc<dyn Transport>)
        .build()?;

    let request =
        ChatCompletionRequest::new("mock-echo", vec![Message::user("through my transport")]);
    let completion = client.chat().create(&request).await?;
    let models = client.models().list().await?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "answer: {}", completion.content().unwrap_or_default())?;
    writeln!(
        out,
        "{} models; {} requests sent",
        models.data.len(),
        transport.sent.load(Ordering::Relaxed)
    )?;
    Ok(())
}
