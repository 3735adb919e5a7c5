//! What the user sees: streamed text flushed per chunk, whole answers, tool
//! calls, JSON documents, the usage line and model lists.

use std::io::{self, Write};

use nexllm_proto::types::{ChatCompletion, ChatCompletionChunk, ModelList, ToolCall, Usage};
use serde::Serialize;

/// Writes the text of a streamed answer as it arrives.
///
/// Only the first choice is shown live; other choices (`n` > 1) and tool
/// calls are written by [`StreamPrinter::finish`] from the assembled completion.
#[derive(Debug)]
pub(crate) struct StreamPrinter<W: Write> {
    out: W,
    wrote_any: bool,
    at_line_start: bool,
}

impl<W: Write> StreamPrinter<W> {
    /// A printer writing to `out`.
    pub(crate) fn new(out: W) -> Self {
        StreamPrinter {
            out,
            wrote_any: false,
            at_line_start: true,
        }
    }

    /// Writes the first choice's text of one chunk and flushes it.
    pub(crate) fn chunk(&mut self, chunk: &ChatCompletionChunk) -> io::Result<()> {
        let mut wrote = false;
        for choice in chunk.choices.iter().filter(|c| c.index == 0) {
            for text in [&choice.delta.content, &choice.delta.refusal]
                .into_iter()
                .flatten()
            {
                if !text.is_empty() {
                    self.write_text(text)?;
                    wrote = true;
                }
            }
        }
        if wrote {
            self.out.flush()?;
        }
        Ok(())
    }

    /// Ends the answer (complete, or cut short by an error): the tool calls
    /// and other choices of the assembled completion, then a final newline.
    pub(crate) fn finish(&mut self, completion: &ChatCompletion) -> io::Result<()> {
        for choice in completion.choices.iter().filter(|c| c.index == 0) {
            for call in choice.message.tool_calls.iter().flatten() {
                self.end_line()?;
                write_tool_call(&mut self.out, call)?;
                self.at_line_start = true;
                self.wrote_any = true;
            }
        }
        let others: Vec<_> = completion.choices.iter().filter(|c| c.index != 0).collect();
        if !others.is_empty() {
            self.end_line()?;
            for choice in others {
                writeln!(self.out, "[choice {}]", choice.index)?;
                write_message_text(&mut self.out, choice)?;
            }
        }
        self.end_line()?;
        self.out.flush()
    }

    /// Ends the line after a stream that Ctrl-C stopped, so that what
    /// follows starts on a line of its own.
    pub(crate) fn interrupted(&mut self) -> io::Result<()> {
        self.end_line()?;
        self.out.flush()
    }

    /// The text written so far ends a line (or nothing was written).
    fn end_line(&mut self) -> io::Result<()> {
        if self.wrote_any && !self.at_line_start {
            self.out.write_all(b"\n")?;
            self.at_line_start = true;
        }
        Ok(())
    }

    fn write_text(&mut self, text: &str) -> io::Result<()> {
        self.out.write_all(text.as_bytes())?;
        self.wrote_any = true;
        self.at_line_start = text.ends_with('\n');
        Ok(())
    }
}

/// Writes a whole answer as text: the content (and refusal) and tool calls of
/// each choice, with a `[choice N]` line before each but the first when there
/// are several, as a streamed answer is written.
pub(crate) fn write_completion_text(
    out: &mut impl Write,
    completion: &ChatCompletion,
) -> io::Result<()> {
    let several = completion.choices.len() > 1;
    for (i, choice) in completion.choices.iter().enumerate() {
        if several && i > 0 {
            writeln!(out, "[choice {}]", choice.index)?;
        }
        write_message_text(out, choice)?;
    }
    out.flush()
}

fn write_message_text(
    out: &mut impl Write,
    choice: &nexllm_proto::types::Choice,
) -> io::Result<()> {
    for text in [&choice.message.content, &choice.message.refusal]
        .into_iter()
        .flatten()
    {
        if !text.is_empty() {
            out.write_all(text.as_bytes())?;
            if !text.ends_with('\n') {
                out.write_all(b"\n")?;
            }
        }
    }
    for call in choice.message.tool_calls.iter().flatten() {
        write_tool_call(out, call)?;
    }
    Ok(())
}

fn write_tool_call(out: &mut impl Write, call: &ToolCall) -> io::Result<()> {
    writeln!(
        out,
        "[tool call {}] {}({})",
        call.id, call.function.name, call.function.arguments
    )
}

/// Writes `value` as one pretty-printed JSON document and a newline.
pub(crate) fn write_json(out: &mut impl Write, value: &impl Serialize) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, value).map_err(io::Error::from)?;
    out.write_all(b"\n")?;
    out.flush()
}

/// The `--usage` line.
pub(crate) fn usage_line(usage: Option<&Usage>) -> String {
    match usage {
        Some(u) => format!(
            "tokens: {} prompt + {} completion = {} total",
            u.prompt_tokens, u.completion_tokens, u.total_tokens
        ),
        None => "tokens: not reported by the server".to_owned(),
    }
}

/// Writes the model ids, one a line, or the whole list as JSON.
pub(crate) fn write_models(out: &mut impl Write, models: &ModelList, json: bool) -> io::Result<()> {
    if json {
        return write_json(out, models);
    }
    for model in &models.data {
        writeln!(out, "{}", model.id)?;
    }
    out.flush()
}

/// The `error: ` line for `message`, kept to one line: control characters
/// (newlines, terminal escapes), which a server may put in its error message,
/// are written escaped (`\n`, `\u{1b}`).
pub(crate) fn error_line(message: &str) -> String {
    let mut line = String::from("error: ");
    for c in message.chars() {
        if c.is_control() {
            line.extend(c.escape_default());
        } else {
            line.push(c);
        }
    }
    line
}

/// Writes one line to stderr (notices, the usage line, error lines). A
/// failure to write to stderr is ignored: there is nowhere left to report it.
pub(crate) fn stderr_line(text: &str) {
    let mut err = io::stderr().lock();
    let _ = writeln!(err, "{text}");
    let _ = err.flush();
}

/// Writes text to stderr without a newline (the interactive prompt).
pub(crate) fn stderr_text(text: &str) {
    let mut err = io::stderr().lock();
    let _ = write!(err, "{text}");
    let _ = err.flush();
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn chunk(value: serde_json::Value) -> ChatCompletionChunk {
        serde_json::from_value(value).unwrap()
    }

    fn completion(value: serde_json::Value) -> ChatCompletion {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn streams_the_first_choice_and_ends_the_line() {
        let mut out = Vec::new();
        let mut printer = StreamPrinter::new(&mut out);
        printer
            .chunk(&chunk(
                json!({"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]}),
            ))
            .unwrap();
        printer
            .chunk(&chunk(json!({"choices": [{"index": 0, "delta": {"content": "Hello"}}, {"index": 1, "delta": {"content": "Other"}}]})))
            .unwrap();
        printer
            .chunk(&chunk(
                json!({"choices": [{"index": 0, "delta": {"content": " world"}}]}),
            ))
            .unwrap();
        printer
            .finish(&completion(json!({"choices": [
                {"index": 0, "message": {"role": "assistant", "content": "Hello world"}},
                {"index": 1, "message": {"role": "assistant", "content": "Other"}}
            ]})))
            .unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "Hello world\n[choice 1]\nOther\n"
        );
    }

    #[test]
    fn an_empty_answer_prints_nothing() {
        let mut out = Vec::new();
        let mut printer = StreamPrinter::new(&mut out);
        printer.finish(&completion(json!({"choices": []}))).unwrap();
        printer.interrupted().unwrap();
        assert!(out.is_empty());
    }

    #[test]
    fn text_ending_in_a_newline_gets_no_extra_one() {
        let mut out = Vec::new();
        let mut printer = StreamPrinter::new(&mut out);
        printer
            .chunk(&chunk(
                json!({"choices": [{"index": 0, "delta": {"content": "line\n"}}]}),
            ))
            .unwrap();
        printer.interrupted().unwrap();
        assert_eq!(out, b"line\n");
    }

    #[test]
    fn tool_calls_are_shown_after_the_text() {
        let done = completion(
            json!({"choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
                "role": "assistant", "content": null,
                "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}]
            }}]}),
        );
        let mut streamed = Vec::new();
        StreamPrinter::new(&mut streamed).finish(&done).unwrap();
        let mut whole = Vec::new();
        write_completion_text(&mut whole, &done).unwrap();
        let want = "[tool call call_1] get_weather({\"city\":\"Paris\"})\n";
        assert_eq!(String::from_utf8(streamed).unwrap(), want);
        assert_eq!(String::from_utf8(whole).unwrap(), want);
    }

    #[test]
    fn an_error_line_is_one_line_without_control_characters() {
        assert_eq!(
            error_line("429 Too Many Requests: slow down, señor"),
            "error: 429 Too Many Requests: slow down, señor"
        );
        assert_eq!(
            error_line("one\r\ntwo\t\u{1b}[31mred\u{7}"),
            "error: one\\r\\ntwo\\t\\u{1b}[31mred\\u{7}"
        );
    }

    #[test]
    fn usage_lines() {
        assert_eq!(
            usage_line(Some(&Usage::new(10, 5))),
            "tokens: 10 prompt + 5 completion = 15 total"
        );
        assert_eq!(usage_line(None), "tokens: not reported by the server");
    }

    #[test]
    fn models_as_ids_or_json() {
        let list: ModelList = serde_json::from_value(json!({"object": "list", "data": [
            {"id": "a", "object": "model", "created": 1, "owned_by": "x"},
            {"id": "b", "object": "model", "created": 2, "owned_by": "y"}
        ]}))
        .unwrap();
        let mut out = Vec::new();
        write_models(&mut out, &list, false).unwrap();
        assert_eq!(out, b"a\nb\n");
        let mut out = Vec::new();
        write_models(&mut out, &list, true).unwrap();
        let back: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(back["data"][1]["owned_by"], "y");
    }
}
