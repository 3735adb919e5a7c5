//! A streamed completion printed as it arrives, then its finish reason and usage.
//!
//! Against a local mock: start `cargo run -p nexllm-mock -- --port 0`, then
//! `NEXLLM_BASE_URL=<the printed URL> NEXLLM_API_KEY=sk-test cargo run -p nexllm-hyper --example stream -- "one two three"`.

use std::io::Write;

use nexllm_hyper::{ChatCompletionRequest, Client, Message};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let client = Client::from_env()?;
    let model = std::env::var("NEXLLM_MODEL").unwrap_or_else(|_| "mock-echo".to_owned());
    let prompt = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "Tell me a joke".to_owned());
    let request =
        ChatCompletionRequest::new(model, vec![Message::user(prompt)]).include_usage(true);

    let mut stream = client.chat().create_stream(&request).await?;
    while let Some(chunk) = stream.next_chunk().await {
        let chunk = match chunk {
            Ok(chunk) => chunk,
            Err(error) => {
                // Everything received before the error is still there.
                let kept = stream.accumulated().content().unwrap_or_default().len();
                writeln!(
                    std::io::stderr(),
                    "\nstream failed after {kept} bytes: {error}"
                )?;
                return Err(error.into());
            }
        };
        let mut out = std::io::stdout().lock();
        for choice in &chunk.choices {
            write!(
                out,
                "{}",
                choice.delta.content.as_deref().unwrap_or_default()
            )?;
        }
        out.flush()?;
    }
    let completion = stream.into_completion();
    let mut out = std::io::stdout().lock();
    writeln!(out)?;
    writeln!(out, "finish reason: {:?}", completion.finish_reason())?;
    if let Some(usage) = completion.usage {
        writeln!(out, "total tokens: {}", usage.total_tokens)?;
    }
    Ok(())
}
