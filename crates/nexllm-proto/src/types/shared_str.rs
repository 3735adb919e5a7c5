//! [`SharedStr`]: an immutable string that copies cheaply, for the values every
//! chunk of a stream repeats.

use std::borrow::Borrow;
use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Deref;
use std::sync::Arc;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An immutable string whose clones share one allocation (an `Arc<str>`).
///
/// [`ChatCompletionChunk`](super::ChatCompletionChunk) holds its `id`,
/// `object`, `model`, `system_fingerprint` and `service_tier` this way:
/// every chunk of a stream repeats them, and
/// [`ChatStreamDecoder`](crate::stream::ChatStreamDecoder) gives each chunk
/// the previous chunk's string when the value did not change, instead of a
/// new copy. Use it as a `&str` (it derefs to one); compare it with `str`,
/// `&str` and `String`; make one with `From`/`into()`; `String::from` or
/// `to_string()` gives an owned copy. It (de)serializes as a JSON string.
///
/// ```
/// use nexllm_proto::types::SharedStr;
///
/// let model = SharedStr::from("gpt-4o");
/// let again = model.clone(); // no copy of the text
/// assert_eq!(again, "gpt-4o");
/// assert!(model.starts_with("gpt"));
/// assert_eq!(String::from(model), "gpt-4o");
/// ```
#[derive(Default)]
pub struct SharedStr(
    /// `None` for the empty string, so that an empty value allocates nothing.
    Option<Arc<str>>,
);

impl SharedStr {
    /// The text.
    pub fn as_str(&self) -> &str {
        self.0.as_deref().unwrap_or("")
    }

    /// Whether `self` and `other` share one allocation (then they are equal;
    /// equal strings need not share one).
    pub fn ptr_eq(&self, other: &SharedStr) -> bool {
        match (&self.0, &other.0) {
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            (None, None) => true,
            _ => false,
        }
    }
}

impl Clone for SharedStr {
    fn clone(&self) -> Self {
        SharedStr(self.0.clone())
    }

    /// Leaves `self` as it is when it already shares `source`'s allocation:
    /// no reference count is touched (a stream's chunk lent again repeats
    /// the header of the one before).
    fn clone_from(&mut self, source: &Self) {
        if !self.ptr_eq(source) {
            self.0.clone_from(&source.0);
        }
    }
}

impl Deref for SharedStr {
    type Target = str;

    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for SharedStr {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl Borrow<str> for SharedStr {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl From<&str> for SharedStr {
    fn from(text: &str) -> Self {
        SharedStr((!text.is_empty()).then(|| Arc::from(text)))
    }
}

impl From<&String> for SharedStr {
    fn from(text: &String) -> Self {
        SharedStr::from(text.as_str())
    }
}

impl From<String> for SharedStr {
    fn from(text: String) -> Self {
        SharedStr((!text.is_empty()).then(|| Arc::from(text)))
    }
}

impl From<Arc<str>> for SharedStr {
    fn from(text: Arc<str>) -> Self {
        SharedStr((!text.is_empty()).then_some(text))
    }
}

impl From<SharedStr> for String {
    fn from(text: SharedStr) -> Self {
        text.as_str().to_owned()
    }
}

impl From<&SharedStr> for String {
    fn from(text: &SharedStr) -> Self {
        text.as_str().to_owned()
    }
}

impl PartialEq for SharedStr {
    fn eq(&self, other: &SharedStr) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for SharedStr {}

impl PartialEq<str> for SharedStr {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for SharedStr {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<String> for SharedStr {
    fn eq(&self, other: &String) -> bool {
        self.as_str() == other.as_str()
    }
}

impl PartialEq<SharedStr> for str {
    fn eq(&self, other: &SharedStr) -> bool {
        self == other.as_str()
    }
}

impl PartialEq<SharedStr> for &str {
    fn eq(&self, other: &SharedStr) -> bool {
        *self == other.as_str()
    }
}

impl PartialEq<SharedStr> for String {
    fn eq(&self, other: &SharedStr) -> bool {
        self.as_str() == other.as_str()
    }
}

impl PartialOrd for SharedStr {
    fn partial_cmp(&self, other: &SharedStr) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for SharedStr {
    fn cmp(&self, other: &SharedStr) -> Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl Hash for SharedStr {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // As `str` hashes, since `Borrow<str>` promises the same hash.
        self.as_str().hash(state);
    }
}

impl fmt::Display for SharedStr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for SharedStr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl Serialize for SharedStr {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for SharedStr {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(SharedStrVisitor)
    }
}

struct SharedStrVisitor;

impl Visitor<'_> for SharedStrVisitor {
    type Value = SharedStr;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<SharedStr, E> {
        Ok(SharedStr::from(v))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<SharedStr, E> {
        Ok(SharedStr::from(v))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn clone_from_keeps_a_shared_allocation_and_replaces_any_other() {
        let model = SharedStr::from("gpt-4o");
        let mut slot = model.clone();
        slot.clone_from(&model);
        assert!(slot.ptr_eq(&model));
        // Equal text in another allocation is taken over, not kept.
        let other = SharedStr::from("gpt-4o");
        slot.clone_from(&other);
        assert!(slot.ptr_eq(&other) && !slot.ptr_eq(&model));
        slot.clone_from(&SharedStr::from("o3"));
        assert_eq!(slot, "o3");
        slot.clone_from(&SharedStr::default());
        assert_eq!(slot, "");
        let mut empty = SharedStr::default();
        empty.clone_from(&model);
        assert!(empty.ptr_eq(&model));
    }

    #[test]
    fn compares_with_every_string_type() {
        let shared = SharedStr::from("abc");
        assert_eq!(shared, "abc");
        assert_eq!("abc", shared);
        assert_eq!(shared, *"abc");
        assert_eq!(*"abc", shared);
        assert_eq!(shared, String::from("abc"));
        assert_eq!(String::from("abc"), shared);
        assert_eq!(shared, SharedStr::from(String::from("abc")));
        assert_ne!(shared, "abd");
        let (a, b) = (SharedStr::from("a"), SharedStr::from("b"));
        assert!(a < b);
    }

    #[test]
    fn different_text_compares_unequal_with_every_string_type() {
        let shared = SharedStr::from("abc");
        let other = "abd";
        assert_ne!(shared, SharedStr::from(other));
        assert_ne!(shared, *other);
        assert_ne!(*other, shared);
        assert_ne!(shared, other);
        assert_ne!(other, shared);
        assert_ne!(shared, String::from(other));
        assert_ne!(String::from(other), shared);
        assert_eq!(shared.cmp(&SharedStr::from(other)), Ordering::Less);
        assert_eq!(shared.partial_cmp(&shared.clone()), Some(Ordering::Equal));
    }

    #[test]
    fn every_conversion_keeps_the_text() {
        let text = String::from("abc");
        assert_eq!(SharedStr::from(&text), "abc");
        let arc: Arc<str> = Arc::from("abc");
        let from_arc = SharedStr::from(Arc::clone(&arc));
        assert_eq!(from_arc, "abc");
        assert!(
            from_arc.ptr_eq(&SharedStr::from(arc)),
            "the Arc is kept, not copied"
        );
        assert!(SharedStr::from(Arc::<str>::from("")).ptr_eq(&SharedStr::default()));
        assert_eq!(AsRef::<str>::as_ref(&from_arc), "abc");
        assert_eq!(Borrow::<str>::borrow(&from_arc), "abc");
        assert_eq!(String::from(from_arc), "abc");
        assert!(!SharedStr::default().ptr_eq(&SharedStr::from("a")));
        assert!(!SharedStr::from("a").ptr_eq(&SharedStr::default()));
    }

    #[test]
    fn clones_share_the_text_and_empty_allocates_nothing() {
        let shared = SharedStr::from("model");
        let clone = shared.clone();
        assert!(shared.ptr_eq(&clone));
        assert!(!shared.ptr_eq(&SharedStr::from("model")));
        assert_eq!(SharedStr::from(""), SharedStr::default());
        assert!(SharedStr::from(String::new()).ptr_eq(&SharedStr::default()));
        assert!(SharedStr::default().is_empty());
    }

    #[test]
    fn hashes_like_str_so_sets_find_it_by_str() {
        let set: HashSet<SharedStr> = ["a", "b"].into_iter().map(SharedStr::from).collect();
        assert!(set.contains("a"));
        assert!(!set.contains("c"));
    }

    #[test]
    fn serde_round_trip_and_text_forms() {
        let shared = SharedStr::from("fp_\u{e9}\"1");
        let json = serde_json::to_string(&shared).unwrap();
        assert_eq!(json, r#""fp_é\"1""#);
        let back: SharedStr = serde_json::from_str(&json).unwrap();
        assert_eq!(back, shared);
        let from_value: SharedStr = serde_json::from_value(serde_json::json!("x")).unwrap();
        assert_eq!(from_value, "x");
        let error = serde_json::from_str::<SharedStr>("12").unwrap_err();
        assert!(error.to_string().contains("expected a string"), "{error}");
        assert_eq!(shared.to_string(), "fp_é\"1");
        assert_eq!(format!("{shared:?}"), r#""fp_é\"1""#);
        assert_eq!(String::from(&shared), "fp_é\"1");
        assert_eq!(shared.len(), "fp_é\"1".len());
    }
}
