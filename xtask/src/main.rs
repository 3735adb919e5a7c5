//! `cargo xtask`: the project's automation, in Rust so it runs wherever cargo does.
//!
//! ```text
//! cargo xtask ci                      fmt, clippy, tests, docs, tidy, a short fuzz run
//! cargo xtask tidy                    the conventions check alone
//! cargo xtask fuzz <target> [--seconds N]
//! cargo xtask demo                    nexllm-mock + the real `nexllm` binary, no key, no network
//! cargo xtask interop                 the SDK against Prism, LiteLLM's proxy and llama.cpp on loopback
//! ```
#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "a command-line tool reports on stdout/stderr"
)]

mod bench;
mod ci;
mod command;
mod demo;
mod fuzz;
mod interop;
mod loopback_env;
mod tidy;

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("ci") => ci::run(&args[1..]),
        Some("tidy") => tidy::run(),
        Some("fuzz") => fuzz::run(&args[1..]),
        Some("bench") => bench::run(&args[1..]),
        Some("demo") => demo::run(&args[1..]),
        Some("interop") => interop::run(&args[1..]),
        Some("help" | "--help" | "-h") | None => {
            println!("{}", USAGE);
            Ok(())
        }
        Some(other) => Err(format!("unknown task {other:?}\n\n{USAGE}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask: error: {message}");
            ExitCode::FAILURE
        }
    }
}

const USAGE: &str = "usage: cargo xtask <task>

tasks:
  ci [--no-fuzz] [--fuzz-seconds N]   fmt, clippy (warnings denied), tests, rustdoc (warnings denied), tidy, short fuzz runs
  tidy                                check the project's conventions (see xtask/src/tidy.rs)
  fuzz <target> [--seconds N]         run one fuzz target (needs the nightly toolchain; installs cargo-fuzz)
  bench [--quick] [--update-docs]     this SDK against its peers, one table (builds bench/ in release; see docs/performance.md)
  demo                                start nexllm-mock and run the real `nexllm` binary against it
  interop [--only prism,litellm,llama] run the SDK against Prism (OpenAI's schema), LiteLLM's proxy and llama.cpp";

/// The workspace root (the parent of this crate's folder).
fn project_root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().map(PathBuf::from).unwrap_or(manifest)
}
