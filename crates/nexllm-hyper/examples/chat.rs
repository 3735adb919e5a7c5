//! One chat completion, with the response's request id, attempts and rate limits.
//!
//! Against a local mock: start `cargo run -p nexllm-mock -- --port 0`, then
//! `NEXLLM_BASE_URL=<the printed URL> NEXLLM_API_KEY=sk-test cargo run -p nexllm-hyper --example chat -- "Hello"`.
//! `NEXLLM_MODEL` picks the model (default `mock-echo`).

use std::io::Write;

use nexllm_hyper::{ChatCompletionRequest, Client, Message};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let client = Client::from_env()?;
    let model = std::env::var("NEXLLM_MODEL").unwrap_or_else(|_| "mock-echo".to_owned());
    let prompt = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "Say hello in five words.".to_owned());
    let request = ChatCompletionRequest::new(
        model,
        vec![Message::system("You are concise."), Message::user(prompt)],
    )
    .max_tokens(200);

    let response = client.chat().create_with_response(&request).await?;
    let limits = response.rate_limit();
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", response.data.content().unwrap_or_default())?;
    writeln!(
        out,
        "request id: {}, attempts: {}, remaining requests: {}",
        response.request_id().unwrap_or("none"),
        response.attempts(),
        limits
            .remaining_requests
            .map_or_else(|| "unknown".to_owned(), |n| n.to_string()),
    )?;
    if let Some(usage) = &response.data.usage {
        writeln!(
            out,
            "tokens: {} prompt + {} completion",
            usage.prompt_tokens, usage.completion_tokens
        )?;
    }
    Ok(())
}
