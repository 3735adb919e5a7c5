//! The interactive chat: a conversation on a terminal, history kept, each
//! answer streamed; Ctrl-C stops an answer, Ctrl-D leaves.

use std::io::{self, Write};

use nexllm_proto::types::{ChatCompletion, ChatCompletionRequest, Message};
use tokio::io::{AsyncBufRead, AsyncBufReadExt, BufReader};

use crate::answer::{Display, Ending, ctrl_c, get_answer};
use crate::backend::Backend;
use crate::failure::Failure;
use crate::render::{error_line, stderr_line, stderr_text, usage_line};
use crate::request::{RequestOptions, build_request, set_system};

/// Runs the conversation until stdin ends (Ctrl-D).
pub(crate) async fn run(
    backend: &Backend,
    options: &RequestOptions,
    show_usage: bool,
) -> Result<(), Failure> {
    let stdin = BufReader::new(tokio::io::stdin());
    converse(backend, options, show_usage, stdin, &mut io::stdout()).await
}

/// The conversation: lines from `input`, answers to `out`, notices to stderr.
async fn converse(
    backend: &Backend,
    options: &RequestOptions,
    show_usage: bool,
    mut input: impl AsyncBufRead + Unpin,
    out: &mut impl Write,
) -> Result<(), Failure> {
    let model = options
        .model
        .as_deref()
        .map(str::trim)
        .filter(|m| !m.is_empty())
        .ok_or_else(|| Failure::usage("no model: pass -m/--model or set NEXLLM_MODEL"))?
        .to_owned();
    let mut conversation = Conversation::new(options.system.as_deref());
    // The system message is in the history; each turn's request needs no `-s`.
    let turn_options = RequestOptions {
        system: None,
        ..options.clone()
    };
    // A parameter out of range is a usage error before the chat starts, not
    // an error printed on every turn.
    let sample = ChatCompletionRequest::new(model.clone(), vec![Message::user("?")]);
    build_request(Some(sample), &turn_options, None)?
        .validate()
        .map_err(Failure::Call)?;

    stderr_line(&format!(
        "Chatting with {model}. Ctrl-C stops an answer, Ctrl-D leaves."
    ));
    let mut line = Vec::new();
    loop {
        stderr_text("> ");
        // `read_until` is cancellation safe: what it read stays in `line`.
        let read = tokio::select! {
            read = input.read_until(b'\n', &mut line) => read,
            () = ctrl_c() => {
                // The terminal drops a line typed but not entered; so do we.
                line.clear();
                stderr_line("\n(Ctrl-D leaves)");
                continue;
            }
        };
        match read {
            Ok(0) => {
                stderr_line("");
                return Ok(());
            }
            Ok(_) => {}
            Err(e) => return Err(Failure::usage(format!("cannot read stdin: {e}"))),
        }
        // A line that is not UTF-8 (a pasted binary, a Latin-1 terminal) is
        // not sent; the conversation goes on.
        let Ok(text) = String::from_utf8(std::mem::take(&mut line)) else {
            stderr_line("(that line is not UTF-8 text: not sent)");
            continue;
        };
        let prompt = text.trim();
        if prompt.is_empty() {
            continue;
        }

        conversation.ask(prompt);
        let base = ChatCompletionRequest::new(model.clone(), conversation.messages().to_vec());
        let request = build_request(Some(base), &turn_options, None)?;
        let answer = get_answer(backend, &request, Display::Text, &mut *out, ctrl_c()).await?;
        match answer.ending {
            Ending::Complete => {
                if show_usage {
                    stderr_line(&usage_line(answer.completion.usage.as_ref()));
                }
            }
            Ending::Stopped => stderr_line("[stopped]"),
            Ending::Failed(error) => stderr_line(&error_line(&error.to_string())),
        }
        conversation.answered(answer.completion);
    }
}

/// The messages of the conversation so far.
#[derive(Debug, Clone, Default)]
pub(crate) struct Conversation {
    messages: Vec<Message>,
}

impl Conversation {
    /// A conversation that starts with this system message, if any.
    pub(crate) fn new(system: Option<&str>) -> Self {
        let mut messages = Vec::new();
        if let Some(system) = system {
            set_system(&mut messages, system);
        }
        Conversation { messages }
    }

    /// Adds the user's next message.
    pub(crate) fn ask(&mut self, prompt: &str) {
        self.messages.push(Message::user(prompt.to_owned()));
    }

    /// Records the answer to the last question: what was shown of it, even if
    /// it was stopped or failed midway. An answer of which nothing arrived
    /// takes its question back out, so the user can ask again.
    pub(crate) fn answered(&mut self, completion: ChatCompletion) {
        let message = completion
            .choices
            .into_iter()
            .find(|c| c.index == 0)
            .map(|choice| Message::from(choice.message))
            .filter(|m| {
                m.text().is_some_and(|t| !t.is_empty())
                    || m.tool_calls.as_ref().is_some_and(|c| !c.is_empty())
            });
        match message {
            Some(message) => self.messages.push(message),
            None => {
                self.messages.pop();
            }
        }
    }

    /// The history, oldest first.
    pub(crate) fn messages(&self) -> &[Message] {
        &self.messages
    }
}

#[cfg(test)]
mod tests {
    use nexllm_proto::types::Role;
    use serde_json::json;

    use super::*;

    fn completion(content: &str) -> ChatCompletion {
        serde_json::from_value(json!({"choices": [{"index": 0, "message": {"role": "assistant", "content": content}}]}))
            .unwrap()
    }

    #[tokio::test]
    async fn parameters_out_of_range_stop_the_chat_before_it_starts() {
        // Nothing listens on the discard port: the check comes before any call.
        let config = nexllm_proto::Config::new("k").base_url("http://127.0.0.1:9/v1");
        let backend = Backend::new(crate::cli::Transport::Hyper, config).unwrap();
        let model = Some("m".to_owned());
        for options in [
            RequestOptions {
                model: model.clone(),
                temperature: Some(5.0),
                ..RequestOptions::default()
            },
            RequestOptions {
                model: model.clone(),
                max_tokens: Some(0),
                ..RequestOptions::default()
            },
        ] {
            let result = run(&backend, &options, false).await;
            assert!(
                matches!(
                    result,
                    Err(Failure::Call(nexllm_proto::Error::InvalidRequest(_)))
                ),
                "{options:?}: {result:?}"
            );
        }
    }

    #[tokio::test]
    async fn a_line_that_is_not_utf8_is_skipped_and_the_chat_goes_on() {
        let server = nexllm_mock::MockServer::start().await.unwrap();
        let config = nexllm_proto::Config::without_key().base_url(server.base_url());
        let backend = Backend::new(crate::cli::Transport::Hyper, config).unwrap();
        let options = RequestOptions {
            model: Some("mock-echo".to_owned()),
            ..RequestOptions::default()
        };
        let mut out = Vec::new();
        let input = &b"caf\xe9 au lait\n\none two\nthree"[..];
        let result = converse(&backend, &options, false, input, &mut out).await;
        assert!(result.is_ok(), "{result:?}");
        assert_eq!(String::from_utf8(out).unwrap(), "one two\nthree\n");
        let requests = server.requests();
        assert_eq!(requests.len(), 2, "{requests:?}");
        assert_eq!(
            requests[1].body_json().unwrap()["messages"],
            json!([
                {"role": "user", "content": "one two"},
                {"role": "assistant", "content": "one two"},
                {"role": "user", "content": "three"}
            ])
        );
        server.shutdown().await;
    }

    #[test]
    fn keeps_the_history() {
        let mut c = Conversation::new(Some("Be brief."));
        c.ask("one");
        c.answered(completion("1"));
        c.ask("two");
        c.answered(completion("2"));
        let roles: Vec<_> = c.messages().iter().map(|m| m.role.clone()).collect();
        assert_eq!(
            roles,
            [
                Role::System,
                Role::User,
                Role::Assistant,
                Role::User,
                Role::Assistant
            ]
        );
        assert_eq!(c.messages()[4].text().as_deref(), Some("2"));
    }

    #[test]
    fn an_answer_with_nothing_in_it_takes_the_question_back() {
        let mut c = Conversation::new(None);
        c.ask("one");
        c.answered(ChatCompletion::default());
        assert!(c.messages().is_empty());
        c.ask("two");
        c.answered(completion(""));
        assert!(c.messages().is_empty());
        c.ask("three");
        c.answered(completion("partial"));
        assert_eq!(c.messages().len(), 2);
    }
}
