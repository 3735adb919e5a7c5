//! `nexllm`: chat with any NexLLM / OpenAI-compatible model from a terminal or a script.
//!
//! See the crate README for every option. Exit status: 0 success, 1 the call
//! failed, 2 usage error, 130 interrupted by Ctrl-C. A closed stdout (`EPIPE`)
//! is not an error while the call succeeds, and never hides a failed one.

mod answer;
mod backend;
mod chat;
mod cli;
mod connection;
mod failure;
mod input;
mod models;
mod render;
mod repl;
mod request;

use std::io::IsTerminal;
use std::process::ExitCode;

use tracing_subscriber::EnvFilter;

use crate::cli::{Cli, Command};
use crate::failure::Failure;
use crate::render::{error_line, stderr_line};

fn main() -> ExitCode {
    // Usage errors exit with status 2, `--help` and `--version` with 0.
    let cli = Cli::parse_args();
    init_tracing(cli.verbose);

    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            stderr_line(&format!("error: cannot start the async runtime: {e}"));
            return ExitCode::from(failure::EXIT_CALL_FAILED);
        }
    };
    let result = runtime.block_on(run(cli.command));
    // Do not wait for a blocking read of stdin or a stopped call's thread.
    runtime.shutdown_background();

    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            if let Some(message) = failure.message() {
                stderr_line(&error_line(&message));
            }
            failure.exit_code()
        }
    }
}

async fn run(command: Command) -> Result<(), Failure> {
    match command {
        Command::Chat(args) => chat::run(args).await,
        Command::Models(args) => models::run(args).await,
    }
}

/// Logs to stderr when `RUST_LOG` is set (it decides what) or `-v` is given
/// (`-v`: debug, `-vv`: trace for the nexllm crates; `-vvv`: trace for all).
fn init_tracing(verbose: u8) {
    let from_env = std::env::var("RUST_LOG")
        .ok()
        .filter(|v| !v.trim().is_empty());
    let directives = match (from_env, verbose) {
        (Some(directives), _) => directives,
        (None, 0) => return,
        (None, 1) => {
            "warn,nexllm=debug,nexllm_proto=debug,nexllm_hyper=debug,nexllm_blocking=debug"
                .to_owned()
        }
        (None, 2) => {
            "warn,nexllm=trace,nexllm_proto=trace,nexllm_hyper=trace,nexllm_blocking=trace"
                .to_owned()
        }
        (None, _) => "trace".to_owned(),
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::new(directives))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}
