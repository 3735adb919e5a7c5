//! How a run ends badly: [`Failure`], its one-line message and its exit status.

use std::fmt;
use std::io;
use std::process::ExitCode;

/// Exit status of a call that failed (API, connection, timeout, broken stream).
pub(crate) const EXIT_CALL_FAILED: u8 = 1;
/// Exit status of a usage error (bad option, no model, no prompt, invalid request).
pub(crate) const EXIT_USAGE: u8 = 2;
/// Exit status after Ctrl-C stopped a one-shot answer (128 + SIGINT).
pub(crate) const EXIT_INTERRUPTED: u8 = 130;

/// Why a run did not succeed.
#[derive(Debug)]
pub(crate) enum Failure {
    /// The command line or its inputs are wrong; nothing was sent.
    Usage(String),
    /// The SDK returned an error.
    Call(nexllm_proto::Error),
    /// Ctrl-C stopped the answer.
    Interrupted,
    /// Writing the answer failed (other than a closed pipe).
    Output(io::Error),
    /// stdout was closed by its reader (`nexllm chat … | head -1`) while the
    /// call was going well: stop quietly. (A failed call reports its own failure.)
    OutputClosed,
}

impl Failure {
    /// A usage error with this message.
    pub(crate) fn usage(message: impl Into<String>) -> Self {
        Failure::Usage(message.into())
    }

    /// The process exit status for this failure.
    pub(crate) fn exit_code(&self) -> ExitCode {
        ExitCode::from(match self {
            Failure::Usage(_) => EXIT_USAGE,
            // Rejected before any I/O: the request as given cannot be sent.
            Failure::Call(nexllm_proto::Error::InvalidRequest(_)) => EXIT_USAGE,
            Failure::Call(_) | Failure::Output(_) => EXIT_CALL_FAILED,
            Failure::Interrupted => EXIT_INTERRUPTED,
            Failure::OutputClosed => 0,
        })
    }

    /// The line to print on stderr, if any (without the `error: ` prefix).
    pub(crate) fn message(&self) -> Option<String> {
        match self {
            Failure::OutputClosed => None,
            other => Some(other.to_string()),
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Usage(message) => f.write_str(message),
            Failure::Call(error) => write!(f, "{error}"),
            Failure::Interrupted => f.write_str("interrupted"),
            Failure::Output(error) => write!(f, "cannot write the answer: {error}"),
            Failure::OutputClosed => f.write_str("stdout was closed"),
        }
    }
}

impl From<nexllm_proto::Error> for Failure {
    fn from(error: nexllm_proto::Error) -> Self {
        Failure::Call(error)
    }
}

impl From<io::Error> for Failure {
    fn from(error: io::Error) -> Self {
        if error.kind() == io::ErrorKind::BrokenPipe {
            Failure::OutputClosed
        } else {
            Failure::Output(error)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_statuses() {
        let code = |f: Failure| format!("{:?}", f.exit_code());
        assert_eq!(
            code(Failure::usage("x")),
            format!("{:?}", ExitCode::from(2))
        );
        assert_eq!(
            code(Failure::Call(nexllm_proto::Error::invalid_request(
                "temperature",
                "must be between 0 and 2"
            ))),
            format!("{:?}", ExitCode::from(2))
        );
        assert_eq!(
            code(Failure::Call(nexllm_proto::Error::Cancelled)),
            format!("{:?}", ExitCode::from(1))
        );
        assert_eq!(
            code(Failure::Interrupted),
            format!("{:?}", ExitCode::from(130))
        );
        assert_eq!(
            code(Failure::from(io::Error::from(io::ErrorKind::BrokenPipe))),
            format!("{:?}", ExitCode::SUCCESS)
        );
    }

    #[test]
    fn a_closed_pipe_prints_nothing() {
        assert!(Failure::OutputClosed.message().is_none());
        assert_eq!(
            Failure::usage("no model").message().as_deref(),
            Some("no model")
        );
    }
}
