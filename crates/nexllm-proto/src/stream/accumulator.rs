//! [`StreamAccumulator`]: chunks assembled into the [`ChatCompletion`] they add up to.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use crate::config::Limits;
use crate::error::LimitError;
use crate::types::{
    ChatCompletion, ChatCompletionChunk, Choice, ChunkChoice, Delta, Extra, FunctionCall,
    FunctionCallDelta, Logprobs, ResponseAudio, ResponseMessage, SharedStr, ToolCall,
    ToolCallDelta, Usage,
};

/// Assembles streamed chunks into a [`ChatCompletion`], one chunk at a time.
///
/// The completion assembled so far is available at any moment
/// ([`completion`](Self::completion)), so a stream that fails midway loses
/// nothing already received.
///
/// Per choice (several may be interleaved): content and refusal are
/// concatenated; the role is taken once; `annotations` are appended to the
/// message's; `audio` is assembled into the message's (its data and
/// transcript pieces joined); string fields the server adds to the
/// delta (such as `reasoning_content`) are concatenated too, lists (such as
/// OpenRouter's `reasoning_details`) are appended, other values are
/// replaced; tool calls are assembled by index, with id, type and name from
/// their first fragment and argument fragments joined in order (a fragment
/// without an index continues the current call unless it carries a new id,
/// or a name after another call in the same list; a fragment whose index is
/// taken starts another call when it carries a name and another id);
/// the finish reason is kept. The last non-null usage wins. `id`, `model`,
/// `created`, `system_fingerprint` and `service_tier` come from the chunks.
/// Unknown fields of the chunks and of their choices (Azure's
/// `prompt_filter_results` and `content_filter_results`, vLLM's
/// `stop_reason`, OpenRouter's `provider` and `native_finish_reason`,
/// llama.cpp's `timings`, Groq's `x_groq`) go to the completion's and the
/// choice's `extra`, as a non-streamed answer has them: the last non-null
/// value of each wins, and objects are merged key by key.
///
/// The answer holds at most [`max_choices`](Self::max_choices) choices and
/// [`max_tool_calls`](Self::max_tool_calls) tool calls (1,024 each by
/// default, as in [`Limits`]): a chunk that would add more is refused whole
/// ([`try_push`](Self::try_push)), and so is every chunk after it.
#[derive(Debug, Clone)]
// The fields in this order (`repr(C)`): those read for every chunk first, in
// two cache lines (with many streams on one thread each line of an
// accumulator is a cache miss per chunk).
#[repr(C)]
pub struct StreamAccumulator {
    chunks: u64,
    /// The sum of [`weight`] over the chunks pushed.
    held: usize,
    /// Why a chunk was refused: every later one is refused too.
    refused: Option<Box<LimitError>>,
    /// The slot of the one choice of the last chunk applied, when it had
    /// exactly one (see [`try_push_repeat`](Self::try_push_repeat)). With
    /// the three fields before it, all a repeat reads here: one cache line.
    last_slot: Option<usize>,
    /// Per choice, in the order of `completion.choices`.
    states: Vec<ChoiceState>,
    /// The tool calls of all choices.
    tool_calls: usize,
    /// A chunk of one choice takes the fast path of `try_push` while the
    /// answer holds fewer choices than this: `max_choices`, or 0 once a chunk
    /// was refused.
    fast_below: usize,
    max_tool_calls: usize,
    /// The repeated strings of the last chunk: when the next chunk shares
    /// them (as a [`ChatStreamDecoder`](super::ChatStreamDecoder)'s chunks
    /// do), there is nothing to compare.
    last_model: SharedStr,
    last_fingerprint: Option<SharedStr>,
    last_tier: Option<SharedStr>,
    /// The completion has its id and creation time: later chunks cannot
    /// change them, and they need not be looked at.
    id_and_created: bool,
    completion: ChatCompletion,
    max_choices: usize,
}

impl Default for StreamAccumulator {
    fn default() -> Self {
        Self::new()
    }
}

/// What [`StreamAccumulator::held_bytes`] counts for each choice of a chunk,
/// tool-call fragment, log probability entry and alternative, on top of text:
/// about what each may add to the completion besides its text.
const ENTRY_BYTES: usize = 64;

impl StreamAccumulator {
    /// An empty accumulator, with the default limits on choices and tool calls.
    pub fn new() -> Self {
        let limits = Limits::default();
        StreamAccumulator {
            completion: ChatCompletion {
                object: "chat.completion".to_owned(),
                ..ChatCompletion::default()
            },
            states: Vec::new(),
            chunks: 0,
            last_model: SharedStr::default(),
            last_fingerprint: None,
            last_tier: None,
            held: 0,
            tool_calls: 0,
            max_choices: limits.max_choices,
            fast_below: limits.max_choices,
            max_tool_calls: limits.max_tool_calls,
            refused: None,
            id_and_created: false,
            last_slot: None,
        }
    }

    /// Sets the most choices the answer may hold
    /// ([`Limits::max_choices`], default 1,024).
    #[must_use]
    pub fn max_choices(mut self, limit: usize) -> Self {
        self.max_choices = limit;
        if self.refused.is_none() {
            self.fast_below = limit;
        }
        self
    }

    /// Sets the most tool calls the answer may hold over all its choices
    /// ([`Limits::max_tool_calls`], default 1,024).
    #[must_use]
    pub fn max_tool_calls(mut self, limit: usize) -> Self {
        self.max_tool_calls = limit;
        self
    }

    /// Adds one chunk: [`try_push`](Self::try_push), without the error. A
    /// chunk that would take the answer past a limit is left out (and every
    /// chunk after it); [`refused`](Self::refused) says why.
    pub fn push(&mut self, chunk: &ChatCompletionChunk) {
        // Nothing to count when the chunk's one choice cannot pass a limit
        // (the usual chunk); anything else is counted exactly first, so that
        // a refused chunk leaves nothing behind.
        let fits = chunk.choices.len() == 1
            && self.states.len() < self.fast_below
            && chunk.choices.first().is_some_and(|choice| {
                choice.delta.tool_calls.as_ref().is_none_or(|fragments| {
                    self.tool_calls.saturating_add(fragments.len()) <= self.max_tool_calls
                })
            });
        if fits || self.check_room(chunk).is_ok() {
            self.apply(chunk);
        }
    }

    /// Adds one chunk, or refuses it whole, leaving the completion as it was,
    /// when it would open more choices than [`max_choices`](Self::max_choices)
    /// or more tool calls than [`max_tool_calls`](Self::max_tool_calls)
    /// allow: [`LimitError`] (`what` `"streamed answer"`, `unit` `"choices"`
    /// or `"tool calls"`). After a refusal every chunk is refused with the
    /// same error.
    ///
    /// ```
    /// use nexllm_proto::stream::StreamAccumulator;
    /// use nexllm_proto::types::ChatCompletionChunk;
    ///
    /// let chunk = |index: u32| -> ChatCompletionChunk {
    ///     serde_json::from_value(serde_json::json!({
    ///         "choices": [{"index": index, "delta": {"content": "hi"}}]
    ///     }))
    ///     .unwrap()
    /// };
    /// let mut accumulator = StreamAccumulator::new().max_choices(2);
    /// assert!(accumulator.try_push(&chunk(0)).is_ok());
    /// assert!(accumulator.try_push(&chunk(1)).is_ok());
    /// let refused = accumulator.try_push(&chunk(2)).unwrap_err();
    /// assert_eq!((refused.what, refused.limit, refused.unit), ("streamed answer", 2, "choices"));
    /// assert_eq!(accumulator.completion().choices.len(), 2);
    /// assert_eq!(accumulator.chunks(), 2);
    /// ```
    pub fn try_push(&mut self, chunk: &ChatCompletionChunk) -> Result<(), LimitError> {
        self.push(chunk);
        // A refusal is kept, and every chunk after it is refused.
        match &self.refused {
            Some(refused) => Err(LimitError::clone(refused)),
            None => Ok(()),
        }
    }

    /// [`try_push`](Self::try_push) for a chunk that repeats the last chunk
    /// pushed but for the text of its one delta (its content) and its
    /// padding, as a [`ChatStreamDecoder`](super::ChatStreamDecoder) says of
    /// a lent chunk it refilled: pushing it would change nothing but add
    /// that text (the header's values are those already taken, its choice is
    /// the same and has no finish reason, log probabilities or other
    /// fields), so only the text is looked at, and the rest of the chunk
    /// (cold, with many streams read in turn) is not. Anything else (a
    /// refusal kept, a fragment of tool-call arguments, a choice that is not
    /// the last one's) takes the usual path.
    #[inline]
    pub(crate) fn try_push_repeat(
        &mut self,
        chunk: &ChatCompletionChunk,
    ) -> Result<(), LimitError> {
        let (Some(slot), None, [choice]) =
            (self.last_slot, &self.refused, chunk.choices.as_slice())
        else {
            return self.try_push(chunk);
        };
        let target = match self.completion.choices.get_mut(slot) {
            Some(target) if target.index == choice.index && choice.delta.tool_calls.is_none() => {
                target
            }
            _ => return self.try_push(chunk),
        };
        self.chunks += 1;
        let mut added = ENTRY_BYTES;
        if let Some(text) = &choice.delta.content {
            target
                .message
                .content
                .get_or_insert_with(String::new)
                .push_str(text);
            added = added.saturating_add(text.len());
        }
        self.held = self.held.saturating_add(added);
        Ok(())
    }

    /// The refusal of [`try_push`](Self::try_push), if a chunk was refused.
    pub fn refused(&self) -> Option<&LimitError> {
        self.refused.as_deref()
    }

    /// Whether `chunk` fits within the limits, counting exactly what it would
    /// open: the slow path of [`try_push`](Self::try_push). Remembers a refusal.
    #[cold]
    #[inline(never)]
    fn check_room(&mut self, chunk: &ChatCompletionChunk) -> Result<(), LimitError> {
        if let Some(refused) = &self.refused {
            return Err(LimitError::clone(refused));
        }
        let refusal = if self.opens_too_many_choices(&chunk.choices) {
            Some(LimitError::count(
                "streamed answer",
                self.max_choices,
                "choices",
            ))
        } else if self.opens_too_many_tool_calls(&chunk.choices) {
            Some(LimitError::count(
                "streamed answer",
                self.max_tool_calls,
                "tool calls",
            ))
        } else {
            None
        };
        match refusal {
            Some(refusal) => {
                self.refused = Some(Box::new(refusal.clone()));
                self.fast_below = 0;
                Err(refusal)
            }
            None => Ok(()),
        }
    }

    /// Whether these choices would take the answer past `max_choices`.
    fn opens_too_many_choices(&self, choices: &[ChunkChoice]) -> bool {
        let held = self.completion.choices.len();
        if held.saturating_add(choices.len()) <= self.max_choices {
            return false;
        }
        let mut new: Vec<u32> = choices
            .iter()
            .map(|choice| choice.index)
            .filter(|&index| self.find_choice(index).is_err())
            .collect();
        new.sort_unstable();
        new.dedup();
        held.saturating_add(new.len()) > self.max_choices
    }

    /// Whether these choices would take the answer past `max_tool_calls`:
    /// their fragments are placed as [`apply_tool_call_fragment`] places
    /// them, on a copy of each choice's call indices and ids.
    fn opens_too_many_tool_calls(&self, choices: &[ChunkChoice]) -> bool {
        let fragments = choices.iter().fold(0usize, |sum, choice| {
            sum.saturating_add(choice.delta.tool_calls.as_ref().map_or(0, Vec::len))
        });
        if self.tool_calls.saturating_add(fragments) <= self.max_tool_calls {
            return false;
        }
        let mut room = self.max_tool_calls.saturating_sub(self.tool_calls);
        let mut calls_by_choice: BTreeMap<u32, CallIds<'_>> = BTreeMap::new();
        for choice in choices {
            let Some(fragments) = &choice.delta.tool_calls else {
                continue;
            };
            let calls = calls_by_choice.entry(choice.index).or_insert_with(|| {
                match self.find_choice(choice.index) {
                    Ok(slot) => CallIds::of(&self.completion.choices[slot], &self.states[slot]),
                    Err(_) => CallIds::default(),
                }
            });
            for (at, fragment) in fragments.iter().enumerate() {
                if calls.place(fragment, at == 0) {
                    if room == 0 {
                        return true;
                    }
                    room -= 1;
                }
            }
        }
        false
    }

    /// Adds a chunk that fits within the limits.
    #[inline(always)]
    fn apply(&mut self, chunk: &ChatCompletionChunk) {
        self.chunks += 1;
        let c = &mut self.completion;
        if !self.id_and_created {
            if c.id.is_empty() && !chunk.id.is_empty() {
                c.id.push_str(&chunk.id);
            }
            if c.created == 0 {
                c.created = chunk.created;
            }
            self.id_and_created = !c.id.is_empty() && c.created != 0;
        }
        if !chunk.model.ptr_eq(&self.last_model) {
            if !chunk.model.is_empty() && c.model != *chunk.model {
                c.model.clear();
                c.model.push_str(&chunk.model);
            }
            self.last_model = chunk.model.clone();
        }
        if let Some(fingerprint) = &chunk.system_fingerprint {
            if !self
                .last_fingerprint
                .as_ref()
                .is_some_and(|last| last.ptr_eq(fingerprint))
            {
                set_text(&mut c.system_fingerprint, fingerprint);
                self.last_fingerprint = Some(fingerprint.clone());
            }
        }
        if let Some(tier) = &chunk.service_tier {
            if !self
                .last_tier
                .as_ref()
                .is_some_and(|last| last.ptr_eq(tier))
            {
                set_text(&mut c.service_tier, tier);
                self.last_tier = Some(tier.clone());
            }
        }
        if let Some(usage) = &chunk.usage {
            c.usage = Some(Usage::clone(usage));
        }
        if !chunk.extra.is_empty() {
            self.held = self
                .held
                .saturating_add(merge_fields(&mut c.extra, &chunk.extra));
        }
        self.last_slot = None;
        for choice in &chunk.choices {
            let slot = self.choice_slot(choice.index);
            if chunk.choices.len() == 1 {
                self.last_slot = Some(slot);
            }
            let target = &mut self.completion.choices[slot];
            if choice.finish_reason.is_some() {
                target.finish_reason.clone_from(&choice.finish_reason);
            }
            let mut added = ENTRY_BYTES;
            if !choice.extra.is_empty() {
                added = added.saturating_add(merge_fields(&mut target.extra, &choice.extra));
            }
            if let Some(logprobs) = &choice.logprobs {
                added = added.saturating_add(merge_logprobs(&mut target.logprobs, logprobs));
            }
            added = added.saturating_add(apply_delta(
                target,
                &mut self.states[slot],
                &choice.delta,
                &mut self.tool_calls,
            ));
            self.held = self.held.saturating_add(added);
        }
    }

    /// The completion assembled so far.
    pub fn completion(&self) -> &ChatCompletion {
        &self.completion
    }

    /// The completion assembled so far, by value.
    pub fn into_completion(self) -> ChatCompletion {
        self.completion
    }

    /// How many chunks have been pushed.
    pub fn chunks(&self) -> u64 {
        self.chunks
    }

    /// About how many bytes the chunks pushed may have added to the
    /// completion: the text they carry (content, refusal, tool-call ids, names
    /// and arguments, log probability tokens, other fields of the delta) plus
    /// 64 bytes for each choice of a chunk, tool-call fragment and log
    /// probability entry (and alternative). An upper bound of the
    /// completion's growth, cheap to keep; [`Exchange`](crate::exchange::Exchange) bounds it by
    /// [`Limits::max_body_bytes`](crate::Limits::max_body_bytes), so that a
    /// server that streams without end cannot grow it without end.
    pub fn held_bytes(&self) -> usize {
        self.held
    }

    /// The content of the first choice so far (empty when there is none).
    pub fn text(&self) -> &str {
        self.completion
            .choices
            .first()
            .and_then(|c| c.message.content.as_deref())
            .unwrap_or("")
    }

    /// The position of choice `index` (`Ok`), or where it goes in index
    /// order (`Err`).
    #[inline]
    fn find_choice(&self, index: u32) -> Result<usize, usize> {
        let choices = &self.completion.choices;
        // Those of the usual answer (0, 1, ..) are at their own index.
        match usize::try_from(index) {
            Ok(slot) if choices.get(slot).is_some_and(|c| c.index == index) => Ok(slot),
            _ => choices.binary_search_by_key(&index, |c| c.index),
        }
    }

    /// The position of choice `index`, inserting it in index order if new.
    #[inline]
    fn choice_slot(&mut self, index: u32) -> usize {
        match self.find_choice(index) {
            Ok(slot) => slot,
            Err(slot) => self.open_choice(slot, index),
        }
    }

    /// Inserts a new choice at `slot`.
    #[inline(never)]
    fn open_choice(&mut self, slot: usize, index: u32) -> usize {
        self.completion.choices.insert(
            slot,
            Choice {
                index,
                ..Choice::default()
            },
        );
        self.states.insert(slot, ChoiceState::default());
        slot
    }
}

/// What the accumulator remembers about one choice beyond its message.
#[derive(Debug, Clone, Default)]
struct ChoiceState {
    /// The role came from a delta (the first one wins; some servers repeat it).
    role_seen: bool,
    /// The stream index of each assembled tool call, in order.
    tool_call_indices: Vec<Option<u32>>,
}

/// Applies one delta; returns what it may have added (see
/// [`StreamAccumulator::held_bytes`]), without the choice's own entry, and
/// counts the tool calls it opens in `tool_calls`.
#[inline(always)]
fn apply_delta(
    choice: &mut Choice,
    state: &mut ChoiceState,
    delta: &Delta,
    tool_calls: &mut usize,
) -> usize {
    let mut added = 0usize;
    let message = &mut choice.message;
    if let Some(role) = &delta.role {
        if !state.role_seen {
            message.role = role.clone();
            state.role_seen = true;
        }
    }
    if let Some(text) = &delta.content {
        message
            .content
            .get_or_insert_with(String::new)
            .push_str(text);
        added = added.saturating_add(text.len());
    }
    if let Some(text) = &delta.refusal {
        message
            .refusal
            .get_or_insert_with(String::new)
            .push_str(text);
        added = added.saturating_add(text.len());
    }
    if !delta.extra.is_empty() {
        added = added.saturating_add(apply_delta_fields(message, &delta.extra));
    }
    if let Some(fragments) = &delta.tool_calls {
        let calls = message.tool_calls.get_or_insert_with(Vec::new);
        let before = calls.len();
        for (at, fragment) in fragments.iter().enumerate() {
            added = added.saturating_add(apply_tool_call_fragment(
                calls,
                &mut state.tool_call_indices,
                fragment,
                at == 0,
            ));
        }
        *tool_calls = tool_calls.saturating_add(calls.len().saturating_sub(before));
    }
    added
}

/// Applies the unknown fields of a delta (and the deprecated
/// `function_call`, `annotations` and `audio`, which arrive there); returns
/// what they may have added.
#[inline(never)]
fn apply_delta_fields(message: &mut ResponseMessage, fields: &Extra) -> usize {
    let mut added = 0usize;
    for (key, value) in fields.iter() {
        match (key.as_str(), value) {
            ("function_call", _) => {
                // The deprecated function call streams like a tool call's function.
                if let Ok(fragment) = FunctionCallDelta::deserialize(value) {
                    added = added.saturating_add(apply_function_call(
                        message.function_call.get_or_insert_with(Default::default),
                        &fragment,
                    ));
                    continue;
                }
            }
            // Citations (OpenAI's search models send them in a delta of
            // their own at the end; others spread them out) are the
            // message's, as in a non-streamed answer.
            ("annotations", Value::Array(more)) => {
                message
                    .annotations
                    .get_or_insert_with(Vec::new)
                    .extend(more.iter().cloned());
                added = added.saturating_add(value_weight(value));
                continue;
            }
            ("audio", Value::Object(_)) => {
                if let Ok(fragment) = ResponseAudio::deserialize(value) {
                    added = added.saturating_add(apply_audio(
                        message.audio.get_or_insert_with(Default::default),
                        fragment,
                    ));
                    continue;
                }
            }
            _ => {}
        }
        match (message.extra.get_mut(key), value) {
            (_, Value::Null) => {}
            (Some(Value::String(existing)), Value::String(more)) => {
                existing.push_str(more);
                added = added.saturating_add(more.len());
            }
            // Lists of fragments, such as OpenRouter's `reasoning_details`
            // (whose last fragment carries the signature to send back).
            (Some(Value::Array(existing)), Value::Array(more)) => {
                existing.extend(more.iter().cloned());
                added = added.saturating_add(value_weight(value));
            }
            _ => {
                message.extra.insert(key.clone(), value.clone());
                added = added.saturating_add(key.len().saturating_add(value_weight(value)));
            }
        }
    }
    added
}

/// Adds a fragment of a function call: the first name wins, argument pieces
/// are joined. Returns what it may have added.
#[inline]
fn apply_function_call(call: &mut FunctionCall, fragment: &FunctionCallDelta) -> usize {
    let mut added = 0usize;
    if let Some(name) = fragment.name.as_deref().filter(|n| !n.is_empty()) {
        if call.name.is_empty() {
            call.name = name.to_owned();
            added = name.len();
        }
    }
    if let Some(arguments) = &fragment.arguments {
        call.arguments.push_str(arguments);
        added = added.saturating_add(arguments.len());
    }
    added.saturating_add(insert_extra(&mut call.extra, &fragment.extra))
}

/// Merges the unknown fields of a chunk or of one of its choices into the
/// completion's or the choice's: a `null` keeps what came before (servers
/// send `null` until they have a value, such as vLLM's `stop_reason`), an
/// object is merged into the object held, key by key (Azure's
/// `content_filter_results`, an empty object on the last chunk; Groq's
/// `x_groq`, whose usage comes last), anything else replaces what was held.
/// Returns what they may add.
fn merge_fields(fields: &mut Extra, more: &Extra) -> usize {
    let mut added = 0usize;
    for (key, value) in more {
        match (fields.get_mut(key), value) {
            (_, Value::Null) => continue,
            (Some(Value::Object(held)), Value::Object(more)) => {
                for (inner, value) in more {
                    held.insert(inner.clone(), value.clone());
                }
            }
            _ => {
                fields.insert(key.clone(), value.clone());
            }
        }
        added = added.saturating_add(key.len().saturating_add(value_weight(value)));
    }
    added
}

/// Adds a fragment of an audio answer: the first id wins, pieces of the
/// data and of the transcript are joined, the last expiry wins. Returns what
/// it may have added.
fn apply_audio(audio: &mut ResponseAudio, fragment: ResponseAudio) -> usize {
    let mut added = 0usize;
    if audio.id.is_empty() && !fragment.id.is_empty() {
        added = fragment.id.len();
        audio.id = fragment.id;
    }
    for (held, more) in [
        (&mut audio.data, fragment.data),
        (&mut audio.transcript, fragment.transcript),
    ] {
        if let Some(more) = more {
            added = added.saturating_add(more.len());
            match held {
                Some(held) => held.push_str(&more),
                None => *held = Some(more),
            }
        }
    }
    if fragment.expires_at.is_some() {
        audio.expires_at = fragment.expires_at;
    }
    added.saturating_add(insert_extra(&mut audio.extra, &fragment.extra))
}

/// Inserts the fields of `more` into `extra`; returns what they may add.
#[inline(always)]
fn insert_extra(extra: &mut Extra, more: &Extra) -> usize {
    // Nearly always empty: no call, no iterator.
    if more.is_empty() {
        return 0;
    }
    insert_fields(extra, more)
}

#[inline(never)]
fn insert_fields(extra: &mut Extra, more: &Extra) -> usize {
    let mut added = 0usize;
    for (key, value) in more {
        extra.insert(key.clone(), value.clone());
        added = added.saturating_add(key.len().saturating_add(value_weight(value)));
    }
    added
}

/// Where a tool-call fragment goes (`first`: the first of its delta's list),
/// among calls with these stream `indices` and the ids `id_at` gives: `Ok`
/// with the position of the call it extends, or `Err` with the position of
/// the call it opens.
///
/// A fragment extends the last call with its stream index, or without an
/// index the current (last) call, except where it plainly starts another:
///
/// - without an index, a new id (Gemini, Ollama send whole calls so);
/// - without an index and not first in its list, a function name without an
///   id: Gemini sends parallel calls whole in one list, without index, and
///   not always with an id;
/// - with an index, a function name and an id other than the call's:
///   gateways that translate whole calls (LiteLLM, new-api) have given them
///   all index 0. A new id alone is not enough: Poolside repeats another id
///   on the later fragments of a call.
///
/// A new call with a stream index goes before those with a larger one: the
/// calls come out in index order, whatever order they start in; one without
/// an index goes last.
#[inline(always)]
fn locate_call<'a>(
    indices: &[Option<u32>],
    id_at: impl Fn(usize) -> &'a str,
    fragment: &ToolCallDelta,
    first: bool,
) -> Result<usize, usize> {
    let id = fragment.id.as_deref().filter(|id| !id.is_empty());
    let named = fragment
        .function
        .as_ref()
        .and_then(|f| f.name.as_deref())
        .is_some_and(|name| !name.is_empty());
    let position = match fragment.index {
        Some(index) => indices
            .iter()
            .rposition(|i| *i == Some(index))
            .filter(|&p| {
                let held = id_at(p);
                let another = named && id.is_some_and(|id| !held.is_empty() && held != id);
                !another
            }),
        None => {
            let current = indices.len().checked_sub(1);
            let new_id = id.is_some_and(|id| current.is_none_or(|c| id_at(c) != id));
            let another_in_list = !first && named && id.is_none();
            if new_id || another_in_list {
                None
            } else {
                current
            }
        }
    };
    position.ok_or_else(|| {
        fragment
            .index
            .and_then(|index| indices.iter().position(|i| i.is_some_and(|i| i > index)))
            .unwrap_or(indices.len())
    })
}

/// The stream indices and ids of one choice's tool calls, to count the calls
/// a chunk would open without opening them.
#[derive(Default)]
struct CallIds<'a> {
    indices: Vec<Option<u32>>,
    ids: Vec<&'a str>,
}

impl<'a> CallIds<'a> {
    fn of(choice: &'a Choice, state: &ChoiceState) -> Self {
        let calls = choice.message.tool_calls.as_deref().unwrap_or_default();
        CallIds {
            indices: state.tool_call_indices.clone(),
            ids: calls.iter().map(|call| call.id.as_str()).collect(),
        }
    }

    /// Places a fragment as [`apply_tool_call_fragment`] does; whether it
    /// opens a call.
    fn place(&mut self, fragment: &'a ToolCallDelta, first: bool) -> bool {
        let ids = &self.ids;
        let id = fragment.id.as_deref().unwrap_or_default();
        match locate_call(
            &self.indices,
            |p| ids.get(p).copied().unwrap_or_default(),
            fragment,
            first,
        ) {
            Ok(p) => {
                if let Some(held) = self.ids.get_mut(p).filter(|held| held.is_empty()) {
                    *held = id;
                }
                false
            }
            Err(at) => {
                self.indices.insert(at, fragment.index);
                self.ids.insert(at, id);
                true
            }
        }
    }
}

/// Adds a tool-call fragment (`first`: the first of its delta's list) where
/// [`locate_call`] places it; returns what it may have added (with the
/// fragment's own entry).
#[inline(always)]
fn apply_tool_call_fragment(
    calls: &mut Vec<ToolCall>,
    indices: &mut Vec<Option<u32>>,
    fragment: &ToolCallDelta,
    first: bool,
) -> usize {
    let mut added = ENTRY_BYTES;
    let position = match locate_call(
        indices,
        |p| calls.get(p).map_or("", |call| call.id.as_str()),
        fragment,
        first,
    ) {
        Ok(p) => p,
        Err(at) => {
            calls.insert(at, ToolCall::default());
            indices.insert(at, fragment.index);
            at
        }
    };
    let call = &mut calls[position];
    if let Some(id) = fragment.id.as_deref().filter(|id| !id.is_empty()) {
        if call.id.is_empty() {
            call.id = id.to_owned();
            added = added.saturating_add(id.len());
        }
    }
    if let Some(kind) = fragment.r#type.as_deref().filter(|t| !t.is_empty()) {
        call.r#type = kind.to_owned();
        added = added.saturating_add(kind.len());
    }
    added = added.saturating_add(insert_extra(&mut call.extra, &fragment.extra));
    if let Some(function) = &fragment.function {
        added = added.saturating_add(apply_function_call(&mut call.function, function));
    }
    added
}

/// What the log probabilities of one choice of a chunk may add.
fn logprobs_weight(logprobs: &Logprobs) -> usize {
    let mut bytes = extra_weight(&logprobs.extra);
    for entry in logprobs.content.iter().chain(&logprobs.refusal).flatten() {
        bytes = bytes
            .saturating_add(ENTRY_BYTES)
            .saturating_add(entry.token.len())
            .saturating_add(entry.bytes.as_ref().map_or(0, Vec::len))
            .saturating_add(extra_weight(&entry.extra));
        for top in &entry.top_logprobs {
            bytes = bytes
                .saturating_add(ENTRY_BYTES)
                .saturating_add(top.token.len())
                .saturating_add(top.bytes.as_ref().map_or(0, Vec::len))
                .saturating_add(extra_weight(&top.extra));
        }
    }
    bytes
}

/// About what the fields of an `extra` map hold, in bytes.
#[inline]
fn extra_weight(extra: &Extra) -> usize {
    if extra.is_empty() {
        return 0;
    }
    fields_weight(extra)
}

/// About what the fields of a JSON object hold, in bytes.
fn fields_weight(fields: &serde_json::Map<String, Value>) -> usize {
    fields.iter().fold(0, |bytes, (key, value)| {
        bytes
            .saturating_add(key.len())
            .saturating_add(value_weight(value))
    })
}

/// About what a JSON value holds, in bytes: its strings, and 16 per other value.
/// (Parsed JSON is at most 128 levels deep, so the recursion is bounded.)
fn value_weight(value: &Value) -> usize {
    match value {
        Value::String(text) => text.len(),
        Value::Array(items) => items
            .iter()
            .fold(16, |bytes, item| bytes.saturating_add(value_weight(item))),
        Value::Object(fields) => fields_weight(fields).saturating_add(16),
        Value::Null | Value::Bool(_) | Value::Number(_) => 16,
    }
}

/// Log probabilities arrive per chunk; the completion's are their
/// concatenation. Returns what they may have added.
fn merge_logprobs(target: &mut Option<Logprobs>, more: &Logprobs) -> usize {
    let added = logprobs_weight(more);
    let target = target.get_or_insert_with(Logprobs::default);
    if let Some(tokens) = &more.content {
        target
            .content
            .get_or_insert_with(Vec::new)
            .extend(tokens.iter().cloned());
    }
    if let Some(tokens) = &more.refusal {
        target
            .refusal
            .get_or_insert_with(Vec::new)
            .extend(tokens.iter().cloned());
    }
    for (key, value) in &more.extra {
        target.extra.insert(key.clone(), value.clone());
    }
    added
}
/// Sets `target` to `text`, reusing its buffer, and copying nothing when it
/// already holds that text (the usual case: every chunk repeats it).
fn set_text(target: &mut Option<String>, text: &str) {
    match target {
        Some(held) if held == text => {}
        Some(held) => {
            held.clear();
            held.push_str(text);
        }
        None => *target = Some(text.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::Role;

    fn chunk(model: &SharedStr, fingerprint: &SharedStr, content: &str) -> ChatCompletionChunk {
        serde_json::from_value::<ChatCompletionChunk>(serde_json::json!({
            "choices": [{"index": 0, "delta": {"content": content}}]
        }))
        .map(|mut chunk| {
            chunk.model = model.clone();
            chunk.system_fingerprint = Some(fingerprint.clone());
            chunk.service_tier = Some(fingerprint.clone());
            chunk
        })
        .unwrap()
    }

    #[test]
    fn a_repeat_adds_what_pushing_it_adds_and_anything_else_takes_the_usual_path() {
        let delta = |index: u32, delta: serde_json::Value| {
            from_json(serde_json::json!({
                "id": "c", "created": 1, "model": "m",
                "choices": [{"index": index, "delta": delta}]
            }))
        };
        let content = |index: u32, text: &str| delta(index, serde_json::json!({"content": text}));
        let arguments = |text: &str| {
            delta(
                0,
                serde_json::json!({"tool_calls": [{"index": 0, "function": {"arguments": text}}]}),
            )
        };
        let opening = delta(
            0,
            serde_json::json!({"role": "assistant", "tool_calls": [{"index": 0, "id": "call_1", "type": "function", "function": {"name": "f", "arguments": ""}}]}),
        );
        let null = delta(0, serde_json::json!({"content": null}));
        // Each sequence: the chunk pushed first, then those pushed as repeats.
        let sequences: Vec<(ChatCompletionChunk, Vec<ChatCompletionChunk>)> = vec![
            (
                content(0, "a"),
                vec![content(0, "b"), null.clone(), content(0, "c")],
            ),
            (content(1, "a"), vec![content(1, "b")]),
            // Not a repeat of the choice before: the usual path opens it.
            (content(0, "a"), vec![content(1, "x"), content(1, "y")]),
            // Fragments of arguments take the usual path.
            (opening, vec![arguments("{\"a\""), arguments(":1}")]),
            // No content, then some.
            (null, vec![content(0, "z")]),
        ];
        for (first, repeats) in sequences {
            let mut usual = StreamAccumulator::new();
            let mut repeated = StreamAccumulator::new();
            usual.push(&first);
            repeated.push(&first);
            for chunk in &repeats {
                usual.try_push(chunk).unwrap();
                repeated.try_push_repeat(chunk).unwrap();
            }
            assert_eq!(repeated.completion(), usual.completion(), "{repeats:?}");
            assert_eq!(repeated.chunks(), usual.chunks());
            assert_eq!(repeated.held_bytes(), usual.held_bytes());
        }
        // A refusal is kept for a repeat too.
        let mut limited = StreamAccumulator::new().max_choices(1);
        limited.push(&content(0, "a"));
        assert!(limited.try_push(&content(1, "b")).is_err());
        assert!(limited.try_push_repeat(&content(0, "c")).is_err());
        assert_eq!(limited.text(), "a");
    }

    #[test]
    fn shared_and_changed_repeated_strings_both_land() {
        let (model, fingerprint) = (SharedStr::from("m1"), SharedStr::from("fp1"));
        let mut accumulator = StreamAccumulator::new();
        accumulator.push(&chunk(&model, &fingerprint, "a"));
        accumulator.push(&chunk(&model, &fingerprint, "b"));
        assert_eq!(accumulator.completion().model, "m1");
        // A new value (a new string) replaces the old one, even with equal-looking pointers reused.
        let (model2, fingerprint2) = (SharedStr::from("m2"), SharedStr::from("fp2"));
        accumulator.push(&chunk(&model2, &fingerprint2, "c"));
        let completion = accumulator.completion();
        assert_eq!(completion.model, "m2");
        assert_eq!(completion.system_fingerprint.as_deref(), Some("fp2"));
        assert_eq!(completion.service_tier.as_deref(), Some("fp2"));
        assert_eq!(accumulator.text(), "abc");
        // Equal text in a different allocation changes nothing.
        accumulator.push(&chunk(&SharedStr::from("m2"), &SharedStr::from("fp2"), ""));
        assert_eq!(accumulator.completion().model, "m2");
    }

    fn from_json(value: serde_json::Value) -> ChatCompletionChunk {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn id_and_created_come_from_the_first_chunk_and_an_empty_model_keeps_the_last() {
        let mut accumulator = StreamAccumulator::new();
        assert_eq!(accumulator.chunks(), 0);
        for (id, created, model, content) in [
            ("chatcmpl-1", 1_700_000_000, "gpt-4o", "a"),
            ("chatcmpl-2", 1_700_000_001, "", "b"),
            ("", 1_700_000_002, "", "c"),
        ] {
            accumulator.push(&from_json(serde_json::json!({
                "id": id, "created": created, "model": model,
                "choices": [{"index": 0, "delta": {"content": content}}]
            })));
        }
        assert_eq!(accumulator.chunks(), 3);
        let completion = accumulator.completion();
        assert_eq!(completion.id, "chatcmpl-1");
        assert_eq!(completion.created, 1_700_000_000);
        assert_eq!(completion.model, "gpt-4o");
        assert_eq!(accumulator.text(), "abc");
    }

    #[test]
    fn the_role_is_taken_from_the_first_delta_that_has_one() {
        let mut accumulator = StreamAccumulator::new();
        for delta in [
            serde_json::json!({"role": "model", "content": ""}),
            serde_json::json!({"role": "assistant", "content": "Hi"}),
        ] {
            accumulator.push(&from_json(serde_json::json!({
                "choices": [{"index": 0, "delta": delta}]
            })));
        }
        let message = &accumulator.completion().choices[0].message;
        assert_eq!(message.role, Role::Other("model".to_owned()));
        assert_eq!(message.content.as_deref(), Some("Hi"));
    }

    #[test]
    fn a_null_extra_field_keeps_what_arrived_before_it() {
        // DeepSeek-style reasoning: `reasoning_content` streams first, then
        // turns null while the answer streams in `content`.
        let mut accumulator = StreamAccumulator::new();
        for delta in [
            serde_json::json!({"role": "assistant", "reasoning_content": "Think", "content": null}),
            serde_json::json!({"reasoning_content": "ing.", "content": null}),
            serde_json::json!({"reasoning_content": null, "content": "Done"}),
        ] {
            accumulator.push(&from_json(serde_json::json!({
                "choices": [{"index": 0, "delta": delta}]
            })));
        }
        let message = &accumulator.completion().choices[0].message;
        assert_eq!(
            message.extra.get("reasoning_content"),
            Some(&Value::String("Thinking.".to_owned()))
        );
        assert_eq!(message.content.as_deref(), Some("Done"));
    }

    #[test]
    fn log_probabilities_of_all_chunks_are_concatenated() {
        let mut accumulator = StreamAccumulator::new();
        for (token, logprob) in [("Hel", -0.25), ("lo", -0.5)] {
            accumulator.push(&from_json(serde_json::json!({
                "choices": [{
                    "index": 0,
                    "delta": {"content": token},
                    "logprobs": {
                        "content": [{"token": token, "logprob": logprob, "top_logprobs": []}],
                        "refusal": null
                    }
                }]
            })));
        }
        let logprobs = accumulator.completion().choices[0]
            .logprobs
            .clone()
            .unwrap();
        let tokens: Vec<(&str, f64)> = logprobs
            .content
            .as_deref()
            .unwrap()
            .iter()
            .map(|t| (t.token.as_str(), t.logprob))
            .collect();
        assert_eq!(tokens, [("Hel", -0.25), ("lo", -0.5)]);
        assert_eq!(logprobs.refusal, None);
    }

    #[test]
    fn a_streamed_custom_tool_call_keeps_its_type() {
        let mut accumulator = StreamAccumulator::new();
        accumulator.push(&from_json(serde_json::json!({
            "choices": [{"index": 0, "delta": {"tool_calls": [{
                "index": 0, "id": "call_1", "type": "custom",
                "custom": {"name": "grep", "input": "TODO"}
            }]}}]
        })));
        let calls = accumulator.completion().choices[0]
            .message
            .tool_calls
            .clone()
            .unwrap();
        assert_eq!(calls.len(), 1);
        assert_eq!(calls[0].id, "call_1");
        assert_eq!(calls[0].r#type, "custom");
        assert_eq!(
            calls[0].extra.get("custom"),
            Some(&serde_json::json!({"name": "grep", "input": "TODO"}))
        );
    }

    #[test]
    fn a_streamed_deprecated_function_call_is_assembled_like_a_whole_one() {
        let mut accumulator = StreamAccumulator::new();
        for delta in [
            serde_json::json!({"role": "assistant", "content": null, "function_call": {"name": "get_weather", "arguments": ""}}),
            serde_json::json!({"function_call": {"arguments": "{\"city\":"}}),
            serde_json::json!({"function_call": {"arguments": "\"Paris\"}"}}),
        ] {
            let chunk: ChatCompletionChunk = serde_json::from_value(serde_json::json!({
                "choices": [{"index": 0, "delta": delta}]
            }))
            .unwrap();
            accumulator.push(&chunk);
        }
        let message = &accumulator.completion().choices[0].message;
        assert_eq!(
            message.function_call,
            Some(FunctionCall {
                name: "get_weather".to_owned(),
                arguments: "{\"city\":\"Paris\"}".to_owned(),
                extra: Default::default(),
            })
        );
        assert!(message.extra.get("function_call").is_none());
    }

    #[test]
    fn tool_calls_come_out_in_index_order_whatever_order_they_start_in() {
        let fragment = |index: u32, id: &str, arguments: &str| {
            serde_json::from_value::<ChatCompletionChunk>(serde_json::json!({
                "choices": [{"index": 0, "delta": {"tool_calls": [{
                    "index": index, "id": id, "type": "function",
                    "function": {"name": format!("f{index}"), "arguments": arguments}
                }]}}]
            }))
            .unwrap()
        };
        let mut accumulator = StreamAccumulator::new();
        for (index, id, arguments) in [
            (2, "call_c", "{"),
            (0, "call_a", "{\"a\""),
            (1, "call_b", "{}"),
            (0, "", ":1}"),
            (2, "", "}"),
        ] {
            accumulator.push(&fragment(index, id, arguments));
        }
        let calls = accumulator.completion().choices[0]
            .message
            .tool_calls
            .clone()
            .unwrap();
        let seen: Vec<(&str, &str, &str)> = calls
            .iter()
            .map(|c| {
                (
                    c.id.as_str(),
                    c.function.name.as_str(),
                    c.function.arguments.as_str(),
                )
            })
            .collect();
        assert_eq!(
            seen,
            [
                ("call_a", "f0", "{\"a\":1}"),
                ("call_b", "f1", "{}"),
                ("call_c", "f2", "{}")
            ]
        );
    }

    fn parsed(chunk: serde_json::Value) -> ChatCompletionChunk {
        serde_json::from_value(chunk).unwrap()
    }

    #[test]
    fn held_bytes_counts_the_text_and_each_entry_a_chunk_may_add() {
        let mut accumulator = StreamAccumulator::new();
        assert_eq!(accumulator.held_bytes(), 0);
        accumulator.push(&parsed(serde_json::json!({
            "choices": [{"index": 0, "delta": {"content": "abc", "refusal": "no"}}]
        })));
        assert_eq!(accumulator.held_bytes(), ENTRY_BYTES + 3 + 2);
        // A chunk without choices (the usage chunk) adds nothing that grows.
        accumulator.push(&parsed(
            serde_json::json!({"choices": [], "usage": {"total_tokens": 1}}),
        ));
        assert_eq!(accumulator.held_bytes(), ENTRY_BYTES + 5);
        let before = accumulator.held_bytes();
        accumulator.push(&parsed(serde_json::json!({"choices": [
            {"index": 1, "delta": {
                "reasoning_content": "hmm",
                "tool_calls": [{"index": 0, "id": "c1", "type": "function",
                                "function": {"name": "f", "arguments": "{\"a\":"}}]
            },
            "logprobs": {"content": [{"token": "hi", "logprob": -0.5, "bytes": [104, 105],
                                       "top_logprobs": [{"token": "yo", "logprob": -1.0}]}]}}
        ]})));
        let choice = ENTRY_BYTES + "reasoning_content".len() + 3;
        let call = ENTRY_BYTES + 2 + "function".len() + 1 + 5;
        let logprob = ENTRY_BYTES + 2 + 2 + (ENTRY_BYTES + 2);
        assert_eq!(accumulator.held_bytes() - before, choice + call + logprob);
        // Unknown fields of the chunk and of the choice count too.
        let before = accumulator.held_bytes();
        accumulator.push(&parsed(serde_json::json!({
            "x_groq": {"id": "r"},
            "choices": [{"index": 0, "delta": {}, "stop_reason": "s"}]
        })));
        let chunk = "x_groq".len() + ("id".len() + 1 + 16);
        let choice = ENTRY_BYTES + "stop_reason".len() + 1;
        assert_eq!(accumulator.held_bytes() - before, chunk + choice);
    }
}
