//! Tolerant field decoders for what real servers send: numbers as floats or
//! strings, `null` where a value is expected, content as an array of parts.

use std::borrow::Cow;
use std::fmt;

use serde::Deserialize;
use serde::Deserializer;
use serde::de::{self, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// Decodes `null` (or an absent field, with `#[serde(default)]`) as `T::default()`.
pub(crate) fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// A non-negative integer sent as an integer, a float (`1712345678.0`), a
/// numeric string or `null`. Anything unusable becomes 0 rather than an error:
/// a timestamp or a token count is never worth failing a whole response for.
pub(crate) fn lenient_u64<'de, D>(deserializer: D) -> Result<u64, D::Error>
where
    D: Deserializer<'de>,
{
    deserializer.deserialize_any(LenientU64)
}

/// [`lenient_u64`], saturated to `u32`.
pub(crate) fn lenient_u32<'de, D>(deserializer: D) -> Result<u32, D::Error>
where
    D: Deserializer<'de>,
{
    let n = deserializer.deserialize_any(LenientU64)?;
    Ok(u32::try_from(n).unwrap_or(u32::MAX))
}

/// [`lenient_u64`] for optional fields: `null` stays `None`.
pub(crate) fn lenient_opt_u64<'de, D>(deserializer: D) -> Result<Option<u64>, D::Error>
where
    D: Deserializer<'de>,
{
    deserializer.deserialize_option(OptionOf(LenientU64))
}

/// [`lenient_u32`] for optional fields: `null` stays `None`.
pub(crate) fn lenient_opt_u32<'de, D>(deserializer: D) -> Result<Option<u32>, D::Error>
where
    D: Deserializer<'de>,
{
    let n = deserializer.deserialize_option(OptionOf(LenientU64))?;
    Ok(n.map(|n| u32::try_from(n).unwrap_or(u32::MAX)))
}

fn float_to_u64(v: f64) -> u64 {
    if v.is_finite() && v >= 0.0 {
        // `as` saturates at u64::MAX and truncates the fraction, which is what we want.
        v as u64
    } else {
        0
    }
}

struct LenientU64;

impl<'de> Visitor<'de> for LenientU64 {
    type Value = u64;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a non-negative number")
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<u64, E> {
        Ok(v)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<u64, E> {
        Ok(u64::try_from(v).unwrap_or(0))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<u64, E> {
        Ok(float_to_u64(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<u64, E> {
        let v = v.trim();
        Ok(v.parse::<u64>()
            .ok()
            .or_else(|| v.parse::<f64>().ok().map(float_to_u64))
            .unwrap_or(0))
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<u64, E> {
        Ok(0)
    }

    fn visit_unit<E: de::Error>(self) -> Result<u64, E> {
        Ok(0)
    }

    fn visit_none<E: de::Error>(self) -> Result<u64, E> {
        Ok(0)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<u64, D::Error> {
        d.deserialize_any(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<u64, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(0)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<u64, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(0)
    }
}

/// Wraps a visitor so that `null` decodes as `None` and anything else through it.
struct OptionOf<V>(V);

impl<'de, V: Visitor<'de>> Visitor<'de> for OptionOf<V> {
    type Value = Option<V::Value>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.expecting(f)
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self.0).map(Some)
    }
}

/// A string, or `null` as the empty string; numbers and booleans are written
/// as text (some servers send numeric ids).
pub(crate) fn lenient_string<'de, D>(deserializer: D) -> Result<String, D::Error>
where
    D: Deserializer<'de>,
{
    deserializer.deserialize_any(LenientString)
}

struct LenientString;

impl<'de> Visitor<'de> for LenientString {
    type Value = String;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
        Ok(v.to_owned())
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<String, E> {
        Ok(v)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<String, E> {
        Ok(v.to_string())
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<String, E> {
        Ok(v.to_string())
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<String, E> {
        Ok(v.to_string())
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<String, E> {
        Ok(v.to_string())
    }

    fn visit_unit<E: de::Error>(self) -> Result<String, E> {
        Ok(String::new())
    }

    fn visit_none<E: de::Error>(self) -> Result<String, E> {
        Ok(String::new())
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<String, D::Error> {
        d.deserialize_any(self)
    }
}

/// A JSON value read without building a [`serde_json::Value`] in the common
/// cases: a string (borrowed from the input when it holds no escapes), `null`,
/// or anything else as a `Value`.
pub(crate) enum StrOrJson<'de> {
    Null,
    Str(Cow<'de, str>),
    Other(serde_json::Value),
}

impl<'de> Deserialize<'de> for StrOrJson<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(StrOrJsonVisitor)
    }
}

struct StrOrJsonVisitor;

impl<'de> Visitor<'de> for StrOrJsonVisitor {
    type Value = StrOrJson<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(StrOrJson::Str(Cow::Borrowed(v)))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(StrOrJson::Str(Cow::Owned(v.to_owned())))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(StrOrJson::Str(Cow::Owned(v)))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(StrOrJson::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(StrOrJson::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        Ok(StrOrJson::Other(v.into()))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(StrOrJson::Other(v.into()))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(StrOrJson::Other(v.into()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Ok(StrOrJson::Other(v.into()))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        serde_json::Value::deserialize(de::value::SeqAccessDeserializer::new(seq))
            .map(StrOrJson::Other)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        serde_json::Value::deserialize(de::value::MapAccessDeserializer::new(map))
            .map(StrOrJson::Other)
    }
}

/// A token's `bytes`: a list of byte values, or `null`. A list that is not
/// bytes (some servers send the token's Unicode code points, which go past
/// 255) or any other value is `None` rather than an error: the bytes are an
/// aid for joining split characters, never worth failing a response for.
pub(crate) fn lenient_bytes<'de, D>(deserializer: D) -> Result<Option<Vec<u8>>, D::Error>
where
    D: Deserializer<'de>,
{
    Ok(
        match Option::<serde_json::Value>::deserialize(deserializer)? {
            Some(serde_json::Value::Array(items)) => items
                .iter()
                .map(|item| item.as_u64().and_then(|n| u8::try_from(n).ok()))
                .collect(),
            _ => None,
        },
    )
}

/// A string that some servers send as a JSON value instead: function-call
/// `arguments` as an object (Ollama's native shape) is written back as JSON
/// text; `null` is the empty string.
pub(crate) fn string_or_json<'de, D>(deserializer: D) -> Result<String, D::Error>
where
    D: Deserializer<'de>,
{
    Ok(opt_string_or_json(deserializer)?.unwrap_or_default())
}

/// [`string_or_json`] for optional fields: `null` stays `None`.
pub(crate) fn opt_string_or_json<'de, D>(deserializer: D) -> Result<Option<String>, D::Error>
where
    D: Deserializer<'de>,
{
    Ok(match StrOrJson::deserialize(deserializer)? {
        StrOrJson::Str(s) => Some(s.into_owned()),
        StrOrJson::Null | StrOrJson::Other(serde_json::Value::Null) => None,
        StrOrJson::Other(other) => Some(other.to_string()),
    })
}

/// Response `content`: a string, `null`, or (as some providers send) an array
/// of content parts, whose `text` parts are joined.
pub(crate) fn content_text<'de, D>(deserializer: D) -> Result<Option<String>, D::Error>
where
    D: Deserializer<'de>,
{
    use serde_json::Value;
    Ok(match StrOrJson::deserialize(deserializer)? {
        StrOrJson::Null | StrOrJson::Other(Value::Null) => None,
        StrOrJson::Str(s) => Some(s.into_owned()),
        StrOrJson::Other(Value::Array(parts)) => {
            let mut text = String::new();
            for part in &parts {
                match part {
                    Value::String(s) => text.push_str(s),
                    Value::Object(map) => {
                        let is_text = map
                            .get("type")
                            .and_then(Value::as_str)
                            .is_none_or(|t| t == "text" || t == "output_text");
                        if let (true, Some(Value::String(s))) = (is_text, map.get("text")) {
                            text.push_str(s);
                        }
                    }
                    _ => {}
                }
            }
            Some(text)
        }
        StrOrJson::Other(other) => Some(other.to_string()),
    })
}

/// For `skip_serializing_if`: an optional JSON value that is unset or `null`
/// is left out, since `null` would read back as unset anyway.
pub(crate) fn is_none_or_null(value: &Option<serde_json::Value>) -> bool {
    value.as_ref().is_none_or(serde_json::Value::is_null)
}

/// For `skip_serializing_if`: an optional list that is unset or empty is
/// left out, where the API refuses an empty array.
pub(crate) fn is_none_or_empty<T>(list: &Option<Vec<T>>) -> bool {
    list.as_ref().is_none_or(Vec::is_empty)
}

/// `Some(value)` unless the value is `null`: setters treat a `null` JSON
/// value as "unset", so what is built is what reads back.
pub(crate) fn non_null(value: serde_json::Value) -> Option<serde_json::Value> {
    (!value.is_null()).then_some(value)
}
