//! The model's tokenizer, built from the GGUF file's own metadata (no
//! `tokenizer.json`, no download): GPT-2 style byte-level BPE
//! (`tokenizer.ggml.model = gpt2`) with the vocabulary and merge ranks
//! stored in the file.
//!
//! Text is first split into pieces the way llama.cpp's `smollm` (and
//! `gpt2`) pre-tokenizers do, then each piece's bytes are mapped to GPT-2's
//! printable byte alphabet and merged pair by pair, lowest rank first.
//!
//! Plain text never produces control tokens: `<|im_start|>` typed by a user
//! is encoded as the characters it is made of. Only the chat template puts
//! control tokens in a prompt (see `template`).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

use super::gguf::{Gguf, GgufError, Value};

/// ggml's token type for control tokens (`<|im_start|>`, `<|endoftext|>`).
const CONTROL: i64 = 3;

#[derive(Debug, thiserror::Error)]
pub enum TokenizerError {
    #[error(transparent)]
    File(#[from] GgufError),
    #[error("tokenizer `{0}` is not supported (only gpt2-style byte-level BPE)")]
    Unsupported(String),
    #[error("the tokenizer metadata is inconsistent: {0}")]
    Corrupt(String),
}

/// Pre-tokenizer variants (llama.cpp's `tokenizer.ggml.pre`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Split {
    /// GPT-2's pattern.
    Gpt2,
    /// GPT-2's pattern after splitting every digit on its own (`smollm`,
    /// `starcoder`, `refact`, ...).
    DigitsThenGpt2,
}

#[derive(Debug)]
pub struct Tokenizer {
    tokens: Vec<String>,
    ids: HashMap<String, u32>,
    /// A mergeable pair → (its rank, the token it merges into).
    ranks: HashMap<(u32, u32), (u32, u32)>,
    control: Vec<bool>,
    /// GPT-2 byte → the char standing for it, and back.
    byte_char: [char; 256],
    char_byte: HashMap<char, u8>,
    /// The id of each single byte's char, for pieces merges cannot start.
    byte_id: [Option<u32>; 256],
    split: Split,
    eos: u32,
    bos: Option<u32>,
}

/// Pending merges of a piece as (rank, index of the left part, left id,
/// right id, merged id): popped lowest rank first, then leftmost.
type Candidates = BinaryHeap<Reverse<(u32, usize, u32, u32, u32)>>;

/// GPT-2's reversible map from bytes to printable characters.
fn byte_chars() -> [char; 256] {
    let mut out = ['\0'; 256];
    let mut next = 256u32;
    for b in 0..=255u8 {
        let printable = matches!(b, b'!'..=b'~' | 0xa1..=0xac | 0xae..=0xff);
        out[b as usize] = if printable {
            char::from(b)
        } else {
            let c = char::from_u32(next).unwrap_or('\u{fffd}');
            next += 1;
            c
        };
    }
    out
}

impl Tokenizer {
    /// Builds the tokenizer from `tokenizer.ggml.*` metadata.
    ///
    /// # Errors
    /// When the file's tokenizer is not byte-level BPE or its tables are
    /// inconsistent.
    pub fn from_gguf(g: &Gguf) -> Result<Self, TokenizerError> {
        let model = g.str("tokenizer.ggml.model")?;
        if model != "gpt2" {
            return Err(TokenizerError::Unsupported(model.to_owned()));
        }
        let split = match g.str("tokenizer.ggml.pre").unwrap_or("gpt2") {
            "smollm" | "starcoder" | "refact" | "codeshell" | "exaone" | "minerva" => {
                Split::DigitsThenGpt2
            }
            _ => Split::Gpt2,
        };
        let tokens: Vec<String> = g
            .array("tokenizer.ggml.tokens")?
            .iter()
            .map(|v| match v {
                Value::Str(s) => Ok(s.clone()),
                _ => Err(TokenizerError::Corrupt("a token is not a string".into())),
            })
            .collect::<Result<_, _>>()?;
        let control = match g.array("tokenizer.ggml.token_type") {
            Ok(types) => types
                .iter()
                .map(|v| matches!(v, Value::I64(CONTROL) | Value::U64(3)))
                .collect(),
            Err(_) => vec![false; tokens.len()],
        };
        if control.len() != tokens.len() {
            return Err(TokenizerError::Corrupt(
                "token types do not match tokens".into(),
            ));
        }
        let ids: HashMap<String, u32> = tokens
            .iter()
            .enumerate()
            .map(|(i, t)| (t.clone(), i as u32))
            .collect();
        let mut ranks = HashMap::new();
        for (rank, merge) in g.array("tokenizer.ggml.merges")?.iter().enumerate() {
            let Value::Str(merge) = merge else {
                return Err(TokenizerError::Corrupt("a merge is not a string".into()));
            };
            let (a, b) = merge
                .split_once(' ')
                .ok_or_else(|| TokenizerError::Corrupt(format!("merge {merge:?}")))?;
            // Merges whose parts or result are not tokens can never apply;
            // skip them.
            let merged = ids.get(&format!("{a}{b}"));
            if let (Some(a), Some(b), Some(merged)) = (ids.get(a), ids.get(b), merged) {
                ranks.entry((*a, *b)).or_insert((rank as u32, *merged));
            }
        }
        let byte_char = byte_chars();
        let char_byte = byte_char
            .iter()
            .enumerate()
            .map(|(b, c)| (*c, b as u8))
            .collect();
        let mut byte_id = [None; 256];
        for (b, c) in byte_char.iter().enumerate() {
            byte_id[b] = ids.get(&c.to_string()).copied();
        }
        let id = |key: &str| g.u64(key).ok().and_then(|v| u32::try_from(v).ok());
        let eos = id("tokenizer.ggml.eos_token_id")
            .ok_or_else(|| TokenizerError::Corrupt("no end-of-sequence token".into()))?;
        let bos = id("tokenizer.ggml.bos_token_id");
        if eos as usize >= tokens.len() {
            return Err(TokenizerError::Corrupt(
                "end-of-sequence id out of range".into(),
            ));
        }
        Ok(Self {
            tokens,
            ids,
            ranks,
            control,
            byte_char,
            char_byte,
            byte_id,
            split,
            eos,
            bos,
        })
    }

    pub fn vocab_size(&self) -> usize {
        self.tokens.len()
    }

    pub fn eos(&self) -> u32 {
        self.eos
    }

    pub fn bos(&self) -> Option<u32> {
        self.bos
    }

    /// The id of a control token, by its exact text.
    pub fn special(&self, text: &str) -> Option<u32> {
        self.ids
            .get(text)
            .copied()
            .filter(|id| self.is_control(*id))
    }

    pub fn is_control(&self, id: u32) -> bool {
        self.control.get(id as usize).copied().unwrap_or(false)
    }

    /// Control tokens with their text, longest first (for splitting a
    /// rendered template on them).
    pub fn controls(&self) -> Vec<(&str, u32)> {
        let mut out: Vec<(&str, u32)> = self
            .tokens
            .iter()
            .enumerate()
            .filter(|(i, t)| self.control[*i] && !t.is_empty())
            .map(|(i, t)| (t.as_str(), i as u32))
            .collect();
        out.sort_by_key(|(t, _)| std::cmp::Reverse(t.len()));
        out
    }

    /// Encodes `text` as plain text.
    pub fn encode(&self, text: &str) -> Vec<u32> {
        let mut out = Vec::with_capacity(text.len() / 3);
        for piece in pieces(text, self.split) {
            self.encode_piece(piece, &mut out);
        }
        out
    }

    fn encode_piece(&self, piece: &str, out: &mut Vec<u32>) {
        let mapped: String = piece.bytes().map(|b| self.byte_char[b as usize]).collect();
        // A piece that is a token is that token, unless it is a control
        // token's text, which plain text must never produce.
        if let Some(id) = self.ids.get(&mapped).filter(|id| !self.is_control(**id)) {
            out.push(*id);
            return;
        }
        // Start from single bytes and merge the lowest-ranked pair
        // (leftmost on ties) until none applies. A piece can be long (a
        // paragraph of Chinese, a run of `=`), so the parts form a linked
        // list and the candidate merges a min-heap: O(n log n), not a rescan
        // of the whole piece after every merge. Heap entries record the pair
        // they were made for and are dropped when popped if it has changed.
        let mut parts: Vec<u32> = piece
            .bytes()
            .filter_map(|b| self.byte_id[b as usize])
            .collect();
        let n = parts.len();
        let mut next: Vec<usize> = (1..=n).collect();
        let mut prev: Vec<Option<usize>> = (0..n).map(|i| i.checked_sub(1)).collect();
        let mut alive = vec![true; n];
        let mut heap = BinaryHeap::new();
        let candidate = |heap: &mut Candidates, i, a, b| {
            // Nor may a merge make a control token.
            if let Some((rank, merged)) = self.ranks.get(&(a, b))
                && !self.is_control(*merged)
            {
                heap.push(Reverse((*rank, i, a, b, *merged)));
            }
        };
        for i in 1..n {
            candidate(&mut heap, i - 1, parts[i - 1], parts[i]);
        }
        while let Some(Reverse((_, i, a, b, merged))) = heap.pop() {
            let j = next[i];
            if !alive[i] || parts[i] != a || j >= n || parts[j] != b {
                continue;
            }
            parts[i] = merged;
            alive[j] = false;
            next[i] = next[j];
            let k = next[i];
            if k < n {
                prev[k] = Some(i);
                candidate(&mut heap, i, merged, parts[k]);
            }
            if let Some(p) = prev[i] {
                candidate(&mut heap, p, parts[p], merged);
            }
        }
        let mut i = 0;
        while i < n {
            out.push(parts[i]);
            i = next[i];
        }
    }

    /// The bytes a token stands for (control tokens: none).
    fn bytes_of(&self, id: u32, out: &mut Vec<u8>) {
        if self.is_control(id) {
            return;
        }
        if let Some(token) = self.tokens.get(id as usize) {
            for c in token.chars() {
                match self.char_byte.get(&c) {
                    Some(b) => out.push(*b),
                    // Not in the byte alphabet (a user-defined token): as is.
                    None => {
                        let mut buf = [0u8; 4];
                        out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                    }
                }
            }
        }
    }

    /// Decodes ids to text (invalid UTF-8 becomes U+FFFD).
    pub fn decode(&self, ids: &[u32]) -> String {
        let mut bytes = Vec::new();
        for id in ids {
            self.bytes_of(*id, &mut bytes);
        }
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

/// Turns generated ids into text as they come, holding back the bytes of a
/// character split across tokens until it is whole.
pub struct Decoder<'a> {
    tokenizer: &'a Tokenizer,
    pending: Vec<u8>,
}

impl<'a> Decoder<'a> {
    pub fn new(tokenizer: &'a Tokenizer) -> Self {
        Self {
            tokenizer,
            pending: Vec::new(),
        }
    }

    /// The text that token `id` completes (possibly empty).
    pub fn push(&mut self, id: u32) -> String {
        self.tokenizer.bytes_of(id, &mut self.pending);
        let valid = match std::str::from_utf8(&self.pending) {
            Ok(_) => self.pending.len(),
            Err(e) => match e.error_len() {
                // An incomplete character at the end: wait for more.
                None => e.valid_up_to(),
                // Invalid bytes mid-way: give them up (lossily) now.
                Some(_) => self.pending.len(),
            },
        };
        let rest = self.pending.split_off(valid);
        let text = String::from_utf8_lossy(&self.pending).into_owned();
        self.pending = rest;
        text
    }

    /// Whatever is still held back, lossily.
    pub fn finish(self) -> String {
        String::from_utf8_lossy(&self.pending).into_owned()
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Class {
    Letter,
    Number,
    Space,
    Other,
}

fn class(c: char) -> Class {
    // \p{N} is exactly `is_numeric` (Nd, Nl, No), tested first because
    // letter-like numbers (Ⅻ, 〇) are also alphabetic. \p{L} is
    // approximated by `is_alphabetic`, which also admits the vowel signs and
    // other combining marks of Indic, Thai, Hebrew... scripts (Mn/Mc) and
    // circled letters (So): pieces in those scripts can split differently
    // from llama.cpp (e.g. an apostrophe after a Devanagari vowel sign), which
    // changes a few token ids there, never the text.
    if c.is_numeric() {
        Class::Number
    } else if c.is_alphabetic() {
        Class::Letter
    } else if c.is_whitespace() {
        Class::Space
    } else {
        Class::Other
    }
}

/// Splits `text` like the pre-tokenizer regexes.
fn pieces(text: &str, split: Split) -> Vec<&str> {
    let mut out = Vec::new();
    match split {
        Split::Gpt2 => gpt2_pieces(text, &mut out),
        Split::DigitsThenGpt2 => {
            // Every number character is a piece of its own; the text
            // between them goes through GPT-2's pattern.
            let mut start = 0;
            for (i, c) in text.char_indices() {
                if class(c) == Class::Number {
                    gpt2_pieces(&text[start..i], &mut out);
                    out.push(&text[i..i + c.len_utf8()]);
                    start = i + c.len_utf8();
                }
            }
            gpt2_pieces(&text[start..], &mut out);
        }
    }
    out
}

/// GPT-2's `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`.
fn gpt2_pieces<'t>(text: &'t str, out: &mut Vec<&'t str>) {
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let end_of = |k: usize| chars.get(k).map_or(text.len(), |(i, _)| *i);
    let mut k = 0;
    while k < chars.len() {
        let (start, c) = chars[k];
        // Contractions.
        if c == '\'' {
            let rest = &text[start + 1..];
            let hit = ["re", "ve", "ll", "s", "t", "m", "d"]
                .into_iter()
                .find(|s| rest.starts_with(s));
            if let Some(s) = hit {
                out.push(&text[start..start + 1 + s.len()]);
                k += 1 + s.chars().count();
                continue;
            }
        }
        // An optional leading space joins a following run of one class.
        let lead =
            usize::from(c == ' ' && k + 1 < chars.len() && class(chars[k + 1].1) != Class::Space);
        let first = chars.get(k + lead).map(|(_, c)| class(*c));
        match first {
            Some(cls @ (Class::Letter | Class::Number | Class::Other)) => {
                let mut j = k + lead;
                while j < chars.len() && class(chars[j].1) == cls {
                    j += 1;
                }
                out.push(&text[start..end_of(j)]);
                k = j;
            }
            _ => {
                // Whitespace: a run not followed by non-space, or (when it
                // is) all but its last char, which leads the next piece.
                let mut j = k;
                while j < chars.len() && class(chars[j].1) == Class::Space {
                    j += 1;
                }
                if j < chars.len() && j - k > 1 {
                    j -= 1;
                }
                out.push(&text[start..end_of(j)]);
                k = j;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gpt2_splitting_follows_the_pattern() {
        let mut out = Vec::new();
        gpt2_pieces("Hello world, it's 2026!  ok\n\n  fn", &mut out);
        assert_eq!(
            out,
            [
                "Hello", " world", ",", " it", "'s", " 2026", "!", " ", " ok", "\n\n ", " fn"
            ]
        );
        let digits = pieces("v12 x", Split::DigitsThenGpt2);
        assert_eq!(digits, ["v", "1", "2", " x"]);
        assert_eq!(pieces("", Split::Gpt2), Vec::<&str>::new());
        let spaces = pieces("a   ", Split::Gpt2);
        assert_eq!(spaces, ["a", "   "]);
    }

    #[test]
    fn letter_like_numbers_are_numbers() {
        // Roman numerals and 〇 are alphabetic too; \p{N} wins, as in
        // llama.cpp, so each is a piece of its own.
        assert_eq!(
            pieces(" Ⅻ 〇x", Split::DigitsThenGpt2),
            [" ", "Ⅻ", " ", "〇", "x"]
        );
        assert_eq!(pieces("x²", Split::DigitsThenGpt2), ["x", "²"]);
    }

    /// A tokenizer over the bytes `a`, `b`, `c` and the given merges.
    fn tiny(merges: &[(&str, &str)]) -> Tokenizer {
        let mut tokens: Vec<String> = ["a", "b", "c"].map(String::from).to_vec();
        for (a, b) in merges {
            tokens.push(format!("{a}{b}"));
        }
        tokens.push("<|end|>".into());
        let ids: HashMap<String, u32> = tokens
            .iter()
            .enumerate()
            .map(|(i, t)| (t.clone(), i as u32))
            .collect();
        let ranks = merges
            .iter()
            .enumerate()
            .map(|(rank, (a, b))| {
                let merged = ids[&format!("{a}{b}")];
                ((ids[*a], ids[*b]), (rank as u32, merged))
            })
            .collect();
        let byte_char = byte_chars();
        let mut byte_id = [None; 256];
        for b in [b'a', b'b', b'c'] {
            byte_id[b as usize] = Some(u32::from(b - b'a'));
        }
        let mut control = vec![false; tokens.len()];
        control[tokens.len() - 1] = true;
        Tokenizer {
            eos: tokens.len() as u32 - 1,
            tokens,
            ids,
            ranks,
            control,
            byte_char,
            char_byte: byte_char
                .iter()
                .enumerate()
                .map(|(b, c)| (*c, b as u8))
                .collect(),
            byte_id,
            split: Split::Gpt2,
            bos: None,
        }
    }

    /// BPE by the definition: rescan, merge the lowest-ranked pair
    /// (leftmost on ties), repeat.
    fn reference(tok: &Tokenizer, text: &str) -> Vec<u32> {
        let mut parts: Vec<u32> = text.bytes().map(|b| u32::from(b - b'a')).collect();
        while let Some((_, i, merged)) = parts
            .windows(2)
            .enumerate()
            .filter_map(|(i, w)| tok.ranks.get(&(w[0], w[1])).map(|(r, m)| (*r, i, *m)))
            .min()
        {
            parts[i] = merged;
            parts.remove(i + 1);
        }
        parts
    }

    #[test]
    fn long_pieces_merge_like_the_definition() {
        let tok = tiny(&[
            ("a", "a"),
            ("a", "b"),
            ("aa", "b"),
            ("b", "c"),
            ("c", "c"),
            ("aa", "aa"),
            ("ab", "bc"),
            ("cc", "c"),
        ]);
        assert_eq!(tok.encode("aaab"), [tok.ids["aa"], tok.ids["ab"]]);
        // Ties go to the leftmost pair: "aaa" is "aa" + "a", not "a" + "aa".
        assert_eq!(tok.encode("aaa"), [tok.ids["aa"], 0]);
        // Pseudo-random letter runs up to 2,000 bytes, each one piece.
        let mut seed = 0x2545_f491_u32;
        for len in (1..40).chain([500, 2000]) {
            let text: String = (0..len)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 17;
                    seed ^= seed << 5;
                    char::from(b'a' + (seed % 3) as u8)
                })
                .collect();
            assert_eq!(tok.encode(&text), reference(&tok, &text), "{text}");
        }
    }

    #[test]
    fn a_piece_that_spells_a_control_token_stays_plain_text() {
        let mut tok = tiny(&[("a", "b")]);
        // A (contrived) control token whose text is one piece.
        let id = tok.ids["ab"];
        tok.control[id as usize] = true;
        assert_eq!(tok.encode("ab"), [0, 1]);
    }

    #[test]
    fn the_byte_alphabet_is_a_bijection() {
        let chars = byte_chars();
        let unique: std::collections::HashSet<char> = chars.iter().copied().collect();
        assert_eq!(unique.len(), 256);
        assert_eq!(chars[b' ' as usize], 'Ġ');
        assert_eq!(chars[b'\n' as usize], 'Ċ');
        assert_eq!(chars[b'A' as usize], 'A');
    }
}
