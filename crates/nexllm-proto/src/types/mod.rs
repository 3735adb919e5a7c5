//! The wire types of the Chat Completions API.
