//! A direct parser for the chunks servers actually send, tried before serde.
//!
//! Nearly every chunk of a stream has the same few keys with strings, small
//! integers and `null`s as values. [`parse`] reads exactly that shape straight
//! from the bytes (strings scanned eight bytes at a time, keys matched without going
//! through serde's visitors) and builds the same [`ChatCompletionChunk`] the
//! `Deserialize` impl would. Anything else (an unknown key, which belongs in
//! `extra`; a number as a float; `usage` or `logprobs` objects; content as
//! parts; a lone surrogate; any syntax error) makes it give up with `None`,
//! and the caller parses the chunk with serde, which is the reference: this
//! parser only ever accepts input serde accepts, and builds what serde builds.

use std::borrow::Cow;

use crate::types::{
    ChatCompletionChunk, ChunkChoice, Delta, FinishReason, FunctionCallDelta, RepeatedStrings,
    Role, SharedStr, ToolCallDelta,
};

/// Fills `chunk` (a default one) from `data` and returns true when `data` is
/// a chunk of the common shape; false means "parse it with serde" (which may
/// then accept it or report the error), and `chunk` holds whatever was read.
/// Filling the caller's chunk in place saves moving a 368-byte value around.
#[inline]
pub(crate) fn parse_into(
    data: &str,
    strings: &mut RepeatedStrings,
    chunk: &mut ChatCompletionChunk,
) -> bool {
    let mut parser = Parser {
        text: data,
        bytes: data.as_bytes(),
        pos: 0,
    };
    if parser.chunk(strings, chunk).is_none() {
        return false;
    }
    parser.skip_whitespace();
    parser.pos == parser.bytes.len()
}

struct Parser<'a> {
    text: &'a str,
    bytes: &'a [u8],
    pos: usize,
}

/// A key of a chunk object, and so on for the objects inside it.
#[derive(Clone, Copy)]
enum ChunkKey {
    Id,
    Object,
    Created,
    Model,
    ServiceTier,
    SystemFingerprint,
    Choices,
    Usage,
    Obfuscation,
}

/// Each key with its closing quote, in the order OpenAI sends them.
const CHUNK_KEYS: &[(&[u8], ChunkKey)] = &[
    (b"id\"", ChunkKey::Id),
    (b"object\"", ChunkKey::Object),
    (b"created\"", ChunkKey::Created),
    (b"model\"", ChunkKey::Model),
    (b"service_tier\"", ChunkKey::ServiceTier),
    (b"system_fingerprint\"", ChunkKey::SystemFingerprint),
    (b"choices\"", ChunkKey::Choices),
    (b"usage\"", ChunkKey::Usage),
    (b"obfuscation\"", ChunkKey::Obfuscation),
];

#[derive(Clone, Copy)]
enum ChoiceKey {
    Index,
    Delta,
    Logprobs,
    FinishReason,
}

const CHOICE_KEYS: &[(&[u8], ChoiceKey)] = &[
    (b"index\"", ChoiceKey::Index),
    (b"delta\"", ChoiceKey::Delta),
    (b"logprobs\"", ChoiceKey::Logprobs),
    (b"finish_reason\"", ChoiceKey::FinishReason),
];

#[derive(Clone, Copy)]
enum DeltaKey {
    Role,
    Content,
    Refusal,
    ToolCalls,
}

const DELTA_KEYS: &[(&[u8], DeltaKey)] = &[
    (b"role\"", DeltaKey::Role),
    (b"content\"", DeltaKey::Content),
    (b"refusal\"", DeltaKey::Refusal),
    (b"tool_calls\"", DeltaKey::ToolCalls),
];

#[derive(Clone, Copy)]
enum ToolCallKey {
    Index,
    Id,
    Type,
    Function,
}

const TOOL_CALL_KEYS: &[(&[u8], ToolCallKey)] = &[
    (b"index\"", ToolCallKey::Index),
    (b"id\"", ToolCallKey::Id),
    (b"type\"", ToolCallKey::Type),
    (b"function\"", ToolCallKey::Function),
];

#[derive(Clone, Copy)]
enum FunctionKey {
    Name,
    Arguments,
}

const FUNCTION_KEYS: &[(&[u8], FunctionKey)] = &[
    (b"name\"", FunctionKey::Name),
    (b"arguments\"", FunctionKey::Arguments),
];

/// The value after a key, as far as this parser reads it.
enum Scalar<'a> {
    Null,
    Str(Cow<'a, str>),
}

impl<'a> Parser<'a> {
    #[inline]
    fn chunk(
        &mut self,
        strings: &mut RepeatedStrings,
        chunk: &mut ChatCompletionChunk,
    ) -> Option<()> {
        self.object(CHUNK_KEYS, |parser, key| {
            match key {
                ChunkKey::Id => chunk.id = parser.repeated_text(&mut strings.id)?,
                ChunkKey::Object => chunk.object = parser.repeated_text(&mut strings.object)?,
                ChunkKey::Model => chunk.model = parser.repeated_text(&mut strings.model)?,
                ChunkKey::Created => chunk.created = parser.unsigned()?,
                ChunkKey::Choices => {
                    chunk.choices.clear();
                    if !parser.null()? {
                        parser.array(|parser| {
                            // One choice is the rule: allocate for one, not four.
                            if chunk.choices.capacity() == 0 {
                                chunk.choices.reserve_exact(1);
                            }
                            chunk.choices.push(ChunkChoice::default());
                            parser.choice(chunk.choices.last_mut()?)
                        })?;
                    }
                }
                ChunkKey::Usage => {
                    // The usage object itself is rare (the last chunk): serde reads it.
                    if !parser.null()? {
                        return None;
                    }
                    chunk.usage = None;
                }
                ChunkKey::SystemFingerprint => {
                    chunk.system_fingerprint =
                        parser.repeated_optional(&mut strings.system_fingerprint)?;
                }
                ChunkKey::ServiceTier => {
                    chunk.service_tier = parser.repeated_optional(&mut strings.service_tier)?;
                }
                ChunkKey::Obfuscation => chunk.obfuscation = parser.optional_string()?,
            }
            Some(())
        })
    }

    /// Fills `choice`, a default one.
    fn choice(&mut self, choice: &mut ChunkChoice) -> Option<()> {
        let mut seen_delta = false;
        self.object(CHOICE_KEYS, |parser, key| {
            match key {
                ChoiceKey::Index => choice.index = u32::try_from(parser.unsigned()?).ok()?,
                ChoiceKey::Delta => {
                    // A repeated key replaces the first value, as with serde.
                    if seen_delta {
                        choice.delta = Delta::default();
                    }
                    seen_delta = true;
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
        self.object(DELTA_KEYS, |parser, key| {
            match key {
                DeltaKey::Role => {
                    delta.role = match parser.scalar()? {
                        Scalar::Str(role) if !role.is_empty() => Some(Role::from(&*role)),
                        Scalar::Str(_) | Scalar::Null => None,
                    };
                }
                DeltaKey::Content => delta.content = parser.optional_string()?,
                DeltaKey::Refusal => delta.refusal = parser.optional_string()?,
                DeltaKey::ToolCalls => {
                    delta.tool_calls = if parser.null()? {
                        None
                    } else {
                        let mut calls = Vec::new();
                        parser.array(|parser| {
                            // One fragment per chunk is the rule: allocate for one.
                            if calls.capacity() == 0 {
                                calls.reserve_exact(1);
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
        self.object(TOOL_CALL_KEYS, |parser, key| {
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
        self.object(FUNCTION_KEYS, |parser, key| {
            match key {
                FunctionKey::Name => function.name = parser.optional_string()?,
                FunctionKey::Arguments => function.arguments = parser.optional_string()?,
            }
            Some(())
        })?;
        Some(function)
    }

    /// `{ "key": value, ... }` whose keys are all in `keys`, calling `each`
    /// with the parser at every value. Gives up on any other key (it belongs
    /// in `extra`, which serde fills) and on escapes in a key.
    fn object<K: Copy>(
        &mut self,
        keys: &[(&[u8], K)],
        mut each: impl FnMut(&mut Self, K) -> Option<()>,
    ) -> Option<()> {
        self.expect(b'{')?;
        if self.peek()? == b'}' {
            self.pos += 1;
            return Some(());
        }
        // Servers send the keys in one order: look for each after the last found.
        let mut next = 0;
        loop {
            if self.peek()? != b'"' {
                return None;
            }
            let rest = self.bytes.get(self.pos + 1..)?;
            let found = (next..keys.len())
                .chain(0..next)
                .find(|&at| keys.get(at).is_some_and(|(name, _)| rest.starts_with(name)))?;
            let (name, key) = keys.get(found)?;
            self.pos += 1 + name.len();
            next = found + 1;
            self.expect(b':')?;
            each(self, *key)?;
            match self.peek()? {
                b',' => self.pos += 1,
                b'}' => {
                    self.pos += 1;
                    return Some(());
                }
                _ => return None,
            }
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
            Scalar::Str(text) => Some(text.into_owned()),
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
        let mut text = String::with_capacity(raw_string_len(self.bytes, start)?);
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
/// (escapes included as written).
fn raw_string_len(bytes: &[u8], start: usize) -> Option<usize> {
    let mut at = start;
    loop {
        match bytes.get(at)? {
            b'"' => return Some(at - start),
            b'\\' => at += 2,
            _ => at += 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::ChatCompletionChunk;

    /// The fast parser agrees with serde, or leaves the input to it.
    fn parse(data: &str, strings: &mut RepeatedStrings) -> Option<ChatCompletionChunk> {
        let mut chunk = ChatCompletionChunk::default();
        parse_into(data, strings, &mut chunk).then_some(chunk)
    }

    fn check(data: &str) -> Option<ChatCompletionChunk> {
        let fast = parse(data, &mut RepeatedStrings::default());
        let reference = serde_json::from_str::<ChatCompletionChunk>(data);
        if let Some(fast) = &fast {
            assert_eq!(Some(fast), reference.as_ref().ok(), "{data}");
        }
        fast
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
        let mut strings = RepeatedStrings::default();
        let first = parse(COMMON, &mut strings).unwrap();
        let second = parse(COMMON, &mut strings).unwrap();
        assert!(first.id.ptr_eq(&second.id));
        assert!(first.model.ptr_eq(&second.model));
    }

    proptest::proptest! {
        #[test]
        fn generated_streams_parse_fast_and_as_serde_does(stream in crate::strategies::chat_stream()) {
            for chunk in &stream.chunks {
                let data = serde_json::to_string(chunk).unwrap();
                let fast = check(&data);
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
                "\"arguments\"", "\"a\\nb\"", "\"\\ud83d\\ude00\"", "\"\\ud83d\"", "\"x\ty\"",
            ][..]), 0..40)
        ) {
            check(&tokens.concat());
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
