//! Reading what the user gives besides options: the prompt from stdin and the `--request` body.

use std::io::{self, Read};
use std::path::Path;

use nexllm_proto::types::ChatCompletionRequest;

use crate::failure::Failure;
use crate::request::parse_request_body;

/// The most bytes read for a prompt or a `--request` body (64 MiB): far more
/// than any API accepts, and a bound on memory when stdin or the file never
/// ends (`yes | nexllm chat`, `--request /dev/zero`).
pub(crate) const MAX_INPUT_BYTES: u64 = 64 * 1024 * 1024;

/// Where the prompt of a one-shot chat comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PromptSource {
    /// The command-line argument.
    Argument(String),
    /// Standard input, read to its end.
    Stdin,
    /// No prompt: the `--request` body holds the conversation.
    Nothing,
}

impl PromptSource {
    /// Decides where the prompt comes from: the argument; stdin when it is `-`
    /// or absent; nothing when it is absent and a `--request` body is given.
    pub(crate) fn choose(prompt: Option<&str>, request: Option<&Path>) -> Result<Self, Failure> {
        let source = match prompt {
            Some("-") => PromptSource::Stdin,
            Some(text) => PromptSource::Argument(text.to_owned()),
            None if request.is_some() => PromptSource::Nothing,
            None => PromptSource::Stdin,
        };
        if source == PromptSource::Stdin && request.is_some_and(is_stdin) {
            return Err(Failure::usage(
                "stdin cannot hold both the --request body and the prompt: \
                 give the prompt as an argument",
            ));
        }
        Ok(source)
    }

    /// The prompt text, reading stdin if that is where it comes from.
    pub(crate) fn read(self) -> Result<Option<String>, Failure> {
        let text = match self {
            PromptSource::Argument(text) => text,
            PromptSource::Stdin => read_stdin("the prompt")?,
            PromptSource::Nothing => return Ok(None),
        };
        let text = text.trim_end_matches(['\n', '\r']);
        if text.trim().is_empty() {
            return Err(Failure::usage("the prompt is empty"));
        }
        Ok(Some(text.to_owned()))
    }
}

/// Reads and parses a `--request` body (`-` for stdin).
pub(crate) fn read_request_file(path: &Path) -> Result<ChatCompletionRequest, Failure> {
    let origin = path.display().to_string();
    let text = if is_stdin(path) {
        read_stdin("the --request body")?
    } else {
        let file = std::fs::File::open(path)
            .map_err(|e| Failure::usage(format!("--request {origin}: {e}")))?;
        read_limited(file, &format!("--request {origin}"))?
    };
    parse_request_body(&text, &origin)
}

fn is_stdin(path: &Path) -> bool {
    path == Path::new("-")
}

fn read_stdin(what: &str) -> Result<String, Failure> {
    read_limited(io::stdin().lock(), &format!("{what} on stdin"))
}

/// Reads `input` to its end as UTF-8 text, refusing more than [`MAX_INPUT_BYTES`].
/// A leading byte order mark (as Windows editors write) is dropped: it is no
/// part of the text, and JSON may not start with it.
fn read_limited(input: impl Read, what: &str) -> Result<String, Failure> {
    let mut bytes = Vec::new();
    input
        .take(MAX_INPUT_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Failure::usage(format!("cannot read {what}: {e}")))?;
    if bytes.len() as u64 > MAX_INPUT_BYTES {
        return Err(Failure::usage(format!(
            "{what} is over {} MiB",
            MAX_INPUT_BYTES / (1024 * 1024)
        )));
    }
    let mut text = String::from_utf8(bytes)
        .map_err(|e| Failure::usage(format!("cannot read {what}: not UTF-8 text ({e})")))?;
    if text.starts_with(BYTE_ORDER_MARK) {
        text.drain(..BYTE_ORDER_MARK.len_utf8());
    }
    Ok(text)
}

const BYTE_ORDER_MARK: char = '\u{feff}';

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chooses_the_prompt_source() {
        let file = Some(Path::new("req.json"));
        let stdin = Some(Path::new("-"));
        assert_eq!(
            PromptSource::choose(Some("hi"), None).unwrap(),
            PromptSource::Argument("hi".into())
        );
        assert_eq!(
            PromptSource::choose(Some("-"), None).unwrap(),
            PromptSource::Stdin
        );
        assert_eq!(
            PromptSource::choose(None, None).unwrap(),
            PromptSource::Stdin
        );
        assert_eq!(
            PromptSource::choose(None, file).unwrap(),
            PromptSource::Nothing
        );
        assert_eq!(
            PromptSource::choose(Some("-"), file).unwrap(),
            PromptSource::Stdin
        );
        assert_eq!(
            PromptSource::choose(Some("hi"), stdin).unwrap(),
            PromptSource::Argument("hi".into())
        );
        assert_eq!(
            PromptSource::choose(None, stdin).unwrap(),
            PromptSource::Nothing
        );
        assert!(matches!(
            PromptSource::choose(Some("-"), stdin),
            Err(Failure::Usage(_))
        ));
    }

    #[test]
    fn an_argument_prompt_loses_only_its_final_newlines() {
        let read = |s: &str| PromptSource::Argument(s.into()).read();
        assert_eq!(read("hi\n\r\n").unwrap().as_deref(), Some("hi"));
        assert_eq!(
            read("  two\nlines ").unwrap().as_deref(),
            Some("  two\nlines ")
        );
        assert!(matches!(read(" \n"), Err(Failure::Usage(_))));
        assert_eq!(PromptSource::Nothing.read().unwrap(), None);
    }

    #[test]
    fn input_is_read_up_to_its_limit() {
        let limit = usize::try_from(MAX_INPUT_BYTES).unwrap();
        let text = read_limited(io::repeat(b'a').take(MAX_INPUT_BYTES), "the prompt").unwrap();
        assert_eq!(text.len(), limit);
        let err = read_limited(io::repeat(b'a').take(MAX_INPUT_BYTES + 1), "the prompt");
        assert!(
            matches!(err, Err(Failure::Usage(ref m)) if m == "the prompt is over 64 MiB"),
            "{err:?}"
        );
        // An input that never ends is refused too (`yes | nexllm chat`).
        assert!(matches!(
            read_limited(io::repeat(b'y'), "the prompt"),
            Err(Failure::Usage(_))
        ));
        let err = read_limited(&b"caf\xe9"[..], "the prompt on stdin");
        assert!(
            matches!(err, Err(Failure::Usage(ref m)) if m.starts_with("cannot read the prompt on stdin: not UTF-8")),
            "{err:?}"
        );
    }

    #[test]
    fn a_leading_byte_order_mark_is_dropped() {
        let read = |bytes: &[u8]| read_limited(bytes, "the prompt").unwrap();
        assert_eq!(
            read(b"\xef\xbb\xbf{\"model\": \"m\"}"),
            "{\"model\": \"m\"}"
        );
        assert_eq!(read(b"\xef\xbb\xbf"), "");
        // Only a leading one: elsewhere it is text.
        assert_eq!(read(b"a\xef\xbb\xbf"), "a\u{feff}");
        let file = std::env::temp_dir().join(format!("nexllm-bom-{}.json", std::process::id()));
        std::fs::write(
            &file,
            b"\xef\xbb\xbf{\"model\": \"m\", \"messages\": [{\"role\": \"user\", \"content\": \"x\"}]}",
        )
        .unwrap();
        let request = read_request_file(&file);
        std::fs::remove_file(&file).unwrap();
        assert_eq!(request.unwrap().model, "m");
    }

    #[test]
    fn a_missing_request_file_is_a_usage_error() {
        let err = read_request_file(Path::new("/nonexistent/nexllm-req.json")).unwrap_err();
        assert!(matches!(err, Failure::Usage(ref m) if m.contains("/nonexistent/nexllm-req.json")));
    }
}
