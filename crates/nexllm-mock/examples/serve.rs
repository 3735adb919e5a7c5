//! Start the mock in-process, queue a fault and an answer, and show what a client sees.
//!
//! Run with `cargo run -p nexllm-mock --example serve`.

use std::io::{Read, Write};

use nexllm_mock::{Answer, Fault, MockServer, StatusFault};

fn post(server: &MockServer, body: &str) -> std::io::Result<String> {
    let mut stream = std::net::TcpStream::connect(server.addr())?;
    write!(
        stream,
        "POST /v1/chat/completions HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\nauthorization: Bearer sk-demo\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    Ok(response)
}

fn main() -> std::io::Result<()> {
    let server = MockServer::builder().api_key("sk-demo").start_blocking()?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "mock listening at {}", server.base_url())?;

    server.push_script(Fault::Status(
        StatusFault::new(http::StatusCode::TOO_MANY_REQUESTS).retry_after("1"),
    ));
    server.push_script(Answer::text("Scripted hello!"));
    let body = r#"{"model":"mock-echo","messages":[{"role":"user","content":"Hello"}]}"#;
    for attempt in 1..=3 {
        let response = post(&server, body)?;
        let status_line = response.lines().next().unwrap_or_default();
        let json = response.split("\r\n\r\n").nth(1).unwrap_or_default();
        writeln!(out, "attempt {attempt}: {status_line}\n  {}", json.trim())?;
    }
    writeln!(
        out,
        "the server recorded {} requests",
        server.requests().len()
    )?;
    server.shutdown_blocking();
    Ok(())
}
