//! [`SseEvent`]: one dispatched server-sent event.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

/// The event type a dispatched event has when the stream named none.
pub const DEFAULT_EVENT_TYPE: &str = "message";

/// One event of an event stream, as the WHATWG algorithm dispatches it.
///
/// Equality compares what the accessors return: an event whose stream said
/// `event: message` equals one whose stream named no type.
///
/// The data of an event that [`SseDecoder::next_event`](super::SseDecoder::next_event)
/// decoded from a read kept whole (see the decoder's "Cost") is not copied
/// out: the event shares that read's text, as every other event from the same
/// read does, and holding the event keeps the read (at most 256 KiB) alive.
/// [`into_data`](Self::into_data) copies the data out then.
#[derive(Clone)]
pub struct SseEvent {
    /// `None` for the default type `message` (no allocation in the common case).
    event_type: Option<Arc<str>>,
    data: Data,
    /// `None` for the empty last event id.
    last_event_id: Option<Arc<str>>,
}

/// Where the data of an [`SseEvent`] is.
#[derive(Clone)]
enum Data {
    Owned(String),
    /// `text[start..end]`, both on character boundaries (checked by the decoder).
    Shared {
        text: Arc<str>,
        start: usize,
        end: usize,
    },
}

impl SseEvent {
    /// An event with the given type, data and last event id.
    ///
    /// An empty `event_type` means [`DEFAULT_EVENT_TYPE`], as in the stream.
    pub fn new(event_type: &str, data: impl Into<String>, last_event_id: &str) -> Self {
        SseEvent {
            event_type: normalize_type(event_type),
            data: Data::Owned(data.into()),
            last_event_id: (!last_event_id.is_empty()).then(|| Arc::from(last_event_id)),
        }
    }

    /// A `message` event with the given data and no last event id.
    pub fn message(data: impl Into<String>) -> Self {
        SseEvent {
            event_type: None,
            data: Data::Owned(data.into()),
            last_event_id: None,
        }
    }

    /// Assembles an event from parts the decoder already holds.
    pub(crate) fn from_parts(
        event_type: Option<Arc<str>>,
        data: String,
        last_event_id: Option<Arc<str>>,
    ) -> Self {
        SseEvent {
            event_type,
            data: Data::Owned(data),
            last_event_id,
        }
    }

    /// An event whose data is `text[start..end]`, shared with the decoder's
    /// input. The caller checks that the range is on character boundaries
    /// (should it not be, `data()` is empty, never a panic).
    pub(crate) fn shared(
        event_type: Option<Arc<str>>,
        text: Arc<str>,
        start: usize,
        end: usize,
        last_event_id: Option<Arc<str>>,
    ) -> Self {
        SseEvent {
            event_type,
            data: Data::Shared { text, start, end },
            last_event_id,
        }
    }

    /// The event type: the last `event:` field of the event, or `"message"`
    /// when there was none or it was empty.
    pub fn event_type(&self) -> &str {
        self.event_type.as_deref().unwrap_or(DEFAULT_EVENT_TYPE)
    }

    /// The data: every `data:` field of the event joined with `\n`.
    pub fn data(&self) -> &str {
        match &self.data {
            Data::Owned(data) => data,
            // On character boundaries since `shared` checked them: `get` is
            // then two byte comparisons, not a new UTF-8 check.
            Data::Shared { text, start, end } => text.get(*start..*end).unwrap_or_default(),
        }
    }

    /// The last event id in force when the event was dispatched (ids are
    /// sticky: an event without an `id:` field carries the previous one).
    /// Empty when no id was set or it was reset with an empty `id:`.
    pub fn last_event_id(&self) -> &str {
        self.last_event_id.as_deref().unwrap_or("")
    }

    /// Takes the data out: without copying it when the event owns it, as a
    /// copy when it shares its read's text.
    pub fn into_data(self) -> String {
        match self.data {
            Data::Owned(data) => data,
            Data::Shared { .. } => self.data().to_owned(),
        }
    }
}

/// An event borrowed from the [`SseDecoder`](super::SseDecoder) that decoded
/// it ([`next_event_ref`](super::SseDecoder::next_event_ref)), valid until
/// the decoder's next call: the same accessors as [`SseEvent`], no allocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SseEventRef<'a> {
    event_type: &'a str,
    data: &'a str,
    last_event_id: &'a str,
}

impl<'a> SseEventRef<'a> {
    pub(crate) fn new(event_type: &'a str, data: &'a str, last_event_id: &'a str) -> Self {
        SseEventRef {
            event_type,
            data,
            last_event_id,
        }
    }

    /// The event type (`"message"` when the stream named none).
    pub fn event_type(&self) -> &'a str {
        self.event_type
    }

    /// The data: every `data:` field of the event joined with `\n`.
    pub fn data(&self) -> &'a str {
        self.data
    }

    /// The last event id in force when the event was dispatched (empty when none).
    pub fn last_event_id(&self) -> &'a str {
        self.last_event_id
    }

    /// An owned copy.
    pub fn to_event(&self) -> SseEvent {
        SseEvent::new(self.event_type, self.data, self.last_event_id)
    }
}

impl SseEvent {
    /// This event, borrowed.
    pub fn as_event_ref(&self) -> SseEventRef<'_> {
        SseEventRef::new(self.event_type(), self.data(), self.last_event_id())
    }
}

/// `None` stands for the default type, so that `""` and `"message"` compare equal.
fn normalize_type(event_type: &str) -> Option<Arc<str>> {
    if event_type.is_empty() || event_type == DEFAULT_EVENT_TYPE {
        None
    } else {
        Some(Arc::from(event_type))
    }
}

impl PartialEq for SseEvent {
    fn eq(&self, other: &Self) -> bool {
        self.data() == other.data()
            && self.event_type() == other.event_type()
            && self.last_event_id() == other.last_event_id()
    }
}

impl Eq for SseEvent {}

impl Hash for SseEvent {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.event_type().hash(state);
        self.data().hash(state);
        self.last_event_id().hash(state);
    }
}

impl fmt::Debug for SseEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SseEvent")
            .field("event_type", &self.event_type())
            .field("data", &self.data())
            .field("last_event_id", &self.last_event_id())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_is_the_default_type() {
        assert_eq!(SseEvent::new("", "x", "").event_type(), "message");
        assert_eq!(SseEvent::new("message", "x", ""), SseEvent::message("x"));
        assert_ne!(SseEvent::new("ping", "x", ""), SseEvent::message("x"));
    }

    #[test]
    fn accessors_return_what_was_given() {
        let event = SseEvent::new("delta", "a\nb", "42");
        assert_eq!(event.event_type(), "delta");
        assert_eq!(event.data(), "a\nb");
        assert_eq!(event.last_event_id(), "42");
        assert_eq!(SseEvent::message("x").last_event_id(), "");
        let borrowed = event.as_event_ref();
        assert_eq!(
            (
                borrowed.event_type(),
                borrowed.data(),
                borrowed.last_event_id()
            ),
            ("delta", "a\nb", "42")
        );
        assert_eq!(borrowed.to_event(), event);
        assert_eq!(event.into_data(), "a\nb");
    }

    #[test]
    fn debug_shows_the_effective_values() {
        let shown = format!("{:?}", SseEvent::message("hi"));
        assert!(shown.contains("\"message\""), "{shown}");
        assert!(shown.contains("\"hi\""), "{shown}");
    }
}
