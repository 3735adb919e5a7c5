//! [`Model`] and [`ModelList`]: the answer of `GET /models`.

use serde::{Deserialize, Serialize};

use super::Extra;
use super::lenient;

/// A model the server offers.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Model {
    /// The id to put in a request's `model`.
    #[serde(default, deserialize_with = "lenient::lenient_string")]
    pub id: String,
    /// The object type, `model` (empty when omitted).
    #[serde(default, deserialize_with = "lenient::lenient_string")]
    pub object: String,
    /// Creation time, in Unix seconds (0 when omitted).
    #[serde(default, deserialize_with = "lenient::lenient_u64")]
    pub created: u64,
    /// The owner (empty when omitted).
    #[serde(default, deserialize_with = "lenient::lenient_string")]
    pub owned_by: String,
    /// Unknown fields, kept (context length, pricing, ...).
    #[serde(flatten)]
    pub extra: Extra,
}

/// The list of models.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ModelList {
    /// The object type, `list` (empty when omitted).
    #[serde(default, deserialize_with = "lenient::lenient_string")]
    pub object: String,
    /// The models.
    #[serde(default, deserialize_with = "lenient::null_as_default")]
    pub data: Vec<Model>,
    /// Unknown fields, kept.
    #[serde(flatten)]
    pub extra: Extra,
}
