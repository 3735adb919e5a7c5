//! [`SpareBuffers`]: the buffers of chunks handed back, reused for the next.
//!
//! A chunk of a stream owns a few heap buffers (its `choices` list, its
//! content or tool-call arguments, the `obfuscation` padding), each allocated
//! and freed once per chunk. A chunk handed back to the decoder (the lent one
//! of [`ChatStreamDecoder::next_chunk_ref`](super::ChatStreamDecoder::next_chunk_ref),
//! or one given to [`ChatStreamDecoder::recycle`](super::ChatStreamDecoder::recycle))
//! leaves its buffers here, and the direct parser writes the next chunk's
//! values into them: a stream read that way allocates nothing per chunk once
//! it runs (unless [`ChatStreamDecoder::reuse_buffers`](super::ChatStreamDecoder::reuse_buffers)
//! turned that off). Only the parser's values change buffers; a chunk is
//! still parsed into a default one, so nothing of the chunk before can remain
//! in it.
//!
//! The spare buffers belong to the thread, not to one decoder: every decoder
//! on a thread takes from and gives to the same few. When many streams are
//! decoded in turn (a transport's streams on one runtime thread), the next
//! stream's chunk gets the buffers the last one just gave back, still in the
//! cache, where buffers kept by each decoder would have gone cold by its next
//! chunk. Strings are emptied when kept, and at most [`MAX_KEPT`] of each
//! kind are kept, none larger than [`MAX_KEPT_BYTES`].

use std::cell::Cell;

use crate::types::{ChatCompletionChunk, ChunkChoice, ToolCallDelta};

/// How many buffers of each kind are kept.
const MAX_KEPT: usize = 4;

/// A buffer with more room than this is freed rather than kept: one long
/// value must not hold its memory for the rest of the stream.
pub(crate) const MAX_KEPT_BYTES: usize = 4096;

/// A buffer of `choices` or `tool_calls` with room for more elements than
/// this is freed rather than kept.
const MAX_KEPT_ELEMENTS: usize = 8;

/// Empty buffers of handed-back chunks, at most [`MAX_KEPT`] of each kind.
#[derive(Debug, Default)]
pub(crate) struct SpareBuffers {
    strings: Vec<String>,
    choices: Vec<Vec<ChunkChoice>>,
    calls: Vec<Vec<ToolCallDelta>>,
}

thread_local! {
    /// This thread's spare buffers, between two uses (see the module docs).
    static THREAD_SPARE: Cell<Option<Box<SpareBuffers>>> = const { Cell::new(None) };
}

impl SpareBuffers {
    /// Takes this thread's spare buffers, to be given back with
    /// [`put_back`](Self::put_back); empty ones when the thread has none
    /// (its first use, or while it exits).
    #[inline]
    pub(crate) fn take_thread() -> Box<SpareBuffers> {
        THREAD_SPARE
            .try_with(Cell::take)
            .ok()
            .flatten()
            .unwrap_or_default()
    }

    /// Gives the buffers [`take_thread`](Self::take_thread) took back to the
    /// thread (while it exits, there is nowhere to keep them: they are freed).
    #[inline]
    pub(crate) fn put_back(self: Box<Self>) {
        let _ = THREAD_SPARE.try_with(move |cell| cell.set(Some(self)));
    }

    /// `text` in a string of its own: a kept buffer when there is one.
    #[inline]
    pub(crate) fn string(&mut self, text: &str) -> String {
        match self.strings.pop() {
            Some(mut buffer) => {
                buffer.push_str(text);
                buffer
            }
            None => text.to_owned(),
        }
    }

    /// An empty string with room for `capacity` bytes.
    #[inline]
    pub(crate) fn string_with_capacity(&mut self, capacity: usize) -> String {
        match self.strings.pop() {
            Some(mut buffer) => {
                buffer.reserve(capacity);
                buffer
            }
            None => String::with_capacity(capacity),
        }
    }

    /// An empty list of choices, with room for one at least.
    #[inline]
    pub(crate) fn choices(&mut self) -> Vec<ChunkChoice> {
        self.choices.pop().unwrap_or_else(|| Vec::with_capacity(1))
    }

    /// An empty list of tool-call fragments, with room for one at least.
    #[inline]
    pub(crate) fn calls(&mut self) -> Vec<ToolCallDelta> {
        self.calls.pop().unwrap_or_else(|| Vec::with_capacity(1))
    }

    /// Keeps the buffers of `chunk` that the parser fills (emptied), and
    /// leaves its `choices` and `obfuscation` empty (the rest is the
    /// caller's to empty). Taken where they are, not moved out with the
    /// values around them.
    pub(crate) fn recycle(&mut self, chunk: &mut ChatCompletionChunk) {
        self.keep_string(chunk.obfuscation.take());
        for choice in &mut chunk.choices {
            let delta = &mut choice.delta;
            self.keep_string(delta.content.take());
            self.keep_string(delta.refusal.take());
            if let Some(mut calls) = delta.tool_calls.take() {
                for call in &mut calls {
                    self.keep_string(call.id.take());
                    if let Some(function) = &mut call.function {
                        self.keep_string(function.arguments.take());
                    }
                }
                calls.clear();
                keep_list(&mut self.calls, calls);
            }
        }
        let mut choices = std::mem::take(&mut chunk.choices);
        choices.clear();
        keep_list(&mut self.choices, choices);
    }

    #[inline]
    pub(crate) fn keep_string(&mut self, text: Option<String>) {
        if let Some(mut text) = text {
            if self.strings.len() < MAX_KEPT && text.capacity() > 0 && small_enough(&text) {
                text.clear();
                self.strings.push(text);
            }
        }
    }
}

/// Whether `buffer` is small enough to hold on to for the values that
/// follow ([`MAX_KEPT_BYTES`]): a larger one, left by one long value, is let
/// go rather than kept for the rest of the stream.
#[inline]
pub(crate) fn small_enough(buffer: &String) -> bool {
    buffer.capacity() <= MAX_KEPT_BYTES
}

/// Keeps `list` (empty) in `kept`, unless enough are kept or it is large.
#[inline]
fn keep_list<T>(kept: &mut Vec<Vec<T>>, list: Vec<T>) {
    if kept.len() < MAX_KEPT
        && (1..=MAX_KEPT_ELEMENTS).contains(&list.capacity())
        && list.is_empty()
    {
        kept.push(list);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{Delta, FunctionCallDelta};

    fn chunk_with(content: &str, arguments: &str) -> ChatCompletionChunk {
        ChatCompletionChunk {
            choices: vec![ChunkChoice {
                delta: Delta {
                    content: Some(content.to_owned()),
                    tool_calls: Some(vec![ToolCallDelta {
                        function: Some(FunctionCallDelta {
                            arguments: Some(arguments.to_owned()),
                            ..FunctionCallDelta::default()
                        }),
                        ..ToolCallDelta::default()
                    }]),
                    ..Delta::default()
                },
                ..ChunkChoice::default()
            }],
            obfuscation: Some("pad".to_owned()),
            ..ChatCompletionChunk::default()
        }
    }

    #[test]
    fn recycled_buffers_come_back_empty_and_are_reused() {
        let mut spare = SpareBuffers::default();
        spare.recycle(&mut chunk_with("hello", "{\"a\":1}"));
        assert_eq!(spare.strings.len(), 3);
        assert_eq!(spare.choices.len(), 1);
        assert_eq!(spare.calls.len(), 1);

        let buffers: Vec<*const u8> = spare.strings.iter().map(|s| s.as_ptr()).collect();
        let text = spare.string("x");
        assert_eq!(text, "x");
        assert!(buffers.contains(&text.as_ptr()), "a kept buffer was used");
        let choices = spare.choices();
        assert!(choices.is_empty() && choices.capacity() >= 1);
        let calls = spare.calls();
        assert!(calls.is_empty() && calls.capacity() >= 1);
        assert!(spare.choices.is_empty() && spare.calls.is_empty());
        // Nothing kept any more: fresh ones.
        assert!(spare.choices().capacity() >= 1);
        let more = spare.string_with_capacity(10);
        assert!(more.is_empty() && more.capacity() >= 10);
    }

    #[test]
    fn kept_buffers_are_bounded_in_number_and_size() {
        let mut spare = SpareBuffers::default();
        for _ in 0..10 {
            spare.recycle(&mut chunk_with("hello", "{}"));
        }
        assert_eq!(spare.strings.len(), MAX_KEPT);
        assert_eq!(spare.choices.len(), MAX_KEPT);
        assert_eq!(spare.calls.len(), MAX_KEPT);

        let mut spare = SpareBuffers::default();
        let long = "x".repeat(MAX_KEPT_BYTES + 1);
        spare.recycle(&mut chunk_with(&long, &long));
        assert_eq!(spare.strings.len(), 1, "only the short padding is kept");
        assert!(spare.strings.iter().all(|s| s.capacity() <= MAX_KEPT_BYTES));

        let mut many = ChatCompletionChunk {
            choices: vec![ChunkChoice::default(); MAX_KEPT_ELEMENTS + 1],
            ..ChatCompletionChunk::default()
        };
        let mut spare = SpareBuffers::default();
        spare.recycle(&mut many);
        assert!(spare.choices.is_empty(), "a long list is freed");
    }
}
