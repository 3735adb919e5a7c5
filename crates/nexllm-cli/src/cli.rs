//! The command line: every subcommand and option, declared with clap.

use std::path::PathBuf;
use std::time::Duration;

use clap::parser::ValueSource;
use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};

/// Chat with any NexLLM / OpenAI-compatible model from a terminal or a script.
#[derive(Debug, Parser)]
#[command(name = "nexllm", version, propagate_version = true)]
#[command(
    after_help = "Exit status: 0 success, 1 the call failed, 2 usage error, 130 interrupted."
)]
pub(crate) struct Cli {
    /// More logging on stderr: -v debug, -vv trace (RUST_LOG overrides).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub(crate) verbose: u8,

    /// What to do.
    #[command(subcommand)]
    pub(crate) command: Command,
}

impl Cli {
    /// Parses the process's arguments as [`Parser::parse`] does (printing
    /// help, the version or a usage error and exiting), and notes which
    /// values came from the environment rather than the command line.
    pub(crate) fn parse_args() -> Cli {
        let matches = Cli::command().get_matches();
        let mut cli = match Cli::from_arg_matches(&matches) {
            Ok(cli) => cli,
            Err(e) => e.format(&mut Cli::command()).exit(),
        };
        if let (Command::Chat(args), Some(("chat", chat))) =
            (&mut cli.command, matches.subcommand())
        {
            args.model_from_env = chat.value_source("model") == Some(ValueSource::EnvVariable);
        }
        cli
    }
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Ask a model; the answer streams to stdout. Without a prompt and with a
    /// terminal on stdin, starts an interactive chat (Ctrl-D leaves).
    Chat(ChatArgs),
    /// List the model ids the server offers.
    Models(ModelsArgs),
}

/// `nexllm chat`.
#[derive(Debug, Args)]
pub(crate) struct ChatArgs {
    /// The prompt. `-`: read from stdin. Absent: read from stdin, except with
    /// `--request` (its messages are the conversation) or a terminal on stdin
    /// (an interactive chat).
    #[arg(value_name = "PROMPT")]
    pub(crate) prompt: Option<String>,

    /// The model id, e.g. `gpt-4o` or `aws/claude-haiku-4-5` (overrides the
    /// model of `--request`; `NEXLLM_MODEL` only when it has none).
    #[arg(short, long, env = "NEXLLM_MODEL")]
    pub(crate) model: Option<String>,

    /// `model` came from `NEXLLM_MODEL`, not `-m`: a default, which a
    /// `--request` body's own model overrides.
    #[arg(skip)]
    pub(crate) model_from_env: bool,

    /// A system message, sent before the prompt.
    #[arg(short, long, value_name = "TEXT")]
    pub(crate) system: Option<String>,

    /// The most tokens the answer may have.
    #[arg(long, value_name = "N")]
    pub(crate) max_tokens: Option<u32>,

    /// Sampling temperature, 0 to 2.
    #[arg(long, value_name = "T")]
    pub(crate) temperature: Option<f64>,

    /// Wait for the whole answer instead of streaming it.
    #[arg(long)]
    pub(crate) no_stream: bool,

    /// Print the whole `ChatCompletion` as one JSON document (for a stream,
    /// the completion assembled from its chunks).
    #[arg(long)]
    pub(crate) json: bool,

    /// Print the token usage to stderr after the answer.
    #[arg(long)]
    pub(crate) usage: bool,

    /// A whole request body as JSON (`-` for stdin). The other options
    /// override its fields; unknown fields are sent as they are.
    #[arg(long, value_name = "FILE")]
    pub(crate) request: Option<PathBuf>,

    /// Where and how to connect.
    #[command(flatten)]
    pub(crate) connection: ConnectionArgs,
}

/// `nexllm models`.
#[derive(Debug, Args)]
pub(crate) struct ModelsArgs {
    /// Print the full model objects as JSON instead of one id per line.
    #[arg(long)]
    pub(crate) json: bool,

    /// Where and how to connect.
    #[command(flatten)]
    pub(crate) connection: ConnectionArgs,
}

/// The options both subcommands share: server, key, retries, timeouts, transport.
#[derive(Debug, Args)]
pub(crate) struct ConnectionArgs {
    /// The API base URL (the NexLLM API by default).
    #[arg(
        long,
        env = "NEXLLM_BASE_URL",
        value_name = "URL",
        help = "The API base URL [default: https://www.nexllm.ai/v1]"
    )]
    pub(crate) base_url: Option<String>,

    /// The API key (prefer the environment variable: arguments are visible to
    /// other users of the machine).
    #[arg(
        long,
        env = "NEXLLM_API_KEY",
        hide_env_values = true,
        value_name = "KEY"
    )]
    pub(crate) api_key: Option<String>,

    /// How many times a failed attempt is retried [default: 2].
    #[arg(long, value_name = "N")]
    pub(crate) max_retries: Option<u32>,

    /// The deadline of the whole call, retries included, in seconds (0: none)
    /// [default: 600].
    #[arg(long, value_name = "SECONDS", value_parser = parse_seconds)]
    pub(crate) timeout: Option<Seconds>,

    /// The longest wait between two stream chunks, in seconds (0: none)
    /// [default: 600].
    #[arg(long, value_name = "SECONDS", value_parser = parse_seconds)]
    pub(crate) idle_timeout: Option<Seconds>,

    /// An extra request header, `Name: value` (repeatable).
    #[arg(short = 'H', long = "header", value_name = "NAME: VALUE", value_parser = parse_header)]
    pub(crate) headers: Vec<HeaderArg>,

    /// The HTTP client to use.
    #[arg(long, value_enum, default_value_t = Transport::Hyper)]
    pub(crate) transport: Transport,
}

/// Which of the SDK's two clients carries the requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Transport {
    /// The async client (nexllm-hyper).
    Hyper,
    /// The blocking client (nexllm-blocking).
    Blocking,
}

/// A duration given in seconds on the command line; zero means "no limit".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Seconds(pub(crate) Duration);

impl Seconds {
    /// The limit, or `None` when zero was given.
    pub(crate) fn as_limit(self) -> Option<Duration> {
        (!self.0.is_zero()).then_some(self.0)
    }
}

fn parse_seconds(text: &str) -> Result<Seconds, String> {
    let value: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("{text:?} is not a number of seconds"))?;
    Duration::try_from_secs_f64(value)
        .map(Seconds)
        .map_err(|_| format!("{text:?} must be a finite number of seconds, 0 or more"))
}

/// One `--header 'Name: value'`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HeaderArg {
    /// The header name, as given.
    pub(crate) name: String,
    /// The value, without the spaces around it.
    pub(crate) value: String,
}

fn parse_header(text: &str) -> Result<HeaderArg, String> {
    let (name, value) = text
        .split_once(':')
        .ok_or_else(|| "expected `Name: value`".to_owned())?;
    let name = name.trim();
    if name.is_empty() {
        return Err("the header name is empty (expected `Name: value`)".into());
    }
    Ok(HeaderArg {
        name: name.to_owned(),
        value: value.trim().to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn seconds_accept_fractions_and_zero() {
        assert_eq!(parse_seconds("1.5").unwrap().0, Duration::from_millis(1500));
        assert_eq!(parse_seconds("0").unwrap().as_limit(), None);
        assert_eq!(
            parse_seconds("30").unwrap().as_limit(),
            Some(Duration::from_secs(30))
        );
        for bad in ["-1", "NaN", "inf", "soon", ""] {
            assert!(parse_seconds(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn headers_split_at_the_first_colon() {
        let h = parse_header("X-Trace:  a:b ").unwrap();
        assert_eq!((h.name.as_str(), h.value.as_str()), ("X-Trace", "a:b"));
        assert_eq!(parse_header("x-empty:").unwrap().value, "");
        assert!(parse_header("no colon").is_err());
        assert!(parse_header(": value").is_err());
    }

    #[test]
    fn parses_a_full_chat_command() {
        let cli = Cli::try_parse_from([
            "nexllm",
            "chat",
            "-m",
            "gpt-4o",
            "-s",
            "be brief",
            "--max-tokens",
            "20",
            "--temperature",
            "0.5",
            "--no-stream",
            "--json",
            "--usage",
            "--header",
            "x-a: 1",
            "-H",
            "x-b: 2",
            "--transport",
            "blocking",
            "--timeout",
            "5",
            "--idle-timeout",
            "0.5",
            "--max-retries",
            "0",
            "hello",
        ])
        .unwrap();
        let Command::Chat(chat) = cli.command else {
            panic!("not chat")
        };
        assert_eq!(chat.prompt.as_deref(), Some("hello"));
        assert_eq!(chat.model.as_deref(), Some("gpt-4o"));
        assert_eq!(chat.connection.headers.len(), 2);
        assert_eq!(chat.connection.transport, Transport::Blocking);
        assert_eq!(chat.connection.max_retries, Some(0));
        assert!(chat.no_stream && chat.json && chat.usage);
    }
}
