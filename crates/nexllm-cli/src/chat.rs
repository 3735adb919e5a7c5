//! `nexllm chat` with a prompt (or a `--request` body): one answer, then exit.

use std::io::{self, IsTerminal};

use crate::answer::{Display, Ending, ctrl_c, get_answer};
use crate::backend::Backend;
use crate::cli::ChatArgs;
use crate::connection::config_from_args;
use crate::failure::Failure;
use crate::input::{PromptSource, read_request_file};
use crate::render::{stderr_line, usage_line, write_json};
use crate::repl;
use crate::request::{RequestOptions, build_request};

/// Runs `nexllm chat`: the interactive chat when there is no prompt and a
/// terminal on stdin, else one answer.
pub(crate) async fn run(args: ChatArgs) -> Result<(), Failure> {
    let options = RequestOptions::from_args(&args);
    let interactive = args.prompt.is_none() && args.request.is_none() && io::stdin().is_terminal();
    if interactive {
        if args.json {
            return Err(Failure::usage(
                "--json needs a prompt (the interactive chat prints text)",
            ));
        }
        let config = config_from_args(&args.connection)?;
        let backend = Backend::new(args.connection.transport, config)?;
        return repl::run(&backend, &options, args.usage).await;
    }

    let source = PromptSource::choose(args.prompt.as_deref(), args.request.as_deref())?;
    let config = config_from_args(&args.connection)?;
    let base = args.request.as_deref().map(read_request_file).transpose()?;
    let request = build_request(base, &options, source.read()?)?;
    let backend = Backend::new(args.connection.transport, config)?;
    tracing::debug!(
        model = %request.model,
        stream = request.is_stream(),
        messages = request.messages.len(),
        transport = ?args.connection.transport,
        "sending a chat completion request"
    );

    let display = if args.json {
        Display::Quiet
    } else {
        Display::Text
    };
    let answer = get_answer(&backend, &request, display, io::stdout().lock(), ctrl_c()).await?;

    // With --json, whatever arrived is printed, even when the stream then failed.
    let printed = if args.json && (answer.received || matches!(answer.ending, Ending::Complete)) {
        write_json(&mut io::stdout().lock(), &answer.completion)
    } else {
        Ok(())
    };
    // A closed (or unwritable) stdout decides the exit status only when the
    // call succeeded; a failed or stopped call keeps its own.
    match answer.ending {
        Ending::Complete => {
            printed?;
            if args.usage {
                stderr_line(&usage_line(answer.completion.usage.as_ref()));
            }
            Ok(())
        }
        Ending::Failed(error) => Err(Failure::Call(error)),
        Ending::Stopped => Err(Failure::Interrupted),
    }
}
