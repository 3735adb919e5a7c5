//! The README's quick start, verbatim (tests/examples.rs checks that they match and runs it).

#![allow(clippy::print_stdout, reason = "an example prints its answer")]

use nexllm_hyper::{ChatCompletionRequest, Client, Message};

#[tokio::main]
async fn main() -> Result<(), nexllm_hyper::Error> {
    // Reads NEXLLM_API_KEY and, when set, NEXLLM_BASE_URL.
    let client = Client::from_env()?;
    let request = ChatCompletionRequest::new("mock-echo", vec![Message::user("Say it back.")]);

    // The whole answer at once.
    let completion = client.chat().create(&request).await?;
    println!("{}", completion.content().unwrap_or_default());

    // The same answer, streamed.
    let mut stream = client.chat().create_stream(&request).await?;
    while let Some(chunk) = stream.next_chunk().await {
        for choice in &chunk?.choices {
            print!("{}", choice.delta.content.as_deref().unwrap_or_default());
        }
    }
    println!();
    println!("request id: {}", stream.request_id().unwrap_or("none"));
    Ok(())
}
