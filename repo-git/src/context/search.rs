//! Finding the task's terms in a file's text: one Aho-Corasick pass over
//! the bytes finds every term, then each hit is checked against its kind's
//! rule, so a file is read once however many terms the task has.

use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind};

/// How a term is matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Case-insensitive (ASCII), at word boundaries.
    Word,
    /// Exact bytes, case included, anywhere (`LoginForm` also counts in
    /// `LoginFormProps`, which is about the same thing).
    Identifier,
}

#[derive(Debug, Clone)]
pub(crate) struct Term {
    pub(crate) text: String,
    pub(crate) kind: Kind,
}

/// The terms of one request, compiled once and run over many files.
pub(crate) struct Matcher {
    terms: Vec<Term>,
    automaton: Option<AhoCorasick>,
}

impl Matcher {
    /// Words are lowercased and duplicates dropped; empty terms are ignored.
    pub(crate) fn new(
        words: &[String],
        identifiers: &[String],
    ) -> Result<Self, aho_corasick::BuildError> {
        let mut terms: Vec<Term> = Vec::new();
        for word in words {
            let text = word.trim().to_lowercase();
            if !text.is_empty() && !terms.iter().any(|t| t.kind == Kind::Word && t.text == text) {
                terms.push(Term {
                    text,
                    kind: Kind::Word,
                });
            }
        }
        for identifier in identifiers {
            let text = identifier.trim().to_owned();
            if !text.is_empty()
                && !terms
                    .iter()
                    .any(|t| t.kind == Kind::Identifier && t.text == text)
            {
                terms.push(Term {
                    text,
                    kind: Kind::Identifier,
                });
            }
        }
        let automaton = if terms.is_empty() {
            None
        } else {
            // Case-insensitive for all, so one automaton serves both kinds;
            // identifiers are then checked for exact case. A DFA is the
            // fastest to run and the term lists are small (≤ 128 terms).
            Some(
                AhoCorasick::builder()
                    .ascii_case_insensitive(true)
                    .match_kind(MatchKind::Standard)
                    .kind(Some(AhoCorasickKind::DFA))
                    .build(terms.iter().map(|t| t.text.as_bytes()))?,
            )
        };
        Ok(Self { terms, automaton })
    }

    pub(crate) fn terms(&self) -> &[Term] {
        &self.terms
    }

    /// Calls `hit(term index, start offset)` for every accepted occurrence,
    /// in order of their end offsets.
    pub(crate) fn for_each_hit(&self, text: &[u8], mut hit: impl FnMut(usize, usize)) {
        let Some(automaton) = &self.automaton else {
            return;
        };
        for found in automaton.find_overlapping_iter(text) {
            let index = found.pattern().as_usize();
            let Some(term) = self.terms.get(index) else {
                continue;
            };
            let accepted = match term.kind {
                Kind::Identifier => text.get(found.range()) == Some(term.text.as_bytes()),
                Kind::Word => at_word_boundaries(text, found.start(), found.end()),
            };
            if accepted {
                hit(index, found.start());
            }
        }
    }

    /// How often each term occurs in `text`, by term index.
    pub(crate) fn counts(&self, text: &[u8]) -> Vec<u32> {
        let mut counts = vec![0u32; self.terms.len()];
        self.for_each_hit(text, |index, _| {
            if let Some(count) = counts.get_mut(index) {
                *count = count.saturating_add(1);
            }
        });
        counts
    }
}

/// Bytes of a word: ASCII letters and digits, and any non-ASCII byte (part
/// of a UTF-8 letter, most likely). `_` separates words, so "login" is found
/// in `user_login`.
fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || !b.is_ascii()
}

fn is_lower_or_digit(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit()
}

/// Whether `text[start..end]` is a whole word. A camelCase hump also counts
/// as a boundary, so "login" is found in `LoginForm` and `userLogin` but
/// not in `logins` or `blogin`.
fn at_word_boundaries(text: &[u8], start: usize, end: usize) -> bool {
    let (Some(&first), Some(&last)) = (text.get(start), text.get(end.wrapping_sub(1))) else {
        return false;
    };
    let start_ok = match start.checked_sub(1).and_then(|i| text.get(i)) {
        None => true,
        Some(&before) => {
            !is_word_byte(before) || (is_lower_or_digit(before) && first.is_ascii_uppercase())
        }
    };
    let end_ok = match text.get(end) {
        None => true,
        Some(&after) => {
            !is_word_byte(after) || (is_lower_or_digit(last) && after.is_ascii_uppercase())
        }
    };
    start_ok && end_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matcher(words: &[&str], identifiers: &[&str]) -> Matcher {
        let words: Vec<String> = words.iter().map(|s| (*s).to_owned()).collect();
        let identifiers: Vec<String> = identifiers.iter().map(|s| (*s).to_owned()).collect();
        Matcher::new(&words, &identifiers).unwrap()
    }

    #[test]
    fn words_match_case_insensitively_at_boundaries() {
        let m = matcher(&["login"], &[]);
        assert_eq!(m.counts(b"Login LOGIN login"), [3]);
        assert_eq!(m.counts(b"logins blogin login2"), [0]);
        assert_eq!(m.counts(b"user_login LoginForm userLogin"), [3]);
    }

    #[test]
    fn identifiers_match_exactly() {
        let m = matcher(&[], &["LoginForm"]);
        assert_eq!(
            m.counts(b"LoginForm loginform LOGINFORM LoginFormProps"),
            [2]
        );
    }

    #[test]
    fn a_word_and_an_identifier_can_overlap() {
        let m = matcher(&["form"], &["LoginForm"]);
        assert_eq!(m.counts(b"<LoginForm/> form"), [2, 1]);
    }

    #[test]
    fn duplicate_and_empty_terms_are_dropped() {
        let m = matcher(&["Login", "login", " "], &["X", "X"]);
        assert_eq!(m.terms().len(), 2);
        assert_eq!(m.counts(b"login X"), [1, 1]);
    }

    #[test]
    fn no_terms_no_hits() {
        let m = matcher(&[], &[]);
        assert!(m.counts(b"anything").is_empty());
    }
}
