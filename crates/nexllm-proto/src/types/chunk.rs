//! [`ChatCompletionChunk`]: one event of a streamed answer, with its
//! [`ChunkChoice`]s and their [`Delta`]s.
//!
//! Their `Deserialize` is written by hand: known keys are matched straight
//! from the input, and only unknown ones are collected into `extra` (serde's
//! `flatten` would first buffer every key and value of the object). The
//! strings every chunk of a stream repeats come through a [`ChunkSeed`] that
//! shares them with the previous chunk.

use std::fmt;

use serde::de::{self, DeserializeSeed, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

use super::Extra;
use super::lenient::{self, StrOrJson};
use super::{FinishReason, Logprobs, Role, SharedStr, ToolCallDelta, Usage, finish_reason};

/// One chunk of a streamed answer (`data: {..}` in the event stream).
///
/// As tolerant as [`super::ChatCompletion`]: `object`, `created`, `usage`
/// may be missing, `created` may be a float, `choices` may be `null` or
/// missing (the usage-only last chunk has an empty list). Unknown keys are
/// kept in `extra`.
///
/// The strings every chunk repeats are [`SharedStr`]s: the chunks a
/// [`ChatStreamDecoder`](crate::stream::ChatStreamDecoder) returns share them
/// with the chunk before when the value did not change.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ChatCompletionChunk {
    /// The completion id, the same in every chunk of a stream (numbers are
    /// kept as their text, `null` is empty).
    pub id: SharedStr,
    /// The object type, `chat.completion.chunk` (empty when omitted).
    pub object: SharedStr,
    /// Creation time, in Unix seconds (0 when omitted).
    pub created: u64,
    /// The model that answered.
    pub model: SharedStr,
    /// The choices this chunk extends.
    pub choices: Vec<ChunkChoice>,
    /// Token usage: on the last chunk with `include_usage` (and on every
    /// chunk with some servers). Boxed: nearly every chunk has none, and a
    /// chunk is moved several times on its way to the caller.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage: Option<Box<Usage>>,
    /// The backend configuration fingerprint.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub system_fingerprint: Option<SharedStr>,
    /// The tier that processed the request.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_tier: Option<SharedStr>,
    /// The random padding OpenAI adds to stream chunks so that their sizes do
    /// not give the content away (`stream_options.include_obfuscation: false`
    /// turns it off). It means nothing; it is kept so that a chunk encodes
    /// back as it came.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub obfuscation: Option<String>,
    /// Unknown fields, kept.
    #[serde(flatten)]
    pub extra: Extra,
}

/// A piece of one choice in a [`ChatCompletionChunk`].
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ChunkChoice {
    /// Which choice this piece extends.
    pub index: u32,
    /// What is new in this choice (empty when missing or `null`).
    pub delta: Delta,
    /// Set on the choice's last chunk. An empty string counts as unset.
    pub finish_reason: Option<FinishReason>,
    /// Log probabilities of the new tokens, when requested.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logprobs: Option<Logprobs>,
    /// Unknown fields, kept.
    #[serde(flatten)]
    pub extra: Extra,
}

/// What a chunk adds to a choice. Every field is optional.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Delta {
    /// The role, usually only in the first chunk. An empty string counts as unset.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
    /// The next piece of text (an array of text parts is joined).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    /// The next piece of a refusal.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refusal: Option<String>,
    /// Fragments of tool calls.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<ToolCallDelta>>,
    /// Unknown fields, kept (`reasoning_content`, `reasoning`, a deprecated
    /// `function_call`, ...).
    #[serde(flatten)]
    pub extra: Extra,
}

impl Delta {
    /// The reasoning text fragment some providers stream next to the content
    /// (`reasoning_content` or `reasoning`), if any.
    pub fn reasoning(&self) -> Option<&str> {
        super::response::reasoning_text(&self.extra)
    }
}

/// The last value of each string every chunk of a stream repeats, to give the
/// next chunk the same [`SharedStr`] when its value is unchanged.
#[derive(Debug, Default)]
pub(crate) struct RepeatedStrings {
    pub(crate) id: Option<SharedStr>,
    pub(crate) object: Option<SharedStr>,
    pub(crate) model: Option<SharedStr>,
    pub(crate) system_fingerprint: Option<SharedStr>,
    pub(crate) service_tier: Option<SharedStr>,
}

impl RepeatedStrings {
    /// `text` as a [`SharedStr`]: the one kept in `slot` when it holds the
    /// same text, else a new one, which `slot` then keeps.
    pub(crate) fn share(slot: &mut Option<SharedStr>, text: &str) -> SharedStr {
        if let Some(last) = slot.as_ref().filter(|last| last.as_str() == text) {
            return last.clone();
        }
        slot.insert(SharedStr::from(text)).clone()
    }
}

/// Decodes a [`ChatCompletionChunk`], sharing its repeated strings with the
/// chunks decoded before through the same [`RepeatedStrings`].
pub(crate) struct ChunkSeed<'a>(pub(crate) &'a mut RepeatedStrings);

impl<'de> DeserializeSeed<'de> for ChunkSeed<'_> {
    type Value = ChatCompletionChunk;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(ChunkVisitor(Some(self.0)))
    }
}

impl<'de> Deserialize<'de> for ChatCompletionChunk {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(ChunkVisitor(None))
    }
}

impl<'de> Deserialize<'de> for ChunkChoice {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(ChoiceVisitor)
    }
}

impl<'de> Deserialize<'de> for Delta {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(DeltaVisitor)
    }
}

/// Declares the keys of one object: an enum with a variant per known key and
/// `Other(String)` for the rest, decoded without allocating for known keys.
macro_rules! object_keys {
    ($name:ident { $($variant:ident = $key:literal),* $(,)? }) => {
        enum $name {
            $($variant,)*
            Other(String),
        }

        impl $name {
            fn from_key(key: &str) -> Option<Self> {
                match key {
                    $($key => Some($name::$variant),)*
                    _ => None,
                }
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                struct KeyVisitor;

                impl Visitor<'_> for KeyVisitor {
                    type Value = $name;

                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        f.write_str("an object key")
                    }

                    fn visit_str<E: de::Error>(self, v: &str) -> Result<$name, E> {
                        Ok($name::from_key(v).unwrap_or_else(|| $name::Other(v.to_owned())))
                    }

                    fn visit_string<E: de::Error>(self, v: String) -> Result<$name, E> {
                        Ok(match $name::from_key(&v) {
                            Some(known) => known,
                            None => $name::Other(v),
                        })
                    }
                }

                deserializer.deserialize_identifier(KeyVisitor)
            }
        }
    };
}

object_keys!(ChunkKey {
    Id = "id",
    Object = "object",
    Created = "created",
    Model = "model",
    Choices = "choices",
    Usage = "usage",
    SystemFingerprint = "system_fingerprint",
    ServiceTier = "service_tier",
    Obfuscation = "obfuscation",
});

object_keys!(ChoiceKey {
    Index = "index",
    Delta = "delta",
    FinishReason = "finish_reason",
    Logprobs = "logprobs",
});

object_keys!(DeltaKey {
    Role = "role",
    Content = "content",
    Refusal = "refusal",
    ToolCalls = "tool_calls",
});

struct ChunkVisitor<'a>(Option<&'a mut RepeatedStrings>);

impl<'de> Visitor<'de> for ChunkVisitor<'_> {
    type Value = ChatCompletionChunk;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a chat completion chunk object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut strings = self.0;
        let mut chunk = ChatCompletionChunk::default();
        while let Some(key) = map.next_key::<ChunkKey>()? {
            let strings = strings.as_deref_mut();
            match key {
                ChunkKey::Id => {
                    chunk.id = map.next_value_seed(Repeated::text(strings, |s| &mut s.id))?
                }
                ChunkKey::Object => {
                    chunk.object =
                        map.next_value_seed(Repeated::text(strings, |s| &mut s.object))?;
                }
                ChunkKey::Created => chunk.created = map.next_value::<LenientU64>()?.0,
                ChunkKey::Model => {
                    chunk.model = map.next_value_seed(Repeated::text(strings, |s| &mut s.model))?;
                }
                ChunkKey::Choices => {
                    chunk.choices = map
                        .next_value::<Option<Vec<ChunkChoice>>>()?
                        .unwrap_or_default();
                }
                ChunkKey::Usage => chunk.usage = map.next_value()?,
                ChunkKey::SystemFingerprint => {
                    chunk.system_fingerprint = map
                        .next_value_seed(Repeated::optional(strings, |s| {
                            &mut s.system_fingerprint
                        }))?;
                }
                ChunkKey::ServiceTier => {
                    chunk.service_tier =
                        map.next_value_seed(Repeated::optional(strings, |s| &mut s.service_tier))?;
                }
                ChunkKey::Obfuscation => chunk.obfuscation = map.next_value()?,
                ChunkKey::Other(key) => {
                    chunk.extra.insert(key, map.next_value()?);
                }
            }
        }
        Ok(chunk)
    }
}

struct ChoiceVisitor;

impl<'de> Visitor<'de> for ChoiceVisitor {
    type Value = ChunkChoice;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a chunk choice object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut choice = ChunkChoice::default();
        while let Some(key) = map.next_key::<ChoiceKey>()? {
            match key {
                ChoiceKey::Index => {
                    let index = map.next_value::<LenientU64>()?.0;
                    choice.index = u32::try_from(index).unwrap_or(u32::MAX);
                }
                ChoiceKey::Delta => {
                    choice.delta = map.next_value::<Option<Delta>>()?.unwrap_or_default();
                }
                ChoiceKey::FinishReason => {
                    choice.finish_reason = map.next_value::<OptionalFinishReason>()?.0;
                }
                ChoiceKey::Logprobs => choice.logprobs = map.next_value()?,
                ChoiceKey::Other(key) => {
                    choice.extra.insert(key, map.next_value()?);
                }
            }
        }
        Ok(choice)
    }
}

struct DeltaVisitor;

impl<'de> Visitor<'de> for DeltaVisitor {
    type Value = Delta;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a delta object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut delta = Delta::default();
        while let Some(key) = map.next_key::<DeltaKey>()? {
            match key {
                DeltaKey::Role => {
                    delta.role = match map.next_value::<StrOrJson<'de>>()? {
                        StrOrJson::Str(role) if !role.is_empty() => Some(Role::from(&*role)),
                        _ => None,
                    };
                }
                DeltaKey::Content => delta.content = map.next_value::<ContentText>()?.0,
                DeltaKey::Refusal => delta.refusal = map.next_value()?,
                DeltaKey::ToolCalls => delta.tool_calls = map.next_value()?,
                DeltaKey::Other(key) => {
                    delta.extra.insert(key, map.next_value()?);
                }
            }
        }
        Ok(delta)
    }
}

/// A number read with [`lenient::lenient_u64`].
struct LenientU64(u64);

impl<'de> Deserialize<'de> for LenientU64 {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        lenient::lenient_u64(deserializer).map(LenientU64)
    }
}

/// A finish reason read with [`finish_reason::optional`].
struct OptionalFinishReason(Option<FinishReason>);

impl<'de> Deserialize<'de> for OptionalFinishReason {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        finish_reason::optional(deserializer).map(OptionalFinishReason)
    }
}

/// Content read with [`lenient::content_text`].
struct ContentText(Option<String>);

impl<'de> Deserialize<'de> for ContentText {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        lenient::content_text(deserializer).map(ContentText)
    }
}

/// Reads one of the repeated strings, reusing the last value kept in its slot
/// when the text is the same (and keeping the new one otherwise).
struct Repeated<'a> {
    slot: Option<&'a mut Option<SharedStr>>,
    /// `null` is `None` (optional fields) rather than the empty string.
    optional: bool,
}

impl<'a> Repeated<'a> {
    fn text(
        strings: Option<&'a mut RepeatedStrings>,
        slot: fn(&mut RepeatedStrings) -> &mut Option<SharedStr>,
    ) -> RepeatedText<'a> {
        RepeatedText(Repeated {
            slot: strings.map(slot),
            optional: false,
        })
    }

    fn optional(
        strings: Option<&'a mut RepeatedStrings>,
        slot: fn(&mut RepeatedStrings) -> &mut Option<SharedStr>,
    ) -> Self {
        Repeated {
            slot: strings.map(slot),
            optional: true,
        }
    }

    fn share(self, text: &str) -> SharedStr {
        match self.slot {
            Some(slot) => RepeatedStrings::share(slot, text),
            None => SharedStr::from(text),
        }
    }
}

/// A repeated string that is never absent: `null` is the empty string.
struct RepeatedText<'a>(Repeated<'a>);

impl<'de> DeserializeSeed<'de> for RepeatedText<'_> {
    type Value = SharedStr;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<SharedStr, D::Error> {
        Ok(self.0.deserialize(deserializer)?.unwrap_or_default())
    }
}

impl<'de> DeserializeSeed<'de> for Repeated<'_> {
    type Value = Option<SharedStr>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

/// As [`lenient::lenient_string`]: numbers and booleans are kept as their text.
impl<'de> Visitor<'de> for Repeated<'_> {
    type Value = Option<SharedStr>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Some(self.share(v)))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Some(self.share(&v.to_string())))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Some(self.share(&v.to_string())))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Ok(Some(self.share(&v.to_string())))
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Some(self.share(&v.to_string())))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok((!self.optional).then(SharedStr::default))
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        self.visit_unit()
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn with_seed(text: &str, strings: &mut RepeatedStrings) -> ChatCompletionChunk {
        let mut de = serde_json::Deserializer::from_str(text);
        let chunk = ChunkSeed(strings).deserialize(&mut de).unwrap();
        de.end().unwrap();
        chunk
    }

    const CHUNK: &str = r#"{"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","service_tier":"default","system_fingerprint":"fp","choices":[{"index":0,"delta":{"content":"hi","x_delta":1},"logprobs":null,"finish_reason":null,"x_choice":true}],"usage":null,"obfuscation":"pad","x_top":"kept"}"#;

    #[test]
    fn known_keys_are_fields_and_unknown_ones_are_kept() {
        let chunk: ChatCompletionChunk = serde_json::from_str(CHUNK).unwrap();
        assert_eq!(chunk.id, "c1");
        assert_eq!(chunk.object, "chat.completion.chunk");
        assert_eq!(chunk.created, 1);
        assert_eq!(chunk.service_tier.as_deref(), Some("default"));
        assert_eq!(chunk.system_fingerprint.as_deref(), Some("fp"));
        assert_eq!(chunk.obfuscation.as_deref(), Some("pad"));
        assert!(chunk.usage.is_none());
        assert_eq!(
            chunk.extra,
            json!({"x_top": "kept"}).as_object().unwrap().clone()
        );
        let choice = &chunk.choices[0];
        assert_eq!(choice.delta.content.as_deref(), Some("hi"));
        assert_eq!(choice.extra["x_choice"], json!(true));
        assert_eq!(choice.delta.extra["x_delta"], json!(1));
        // The same from a `Value`, and back to the same JSON.
        let original: Value = serde_json::from_str(CHUNK).unwrap();
        let from_value: ChatCompletionChunk = serde_json::from_value(original.clone()).unwrap();
        assert_eq!(from_value, chunk);
        let mut encoded = serde_json::to_value(&chunk).unwrap();
        encoded["usage"] = Value::Null;
        encoded["choices"][0]["logprobs"] = Value::Null;
        assert_eq!(encoded, original);
    }

    #[test]
    fn a_seed_shares_unchanged_strings_between_chunks() {
        let mut strings = RepeatedStrings::default();
        let first = with_seed(CHUNK, &mut strings);
        let second = with_seed(CHUNK, &mut strings);
        assert_eq!(first, second);
        assert!(first.id.ptr_eq(&second.id));
        assert!(first.model.ptr_eq(&second.model));
        assert!(first.object.ptr_eq(&second.object));
        let (Some(a), Some(b)) = (&first.service_tier, &second.service_tier) else {
            panic!("service tier missing")
        };
        assert!(a.ptr_eq(b));
        // A changed value is a new string, and is what the next chunk shares.
        let changed = with_seed(
            &CHUNK.replace(r#""model":"m""#, r#""model":"m2""#),
            &mut strings,
        );
        assert_eq!(changed.model, "m2");
        let third = with_seed(
            &CHUNK.replace(r#""model":"m""#, r#""model":"m2""#),
            &mut strings,
        );
        assert!(changed.model.ptr_eq(&third.model));
        // Without a seed nothing is shared.
        let plain: ChatCompletionChunk = serde_json::from_str(CHUNK).unwrap();
        assert!(!plain.id.ptr_eq(&first.id));
    }

    #[test]
    fn lenient_repeated_strings() {
        let mut strings = RepeatedStrings::default();
        let chunk = with_seed(
            r#"{"id":12,"object":null,"model":true,"system_fingerprint":null,"service_tier":3.5}"#,
            &mut strings,
        );
        assert_eq!(chunk.id, "12");
        assert_eq!(chunk.object, "");
        assert_eq!(chunk.model, "true");
        assert_eq!(chunk.system_fingerprint, None);
        assert_eq!(chunk.service_tier.as_deref(), Some("3.5"));
        let mut de = serde_json::Deserializer::from_str(r#"{"id":{"a":1}}"#);
        assert!(ChunkSeed(&mut strings).deserialize(&mut de).is_err());
    }

    #[test]
    fn null_and_odd_values_in_choices_and_deltas() {
        let chunk: ChatCompletionChunk = serde_json::from_str(
            r#"{"choices":[{"index":"2","delta":null,"finish_reason":""},{"index":1.0,"delta":{"role":"","content":[{"type":"text","text":"a"},"b"]},"finish_reason":"stop"},{"delta":{"role":"critic","content":null},"finish_reason":7}]}"#,
        )
        .unwrap();
        let [a, b, c] = &chunk.choices[..] else {
            panic!("{chunk:?}")
        };
        assert_eq!(
            (a.index, &a.delta, &a.finish_reason),
            (2, &Delta::default(), &None)
        );
        assert_eq!(b.index, 1);
        assert_eq!(b.delta.role, None);
        assert_eq!(b.delta.content.as_deref(), Some("ab"));
        assert_eq!(b.finish_reason, Some(FinishReason::Stop));
        assert_eq!(c.delta.role, Some(Role::Other("critic".into())));
        assert_eq!(c.delta.content, None);
        assert_eq!(c.finish_reason, Some(FinishReason::Other("7".into())));
        let none: ChatCompletionChunk = serde_json::from_str(r#"{"choices":null}"#).unwrap();
        assert!(none.choices.is_empty());
    }

    #[test]
    fn reasoning_is_whichever_field_holds_text() {
        let reasoning = |delta: Value| serde_json::from_value::<Delta>(delta).unwrap();
        for (delta, expected) in [
            (json!({"reasoning_content": "a"}), Some("a")),
            (json!({"reasoning": "b"}), Some("b")),
            (
                json!({"reasoning_content": "a", "reasoning": "b"}),
                Some("a"),
            ),
            // Servers that send both leave the other one null or empty.
            (
                json!({"reasoning_content": null, "reasoning": "b"}),
                Some("b"),
            ),
            (
                json!({"reasoning_content": "", "reasoning": "b"}),
                Some("b"),
            ),
            (
                json!({"reasoning_content": "a", "reasoning": null}),
                Some("a"),
            ),
            (
                json!({"reasoning_content": "", "reasoning": null}),
                Some(""),
            ),
            (json!({"reasoning_content": null, "reasoning": null}), None),
            (json!({"content": "x"}), None),
        ] {
            assert_eq!(reasoning(delta.clone()).reasoning(), expected, "{delta}");
        }
    }

    #[test]
    fn escaped_keys_and_values_decode() {
        let chunk: ChatCompletionChunk = serde_json::from_str(
            r#"{"\u0069d":"a\"b","choices":[{"delta":{"cont\u0065nt":"\u00e9"}}]}"#,
        )
        .unwrap();
        assert_eq!(chunk.id, "a\"b");
        assert_eq!(chunk.choices[0].delta.content.as_deref(), Some("é"));
    }

    #[test]
    fn a_chunk_must_be_an_object() {
        assert!(serde_json::from_str::<ChatCompletionChunk>("[]").is_err());
        assert!(serde_json::from_str::<ChatCompletionChunk>("null").is_err());
        assert!(serde_json::from_str::<ChatCompletionChunk>(r#"{"choices":{}}"#).is_err());
    }
}
