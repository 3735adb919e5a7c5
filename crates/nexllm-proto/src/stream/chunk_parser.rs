//! A direct parser for the chunks servers actually send, tried before serde.
//!
//! Nearly every chunk of a stream has the same few keys with strings, small
//! integers and `null`s as values. [`parse_into`] reads exactly that shape
//! straight from the bytes (strings scanned eight bytes at a time, keys
//! compared with constant names in the order servers send them, without
//! serde's visitors) and builds the same [`ChatCompletionChunk`] the
//! `Deserialize` impl would. A chunk that starts with the same bytes as the
//! last one, up to `"choices"`, takes the header values read from them
//! ([`ParserMemory`]). Anything else (an unknown key, which belongs in
//! `extra`; a number as a float; `usage` or `logprobs` objects; content as
//! parts; a lone surrogate; any syntax error) makes it give up with `false`,
//! and the caller parses the chunk with serde, which is the reference: this
//! parser only ever accepts input serde accepts, and builds what serde builds.

use std::borrow::Cow;

use crate::types::{
    ChatCompletionChunk, ChunkChoice, Delta, Extra, FinishReason, FunctionCallDelta,
    RepeatedStrings, Role, SharedStr, ToolCallDelta,
};

use super::spare::{SpareBuffers, small_enough};

/// What the direct parser remembers from one chunk to the next.
#[derive(Debug, Default)]
#[repr(C)] // Read for every chunk first (see `ChatStreamDecoder`).
pub(crate) struct ParserMemory {
    /// The decoder's lent chunk holds what the remembered header and
    /// [`Shape`] built last (its header recalled, the shape's one choice),
    /// and nothing else: the next chunk of that shape is written into it
    /// where it is, only its text and padding replaced ([`Target::Lent`]).
    /// Cleared by every parse that builds anything else, and by every parse
    /// into another chunk (which may change the header or shape).
    pub(crate) lent_shaped: bool,
    /// The last [`parse_into`] refilled the lent chunk where it is: the
    /// chunk repeats the one lent before it but for its text and padding.
    pub(crate) refilled: bool,
    /// Before the header: a refill reads the shape and the header's bytes
    /// (`raw`, `len`), not the header's values.
    shape: Shape,
    header: Header,
    /// The last value of each repeated string (serde's path shares them too).
    pub(crate) strings: RepeatedStrings,
}

/// The chunk [`parse_into`] fills.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Target {
    /// A chunk of its own, a default one.
    Fresh,
    /// The decoder's lent chunk: emptied by [`clear_but_header`], or, while
    /// [`ParserMemory::lent_shaped`], the last usual delta as it was lent.
    Lent,
}

/// The start of the last chunk whose header was parsed, and what it held.
///
/// Every chunk of a stream usually starts with the same bytes, up to
/// `"choices"`: `{"id":"..","object":"..","created":..,"model":"..",..`.
/// Parsing is a function of the bytes read, so a chunk that starts with the
/// very bytes remembered here holds the very values read from them, and the
/// parser resumes after them with the state it had there: one comparison
/// instead of six keys and values.
#[derive(Debug, Default)]
#[repr(C)] // In the order a recall reads them: two cache lines.
struct Header {
    /// The bytes from the `{` to the first key that is not a header key
    /// (`len` of them; none: nothing remembered), at most
    /// [`MAX_HEADER_BYTES`], then those of the remembered [`Shape`].
    raw: Vec<u8>,
    /// How many bytes of `raw` are the header's.
    len: usize,
    /// Where the key search resumes.
    next: usize,
    /// The header fields as read from `raw` (the rest of the chunk untouched).
    created: u64,
    id: SharedStr,
    object: SharedStr,
    model: SharedStr,
    system_fingerprint: Option<SharedStr>,
    service_tier: Option<SharedStr>,
}

/// A longer header is not remembered (it is not a header servers send).
const MAX_HEADER_BYTES: usize = 1024;

/// The rest of the last chunk after its remembered header, when it was one
/// of the usual deltas: one choice whose delta holds only `content`, or only
/// one tool-call fragment of `arguments` (and its index), and an
/// `obfuscation` string or none. A chunk whose header is recalled and whose
/// rest has the very same bytes but for those two values holds the very
/// values read from them (parsing is a function of the bytes, and the parser
/// is in the same state after the same header), so the two values are read
/// and the rest compared instead of parsed: a few comparisons instead of six
/// to ten keys and their values. Anything else parses as usual, and may be
/// remembered in its place.
#[derive(Debug, Default)]
struct Shape {
    /// How many bytes, from the end of the header to the end of the chunk,
    /// follow the header's in [`Header::raw`] (0: nothing remembered). At
    /// most [`MAX_SHAPE_BYTES`]. Kept after the header's bytes, in the same
    /// buffer, they are read right after them: with many streams on one
    /// thread, a buffer of their own was more cold cache lines per chunk.
    len: usize,
    /// Where, in `raw`, the value of `content` or `arguments` is: the bytes
    /// before it are compared, the value is read.
    text: (usize, usize),
    /// Which value `text` is.
    kind: ShapeKind,
    /// Where the value of `obfuscation` is, when the chunk has the key.
    obfuscation: Option<(usize, usize)>,
    /// The index of the choice.
    index: u32,
}

/// The delta a [`Shape`] holds.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum ShapeKind {
    /// `content` alone.
    #[default]
    Content,
    /// One tool-call fragment with this index, of `arguments` alone.
    Arguments(Option<u32>),
}

/// A longer rest of a chunk is not remembered.
const MAX_SHAPE_BYTES: usize = 4096;

/// Where the values a [`Shape`] reads were, in the chunk being parsed.
#[derive(Debug, Default, Clone, Copy)]
struct Slots {
    content: Option<(usize, usize)>,
    arguments: Option<(usize, usize)>,
    obfuscation: Option<(usize, usize)>,
}

/// A tool-call fragment of `arguments` alone (besides its index).
fn plain_arguments(call: &ToolCallDelta) -> bool {
    call.id.is_none()
        && call.r#type.is_none()
        && call.extra.is_empty()
        && call
            .function
            .as_ref()
            .is_some_and(|function| function.name.is_none() && function.extra.is_empty())
}

impl Shape {
    fn forget(&mut self) {
        self.len = 0;
    }

    #[cfg(test)]
    fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Remembers `bytes[start..end]`, the rest of `chunk` after its header,
    /// when `chunk` is one of the usual deltas (see [`Shape`]).
    fn learn(
        &mut self,
        header: &mut Header,
        bytes: &[u8],
        (start, end): (usize, usize),
        chunk: &ChatCompletionChunk,
        slots: Slots,
    ) {
        self.forget();
        header.raw.truncate(header.len);
        let ([choice], None) = (chunk.choices.as_slice(), &chunk.usage) else {
            return;
        };
        let delta = &choice.delta;
        let (kind, text) = match (&delta.tool_calls, slots.content, slots.arguments) {
            (None, Some(text), None) => (ShapeKind::Content, text),
            (Some(calls), None, Some(text)) => match calls.as_slice() {
                [call] if plain_arguments(call) => (ShapeKind::Arguments(call.index), text),
                _ => return,
            },
            _ => return,
        };
        let usual = choice.finish_reason.is_none()
            && choice.logprobs.is_none()
            && choice.extra.is_empty()
            && delta.role.is_none()
            && delta.refusal.is_none()
            && delta.extra.is_empty()
            && chunk.extra.is_empty()
            && (chunk.obfuscation.is_none() || slots.obfuscation.is_some());
        let in_order = match slots.obfuscation {
            Some((at, _)) => text.1 <= at,
            None => true,
        };
        let Some(raw) = bytes.get(start..end) else {
            return;
        };
        if !usual || !in_order || start > text.0 || raw.len() > MAX_SHAPE_BYTES {
            return;
        }
        header.raw.extend_from_slice(raw);
        self.len = raw.len();
        self.text = (text.0 - start, text.1 - start);
        self.kind = kind;
        self.obfuscation = slots
            .obfuscation
            .map(|(from, to)| (from - start, to - start));
        self.index = choice.index;
    }
}

/// Empties `chunk` but for the repeated strings of its header, which the
/// next chunk of a stream nearly always repeats: when that chunk's header is
/// recalled they are already the values it needs, and no reference count is
/// touched (with many streams on one thread each count is a cache miss,
/// twice per chunk). A chunk whose header is not recalled starts from empty
/// ones ([`clear_header`]). Every field is named, so that a new one is not
/// forgotten.
pub(crate) fn clear_but_header(chunk: &mut ChatCompletionChunk) {
    let ChatCompletionChunk {
        id: _,
        object: _,
        model: _,
        system_fingerprint: _,
        service_tier: _,
        created,
        choices,
        usage,
        obfuscation,
        extra,
    } = chunk;
    *created = 0;
    *choices = Vec::new();
    *usage = None;
    *obfuscation = None;
    *extra = Extra::default();
}

/// Empties the header strings [`clear_but_header`] kept.
fn clear_header(chunk: &mut ChatCompletionChunk) {
    chunk.id = SharedStr::default();
    chunk.object = SharedStr::default();
    chunk.model = SharedStr::default();
    chunk.system_fingerprint = None;
    chunk.service_tier = None;
}

impl Header {
    /// Remembers the header `raw` of `chunk`; false when it is too long to.
    fn remember(&mut self, raw: &[u8], chunk: &ChatCompletionChunk, next: usize) -> bool {
        if raw.len() > MAX_HEADER_BYTES {
            return false;
        }
        self.raw.clear();
        self.raw.extend_from_slice(raw);
        self.len = raw.len();
        self.id.clone_from(&chunk.id);
        self.object.clone_from(&chunk.object);
        self.created = chunk.created;
        self.model.clone_from(&chunk.model);
        self.system_fingerprint
            .clone_from(&chunk.system_fingerprint);
        self.service_tier.clone_from(&chunk.service_tier);
        self.next = next;
        true
    }

    /// Fills the header fields of `chunk` (a default one, or one emptied by
    /// [`clear_but_header`]) when `bytes` starts with the remembered header,
    /// and returns where parsing resumes.
    #[inline]
    fn recall(&self, bytes: &[u8], chunk: &mut ChatCompletionChunk) -> Option<(usize, usize)> {
        let header = self.bytes();
        if header.is_empty() || !bytes.starts_with(header) {
            return None;
        }
        chunk.id.clone_from(&self.id);
        chunk.object.clone_from(&self.object);
        chunk.created = self.created;
        chunk.model.clone_from(&self.model);
        chunk
            .system_fingerprint
            .clone_from(&self.system_fingerprint);
        chunk.service_tier.clone_from(&self.service_tier);
        Some((self.len, self.next))
    }

    /// The remembered header's bytes.
    fn bytes(&self) -> &[u8] {
        self.raw.get(..self.len).unwrap_or_default()
    }

    /// The remembered shape's bytes, right after the header's.
    fn shape_bytes(&self, shape: &Shape) -> &[u8] {
        self.raw
            .get(self.len..self.len.saturating_add(shape.len))
            .unwrap_or_default()
    }
}

/// Fills `chunk` (see [`Target`]) from `data` and returns true when `data`
/// is a chunk of the common shape; false means "parse it with serde" (which
/// may then accept it or report the error), and `chunk` holds whatever was
/// read. Filling the caller's chunk in place saves moving a large value
/// around.
///
/// A lent chunk that holds the last usual delta (see
/// [`ParserMemory::lent_shaped`]) is refilled where it is when `data` is
/// that delta again with other text: its list of choices, its delta and its
/// strings stay, and only the text and the padding are written into their
/// buffers. Otherwise it is emptied (its buffers kept in `spare`) and
/// filled as any other.
#[inline]
pub(crate) fn parse_into(
    data: &str,
    memory: &mut ParserMemory,
    spare: &mut SpareBuffers,
    chunk: &mut ChatCompletionChunk,
    target: Target,
) -> bool {
    let ParserMemory {
        strings,
        header,
        shape,
        lent_shaped,
        refilled,
    } = memory;
    *refilled = false;
    let mut parser = Parser {
        text: data,
        bytes: data.as_bytes(),
        pos: 0,
        spare,
        slots: Slots::default(),
    };
    if std::mem::take(lent_shaped) && target == Target::Lent {
        if parser.refill(header, shape, chunk).is_some() && parser.at_end() {
            *lent_shaped = true;
            *refilled = true;
            return true;
        }
        // Not that delta again: start from an emptied chunk, as for any other.
        parser.spare.recycle(chunk);
        clear_but_header(chunk);
        parser.pos = 0;
    }
    let mut shaped = false;
    if parser
        .chunk(strings, header, shape, chunk, &mut shaped)
        .is_none()
    {
        return false;
    }
    let whole = parser.at_end();
    *lent_shaped = whole && shaped && target == Target::Lent;
    whole
}

struct Parser<'a, 's> {
    text: &'a str,
    bytes: &'a [u8],
    pos: usize,
    /// Where the strings and lists of the chunk get their buffers.
    spare: &'s mut SpareBuffers,
    /// Where the values a [`Shape`] reads were.
    slots: Slots,
}

/// The keys of one kind of object, tried in the order servers send them.
trait Keys: Copy {
    /// How many keys there are.
    const COUNT: usize;

    /// Key number `at` with the length of its name and closing quote, when
    /// `rest` starts with them. The names are constants, so each comparison
    /// compiles to a few loads instead of a `memcmp` call.
    fn at(at: usize, rest: &[u8]) -> Option<(usize, Self)>;

    /// The key's number, its place in the list.
    fn number(self) -> usize;
}

/// Declares an enum of the keys of one object and its [`Keys`], in the order
/// OpenAI sends them.
macro_rules! keys {
    ($(#[$doc:meta])* $name:ident { $($variant:ident = $key:literal),* $(,)? }) => {
        $(#[$doc])*
        #[derive(Clone, Copy)]
        enum $name {
            $($variant,)*
        }

        impl Keys for $name {
            const COUNT: usize = [$($key),*].len();

            #[inline]
            fn at(at: usize, rest: &[u8]) -> Option<(usize, Self)> {
                let mut index = 0;
                $(
                    if at == index {
                        const NAME: &[u8] = concat!($key, "\"").as_bytes();
                        return rest.starts_with(NAME).then_some((NAME.len(), $name::$variant));
                    }
                    index += 1;
                )*
                let _ = index;
                None
            }

            #[inline]
            fn number(self) -> usize {
                self as usize
            }
        }
    };
}

keys!(
    /// A key of a chunk object.
    ChunkKey {
        Id = "id",
        Object = "object",
        Created = "created",
        Model = "model",
        ServiceTier = "service_tier",
        SystemFingerprint = "system_fingerprint",
        Choices = "choices",
        Usage = "usage",
        Obfuscation = "obfuscation",
    }
);

keys!(
    /// A key of a choice object.
    ChoiceKey {
        Index = "index",
        Delta = "delta",
        Logprobs = "logprobs",
        FinishReason = "finish_reason",
    }
);

keys!(
    /// A key of a delta object.
    DeltaKey {
        Role = "role",
        Content = "content",
        Refusal = "refusal",
        ToolCalls = "tool_calls",
    }
);

keys!(
    /// A key of a tool-call fragment.
    ToolCallKey {
        Index = "index",
        Id = "id",
        Type = "type",
        Function = "function",
    }
);

keys!(
    /// A key of a function fragment.
    FunctionKey {
        Name = "name",
        Arguments = "arguments",
    }
);

/// The value after a key, as far as this parser reads it.
enum Scalar<'a> {
    Null,
    Str(Cow<'a, str>),
}

impl<'a> Parser<'a, '_> {
    #[inline]
    fn chunk(
        &mut self,
        strings: &mut RepeatedStrings,
        header: &mut Header,
        shape: &mut Shape,
        chunk: &mut ChatCompletionChunk,
        shaped: &mut bool,
    ) -> Option<()> {
        // Servers send the keys in one order: look for each after the last found.
        let mut next = 0;
        // Whether the header is still being read (it was not recalled).
        let mut in_header = false;
        // Where the rest after the remembered header starts, when there is one.
        let mut body_start = None;
        match header.recall(self.bytes, chunk) {
            Some((pos, resume)) => {
                (self.pos, next) = (pos, resume);
                if self
                    .recall_shape(shape, header.shape_bytes(shape), chunk)
                    .is_some()
                {
                    *shaped = true;
                    return Some(());
                }
                self.pos = pos;
                body_start = Some(pos);
            }
            None => {
                // Header strings kept for a recall are not this chunk's.
                clear_header(chunk);
                self.expect(b'{')?;
                if self.peek()? == b'}' {
                    self.pos += 1;
                    return Some(());
                }
                in_header = true;
            }
        }
        loop {
            let (key_start, next_before) = (self.pos, next);
            let key = self.key::<ChunkKey>(&mut next)?;
            if !matches!(
                key,
                ChunkKey::Choices | ChunkKey::Usage | ChunkKey::Obfuscation
            ) {
                // A header key after the header's bytes (in the header
                // itself there is no rest yet): a shape of this rest would
                // not read its value, but keep the recalled header's.
                body_start = None;
            }
            match key {
                ChunkKey::Id => chunk.id = self.repeated_text(&mut strings.id)?,
                ChunkKey::Object => chunk.object = self.repeated_text(&mut strings.object)?,
                ChunkKey::Model => chunk.model = self.repeated_text(&mut strings.model)?,
                ChunkKey::Created => chunk.created = self.unsigned()?,
                ChunkKey::SystemFingerprint => {
                    chunk.system_fingerprint =
                        self.repeated_optional(&mut strings.system_fingerprint)?;
                }
                ChunkKey::ServiceTier => {
                    chunk.service_tier = self.repeated_optional(&mut strings.service_tier)?;
                }
                ChunkKey::Choices | ChunkKey::Usage | ChunkKey::Obfuscation => {
                    if in_header {
                        // The header ends at the first other key: remember it
                        // (when it has any key) for the next chunk.
                        in_header = false;
                        shape.forget();
                        if let Some(raw) = self.bytes.get(..key_start).filter(|raw| raw.len() > 1) {
                            if header.remember(raw, chunk, next_before) {
                                body_start = Some(key_start);
                            }
                        }
                    }
                    self.body_value(key, chunk)?;
                }
            }
            if !self.after_value()? {
                if let Some(start) = body_start {
                    shape.learn(header, self.bytes, (start, self.pos), chunk, self.slots);
                }
                return Some(());
            }
        }
    }

    /// Fills `chunk` from the rest of the input when it is the remembered
    /// [`Shape`] with other values; `None` (the position and the chunk's
    /// choices and padding left to the usual parse) when it is not.
    #[inline]
    fn recall_shape(
        &mut self,
        shape: &Shape,
        raw: &[u8],
        chunk: &mut ChatCompletionChunk,
    ) -> Option<()> {
        if raw.is_empty() {
            return None;
        }
        let (text_from, text_to) = shape.text;
        self.literal(raw.get(..text_from)?)?;
        let text = self.optional_string()?;
        let (obfuscation, tail) = match shape.obfuscation {
            Some((from, to)) => {
                self.literal(raw.get(text_to..from)?)?;
                (Some(self.optional_string()?), to)
            }
            None => (None, text_to),
        };
        self.literal(raw.get(tail..)?)?;
        let delta = match shape.kind {
            ShapeKind::Content => Delta {
                content: text,
                ..Delta::default()
            },
            ShapeKind::Arguments(index) => {
                let mut calls = self.spare.calls();
                calls.push(ToolCallDelta {
                    index,
                    function: Some(FunctionCallDelta {
                        arguments: text,
                        ..FunctionCallDelta::default()
                    }),
                    ..ToolCallDelta::default()
                });
                Delta {
                    tool_calls: Some(calls),
                    ..Delta::default()
                }
            }
        };
        chunk.choices.clear();
        if chunk.choices.capacity() == 0 {
            chunk.choices = self.spare.choices();
        }
        chunk.choices.push(ChunkChoice {
            index: shape.index,
            delta,
            ..ChunkChoice::default()
        });
        if let Some(obfuscation) = obfuscation {
            chunk.obfuscation = obfuscation;
        }
        if chunk.usage.is_some() {
            chunk.usage = None;
        }
        Some(())
    }

    /// Writes the text and padding of the input into `chunk` where they are,
    /// when the input is the remembered header and [`Shape`] with other
    /// values and `chunk` holds what they built last
    /// ([`ParserMemory::lent_shaped`]); `None` (the chunk's text and padding
    /// maybe written already) when it is not.
    #[inline]
    fn refill(
        &mut self,
        header: &Header,
        shape: &Shape,
        chunk: &mut ChatCompletionChunk,
    ) -> Option<()> {
        let head = header.bytes();
        let raw = header.shape_bytes(shape);
        if head.is_empty() || raw.is_empty() || !self.bytes.starts_with(head) {
            return None;
        }
        // The header values are those it was built with: the same strings.
        self.pos = head.len();
        let (text_from, text_to) = shape.text;
        self.literal(raw.get(..text_from)?)?;
        let [choice] = chunk.choices.as_mut_slice() else {
            return None;
        };
        let text = match shape.kind {
            ShapeKind::Content => &mut choice.delta.content,
            ShapeKind::Arguments(_) => {
                let [call] = choice.delta.tool_calls.as_deref_mut()? else {
                    return None;
                };
                &mut call.function.as_mut()?.arguments
            }
        };
        self.string_into(text)?;
        let tail = match shape.obfuscation {
            Some((from, to)) => {
                self.literal(raw.get(text_to..from)?)?;
                self.string_into(&mut chunk.obfuscation)?;
                to
            }
            None => text_to,
        };
        self.literal(raw.get(tail..)?)
    }

    /// Reads `null` or a string into `slot`: a string into the buffer the
    /// slot holds (unless it is larger than [`SpareBuffers`] keeps), the
    /// buffers let go of kept in `spare`.
    #[inline]
    fn string_into(&mut self, slot: &mut Option<String>) -> Option<()> {
        match self.scalar()? {
            Scalar::Null => self.spare.keep_string(slot.take()),
            Scalar::Str(Cow::Borrowed(text)) => match slot {
                Some(buffer) if small_enough(buffer) => {
                    buffer.clear();
                    buffer.push_str(text);
                }
                _ => *slot = Some(self.spare.string(text)),
            },
            Scalar::Str(Cow::Owned(text)) => self.spare.keep_string(slot.replace(text)),
        }
        Some(())
    }

    /// Whether only whitespace is left.
    #[inline]
    fn at_end(&mut self) -> bool {
        self.skip_whitespace();
        self.pos == self.bytes.len()
    }

    /// Consumes `expected` when the input goes on with exactly these bytes.
    #[inline]
    fn literal(&mut self, expected: &[u8]) -> Option<()> {
        let end = self.pos.checked_add(expected.len())?;
        if self.bytes.get(self.pos..end)? == expected {
            self.pos = end;
            Some(())
        } else {
            None
        }
    }

    /// The value of a chunk key that is not part of the header.
    #[inline]
    fn body_value(&mut self, key: ChunkKey, chunk: &mut ChatCompletionChunk) -> Option<()> {
        match key {
            ChunkKey::Choices => {
                chunk.choices.clear();
                if !self.null()? {
                    self.array(|parser| {
                        // One choice is the rule: allocate for one, not four.
                        if chunk.choices.capacity() == 0 {
                            chunk.choices = parser.spare.choices();
                        }
                        chunk.choices.push(ChunkChoice::default());
                        parser.choice(chunk.choices.last_mut()?)
                    })?;
                }
            }
            ChunkKey::Usage => {
                // The usage object itself is rare (the last chunk): serde reads it.
                if !self.null()? {
                    return None;
                }
                // Nearly always none already: nothing to drop.
                if chunk.usage.is_some() {
                    chunk.usage = None;
                }
            }
            ChunkKey::Obfuscation => {
                let from = self.pos;
                chunk.obfuscation = self.optional_string()?;
                self.slots.obfuscation = Some((from, self.pos));
            }
            // Header keys are read by the caller.
            ChunkKey::Id
            | ChunkKey::Object
            | ChunkKey::Created
            | ChunkKey::Model
            | ChunkKey::ServiceTier
            | ChunkKey::SystemFingerprint => return None,
        }
        Some(())
    }

    /// Fills `choice`, a default one.
    fn choice(&mut self, choice: &mut ChunkChoice) -> Option<()> {
        self.object(|parser, key: ChoiceKey| {
            match key {
                ChoiceKey::Index => choice.index = u32::try_from(parser.unsigned()?).ok()?,
                ChoiceKey::Delta => {
                    if !parser.null()? {
                        parser.delta(&mut choice.delta)?;
                    }
                }
                ChoiceKey::FinishReason => {
                    choice.finish_reason = match parser.scalar()? {
                        Scalar::Null => None,
                        Scalar::Str(reason) if reason.is_empty() => None,
                        Scalar::Str(reason) => Some(FinishReason::from(&*reason)),
                    };
                }
                ChoiceKey::Logprobs => {
                    if !parser.null()? {
                        return None;
                    }
                    choice.logprobs = None;
                }
            }
            Some(())
        })
    }

    /// Fills `delta`, a default one.
    fn delta(&mut self, delta: &mut Delta) -> Option<()> {
        self.object(|parser, key: DeltaKey| {
            match key {
                DeltaKey::Role => {
                    delta.role = match parser.scalar()? {
                        Scalar::Str(role) if !role.is_empty() => Some(Role::from(&*role)),
                        Scalar::Str(_) | Scalar::Null => None,
                    };
                }
                DeltaKey::Content => {
                    let from = parser.pos;
                    delta.content = parser.optional_string()?;
                    parser.slots.content = Some((from, parser.pos));
                }
                DeltaKey::Refusal => delta.refusal = parser.optional_string()?,
                DeltaKey::ToolCalls => {
                    delta.tool_calls = if parser.null()? {
                        None
                    } else {
                        let mut calls = Vec::new();
                        parser.array(|parser| {
                            // One fragment per chunk is the rule: allocate for one.
                            if calls.capacity() == 0 {
                                calls = parser.spare.calls();
                            }
                            calls.push(parser.tool_call()?);
                            Some(())
                        })?;
                        Some(calls)
                    };
                }
            }
            Some(())
        })
    }

    fn tool_call(&mut self) -> Option<ToolCallDelta> {
        let mut call = ToolCallDelta::default();
        self.object(|parser, key: ToolCallKey| {
            match key {
                ToolCallKey::Index => {
                    call.index = if parser.null()? {
                        None
                    } else {
                        Some(u32::try_from(parser.unsigned()?).ok()?)
                    };
                }
                ToolCallKey::Id => call.id = parser.optional_string()?,
                ToolCallKey::Type => call.r#type = parser.optional_string()?,
                ToolCallKey::Function => {
                    call.function = if parser.null()? {
                        None
                    } else {
                        Some(parser.function()?)
                    };
                }
            }
            Some(())
        })?;
        Some(call)
    }

    fn function(&mut self) -> Option<FunctionCallDelta> {
        let mut function = FunctionCallDelta::default();
        self.object(|parser, key: FunctionKey| {
            match key {
                FunctionKey::Name => function.name = parser.optional_string()?,
                FunctionKey::Arguments => {
                    let from = parser.pos;
                    function.arguments = parser.optional_string()?;
                    parser.slots.arguments = Some((from, parser.pos));
                }
            }
            Some(())
        })?;
        Some(function)
    }

    /// `{ "key": value, ... }` whose keys are all in `keys`, calling `each`
    /// with the parser at every value. Gives up on any other key (it belongs
    /// in `extra`, which serde fills), on escapes in a key, and on a key seen
    /// before in the object: serde decides what a repeated key means (the
    /// last value for the chunk, choice and delta; an error for the derived
    /// tool-call and function fragments).
    fn object<K: Keys>(&mut self, mut each: impl FnMut(&mut Self, K) -> Option<()>) -> Option<()> {
        const { assert!(K::COUNT <= u32::BITS as usize) };
        self.expect(b'{')?;
        if self.peek()? == b'}' {
            self.pos += 1;
            return Some(());
        }
        // Servers send the keys in one order: look for each after the last found.
        let mut next = 0;
        // The keys seen so far, one bit each.
        let mut seen = 0u32;
        loop {
            let key = self.key::<K>(&mut next)?;
            let bit = 1 << key.number();
            if seen & bit != 0 {
                return None;
            }
            seen |= bit;
            each(self, key)?;
            if !self.after_value()? {
                return Some(());
            }
        }
    }

    /// `"key":` for one of `keys`, searched from `next` on (then set past
    /// the key found). Gives up on any other key and on escapes in a key.
    #[inline]
    fn key<K: Keys>(&mut self, next: &mut usize) -> Option<K> {
        if self.peek()? != b'"' {
            return None;
        }
        let rest = self.bytes.get(self.pos + 1..)?;
        // The key after the last one found, nearly always; else any other.
        let mut at = *next;
        let (len, key) = loop {
            if at >= K::COUNT {
                at = 0;
            }
            if let Some(found) = K::at(at, rest) {
                break found;
            }
            at += 1;
            if at == *next || (at == K::COUNT && *next == 0) {
                return None;
            }
        };
        self.pos += 1 + len;
        *next = at + 1;
        self.expect(b':')?;
        Some(key)
    }

    /// After a value in an object: `true` after a `,` (a key follows),
    /// `false` after the closing `}`.
    #[inline]
    fn after_value(&mut self) -> Option<bool> {
        match self.peek()? {
            b',' => {
                self.pos += 1;
                Some(true)
            }
            b'}' => {
                self.pos += 1;
                Some(false)
            }
            _ => None,
        }
    }

    /// `[ value, ... ]`, calling `each` with the parser at every value.
    fn array(&mut self, mut each: impl FnMut(&mut Self) -> Option<()>) -> Option<()> {
        self.expect(b'[')?;
        if self.peek()? == b']' {
            self.pos += 1;
            return Some(());
        }
        loop {
            each(self)?;
            match self.peek()? {
                b',' => self.pos += 1,
                b']' => {
                    self.pos += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    /// A repeated string that is never absent: `null` is empty.
    fn repeated_text(&mut self, slot: &mut Option<SharedStr>) -> Option<SharedStr> {
        Some(self.repeated_optional(slot)?.unwrap_or_default())
    }

    fn repeated_optional(&mut self, slot: &mut Option<SharedStr>) -> Option<Option<SharedStr>> {
        Some(match self.scalar()? {
            Scalar::Null => None,
            Scalar::Str(text) => Some(RepeatedStrings::share(slot, &text)),
        })
    }

    fn optional_string(&mut self) -> Option<Option<String>> {
        Some(match self.scalar()? {
            Scalar::Null => None,
            Scalar::Str(Cow::Borrowed(text)) => Some(self.spare.string(text)),
            Scalar::Str(Cow::Owned(text)) => Some(text),
        })
    }

    /// `null` or a string; anything else gives up.
    fn scalar(&mut self) -> Option<Scalar<'a>> {
        if self.null()? {
            Some(Scalar::Null)
        } else if self.peek()? == b'"' {
            self.string().map(Scalar::Str)
        } else {
            None
        }
    }

    /// Consumes a `null` if one is next: `Some(true)`; `Some(false)` when
    /// something else is next; `None` at the end of the input.
    fn null(&mut self) -> Option<bool> {
        if self.peek()? != b'n' {
            return Some(false);
        }
        if self.bytes.get(self.pos..self.pos + 4)? == b"null" {
            self.pos += 4;
            Some(true)
        } else {
            None
        }
    }

    /// A non-negative integer without fraction or exponent that fits `u64`.
    fn unsigned(&mut self) -> Option<u64> {
        self.skip_whitespace();
        let start = self.pos;
        let mut value: u64 = 0;
        while let Some(&digit @ b'0'..=b'9') = self.bytes.get(self.pos) {
            value = value
                .checked_mul(10)?
                .checked_add(u64::from(digit - b'0'))?;
            self.pos += 1;
        }
        let digits = self.pos - start;
        // No digits, a leading zero, or a fraction or exponent next: serde's job.
        if digits == 0 || (digits > 1 && self.bytes.get(start) == Some(&b'0')) {
            return None;
        }
        match self.bytes.get(self.pos) {
            Some(b'.' | b'e' | b'E') => None,
            _ => Some(value),
        }
    }

    /// A string (the parser is at its opening quote), borrowed from the input
    /// when it has no escapes.
    fn string(&mut self) -> Option<Cow<'a, str>> {
        let start = self.pos + 1;
        let end = find_special(self.bytes, start)?;
        if self.bytes.get(end) == Some(&b'"') {
            self.pos = end + 1;
            // '"' is ASCII, so both ends are character boundaries.
            return self.text.get(start..end).map(Cow::Borrowed);
        }
        self.escaped_string(start, end).map(Cow::Owned)
    }

    /// The rest of a string from its first escape (or control character) at
    /// `special`, decoded into one allocation: escapes only shrink the text,
    /// so its raw length is enough.
    fn escaped_string(&mut self, start: usize, mut special: usize) -> Option<String> {
        let mut text = self
            .spare
            .string_with_capacity(raw_string_len(self.bytes, start)?);
        let mut piece_start = start;
        loop {
            text.push_str(self.text.get(piece_start..special)?);
            match self.bytes.get(special)? {
                b'"' => {
                    self.pos = special + 1;
                    return Some(text);
                }
                b'\\' => {
                    self.pos = special + 1;
                    text.push(self.escape()?);
                }
                // A control character, which JSON strings cannot hold as it is.
                _ => return None,
            }
            piece_start = self.pos;
            special = find_special(self.bytes, piece_start)?;
        }
    }

    /// The character of the escape after a backslash.
    fn escape(&mut self) -> Option<char> {
        let letter = *self.bytes.get(self.pos)?;
        self.pos += 1;
        Some(match letter {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => {
                let unit = self.hex4()?;
                if (0xD800..0xDC00).contains(&unit) {
                    // A high surrogate must be followed by an escaped low one.
                    if self.bytes.get(self.pos..self.pos + 2)? != b"\\u" {
                        return None;
                    }
                    self.pos += 2;
                    let low = self.hex4()?;
                    if !(0xDC00..0xE000).contains(&low) {
                        return None;
                    }
                    char::from_u32(0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00))?
                } else {
                    // A lone low surrogate is not a character: `from_u32` refuses it.
                    char::from_u32(unit)?
                }
            }
            _ => return None,
        })
    }

    fn hex4(&mut self) -> Option<u32> {
        let digits = self.bytes.get(self.pos..self.pos + 4)?;
        let mut value = 0;
        for &digit in digits {
            value = value * 16 + char::from(digit).to_digit(16)?;
        }
        self.pos += 4;
        Some(value)
    }

    fn expect(&mut self, byte: u8) -> Option<()> {
        (self.peek()? == byte).then(|| self.pos += 1)
    }

    /// The next byte after whitespace, not consumed.
    #[inline]
    fn peek(&mut self) -> Option<u8> {
        match self.bytes.get(self.pos) {
            // Compact JSON, the usual case: no whitespace to skip.
            Some(&byte) if byte > b' ' => Some(byte),
            _ => {
                self.skip_whitespace();
                self.bytes.get(self.pos).copied()
            }
        }
    }

    fn skip_whitespace(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.bytes.get(self.pos) {
            self.pos += 1;
        }
    }
}

/// The position of the first `"`, `\\` or control character at or after
/// `from`, eight bytes at a time.
fn find_special(bytes: &[u8], from: usize) -> Option<usize> {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    const QUOTES: u64 = u64::from_ne_bytes([b'"'; 8]);
    const BACKSLASHES: u64 = u64::from_ne_bytes([b'\\'; 8]);
    const SPACES: u64 = u64::from_ne_bytes([0x20; 8]);
    let mut at = from;
    while let Some(block) = bytes.get(at..at + 8) {
        let mut word = [0; 8];
        word.copy_from_slice(block);
        let word = u64::from_le_bytes(word);
        // A byte's high bit is set where it is zero (after the XOR) or below
        // 0x20; the lowest set bit is always a true match.
        let quote = word ^ QUOTES;
        let backslash = word ^ BACKSLASHES;
        let found = (quote.wrapping_sub(ONES) & !quote)
            | (backslash.wrapping_sub(ONES) & !backslash)
            | (word.wrapping_sub(SPACES) & !word);
        let found = found & HIGHS;
        if found != 0 {
            return Some(at + (found.trailing_zeros() / 8) as usize);
        }
        at += 8;
    }
    let tail = bytes.get(at..)?;
    let offset = tail
        .iter()
        .position(|&byte| byte == b'"' || byte == b'\\' || byte < 0x20)?;
    Some(at + offset)
}

/// The length of the raw string text from `start` to its closing quote
/// (escapes included as written), eight bytes at a time between escapes.
fn raw_string_len(bytes: &[u8], start: usize) -> Option<usize> {
    let mut at = start;
    loop {
        at = find_special(bytes, at)?;
        match bytes.get(at)? {
            b'"' => return Some(at - start),
            b'\\' => at += 2,
            // A control character: the caller gives up when it reaches it.
            _ => at += 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stream::spare::MAX_KEPT_BYTES;
    use crate::types::ChatCompletionChunk;

    /// The fast parser agrees with serde, or leaves the input to it.
    fn parse(
        data: &str,
        memory: &mut ParserMemory,
        spare: &mut SpareBuffers,
    ) -> Option<ChatCompletionChunk> {
        let mut chunk = ChatCompletionChunk::default();
        parse_into(data, memory, spare, &mut chunk, Target::Fresh).then_some(chunk)
    }

    fn check(data: &str) -> Option<ChatCompletionChunk> {
        check_after(data, &mut ParserMemory::default())
    }

    /// As `check`, with what the parser remembers from the chunks before.
    fn check_after(data: &str, memory: &mut ParserMemory) -> Option<ChatCompletionChunk> {
        check_with(data, memory, &mut SpareBuffers::default())
    }

    /// As `check_after`, the values written into `spare`'s buffers.
    fn check_with(
        data: &str,
        memory: &mut ParserMemory,
        spare: &mut SpareBuffers,
    ) -> Option<ChatCompletionChunk> {
        let fast = parse(data, memory, spare);
        let reference = serde_json::from_str::<ChatCompletionChunk>(data);
        if let Some(fast) = &fast {
            assert_eq!(Some(fast), reference.as_ref().ok(), "{data}");
        }
        fast
    }

    /// A chunk parsed as `next_chunk_ref` parses them: into the chunk lent
    /// before, refilled where it is when it was the last usual delta, else
    /// its buffers handed back and its header strings kept.
    #[derive(Default)]
    struct Lent {
        memory: ParserMemory,
        spare: SpareBuffers,
        chunk: ChatCompletionChunk,
    }

    impl Lent {
        /// The chunk when the direct parser takes `data`, checked against
        /// serde's; when it does not, serde's chunk takes its place (when
        /// serde parses it; else the chunk keeps what was read).
        fn parse(&mut self, data: &str) -> Option<ChatCompletionChunk> {
            if !self.memory.lent_shaped {
                self.spare.recycle(&mut self.chunk);
                clear_but_header(&mut self.chunk);
            }
            let fast = parse_into(
                data,
                &mut self.memory,
                &mut self.spare,
                &mut self.chunk,
                Target::Lent,
            );
            let reference = serde_json::from_str::<ChatCompletionChunk>(data);
            if fast {
                assert_eq!(Some(&self.chunk), reference.as_ref().ok(), "{data}");
                return Some(self.chunk.clone());
            }
            if let Ok(reference) = reference {
                self.chunk = reference;
            }
            None
        }
    }

    const COMMON: &str = r#"{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1748526710,"model":"gpt-4o","service_tier":"default","system_fingerprint":"fp_1","choices":[{"index":0,"delta":{"content":"Hi \"there\"\n\u00e9\ud83d\ude00\/"},"logprobs":null,"finish_reason":null}],"usage":null,"obfuscation":"xY3"}"#;

    #[test]
    fn the_common_shapes_parse_as_serde_parses_them() {
        let cases = [
            COMMON,
            r#"{"id":"c","choices":[{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"finish_reason":null}]}"#,
            r#"{"id":"c","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}"#,
            r#"{"id":"c","choices":[{"index":1,"delta":null,"finish_reason":""}],"system_fingerprint":null}"#,
            r#"{"id":"c","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"f","arguments":""}}]}}]}"#,
            r#"{"id":"c","choices":[{"index":0,"delta":{"tool_calls":[{"index":null,"function":{"arguments":"{\"a\":"}}]}}]}"#,
            r#" { "id" : "c" , "choices" : [ ] , "created" : 0 } "#,
            r#"{"choices":null}"#,
            "{}",
        ];
        for case in cases {
            assert!(check(case).is_some(), "{case}");
        }
        let chunk = check(COMMON).unwrap();
        assert_eq!(
            chunk.choices[0].delta.content.as_deref(),
            Some("Hi \"there\"\n\u{e9}\u{1F600}/")
        );
    }

    #[test]
    fn provider_chunks_of_known_keys_parse_fast_and_as_serde_does() {
        // The shapes of other servers, in their key orders: llama.cpp and
        // Azure (choices first), Mistral (a whole call, `index` after
        // `function`, no `type`), Ollama, Anthropic's compatibility layer
        // (a tool-use id), DeepSeek (`content: null`), Foundry Local's empty
        // `tool_calls`, a delta with only `tool_calls: null` (Together).
        let cases = [
            r#"{"choices":[{"finish_reason":null,"index":0,"delta":{"content":"Bon"}}],"created":1747000000,"id":"chatcmpl-l1","model":"qwen2.5-0.5b","system_fingerprint":"b5000-abc","object":"chat.completion.chunk"}"#,
            r#"{"choices":[{"delta":{"content":" jour"},"finish_reason":null,"index":0,"logprobs":null}],"created":1736407895,"id":"chatcmpl-Az1","model":"gpt-4o-2024-11-20","object":"chat.completion.chunk","system_fingerprint":"fp_az"}"#,
            r#"{"id":"9f8e","object":"chat.completion.chunk","created":1749000000,"model":"mistral-large-latest","choices":[{"index":0,"delta":{"tool_calls":[{"id":"D681PevKs","function":{"name":"get_weather","arguments":"{\"city\": \"Paris\"}"},"index":0}]},"finish_reason":"tool_calls","logprobs":null}]}"#,
            r#"{"id":"chatcmpl-521","object":"chat.completion.chunk","created":1748000000,"model":"llama3.2","system_fingerprint":"fp_ollama","choices":[{"index":0,"delta":{"role":"assistant","content":"","tool_calls":[{"id":"call_x1","index":0,"type":"function","function":{"name":"get_time","arguments":"{}"}}]},"finish_reason":null}]}"#,
            r#"{"id":"msg_01ABC","choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"id":"toolu_01XYZ","type":"function","function":{"name":"search","arguments":""}}]},"finish_reason":null}],"created":1751000000,"model":"claude-haiku-4-5","object":"chat.completion.chunk"}"#,
            r#"{"id":"d1","object":"chat.completion.chunk","created":1740000000,"model":"deepseek-chat","system_fingerprint":"fp_ds","choices":[{"index":0,"delta":{"content":null},"logprobs":null,"finish_reason":"length"}],"usage":null}"#,
            r#"{"id":"t1","object":"chat.completion.chunk","created":1740000000,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":"Hi","tool_calls":null},"finish_reason":null}]}"#,
            r#"{"id":"f1","choices":[{"index":0,"delta":{"role":"assistant","content":"Moon","tool_calls":[]},"finish_reason":null}]}"#,
        ];
        for case in cases {
            assert!(check(case).is_some(), "{case}");
        }
        let mistral = check(cases[2]).unwrap();
        let call = &mistral.choices[0].delta.tool_calls.as_ref().unwrap()[0];
        assert_eq!(
            (call.index, call.id.as_deref(), call.r#type.as_deref()),
            (Some(0), Some("D681PevKs"), None)
        );
    }

    #[test]
    fn escaped_strings_of_every_length_parse_as_serde_parses_them() {
        let pieces = [
            "a",
            "\\\"",
            "\\n",
            "\\u00e9",
            "\\ud83d\\ude00",
            "\u{e9}",
            "\\\\",
            "\u{65e5}",
        ];
        for len in 1..80 {
            for shift in 0..pieces.len() {
                let text: String = (0..len)
                    .map(|i| pieces[(i + shift) % pieces.len()])
                    .collect();
                let data =
                    format!(r#"{{"id":"{text}","choices":[{{"delta":{{"content":"{text}"}}}}]}}"#);
                assert!(check(&data).is_some(), "{data}");
            }
        }
        // Broken escapes at the end of a string are left to serde.
        for data in [
            r#"{"id":"ab\ud83d"}"#,
            r#"{"id":"ab\u00"}"#,
            r#"{"id":"\"#,
            "{\"id\":\"a\u{1}\\n\"}",
        ] {
            assert!(check(data).is_none(), "{data}");
        }
    }

    proptest::proptest! {
        /// An escaped string is decoded into one buffer of its raw length
        /// (escapes only shrink it): the raw length is up to the closing
        /// quote, escapes (a quote among them) as written, and there is none
        /// without that quote.
        #[test]
        fn the_raw_length_of_a_string_ends_at_its_closing_quote(
            before in "[a-z{:,\"]{0,9}",
            text in "(a|\"|\\\\|/|\n|\u{1}|\u{1f}| |\u{e9}|\u{1F600}){0,40}",
        ) {
            let json = serde_json::to_string(&text).unwrap();
            // As written by other servers too: `\/` and `\u` escapes.
            for raw in [json.clone(), json.replace('/', "\\/").replace('\u{e9}', "\\u00e9")] {
                let data = format!(r#"{before}{raw},"after""#);
                let start = before.len() + 1;
                let end = start + raw.len() - 2;
                proptest::prop_assert_eq!(raw_string_len(data.as_bytes(), start), Some(end - start));
                proptest::prop_assert_eq!(raw_string_len(&data.as_bytes()[..end], start), None);
            }
            // A control character as it is (the parser gives up on it later).
            let data = format!("{before}\"{text}\u{1}\"");
            let start = before.len() + 1;
            let quote = data.len() - 1;
            if !text.contains(['"', '\\']) {
                proptest::prop_assert_eq!(raw_string_len(data.as_bytes(), start), Some(quote - start));
            }
        }
    }

    #[test]
    fn anything_else_is_left_to_serde() {
        let cases = [
            r#"{"id":"c","x_unknown":1}"#,
            r#"{"id":"c","choices":[{"index":0,"delta":{"reasoning_content":"r"}}]}"#,
            r#"{"id":"c","usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}"#,
            r#"{"created":1.5}"#,
            r#"{"created":-1}"#,
            r#"{"created":01}"#,
            r#"{"created":1e3}"#,
            r#"{"created":99999999999999999999999}"#,
            r#"{"id":12}"#,
            r#"{"choices":[{"index":4294967296}]}"#,
            r#"{"choices":[{"delta":{"content":["a"]}}]}"#,
            r#"{"choices":[{"logprobs":{"content":[]}}]}"#,
            r#"{"id":"\ud800"}"#,
            r#"{"id":"\udc00"}"#,
            r#"{"id":"\ud800\u0041"}"#,
            r#"{"id":"\x"}"#,
            // Repeated keys: the derived fragments refuse them, and serde
            // decides for every object.
            r#"{"choices":[{"delta":{"tool_calls":[{"function":{"arguments":"a","arguments":""}}]}}]}"#,
            r#"{"choices":[{"delta":{"tool_calls":[{"function":{"name":"f","name":"g"}}]}}]}"#,
            r#"{"choices":[{"delta":{"tool_calls":[{"index":0,"index":1}]}}]}"#,
            r#"{"choices":[{"delta":{"tool_calls":[{"id":"a","type":"function","id":"b"}]}}]}"#,
            r#"{"choices":[{"delta":{"tool_calls":[{"function":null,"function":{}}]}}]}"#,
            r#"{"choices":[{"delta":{"content":"a","content":"b"}}]}"#,
            r#"{"choices":[{"delta":{"content":"a"},"delta":null}]}"#,
            r#"{"choices":[{"index":0,"finish_reason":null,"index":1}]}"#,
            "{\"id\":\"a\tb\"}",
            r#"{"id":"c",}"#,
            r#"{"id":"c"} x"#,
            r#"{"id":"c""#,
            r#"{"id":nul}"#,
            r#"[]"#,
            "",
        ];
        for case in cases {
            assert!(check(case).is_none(), "{case}");
        }
    }

    #[test]
    fn repeated_strings_are_shared() {
        let (mut memory, mut spare) = (ParserMemory::default(), SpareBuffers::default());
        let first = parse(COMMON, &mut memory, &mut spare).unwrap();
        let second = parse(COMMON, &mut memory, &mut spare).unwrap();
        assert!(first.id.ptr_eq(&second.id));
        assert!(first.model.ptr_eq(&second.model));
    }

    proptest::proptest! {
        #[test]
        fn generated_streams_parse_fast_and_as_serde_does(stream in crate::strategies::chat_stream()) {
            let mut memory = ParserMemory::default();
            for chunk in &stream.chunks {
                let data = serde_json::to_string(chunk).unwrap();
                let fast = check_after(&data, &mut memory);
                // Every generated chunk has the common shape (usage chunks aside).
                proptest::prop_assert!(fast.is_some() || chunk.usage.is_some(), "{}", data);
            }
        }

        #[test]
        fn token_soup_is_parsed_as_serde_parses_it_or_left_to_it(
            tokens in proptest::collection::vec(proptest::sample::select(&[
                "{", "}", "[", "]", ",", ":", " ", "null", "0", "12", "1.5", "-1", "\"\"",
                "\"id\"", "\"choices\"", "\"delta\"", "\"content\"", "\"index\"",
                "\"finish_reason\"", "\"stop\"", "\"tool_calls\"", "\"function\"",
                "\"arguments\"", "\"name\"", "\"a\\nb\"", "\"\\ud83d\\ude00\"", "\"\\ud83d\"", "\"x\ty\"",
            ][..]), 0..40)
        ) {
            check(&tokens.concat());
        }
    }

    proptest::proptest! {
        /// Chunks with headers alike or not, one after the other: a recalled
        /// header gives what parsing it gives.
        #[test]
        fn recalled_headers_parse_as_serde_parses_them(
            chunks in proptest::collection::vec((
                proptest::sample::select(&[
                    r#"{"id":"a","object":"chat.completion.chunk","created":1,"model":"m","#,
                    r#"{"id":"a","object":"chat.completion.chunk","created":12,"model":"m","#,
                    r#"{"id":"a","object":"chat.completion.chunk","created":1,"model":"m2","#,
                    r#"{"id":"a","object":"chat.completion.chunk","created":1,"model":"m","system_fingerprint":null,"#,
                    r#"{"id":"a","object":"chat.completion.chunk","created":1,"model":"m","service_tier":"default","system_fingerprint":"fp","#,
                    r#"{"id":"a","id":"b","model":"m","#,
                    r#"{ "id" : "a" , "model":"\u006d","#,
                    r#"{"model":"m","id":"a","#,
                    r#"{"id":null,"object":null,"#,
                    r#"{"#,
                    r#"{"id":"a","#,
                    r#"{"id":"a""#,
                    r#"{"id":"a","x":1,"#,
                ][..]),
                proptest::sample::select(&[
                    r#""choices":[{"index":0,"delta":{"content":"x"},"finish_reason":null}]}"#,
                    r#""choices":[],"model":"z"}"#,
                    r#""usage":null,"id":"c"}"#,
                    r#""obfuscation":"o","created":5}"#,
                    r#""choices":[{"index":0,"delta":{"content":"x"}}],"x":2}"#,
                    r#""choices":[]"#,
                    r#""choices":[] }"#,
                    r#""choices":[]}{"#,
                    r#""id":"d"}"#,
                    r#"}"#,
                ][..]),
            ), 1..6)
        ) {
            let mut memory = ParserMemory::default();
            let mut lent = Lent::default();
            for (header, body) in chunks {
                let data = format!("{header}{body}");
                let fast = check_after(&data, &mut memory);
                proptest::prop_assert_eq!(lent.parse(&data), fast, "{}", data);
            }
        }
    }

    /// Prefixes and tails of the rest of a chunk after its header that a
    /// shape may be remembered from, or not.
    const CONTENT_PREFIXES: &[&str] = &[
        r#""choices":[{"index":0,"delta":{"content":"#,
        r#""choices":[{"index":1,"delta":{"content":"#,
        r#""choices":[{"index":0,"delta":{"role":"assistant","content":"#,
        r#""choices":[{"index":0,"delta":{ "content" : "#,
        r#""choices":[{"index":0,"delta":{"tool_calls":null,"content":"#,
        r#""obfuscation":"o","choices":[{"index":0,"delta":{"content":"#,
        r#""choices":[{"index":0,"finish_reason":null,"delta":{"content":"#,
    ];
    const CONTENT_TAILS: &[&str] = &[
        r#"},"logprobs":null,"finish_reason":null}],"usage":null,"obfuscation":"pad"}"#,
        r#"},"logprobs":null,"finish_reason":null}],"usage":null,"obfuscation":"other padding"}"#,
        r#"},"logprobs":null,"finish_reason":null}],"usage":null,"obfuscation":null}"#,
        r#"},"logprobs":null,"finish_reason":"stop"}],"usage":null,"obfuscation":"pad"}"#,
        r#"}}],"obfuscation":"p"}"#,
        r#"}}],"obfuscation":"p"} "#,
        r#"}}],"obfuscation":"p"}}"#,
        r#"}}],"obfuscation":"p","x":1}"#,
        r#"}}],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}"#,
        r#"}}]}"#,
        r#"}},{"index":1,"delta":{"content":"y"}}]}"#,
        r#"}}],"obfuscation":"p","#,
    ];
    const TOOL_PREFIXES: &[&str] = &[
        r#""choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"#,
        r#""choices":[{"index":0,"delta":{"tool_calls":[{"index":3,"function":{"arguments":"#,
        r#""choices":[{"index":2,"delta":{"tool_calls":[{"function":{"arguments":"#,
        r#""choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"i","function":{"arguments":"#,
        r#""choices":[{"index":0,"delta":{"content":null,"tool_calls":[{"index":0,"function":{"arguments":"#,
    ];
    const TOOL_TAILS: &[&str] = &[
        r#"}}]}}],"obfuscation":"p"}"#,
        r#"}}]},"logprobs":null,"finish_reason":null}],"usage":null,"obfuscation":"pad"}"#,
        r#"}}]},"finish_reason":"tool_calls"}]}"#,
        r#"}},{"index":1,"function":{"arguments":"y"}}]}}]}"#,
        r#","name":"f"}}]}}]}"#,
        r#"}}]}}]}"#,
    ];
    const VALUES: &[&str] = &[
        r#""x""#,
        r#""""#,
        "null",
        r#""a\"},\"logprobs\":null""#,
        r#""}}]}}],\"obfuscation\":\"p\"}""#,
        r#""caf\u00e9 \\ \ud83d\ude00""#,
        r#""\ud83d""#,
        "1",
        r#""unterminated"#,
    ];

    /// A prefix and a tail: of the content family, the tool-call family, or
    /// any with any.
    fn rest_of_chunk() -> impl proptest::strategy::Strategy<Value = (&'static str, &'static str)> {
        use proptest::sample::select;
        let any_prefix: Vec<&str> = CONTENT_PREFIXES
            .iter()
            .chain(TOOL_PREFIXES)
            .copied()
            .collect();
        let any_tail: Vec<&str> = CONTENT_TAILS.iter().chain(TOOL_TAILS).copied().collect();
        proptest::prop_oneof![
            (select(CONTENT_PREFIXES), select(CONTENT_TAILS)),
            (select(TOOL_PREFIXES), select(TOOL_TAILS)),
            (select(any_prefix), select(any_tail)),
        ]
    }

    proptest::proptest! {
        /// Chunks whose rest after a recalled header is alike or not (most
        /// repeat the first one's, with other values): a recalled shape gives
        /// what parsing it gives, into a default chunk and into the lent
        /// chunk emptied but for its header.
        #[test]
        fn recalled_shapes_parse_as_serde_parses_them(
            base in rest_of_chunk(),
            chunks in proptest::collection::vec((
                proptest::bool::weighted(0.75),
                proptest::sample::select(&[
                    r#"{"id":"a","object":"chat.completion.chunk","created":1,"model":"m","#,
                    r#"{"id":"a","object":"chat.completion.chunk","created":2,"model":"m","#,
                ][..]),
                rest_of_chunk(),
                proptest::sample::select(VALUES),
            ), 1..10)
        ) {
            let mut memory = ParserMemory::default();
            let mut lent = Lent::default();
            for (same, header, other, value) in chunks {
                let (prefix, tail) = if same { base } else { other };
                let data = format!("{header}{prefix}{value}{tail}");
                let fast = check_after(&data, &mut memory);
                proptest::prop_assert_eq!(lent.parse(&data), fast, "{}", data);
            }
        }
    }

    #[test]
    fn a_content_delta_after_the_same_one_is_read_from_its_remembered_shape() {
        let mut memory = ParserMemory::default();
        let first = COMMON.replace(r#""obfuscation":"xY3""#, r#""obfuscation":"ab""#);
        check_after(&first, &mut memory).unwrap();
        assert!(
            !memory.shape.is_empty(),
            "the usual content delta is remembered"
        );
        // Other text (escapes, a quote that looks like the end), other padding.
        let second = COMMON
            .replace(
                r#""content":"Hi \"there\"\n\u00e9\ud83d\ude00\/""#,
                r#""content":"a\"},\"logprobs\":null \\""#,
            )
            .replace(r#""obfuscation":"xY3""#, r#""obfuscation":"padding""#);
        let chunk = check_after(&second, &mut memory).unwrap();
        assert_eq!(
            chunk.choices[0].delta.content.as_deref(),
            Some(r#"a"},"logprobs":null \"#)
        );
        assert_eq!(chunk.obfuscation.as_deref(), Some("padding"));
        assert!(!memory.shape.is_empty(), "still remembered");
        // A finish reason is another shape: parsed, and nothing remembered.
        let last = COMMON.replace(r#""finish_reason":null"#, r#""finish_reason":"stop""#);
        let chunk = check_after(&last, &mut memory).unwrap();
        assert_eq!(chunk.choices[0].finish_reason, Some(FinishReason::Stop));
        assert!(memory.shape.is_empty());
    }

    #[test]
    fn a_fragment_of_arguments_after_the_same_one_is_read_from_its_remembered_shape() {
        let mut memory = ParserMemory::default();
        let fragment = |index: &str, arguments: &str| {
            format!(
                r#"{{"id":"c","choices":[{{"index":0,"delta":{{"tool_calls":[{{"index":{index},"function":{{"arguments":{arguments}}}}}]}},"finish_reason":null}}],"obfuscation":"p"}}"#
            )
        };
        check_after(&fragment("1", r#""{\"a\"""#), &mut memory).unwrap();
        assert!(!memory.shape.is_empty(), "the usual fragment is remembered");
        let chunk = check_after(&fragment("1", r#"":\"}]\"}""#), &mut memory).unwrap();
        let calls = chunk.choices[0].delta.tool_calls.as_ref().unwrap();
        assert_eq!(calls[0].index, Some(1));
        assert_eq!(
            calls[0].function.as_ref().unwrap().arguments.as_deref(),
            Some(r#":"}]"}"#)
        );
        // Another tool call's index is another shape.
        check_after(&fragment("2", r#""x""#), &mut memory).unwrap();
        // The first fragment of a call (its id and name) is not remembered.
        let first = r#"{"id":"c","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"f","arguments":""}}]}}]}"#;
        check_after(first, &mut memory).unwrap();
        assert!(memory.shape.is_empty());
    }

    /// The rest of `data` after the remembered header, read from the
    /// remembered shape alone (as `Parser::chunk` tries first): `None` when
    /// the shape does not take it.
    fn read_from_shape(data: &str, memory: &ParserMemory) -> Option<ChatCompletionChunk> {
        let mut chunk = ChatCompletionChunk::default();
        let (pos, _) = memory.header.recall(data.as_bytes(), &mut chunk)?;
        let mut spare = SpareBuffers::default();
        let mut parser = Parser {
            text: data,
            bytes: data.as_bytes(),
            pos,
            spare: &mut spare,
            slots: Slots::default(),
        };
        let raw = memory.header.shape_bytes(&memory.shape);
        parser.recall_shape(&memory.shape, raw, &mut chunk)?;
        parser.skip_whitespace();
        (parser.pos == data.len()).then_some(chunk)
    }

    /// The usual deltas, `TEXT` and `PAD` standing for the values a shape
    /// reads: content alone or one fragment of arguments, with padding, a
    /// `null` one or none, and with the keys around them or not.
    const USUAL_SHAPES: &[&str] = &[
        r#""choices":[{"index":0,"delta":{"content":TEXT},"logprobs":null,"finish_reason":null}],"usage":null,"obfuscation":PAD}"#,
        r#""choices":[{"index":1,"finish_reason":null,"delta":{ "content" : TEXT }}],"obfuscation":PAD}"#,
        r#""choices":[{"index":0,"delta":{"tool_calls":null,"content":TEXT}}]}"#,
        r#""choices":[{"index":0,"delta":{"tool_calls":[{"index":3,"function":{"arguments":TEXT}}]}}],"obfuscation":PAD}"#,
        r#""choices":[{"index":2,"delta":{"tool_calls":[{"function":{"arguments":TEXT}}]},"finish_reason":null}],"usage":null}"#,
    ];

    /// Texts and paddings for [`USUAL_SHAPES`]: empty, `null`, escapes (a
    /// quote that looks like the end among them), non-ASCII.
    const USUAL_TEXTS: &[&str] = &[
        r#""x""#,
        r#""""#,
        "null",
        r#""a\"},\"logprobs\":null,\"obfuscation\":\"p\"}""#,
        r#""caf\u00e9 \\ \ud83d\ude00 longer than eight bytes""#,
    ];
    const USUAL_PADS: &[&str] = &[r#""pad""#, r#""other padding""#, "null", r#""\"""#];

    /// A chunk of one of [`USUAL_SHAPES`] with `text` and `pad`.
    fn usual(shape: &str, text: &str, pad: &str) -> String {
        const HEADER: &str =
            r#"{"id":"a","object":"chat.completion.chunk","created":1,"model":"m","#;
        format!(
            "{HEADER}{}",
            shape.replace("TEXT", text).replace("PAD", pad)
        )
    }

    #[test]
    fn the_usual_deltas_after_the_same_shape_are_read_from_it_as_serde_reads_them() {
        for shape in USUAL_SHAPES {
            for (first_text, first_pad) in USUAL_TEXTS.iter().zip(USUAL_PADS.iter().cycle()) {
                for (text, pad) in USUAL_TEXTS.iter().zip(USUAL_PADS.iter().rev().cycle()) {
                    let mut memory = ParserMemory::default();
                    check_after(&usual(shape, first_text, first_pad), &mut memory).unwrap();
                    let next = usual(shape, text, pad);
                    let reference = serde_json::from_str::<ChatCompletionChunk>(&next).unwrap();
                    assert_eq!(read_from_shape(&next, &memory), Some(reference), "{next}");
                    assert!(check_after(&next, &mut memory).is_some(), "{next}");
                }
            }
        }
    }

    #[test]
    fn a_lent_usual_delta_is_refilled_where_it_is_as_serde_reads_the_next() {
        for (n, shape) in USUAL_SHAPES.iter().enumerate() {
            let other = USUAL_SHAPES[(n + 1) % USUAL_SHAPES.len()];
            let mut lent = Lent::default();
            // The first is parsed, the next read from the shape into an
            // emptied chunk, the rest refilled where they are.
            for (i, (text, pad)) in USUAL_TEXTS
                .iter()
                .zip(USUAL_PADS.iter().cycle())
                .enumerate()
            {
                let next = usual(shape, text, pad);
                assert!(lent.parse(&next).is_some(), "{next}");
                assert_eq!(lent.memory.lent_shaped, i > 0, "{next}");
            }
            // Each way out of the shape empties the chunk and parses it whole
            // (another tail after the same bytes up to the text, another
            // shape, another header), and the next like it is read from the
            // shape into the emptied chunk, then refilled.
            let tail = usual(shape, r#""t""#, r#""p""#);
            let tail = format!(r#"{},"service_tier":null}}"#, &tail[..tail.len() - 1]);
            let header = usual(shape, r#""h""#, r#""p""#).replace(r#""id":"a""#, r#""id":"b""#);
            for (next, shaped) in [
                (usual(shape, r#""y""#, r#""p""#), true),
                (usual(shape, r#""z""#, r#""p""#), true),
                (tail, false),
                (usual(shape, r#""y""#, r#""p""#), true),
                (usual(shape, r#""z""#, r#""q""#), true),
                (usual(other, r#""o""#, r#""p""#), false),
                (usual(other, r#""p""#, r#""p""#), true),
                (header.clone(), false),
                (header, true),
            ] {
                assert!(lent.parse(&next).is_some(), "{next}");
                assert_eq!(lent.memory.lent_shaped, shaped, "{next}");
            }
        }
    }

    #[test]
    fn a_refilled_chunk_keeps_its_own_buffers_whatever_the_spares_hold() {
        let data = |text: &str| {
            format!(
                r#"{{"id":"a","model":"m","choices":[{{"index":0,"delta":{{"content":"{text}"}}}}],"obfuscation":"{text}"}}"#
            )
        };
        let mut lent = Lent::default();
        lent.parse(&data("a")).unwrap();
        lent.parse(&data("b")).unwrap();
        assert!(lent.memory.lent_shaped);
        // Spares enough that a chunk emptied would take other buffers (its
        // own not kept): a refilled one keeps its own.
        for _ in 0..8 {
            let mut filler = ChatCompletionChunk {
                choices: vec![ChunkChoice::default()],
                obfuscation: Some(String::with_capacity(16)),
                ..ChatCompletionChunk::default()
            };
            lent.spare.recycle(&mut filler);
        }
        let buffers = |chunk: &ChatCompletionChunk| {
            (
                chunk.choices.as_ptr(),
                chunk.choices[0].delta.content.as_deref().map(str::as_ptr),
                chunk.obfuscation.as_deref().map(str::as_ptr),
            )
        };
        let before = buffers(&lent.chunk);
        lent.parse(&data("c")).unwrap();
        assert_eq!(buffers(&lent.chunk), before, "refilled where it is");
        assert_eq!(lent.chunk.choices[0].delta.content.as_deref(), Some("c"));
        assert_eq!(lent.chunk.obfuscation.as_deref(), Some("c"));
        // Another shape is parsed into an emptied chunk.
        lent.parse(&data("d").replace(r#""obfuscation""#, r#""usage":null,"obfuscation""#))
            .unwrap();
        assert!(!lent.memory.lent_shaped);
        assert_ne!(
            buffers(&lent.chunk),
            before,
            "emptied, its buffers not kept"
        );
    }

    #[test]
    fn a_refilled_text_buffer_larger_than_the_spares_keep_is_let_go() {
        let data = |text: &str| {
            format!(
                r#"{{"id":"a","model":"m","choices":[{{"index":0,"delta":{{"content":"{text}"}}}}]}}"#
            )
        };
        let mut lent = Lent::default();
        lent.parse(&data("a")).unwrap();
        let long = "l".repeat(MAX_KEPT_BYTES + 1);
        lent.parse(&data(&long)).unwrap();
        assert!(lent.memory.lent_shaped);
        let content = |lent: &Lent| {
            lent.chunk.choices[0]
                .delta
                .content
                .clone()
                .unwrap_or_default()
        };
        assert_eq!(content(&lent), long);
        let buffer = lent.chunk.choices[0]
            .delta
            .content
            .as_ref()
            .map(String::capacity);
        assert!(buffer > Some(MAX_KEPT_BYTES));
        lent.parse(&data("short")).unwrap();
        assert!(lent.memory.lent_shaped, "refilled");
        assert_eq!(content(&lent), "short");
        let capacity = lent.chunk.choices[0]
            .delta
            .content
            .as_ref()
            .map(String::capacity);
        assert!(capacity <= Some(MAX_KEPT_BYTES), "{capacity:?}");
    }

    #[test]
    fn shapes_up_to_the_bound_are_remembered_and_longer_ones_are_not() {
        const HEADER: &str = r#"{"id":"a","model":"m","#;
        let rest = |len: usize| {
            let start = r#""choices":[{"index":0,"delta":{"content":"x"}}],"obfuscation":""#;
            let pad = "p".repeat(len - start.len() - 2);
            format!(r#"{start}{pad}"}}"#)
        };
        for (len, remembered) in [(MAX_SHAPE_BYTES, true), (MAX_SHAPE_BYTES + 1, false)] {
            let mut memory = ParserMemory::default();
            let first = format!("{HEADER}{}", rest(len));
            assert_eq!(first.len() - HEADER.len(), len);
            check_after(&first, &mut memory).unwrap();
            // What is kept is the header, and the rest within the bound only.
            let kept = memory.header.raw.len();
            assert_eq!(
                kept,
                HEADER.len() + if remembered { len } else { 0 },
                "{len}"
            );
            let next = first.replace(r#""x""#, r#""y""#);
            assert_eq!(
                read_from_shape(&next, &memory).is_some(),
                remembered,
                "{len}"
            );
            assert_eq!(
                check_after(&next, &mut memory).unwrap().choices[0]
                    .delta
                    .content
                    .as_deref(),
                Some("y")
            );
        }
    }

    #[test]
    fn a_chunk_read_from_its_shape_takes_the_choices_buffer_handed_back() {
        let mut memory = ParserMemory::default();
        let mut spare = SpareBuffers::default();
        let data = |text: &str| {
            format!(
                r#"{{"id":"a","model":"m","choices":[{{"index":0,"delta":{{"content":"{text}"}}}}],"obfuscation":"p"}}"#
            )
        };
        check_with(&data("a"), &mut memory, &mut spare).unwrap();
        let mut handed_back = check_with(&data("b"), &mut memory, &mut spare).unwrap();
        let choices = handed_back.choices.as_ptr();
        spare.recycle(&mut handed_back);
        assert!(read_from_shape(&data("c"), &memory).is_some());
        let chunk = check_with(&data("c"), &mut memory, &mut spare).unwrap();
        assert_eq!(
            chunk.choices.as_ptr(),
            choices,
            "the buffer handed back is reused"
        );
        assert_eq!(chunk.choices[0].delta.content.as_deref(), Some("c"));
    }

    #[test]
    fn header_keys_after_a_recalled_header_are_read_from_the_chunk_every_time() {
        // A chunk whose start is the remembered header, and whose rest holds
        // header keys (here a fingerprint the first chunk did not have, or
        // one the header had, again): those keys' values are the chunk's,
        // not the header's, each time the same rest comes again.
        let body = r#""choices":[{"index":0,"delta":{"content":"x"}}],"obfuscation":"p"}"#;
        for (first, next) in [
            (
                r#"{"id":"a","model":"m","#,
                r#"{"id":"a","model":"m","system_fingerprint":"fp","#,
            ),
            (
                r#"{"id":"a","#,
                r#"{"id":"a","object":"o","created":1,"model":"m","#,
            ),
            (r#"{"id":"a","#, r#"{"id":"a","id":"b","#),
        ] {
            let mut memory = ParserMemory::default();
            let mut lent = Lent::default();
            for data in [first, next, next, next].map(|header| format!("{header}{body}")) {
                let chunk = check_after(&data, &mut memory).unwrap();
                assert_eq!(lent.parse(&data).as_ref(), Some(&chunk), "{data}");
            }
        }
        // Header keys after the body's keys too.
        let mut memory = ParserMemory::default();
        let first = format!(r#"{{"id":"a",{body}"#);
        let next = first.replace(r#""p"}"#, r#""p","model":"z"}"#);
        for data in [&first, &next, &next, &next] {
            let chunk = check_after(data, &mut memory).unwrap();
            assert_eq!(chunk.model.as_str(), if data == &first { "" } else { "z" });
        }
    }

    #[test]
    fn a_header_seen_before_is_recalled() {
        let mut memory = ParserMemory::default();
        let first = check_after(COMMON, &mut memory).unwrap();
        assert!(!memory.header.bytes().is_empty());
        assert!(COMMON.as_bytes().starts_with(memory.header.bytes()));
        assert!(memory.header.bytes().ends_with(b","));
        let other_body = COMMON.replace("Hi", "Ho");
        let second = check_after(&other_body, &mut memory).unwrap();
        assert!(first.id.ptr_eq(&second.id));
        assert_eq!(
            second.choices[0].delta.content.as_deref().map(|c| &c[..2]),
            Some("Ho")
        );
        // One byte changed in the header: parsed again, and remembered instead.
        let other_header = COMMON.replace("1748526710", "1748526711");
        let third = check_after(&other_header, &mut memory).unwrap();
        assert_eq!(third.created, 1748526711);
        assert!(third.id.ptr_eq(&first.id));
        let fourth = check_after(&other_header, &mut memory).unwrap();
        assert_eq!(fourth, third);
        // A prefix of the header alone is not a chunk.
        let raw = String::from_utf8(memory.header.bytes().to_vec()).unwrap();
        assert!(check_after(&raw, &mut memory).is_none());
        assert!(check_after(&format!("{raw}}}"), &mut memory).is_none());
    }

    #[test]
    fn several_choices_and_tool_calls_in_one_chunk_are_all_kept() {
        let data = r#"{"id":"c","choices":[{"index":0,"delta":{"content":"a","tool_calls":[{"index":0,"id":"call_0","function":{"name":"f","arguments":"{}"}},{"index":1,"id":"call_1","function":{"name":"g","arguments":"[]"}},{"index":2,"function":{"arguments":""}}]}},{"index":1,"delta":{"content":"b"}},{"index":2,"delta":{"content":"c"},"finish_reason":"stop"}]}"#;
        // With buffers of chunks handed back, and without.
        let mut recycled = SpareBuffers::default();
        let mut handed_back = check(COMMON).unwrap();
        recycled.recycle(&mut handed_back);
        for spare in [&mut SpareBuffers::default(), &mut recycled] {
            let chunk = check_with(data, &mut ParserMemory::default(), spare).unwrap();
            let contents: Vec<_> = chunk
                .choices
                .iter()
                .map(|choice| (choice.index, choice.delta.content.as_deref()))
                .collect();
            assert_eq!(contents, [(0, Some("a")), (1, Some("b")), (2, Some("c"))]);
            let calls = chunk.choices[0].delta.tool_calls.as_ref().unwrap();
            let ids: Vec<_> = calls
                .iter()
                .map(|call| (call.index, call.id.as_deref()))
                .collect();
            assert_eq!(
                ids,
                [
                    (Some(0), Some("call_0")),
                    (Some(1), Some("call_1")),
                    (Some(2), None)
                ]
            );
        }
    }

    #[test]
    fn every_escape_and_every_kind_of_whitespace_parse_fast() {
        let chunk =
            check(r#"{"choices":[{"delta":{"content":"\"\\\/\b\f\n\r\t\u0041"}}]}"#).unwrap();
        assert_eq!(
            chunk.choices[0].delta.content.as_deref(),
            Some("\"\\/\u{8}\u{c}\n\r\tA")
        );
        // Pretty-printed JSON, with tabs and both line ends.
        let pretty = "{\n\t\"id\": \"c\",\r\n\t\"choices\": [\n\t\t{\"index\": 0, \"delta\": {\"content\": \"a\"}}\n\t]\r\n}\n";
        assert_eq!(&*check(pretty).unwrap().id, "c");
        // Spaces in strings, in the last bytes of the input too (scanned
        // one at a time, not eight).
        for end in 1..12 {
            let text = " a b  c d e "[..end].to_owned();
            let data = format!(r#"{{"choices":[],"obfuscation":"{text}"}}"#);
            assert_eq!(check(&data).unwrap().obfuscation, Some(text), "{data}");
        }
    }

    #[test]
    fn an_empty_role_is_no_role() {
        for data in [
            r#"{"choices":[{"index":0,"delta":{"role":"","content":"a"}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"role":null,"content":"a"}}]}"#,
        ] {
            let chunk = check(data).unwrap();
            assert_eq!(chunk.choices[0].delta.role, None, "{data}");
        }
    }

    #[test]
    fn chunks_with_choices_first_remember_no_header_but_keep_parsing_fast() {
        // llama.cpp's order: no header before `choices`, nothing to remember.
        let mut memory = ParserMemory::default();
        let llama = r#"{"choices":[{"index":0,"delta":{"content":"a"}}],"id":"l","model":"m"}"#;
        check_after(llama, &mut memory).unwrap();
        assert!(memory.header.bytes().is_empty());
        check_after(llama, &mut memory).unwrap();
        assert!(check_after("{}", &mut memory).is_some());
        // A header that comes later is still remembered.
        let header_first = r#"{"id":"h","model":"m","choices":[]}"#;
        check_after(header_first, &mut memory).unwrap();
        assert_eq!(memory.header.bytes(), br#"{"id":"h","model":"m","#);
    }

    #[test]
    fn headers_up_to_the_bound_are_remembered_and_longer_ones_are_not() {
        // `{"id":"` and `",` around the id.
        let id_len = MAX_HEADER_BYTES - 9;
        for (id_len, remembered) in [(id_len, true), (id_len + 1, false)] {
            let mut memory = ParserMemory::default();
            let id = "x".repeat(id_len);
            let data = format!(r#"{{"id":"{id}","choices":[]}}"#);
            for _ in 0..2 {
                assert_eq!(&*check_after(&data, &mut memory).unwrap().id, id);
            }
            assert_eq!(
                memory.header.bytes().len(),
                if remembered { MAX_HEADER_BYTES } else { 0 }
            );
        }
    }

    #[test]
    fn split_escapes_and_every_prefix_never_panic() {
        for end in 0..=COMMON.len() {
            if let Some(prefix) = COMMON.get(..end) {
                check(prefix);
            }
        }
    }
}
