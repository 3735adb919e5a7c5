//! Writing events back as event-stream text: [`encode_event`] and [`SseEncoder`].
//!
//! Used by tests, property tests and mock servers. Decoding what these write
//! gives back the same events (see each item for the few characters a stream
//! cannot carry).

use super::event::SseEvent;

/// Writes one event as event-stream text, ending with its blank line.
///
/// The `id:` line is written when the event has a last event id, and the
/// `event:` line when its type is not `message`. Decoding the text with a
/// fresh decoder yields `event` again, except that a CR in the data (which
/// the format cannot carry) comes back as LF, and that CR, LF (and NUL in the
/// id) in the type or the id are written as U+FFFD.
///
/// ```
/// use nexllm_proto::sse::{SseEvent, encode_event};
///
/// let text = encode_event(&SseEvent::new("delta", "a\nb", "7"));
/// assert_eq!(text, "id: 7\nevent: delta\ndata: a\ndata: b\n\n");
/// ```
pub fn encode_event(event: &SseEvent) -> String {
    let mut out = String::with_capacity(event.data().len() + 16);
    if !event.last_event_id().is_empty() {
        write_id(&mut out, event.last_event_id());
    }
    write_body(&mut out, event);
    out
}

/// Writes a sequence of events, writing `id:` lines only where the last
/// event id changes (and an empty `id:` where it is cleared), so that a
/// decoder reading the whole text returns the same sequence.
#[derive(Debug, Clone, Default)]
pub struct SseEncoder {
    last_event_id: String,
}

impl SseEncoder {
    /// An encoder at the start of a stream (no last event id yet).
    pub fn new() -> Self {
        Self::default()
    }

    /// Writes the next event of the stream.
    pub fn encode(&mut self, event: &SseEvent) -> String {
        let mut out = String::with_capacity(event.data().len() + 16);
        self.encode_into(event, &mut out);
        out
    }

    /// Appends the next event of the stream to `out`.
    pub fn encode_into(&mut self, event: &SseEvent, out: &mut String) {
        if event.last_event_id() != self.last_event_id {
            write_id(out, event.last_event_id());
            self.last_event_id.clear();
            self.last_event_id.push_str(event.last_event_id());
        }
        write_body(out, event);
    }
}

fn write_id(out: &mut String, id: &str) {
    if id.is_empty() {
        out.push_str("id\n");
    } else {
        out.push_str("id: ");
        push_single_line(out, id, true);
        out.push('\n');
    }
}

/// The `event:` line, the `data:` lines and the blank line.
fn write_body(out: &mut String, event: &SseEvent) {
    if event.event_type() != super::event::DEFAULT_EVENT_TYPE {
        out.push_str("event: ");
        push_single_line(out, event.event_type(), false);
        out.push('\n');
    }
    let mut rest = event.data();
    loop {
        let (line, next) = match rest.find(['\r', '\n']) {
            Some(end) => {
                let after = &rest[end..];
                let skip = if after.starts_with("\r\n") { 2 } else { 1 };
                (&rest[..end], Some(&after[skip..]))
            }
            None => (rest, None),
        };
        if line.is_empty() {
            out.push_str("data:\n");
        } else {
            out.push_str("data: ");
            out.push_str(line);
            out.push('\n');
        }
        match next {
            Some(next) => rest = next,
            None => break,
        }
    }
    out.push('\n');
}

/// Appends `text` with the characters a one-line field cannot carry replaced.
fn push_single_line(out: &mut String, text: &str, replace_nul: bool) {
    for c in text.chars() {
        match c {
            '\r' | '\n' => out.push(char::REPLACEMENT_CHARACTER),
            '\0' if replace_nul => out.push(char::REPLACEMENT_CHARACTER),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_lines_split_on_every_line_end() {
        let text = encode_event(&SseEvent::message("a\r\nb\rc\n\nd"));
        assert_eq!(text, "data: a\ndata: b\ndata: c\ndata:\ndata: d\n\n");
    }

    #[test]
    fn empty_data_is_one_empty_data_line() {
        assert_eq!(encode_event(&SseEvent::message("")), "data:\n\n");
    }

    #[test]
    fn leading_space_survives_because_one_space_is_always_written() {
        assert_eq!(encode_event(&SseEvent::message(" x")), "data:  x\n\n");
    }

    #[test]
    fn unrepresentable_characters_are_replaced() {
        let text = encode_event(&SseEvent::new("a\nb", "x", "1\0\r"));
        assert_eq!(
            text,
            "id: 1\u{FFFD}\u{FFFD}\nevent: a\u{FFFD}b\ndata: x\n\n"
        );
    }

    #[test]
    fn the_encoder_writes_ids_only_when_they_change() {
        let mut encoder = SseEncoder::new();
        let mut text = String::new();
        encoder.encode_into(&SseEvent::new("", "1", "a"), &mut text);
        encoder.encode_into(&SseEvent::new("", "2", "a"), &mut text);
        encoder.encode_into(&SseEvent::new("", "3", ""), &mut text);
        assert_eq!(text, "id: a\ndata: 1\n\ndata: 2\n\nid\ndata: 3\n\n");
    }
}
