//! Prepares `crates/nexllm-hyper/README.md` for the doctests.
//!
//! Its quick start is fenced ```` ```rust ```` because `nexllm-hyper`'s
//! `tests/examples.rs` checks that the block equals `examples/quickstart.rs`
//! (and runs that example against nexllm-mock). As a doctest it would call the
//! real API with `NEXLLM_API_KEY`, so the copy compiled here marks it
//! `no_run`. Every other block of the README is compiled as written.
#![allow(
    clippy::print_stdout,
    reason = "a build script talks to cargo on stdout"
)]

use std::path::PathBuf;

const README: &str = "../crates/nexllm-hyper/README.md";
const QUICK_START: &str = "```rust\nuse nexllm_hyper::{ChatCompletionRequest, Client, Message};";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo::rerun-if-changed={README}");
    let readme = std::fs::read_to_string(README)?;
    if !readme.contains(QUICK_START) {
        return Err(
            format!("{README} no longer starts its quick start with {QUICK_START:?}").into(),
        );
    }
    let compiled = readme.replacen(
        QUICK_START,
        &QUICK_START.replacen("```rust", "```rust,no_run", 1),
        1,
    );
    let out = PathBuf::from(std::env::var("OUT_DIR")?).join("nexllm-hyper-README.md");
    std::fs::write(out, compiled)?;
    Ok(())
}
