//! Sends one message and prints the answer.
//!
//! ```sh
//! cargo run -p nexllm-mock -- --port 8080 --api-key sk-test
//! NEXLLM_BASE_URL=http://127.0.0.1:8080/v1 NEXLLM_API_KEY=sk-test \
//!     cargo run -p nexllm-blocking --example blocking_chat -- "Say it back"
//! ```
#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "an example prints its answer"
)]

use nexllm_blocking::{ChatCompletionRequest, Client, Error, Message};

fn main() -> Result<(), Error> {
    // NEXLLM_API_KEY, and NEXLLM_BASE_URL when not talking to NexLLM itself.
    let client = Client::from_env()?;
    let model = std::env::var("NEXLLM_MODEL").unwrap_or_else(|_| "mock-echo".to_owned());
    let words: Vec<String> = std::env::args().skip(1).collect();
    let prompt = if words.is_empty() {
        "Hello!".to_owned()
    } else {
        words.join(" ")
    };

    let request = ChatCompletionRequest::new(model, vec![Message::user(prompt)]);
    let response = client.chat().create_with_response(&request)?;
    println!("{}", response.data.content().unwrap_or_default());
    eprintln!(
        "request id {}, {} attempt(s)",
        response.request_id().unwrap_or("-"),
        response.attempts()
    );
    Ok(())
}
