//! A tool call round trip: the model asks for `get_weather`, we run it and send
//! the result back, and the model answers with it.
//!
//! Against a local mock (its `mock-tools` model calls the first tool): start
//! `cargo run -p nexllm-mock -- --port 0`, then
//! `NEXLLM_BASE_URL=<the printed URL> NEXLLM_API_KEY=sk-test cargo run -p nexllm-hyper --example tools`.

use std::io::Write;

use nexllm_hyper::{ChatCompletionRequest, Client, Message, Tool};
use serde_json::{Value, json};

/// The "tool": a fake weather service.
fn get_weather(arguments: &str) -> String {
    let city = serde_json::from_str::<Value>(arguments)
        .ok()
        .and_then(|args| args["city"].as_str().map(str::to_owned))
        .unwrap_or_else(|| "somewhere".to_owned());
    format!("18°C and sunny in {city}")
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let client = Client::from_env()?;
    let model = std::env::var("NEXLLM_MODEL").unwrap_or_else(|_| "mock-tools".to_owned());
    let weather = Tool::function(
        "get_weather",
        "The current weather in a city",
        json!({
            "type": "object",
            "properties": {"city": {"type": "string", "description": "The city"}},
            "required": ["city"]
        }),
    );
    let mut messages = vec![Message::user("What's the weather in Paris?")];
    let request =
        ChatCompletionRequest::new(model.as_str(), messages.clone()).tool(weather.clone());

    // Stream the first answer: the tool call's arguments arrive in fragments
    // and the accumulated completion joins them.
    let stream = client.chat().create_stream(&request).await?;
    let first = stream.finish().await?;
    let calls = first.tool_calls().to_vec();
    let mut out = std::io::stdout().lock();
    if calls.is_empty() {
        writeln!(
            out,
            "no tool call; the model said: {}",
            first.content().unwrap_or_default()
        )?;
        return Ok(());
    }
    messages.push(Message::assistant_tool_calls(calls.clone()));
    for call in &calls {
        let result = get_weather(&call.function.arguments);
        writeln!(
            out,
            "tool call {}({}) -> {result}",
            call.function.name, call.function.arguments
        )?;
        messages.push(Message::tool(call.id.as_str(), result));
    }
    drop(out);

    let follow_up = ChatCompletionRequest::new(model, messages).tool(weather);
    let answer = client.chat().create(&follow_up).await?;
    writeln!(
        std::io::stdout(),
        "answer: {}",
        answer.content().unwrap_or_default()
    )?;
    Ok(())
}
