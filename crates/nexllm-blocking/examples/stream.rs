//! Streams an answer and prints it as it arrives, then the token usage.
//!
//! ```sh
//! cargo run -p nexllm-mock -- --port 8080 --api-key sk-test
//! NEXLLM_BASE_URL=http://127.0.0.1:8080/v1 NEXLLM_API_KEY=sk-test \
//!     cargo run -p nexllm-blocking --example blocking_stream -- "one two three"
//! ```
#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "an example prints its answer"
)]

use std::io::Write;

use nexllm_blocking::{ChatCompletionRequest, Client, Error, Message};

fn main() -> Result<(), Error> {
    let client = Client::from_env()?;
    let model = std::env::var("NEXLLM_MODEL").unwrap_or_else(|_| "mock-echo".to_owned());
    let words: Vec<String> = std::env::args().skip(1).collect();
    let prompt = if words.is_empty() {
        "Tell me a joke".to_owned()
    } else {
        words.join(" ")
    };

    let request =
        ChatCompletionRequest::new(model, vec![Message::user(prompt)]).include_usage(true);
    let mut stream = client.chat().create_stream(&request)?;
    for chunk in &mut stream {
        match chunk {
            Ok(chunk) => {
                for choice in &chunk.choices {
                    print!("{}", choice.delta.content.as_deref().unwrap_or(""));
                    std::io::stdout().flush().ok();
                }
            }
            Err(error) => eprintln!("\nthe stream broke: {error}"),
        }
    }
    println!();
    // Everything received, also when the stream broke midway.
    let completion = stream.into_completion();
    if let Some(usage) = completion.usage {
        eprintln!("{} tokens", usage.total_tokens);
    }
    Ok(())
}
