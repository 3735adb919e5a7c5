//! [`Extra`]: the unknown fields of an object, kept, and free when there are none.

use std::fmt;
use std::ops::{Deref, DerefMut};
use std::sync::OnceLock;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::map::{IntoIter, Iter, IterMut};
use serde_json::{Map, Value};

/// The fields of a JSON object that its type does not know, kept so that
/// decoding then encoding loses nothing (they are flattened back into the
/// object).
///
/// It is a [`serde_json::Map`] that costs nothing while empty, which it
/// nearly always is: no map is built, and dropping it does nothing (a stream
/// makes thousands of chunks, each with several objects). It derefs to the
/// map, so every `Map` method works on it (`extra["key"]`, `extra.get(..)`,
/// `extra.insert(..)`, `extra.entry(..)`, iteration, ...); the first change
/// through `&mut` allocates the map. `Extra::from(map)` and
/// `Map::from(extra)` convert; it compares equal to a `Map` with the same
/// entries.
///
/// ```
/// use nexllm_proto::types::{ChatCompletionChunk, Extra};
/// use serde_json::json;
///
/// let chunk: ChatCompletionChunk =
///     serde_json::from_value(json!({"id": "c", "choices": [], "x_trace": "t1"})).unwrap();
/// assert_eq!(chunk.extra["x_trace"], "t1");
/// assert_eq!(chunk.extra.len(), 1);
///
/// let mut extra = Extra::new();
/// assert!(extra.is_empty());
/// extra.insert("top_k".into(), json!(40));
/// assert_eq!(extra.get("top_k"), Some(&json!(40)));
/// for (key, value) in &extra {
///     assert_eq!((key.as_str(), value), ("top_k", &json!(40)));
/// }
/// ```
#[derive(Clone, Default)]
pub struct Extra(
    /// `None` while empty (it may also be `Some` of an empty map after a removal).
    Option<Box<Map<String, Value>>>,
);

/// What an empty [`Extra`] derefs to.
fn empty_map() -> &'static Map<String, Value> {
    static EMPTY: OnceLock<Map<String, Value>> = OnceLock::new();
    EMPTY.get_or_init(Map::new)
}

impl Extra {
    /// No fields (allocates nothing).
    pub const fn new() -> Self {
        Extra(None)
    }

    /// Whether there are no fields.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.0.as_ref().is_none_or(|map| map.is_empty())
    }

    /// How many fields there are.
    #[inline]
    pub fn len(&self) -> usize {
        self.0.as_ref().map_or(0, |map| map.len())
    }

    /// The value of field `key`.
    #[inline]
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.0.as_ref()?.get(key)
    }

    /// The value of field `key`, to change it.
    #[inline]
    pub fn get_mut(&mut self, key: &str) -> Option<&mut Value> {
        self.0.as_mut()?.get_mut(key)
    }

    /// Whether there is a field `key`.
    #[inline]
    pub fn contains_key(&self, key: &str) -> bool {
        self.0.as_ref().is_some_and(|map| map.contains_key(key))
    }

    /// Sets field `key`, returning the value it had.
    pub fn insert(&mut self, key: String, value: Value) -> Option<Value> {
        self.as_map_mut().insert(key, value)
    }

    /// Removes field `key`, returning its value.
    pub fn remove(&mut self, key: &str) -> Option<Value> {
        self.0.as_mut()?.remove(key)
    }

    /// The fields, in the map's order.
    pub fn iter(&self) -> Iter<'_> {
        self.as_map().iter()
    }

    /// The fields, to change their values.
    pub fn iter_mut(&mut self) -> IterMut<'_> {
        self.as_map_mut().iter_mut()
    }

    /// The fields as a map (an empty one when there are none).
    pub fn as_map(&self) -> &Map<String, Value> {
        self.0.as_deref().unwrap_or_else(|| empty_map())
    }

    /// The fields as a map to change (allocated on first use).
    pub fn as_map_mut(&mut self) -> &mut Map<String, Value> {
        self.0.get_or_insert_with(Box::default)
    }

    /// The fields as a map, by value.
    pub fn into_map(self) -> Map<String, Value> {
        self.0.map(|map| *map).unwrap_or_default()
    }
}

impl Deref for Extra {
    type Target = Map<String, Value>;

    fn deref(&self) -> &Map<String, Value> {
        self.as_map()
    }
}

impl DerefMut for Extra {
    fn deref_mut(&mut self) -> &mut Map<String, Value> {
        self.as_map_mut()
    }
}

impl From<Map<String, Value>> for Extra {
    fn from(map: Map<String, Value>) -> Self {
        Extra((!map.is_empty()).then(|| Box::new(map)))
    }
}

impl From<Extra> for Map<String, Value> {
    fn from(extra: Extra) -> Self {
        extra.into_map()
    }
}

impl FromIterator<(String, Value)> for Extra {
    fn from_iter<I: IntoIterator<Item = (String, Value)>>(fields: I) -> Self {
        Extra::from(Map::from_iter(fields))
    }
}

impl Extend<(String, Value)> for Extra {
    fn extend<I: IntoIterator<Item = (String, Value)>>(&mut self, fields: I) {
        let mut fields = fields.into_iter().peekable();
        if fields.peek().is_some() {
            self.as_map_mut().extend(fields);
        }
    }
}

impl IntoIterator for Extra {
    type Item = (String, Value);
    type IntoIter = IntoIter;

    fn into_iter(self) -> IntoIter {
        self.into_map().into_iter()
    }
}

impl<'a> IntoIterator for &'a Extra {
    type Item = (&'a String, &'a Value);
    type IntoIter = Iter<'a>;

    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}

impl<'a> IntoIterator for &'a mut Extra {
    type Item = (&'a String, &'a mut Value);
    type IntoIter = IterMut<'a>;

    fn into_iter(self) -> IterMut<'a> {
        self.iter_mut()
    }
}

impl PartialEq for Extra {
    fn eq(&self, other: &Extra) -> bool {
        match (&self.0, &other.0) {
            (None, None) => true,
            _ => self.as_map() == other.as_map(),
        }
    }
}

impl Eq for Extra {}

impl PartialEq<Map<String, Value>> for Extra {
    fn eq(&self, other: &Map<String, Value>) -> bool {
        self.as_map() == other
    }
}

impl PartialEq<Extra> for Map<String, Value> {
    fn eq(&self, other: &Extra) -> bool {
        self == other.as_map()
    }
}

impl fmt::Debug for Extra {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_map(), f)
    }
}

/// As a JSON object (flattened into its parent by the types that hold it).
impl Serialize for Extra {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.as_map().serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Extra {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Map::deserialize(deserializer).map(Extra::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn compares_with_a_map_both_ways() {
        let map = json!({"a": 1}).as_object().unwrap().clone();
        let same: Extra = serde_json::from_value(json!({"a": 1})).unwrap();
        let other: Extra = serde_json::from_value(json!({"a": 2})).unwrap();
        // Each impl on its own (`Extra == Map` and `Map == Extra`).
        let (extra_map, map_extra) = (
            <Extra as PartialEq<Map<String, Value>>>::eq,
            <Map<String, Value> as PartialEq<Extra>>::eq,
        );
        assert!(extra_map(&same, &map));
        assert!(map_extra(&map, &same));
        assert!(!extra_map(&other, &map));
        assert!(!map_extra(&map, &other));
        assert!(!extra_map(&Extra::new(), &map));
        assert!(!map_extra(&map, &Extra::new()));
    }

    #[test]
    fn empty_costs_nothing_and_behaves_as_an_empty_map() {
        let extra = Extra::new();
        assert!(extra.0.is_none());
        assert!(extra.is_empty());
        assert_eq!(extra.len(), 0);
        assert_eq!(extra.get("a"), None);
        assert!(!extra.contains_key("a"));
        assert_eq!(extra.iter().count(), 0);
        assert_eq!(extra, Map::new());
        assert_eq!(Extra::from(Map::new()).0, None);
        assert_eq!(serde_json::to_string(&extra).unwrap(), "{}");
        assert_eq!(format!("{extra:?}"), "{}");
    }

    #[test]
    fn fields_are_kept_and_compared_as_a_map() {
        let mut extra = Extra::default();
        assert_eq!(extra.insert("a".into(), json!(1)), None);
        extra.extend([("b".to_owned(), json!("x"))]);
        assert_eq!(extra["a"], 1);
        assert_eq!(extra.len(), 2);
        *extra.get_mut("a").unwrap() = json!(2);
        assert_eq!(extra.get("a"), Some(&json!(2)));
        let map = json!({"a": 2, "b": "x"}).as_object().unwrap().clone();
        assert_eq!(extra, map);
        assert_eq!(map, extra);
        assert_eq!(Extra::from(map.clone()), extra);
        assert_eq!(Map::from(extra.clone()), map);
        assert_eq!(extra.remove("a"), Some(json!(2)));
        assert_eq!(extra.remove("b"), Some(json!("x")));
        // Emptied but allocated: still equal to an empty one.
        assert!(extra.is_empty());
        assert_eq!(extra, Extra::new());
        let round: Extra = serde_json::from_value(json!({"k": [1]})).unwrap();
        assert_eq!(serde_json::to_value(&round).unwrap(), json!({"k": [1]}));
        let collected: Extra = round.clone().into_iter().collect();
        assert_eq!(collected, round);
        let empty: Extra = serde_json::from_value(json!({})).unwrap();
        assert!(empty.0.is_none());
    }
}
