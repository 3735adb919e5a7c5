//! The benchmark corpora: seeded, generated OpenAI-style chat streams, byte for byte
//! the same on every machine.
//!
//! A stream is what `POST /v1/chat/completions` with `stream: true` and
//! `stream_options.include_usage` answers today: a first chunk with the role, content
//! (or tool-call argument) deltas of 1 to 6 words, a finish chunk, a usage chunk and
//! `data: [DONE]`. Every chunk carries the fields OpenAI sends (`service_tier`,
//! `system_fingerprint`, `logprobs: null`, `usage: null`, `obfuscation` padding).

use std::fmt::Write as _;

/// Which stream to generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// Text deltas, LF line ends.
    Content,
    /// One tool call whose arguments arrive in fragments, LF line ends.
    ToolCall,
    /// [`Shape::Content`] with CRLF line ends.
    Crlf,
}

impl Shape {
    /// The short name used in the tables.
    pub fn name(self) -> &'static str {
        match self {
            Shape::Content => "content",
            Shape::ToolCall => "tool-call",
            Shape::Crlf => "content CRLF",
        }
    }
}

/// A generated stream body and what it holds.
#[derive(Debug, Clone)]
pub struct Corpus {
    /// The `text/event-stream` body.
    pub body: Vec<u8>,
    /// Its length (also when the body was not kept).
    pub len: u64,
    /// How many events carry data (chunks, the usage chunk and `[DONE]`).
    pub events: u64,
    /// How many of them are chat chunks (every event but `[DONE]`).
    pub chunks: u64,
    /// The text the deltas add up to (content, or the tool call's arguments).
    #[cfg_attr(
        not(test),
        allow(dead_code, reason = "what the tests compare decoders against")
    )]
    pub text: String,
}

/// The seed every corpus starts from, so that every run sees the same bytes.
pub const SEED: u64 = 0x6e65_786c_6c6d_2131;

/// A stream of `deltas` content (or argument) chunks, plus the role, finish and usage
/// chunks and `[DONE]`.
pub fn generate(shape: Shape, deltas: usize) -> Corpus {
    build(shape, deltas, true)
}

/// The size of the body [`generate`] makes and its chunk count, without keeping the
/// body or the text: for a loopback client, whose peak RSS must not include a copy
/// of the corpus (6.6 MB at 20,000 chunks) that the client it measures never holds.
pub fn size(shape: Shape, deltas: usize) -> (u64, u64) {
    let corpus = build(shape, deltas, false);
    (corpus.len, corpus.chunks)
}

fn build(shape: Shape, deltas: usize, keep: bool) -> Corpus {
    let mut rng = SplitMix64(SEED ^ deltas as u64);
    let mut out = Writer {
        body: String::with_capacity(if keep { deltas * 330 } else { 0 }),
        len: 0,
        keep,
        line_end: if shape == Shape::Crlf { "\r\n" } else { "\n" },
        events: 0,
    };
    let id = "chatcmpl-BbQ4qZ3vT7mX9kLrN2pS8dYwHc1Fe";
    let mut text = String::new();
    let tool = shape == Shape::ToolCall;

    let first_delta = if tool {
        r#"{"role":"assistant","content":null,"tool_calls":[{"index":0,"id":"call_Xy7pQ2rT9mNbV4kL8sHd3Fgw","type":"function","function":{"name":"plan_trip","arguments":""}}],"refusal":null}"#
    } else {
        r#"{"role":"assistant","content":"","refusal":null}"#
    };
    out.chunk(id, first_delta, "null", "null", &mut rng);

    let arguments = if tool {
        tool_arguments(&mut rng, deltas)
    } else {
        Vec::new()
    };
    for i in 0..deltas {
        let delta = if tool {
            let piece = arguments.get(i).map(String::as_str).unwrap_or_default();
            if keep {
                text.push_str(piece);
            }
            format!(
                r#"{{"tool_calls":[{{"index":0,"function":{{"arguments":{}}}}}]}}"#,
                json_string(piece, false)
            )
        } else {
            let piece = content_piece(&mut rng, i == 0);
            if keep {
                text.push_str(&piece);
            }
            // One delta in eight is escaped the way Python's json.dumps does by
            // default (ensure_ascii), as vLLM and other Python servers send it.
            let ascii = rng.below(8) == 0;
            format!(r#"{{"content":{}}}"#, json_string(&piece, ascii))
        };
        out.chunk(id, &delta, "null", "null", &mut rng);
    }
    let reason = if tool { r#""tool_calls""# } else { r#""stop""# };
    out.chunk(id, "{}", reason, "null", &mut rng);
    let usage = format!(
        r#"{{"prompt_tokens":61,"completion_tokens":{deltas},"total_tokens":{},"prompt_tokens_details":{{"cached_tokens":0,"audio_tokens":0}},"completion_tokens_details":{{"reasoning_tokens":0,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}}}}"#,
        deltas + 61
    );
    out.usage_chunk(id, &usage, &mut rng);
    out.event("[DONE]");
    let events = out.events;
    Corpus {
        body: out.body.into_bytes(),
        len: out.len,
        events,
        chunks: events - 1,
        text,
    }
}

struct Writer {
    body: String,
    /// The body's length, counted also when it is not kept.
    len: u64,
    /// Whether to keep the body (`false`: only count it).
    keep: bool,
    line_end: &'static str,
    events: u64,
}

impl Writer {
    fn event(&mut self, data: &str) {
        self.len += (6 + data.len() + 2 * self.line_end.len()) as u64;
        self.events += 1;
        if !self.keep {
            return;
        }
        self.body.push_str("data: ");
        self.body.push_str(data);
        self.body.push_str(self.line_end);
        self.body.push_str(self.line_end);
    }

    fn chunk(&mut self, id: &str, delta: &str, finish: &str, usage: &str, rng: &mut SplitMix64) {
        let data = format!(
            r#"{{"id":"{id}","object":"chat.completion.chunk","created":1748526710,"model":"gpt-4o-2024-08-06","service_tier":"default","system_fingerprint":"fp_07871e2ad8","choices":[{{"index":0,"delta":{delta},"logprobs":null,"finish_reason":{finish}}}],"usage":{usage},"obfuscation":"{}"}}"#,
            obfuscation(rng)
        );
        self.event(&data);
    }

    fn usage_chunk(&mut self, id: &str, usage: &str, rng: &mut SplitMix64) {
        let data = format!(
            r#"{{"id":"{id}","object":"chat.completion.chunk","created":1748526710,"model":"gpt-4o-2024-08-06","service_tier":"default","system_fingerprint":"fp_07871e2ad8","choices":[],"usage":{usage},"obfuscation":"{}"}}"#,
            obfuscation(rng)
        );
        self.event(&data);
    }
}

/// OpenAI pads chunks with a random string so that their sizes do not reveal the tokens.
fn obfuscation(rng: &mut SplitMix64) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let len = 2 + rng.below(14) as usize;
    (0..len)
        .map(|_| char::from(ALPHABET[rng.below(ALPHABET.len() as u64) as usize]))
        .collect()
}

const WORDS: &[&str] = &[
    "the",
    "stream",
    "of",
    "tokens",
    "arrives",
    "one",
    "piece",
    "at",
    "a",
    "time",
    "and",
    "every",
    "chunk",
    "is",
    "parsed",
    "as",
    "soon",
    "it",
    "comes",
    "model",
    "answer",
    "with",
    "café",
    "naïve",
    "résumé",
    "Zürich",
    "日本語",
    "テキスト",
    "🙂",
    "🚀",
    "—",
    "…",
    "€5",
    "\"quoted\"",
    "back\\slash",
    "tab\there",
    "line\nbreak",
    "<html>",
    "x²",
    "Ωmega",
];

/// 1 to 6 words, each after a space (the first piece of the answer has none).
fn content_piece(rng: &mut SplitMix64, first: bool) -> String {
    let words = 1 + rng.below(6);
    let mut piece = String::new();
    for n in 0..words {
        if !(first && n == 0) {
            piece.push(' ');
        }
        piece.push_str(WORDS[rng.below(WORDS.len() as u64) as usize]);
        if rng.below(12) == 0 {
            piece.push_str([",", ".", "!", "?", ":"][rng.below(5) as usize]);
        }
    }
    piece
}

/// The arguments of a `plan_trip` call, a JSON object, cut into `count` fragments of 1
/// to 6 "words" each (a word being a few characters, as tokens are).
fn tool_arguments(rng: &mut SplitMix64, count: usize) -> Vec<String> {
    let mut json = String::from(r#"{"traveller":"Zoë","stops":["#);
    let mut fragments = Vec::with_capacity(count);
    let mut stop = 0;
    while fragments.len() < count {
        // Grow the JSON text far enough ahead, then cut fragments from its front.
        while json.len() < 64 {
            if stop > 0 {
                json.push(',');
            }
            let city = [
                "Paris",
                "Kraków",
                "São Paulo",
                "東京",
                "Zürich",
                "Reykjavík",
            ][rng.below(6) as usize];
            let _ = write!(
                json,
                r#"{{"city":"{city}","nights":{},"note":"{} {}"}}"#,
                1 + rng.below(9),
                WORDS[rng.below(22) as usize],
                WORDS[rng.below(22) as usize]
            );
            stop += 1;
        }
        let words = 1 + rng.below(6) as usize;
        let mut cut = 0;
        for _ in 0..words {
            cut += 1 + rng.below(4) as usize;
        }
        let mut cut = cut.min(json.len());
        while !json.is_char_boundary(cut) {
            cut += 1;
        }
        fragments.push(json.drain(..cut).collect());
    }
    fragments
}

/// `text` as a JSON string literal; `ascii` escapes every non-ASCII character as `\uXXXX`.
fn json_string(text: &str, ascii: bool) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c if ascii && !c.is_ascii() => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    let _ = write!(out, "\\u{unit:04x}");
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// SplitMix64: a tiny, good-enough generator, so the corpus needs no `rand` crate.
#[derive(Debug, Clone)]
pub struct SplitMix64(pub u64);

impl SplitMix64 {
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nexllm_proto::stream::{ChatStreamDecoder, StreamAccumulator};

    fn decode(corpus: &Corpus) -> (u64, String) {
        let mut decoder = ChatStreamDecoder::new();
        let mut accumulator = StreamAccumulator::new();
        decoder.feed(&corpus.body);
        while let Some(chunk) = decoder.next_chunk().unwrap() {
            accumulator.push(&chunk);
        }
        decoder.finish().unwrap();
        assert!(decoder.saw_done());
        let completion = accumulator.into_completion();
        let message = &completion.choices[0].message;
        let text = match &message.tool_calls {
            Some(calls) => calls[0].function.arguments.clone(),
            None => message.content.clone().unwrap_or_default(),
        };
        (decoder.chunks_decoded(), text)
    }

    #[test]
    fn every_shape_decodes_to_its_text() {
        for shape in [Shape::Content, Shape::ToolCall, Shape::Crlf] {
            let corpus = generate(shape, 300);
            assert_eq!(corpus.events, 300 + 4);
            let (chunks, text) = decode(&corpus);
            assert_eq!(chunks, corpus.chunks, "{shape:?}");
            assert_eq!(text, corpus.text, "{shape:?}");
        }
    }

    #[test]
    fn size_matches_the_generated_body() {
        for shape in [Shape::Content, Shape::ToolCall, Shape::Crlf] {
            for deltas in [0, 1, 200, 2_000] {
                let corpus = generate(shape, deltas);
                assert_eq!(corpus.len, corpus.body.len() as u64);
                assert_eq!(
                    size(shape, deltas),
                    (corpus.len, corpus.chunks),
                    "{shape:?} {deltas}"
                );
            }
        }
    }

    #[test]
    fn tool_arguments_are_json() {
        let corpus = generate(Shape::ToolCall, 500);
        // Cut anywhere, the fragments still join into a JSON prefix that parses once closed.
        assert!(
            corpus
                .text
                .starts_with(r#"{"traveller":"Zoë","stops":[{"city":"#)
        );
        assert!(corpus.text.len() > 500);
    }

    #[test]
    fn generation_is_deterministic_and_crlf_only_changes_line_ends() {
        let a = generate(Shape::Content, 200);
        let b = generate(Shape::Content, 200);
        assert_eq!(a.body, b.body);
        let crlf = generate(Shape::Crlf, 200);
        assert_eq!(
            String::from_utf8(crlf.body)
                .unwrap()
                .replace("\r\n", "\n")
                .into_bytes(),
            a.body
        );
    }
}
