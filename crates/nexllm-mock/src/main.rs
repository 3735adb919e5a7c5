//! `nexllm-mock`: serve the mock on 127.0.0.1, print its base URL, run until stopped.

use std::io::Write;
use std::process::ExitCode;

use nexllm_mock::MockServer;

const USAGE: &str = "\
nexllm-mock: a local OpenAI-compatible Chat Completions server for tests and demos

Usage: nexllm-mock [--port N] [--api-key KEY] [--models ID,ID,...]

  --port N        listen on 127.0.0.1:N (default 0: a free port)
  --api-key KEY   require `Authorization: Bearer KEY` (default: no key needed)
  --models IDS    comma-separated model ids answered by the echo model, replacing
                  the default aliases (mock-echo and mock-tools are always served)
  -h, --help      show this help
  -V, --version   show the version

Prints the base URL (http://127.0.0.1:PORT/v1) on the first line of stdout, then serves
until Ctrl-C or SIGTERM. Faults: see the nexllm-mock README (x-mock-fault header).
";

#[derive(Debug, Default)]
struct Options {
    port: u16,
    api_key: Option<String>,
    models: Option<Vec<String>>,
}

enum Command {
    Serve(Options),
    Help,
    Version,
}

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Command, String> {
    let mut options = Options::default();
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => {
                (flag.to_owned(), Some(value.to_owned()))
            }
            _ => (arg.clone(), None),
        };
        let mut value = |name: &str| {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match flag.as_str() {
            "-h" | "--help" => return Ok(Command::Help),
            "-V" | "--version" => return Ok(Command::Version),
            "--port" => {
                let port = value("--port")?;
                options.port = port
                    .parse()
                    .map_err(|_| format!("--port expects a port number, got `{port}`"))?;
            }
            "--api-key" => options.api_key = Some(value("--api-key")?),
            "--models" => {
                let models = value("--models")?;
                options.models = Some(
                    models
                        .split(',')
                        .map(str::trim)
                        .filter(|id| !id.is_empty())
                        .map(str::to_owned)
                        .collect(),
                );
            }
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    Ok(Command::Serve(options))
}

fn main() -> ExitCode {
    let options = match parse_args(std::env::args().skip(1)) {
        Ok(Command::Serve(options)) => options,
        Ok(Command::Help) => return write_out(USAGE),
        Ok(Command::Version) => {
            return write_out(&format!("nexllm-mock {}\n", env!("CARGO_PKG_VERSION")));
        }
        Err(message) => {
            let _ = writeln!(std::io::stderr(), "nexllm-mock: {message}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            let _ = writeln!(
                std::io::stderr(),
                "nexllm-mock: cannot start the runtime: {error}"
            );
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(serve(options))
}

async fn serve(options: Options) -> ExitCode {
    let mut builder = MockServer::builder().port(options.port);
    if let Some(key) = options.api_key {
        builder = builder.api_key(key);
    }
    if let Some(models) = options.models {
        builder = builder.models(models);
    }
    let server = match builder.start().await {
        Ok(server) => server,
        Err(error) => {
            let _ = writeln!(
                std::io::stderr(),
                "nexllm-mock: cannot listen on 127.0.0.1:{}: {error}",
                options.port
            );
            return ExitCode::FAILURE;
        }
    };
    // Listen before announcing the URL: whoever reads it may send SIGTERM at once.
    let stop = StopSignals::listen();
    let code = write_out(&format!("{}\n", server.base_url()));
    if code != ExitCode::SUCCESS {
        server.shutdown().await;
        return code;
    }
    stop.wait().await;
    server.shutdown().await;
    ExitCode::SUCCESS
}

fn write_out(text: &str) -> ExitCode {
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Ok(()) => ExitCode::SUCCESS,
        Err(_) => ExitCode::FAILURE,
    }
}

/// Ctrl-C, and SIGTERM on Unix, listened for from [`StopSignals::listen`] on, so a
/// signal that arrives before [`StopSignals::wait`] still stops the server cleanly.
struct StopSignals {
    #[cfg(unix)]
    terminate: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    interrupt: Option<tokio::signal::unix::Signal>,
}

impl StopSignals {
    /// Starts listening (inside the runtime).
    fn listen() -> Self {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Self {
                terminate: signal(SignalKind::terminate()).ok(),
                interrupt: signal(SignalKind::interrupt()).ok(),
            }
        }
        #[cfg(not(unix))]
        {
            Self {}
        }
    }

    /// Resolves on the first stop signal.
    async fn wait(self) {
        #[cfg(unix)]
        {
            let Self {
                terminate,
                interrupt,
            } = self;
            let terminate = async {
                match terminate {
                    Some(mut terminate) => {
                        terminate.recv().await;
                    }
                    None => std::future::pending().await,
                }
            };
            let interrupt = async {
                match interrupt {
                    Some(mut interrupt) => {
                        interrupt.recv().await;
                    }
                    None => {
                        let _ = tokio::signal::ctrl_c().await;
                    }
                }
            };
            tokio::select! {
                () = terminate => {}
                () = interrupt => {}
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
