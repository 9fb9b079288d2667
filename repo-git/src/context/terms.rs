//! Splitting a task's text into search terms, and a path into tokens.
//!
//! Two kinds of term, because they are searched differently: *words*
//! ("login", "timeout") are matched case-insensitively at word boundaries,
//! *identifiers* (`LoginForm`, `session_store`) exactly, since their case is
//! meaningful and they name one thing in the code.

/// At most this many terms of each kind: a task description pasted with a
/// stack trace must not turn into a search for hundreds of tokens.
const MAX_TERMS: usize = 64;

/// English filler and the verbs of task titles ("add", "fix", "make"): they
/// occur everywhere in code and prose, so they would only add noise.
const STOP_WORDS: &[&str] = &[
    "a",
    "about",
    "above",
    "add",
    "added",
    "adds",
    "after",
    "again",
    "all",
    "allow",
    "also",
    "am",
    "an",
    "and",
    "any",
    "are",
    "as",
    "at",
    "be",
    "because",
    "been",
    "before",
    "being",
    "both",
    "but",
    "by",
    "can",
    "cannot",
    "change",
    "changes",
    "could",
    "did",
    "do",
    "does",
    "doing",
    "done",
    "each",
    "ensure",
    "etc",
    "few",
    "fix",
    "fixed",
    "fixes",
    "for",
    "from",
    "get",
    "had",
    "has",
    "have",
    "having",
    "he",
    "her",
    "here",
    "his",
    "how",
    "i",
    "if",
    "implement",
    "in",
    "into",
    "is",
    "it",
    "its",
    "just",
    "let",
    "like",
    "make",
    "makes",
    "may",
    "me",
    "might",
    "more",
    "most",
    "must",
    "my",
    "need",
    "needs",
    "new",
    "no",
    "not",
    "now",
    "of",
    "off",
    "on",
    "once",
    "one",
    "only",
    "or",
    "other",
    "our",
    "out",
    "over",
    "own",
    "please",
    "same",
    "see",
    "set",
    "she",
    "should",
    "so",
    "some",
    "such",
    "support",
    "than",
    "that",
    "the",
    "their",
    "them",
    "then",
    "there",
    "these",
    "they",
    "this",
    "those",
    "through",
    "to",
    "too",
    "under",
    "until",
    "up",
    "update",
    "use",
    "used",
    "uses",
    "using",
    "very",
    "via",
    "want",
    "was",
    "we",
    "were",
    "what",
    "when",
    "where",
    "which",
    "while",
    "who",
    "why",
    "will",
    "with",
    "without",
    "would",
    "you",
    "your",
];

fn is_stop_word(word: &str) -> bool {
    STOP_WORDS.binary_search(&word).is_ok()
}

/// Splits `text` into `(words, identifiers)`, each without duplicates and in
/// order of first appearance.
///
/// A token (a run of letters, digits and `_`) is an identifier when it looks
/// like one in code: it has a lower-to-upper case hump (`loginForm`,
/// `LoginForm`) or an inner underscore (`session_store`, `MAX_SIZE`). Other
/// tokens become lowercase words unless they are stop words, shorter than
/// two characters or only digits.
pub fn terms_of(text: &str) -> (Vec<String>, Vec<String>) {
    let mut words: Vec<String> = Vec::new();
    let mut identifiers: Vec<String> = Vec::new();
    for token in text.split(|c: char| !(c.is_alphanumeric() || c == '_')) {
        let token = token.trim_matches('_');
        if token.is_empty() {
            continue;
        }
        if is_identifier(token) {
            if identifiers.len() < MAX_TERMS && !identifiers.iter().any(|i| i == token) {
                identifiers.push(token.to_owned());
            }
            continue;
        }
        let word = token.to_lowercase();
        if word.chars().count() < 2
            || word.chars().all(|c| c.is_ascii_digit())
            || is_stop_word(&word)
        {
            continue;
        }
        if words.len() < MAX_TERMS && !words.contains(&word) {
            words.push(word);
        }
    }
    (words, identifiers)
}

fn is_identifier(token: &str) -> bool {
    if token.contains('_') && token.chars().any(char::is_alphabetic) {
        return true;
    }
    let chars: Vec<char> = token.chars().collect();
    chars
        .windows(2)
        .any(|w| (w[0].is_lowercase() || w[0].is_ascii_digit()) && w[1].is_uppercase())
}

/// The lowercase tokens of a path component: split at non-alphanumerics and
/// at camelCase humps, so `LoginForm.tsx` gives `login`, `form`, `tsx`.
pub(crate) fn tokens_of(component: &str) -> Vec<String> {
    let mut tokens = Vec::new();
    for part in component.split(|c: char| !c.is_alphanumeric()) {
        let mut current = String::new();
        let mut previous: Option<char> = None;
        for c in part.chars() {
            let hump = previous.is_some_and(|p| p.is_lowercase() || p.is_ascii_digit())
                && c.is_uppercase();
            if hump && !current.is_empty() {
                tokens.push(std::mem::take(&mut current));
            }
            current.extend(c.to_lowercase());
            previous = Some(c);
        }
        if !current.is_empty() {
            tokens.push(current);
        }
    }
    tokens
}

/// An identifier or file stem reduced to lowercase alphanumerics, so that
/// `LoginForm`, `login_form` and `login-form` compare equal.
pub(crate) fn squashed(text: &str) -> String {
    text.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

/// Whether a path token matches a task word: equal, or equal up to a
/// trailing plural "s" (`users.rs` for "user").
pub(crate) fn token_matches(token: &str, word: &str) -> bool {
    token == word
        || (word.len() >= 3 && token.strip_suffix('s') == Some(word))
        || (token.len() >= 3 && word.strip_suffix('s') == Some(token))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_words_are_sorted_for_binary_search() {
        let mut sorted = STOP_WORDS.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted, STOP_WORDS);
    }

    #[test]
    fn splits_words_and_identifiers() {
        let (words, identifiers) = terms_of(
            "Fix the LoginForm: it should reject an empty password_hash in session_store.",
        );
        assert_eq!(words, ["reject", "empty"]);
        assert_eq!(identifiers, ["LoginForm", "password_hash", "session_store"]);
    }

    #[test]
    fn lowercases_and_deduplicates_words() {
        let (words, identifiers) = terms_of("Login login LOGIN; Timeout, timeout");
        assert_eq!(words, ["login", "timeout"]);
        assert!(identifiers.is_empty());
    }

    #[test]
    fn drops_short_and_numeric_tokens() {
        let (words, _) = terms_of("x 42 2024 ok é v2");
        assert_eq!(words, ["ok", "v2"]);
    }

    #[test]
    fn camel_and_upper_snake_are_identifiers() {
        let (words, identifiers) = terms_of("parseUrl MAX_SIZE HTTP __init__ utf8Decode");
        assert_eq!(identifiers, ["parseUrl", "MAX_SIZE", "utf8Decode"]);
        // `__init__` trims to `init`, a plain word.
        assert_eq!(words, ["http", "init"]);
    }

    #[test]
    fn empty_text_has_no_terms() {
        assert_eq!(terms_of("  \n, ."), (vec![], vec![]));
    }

    #[test]
    fn path_tokens_split_humps_and_separators() {
        assert_eq!(tokens_of("LoginForm.tsx"), ["login", "form", "tsx"]);
        assert_eq!(
            tokens_of("session_store-v2.rs"),
            ["session", "store", "v2", "rs"]
        );
        assert_eq!(tokens_of("HTTPServer"), ["httpserver"]);
    }

    #[test]
    fn squashing_makes_spellings_equal() {
        assert_eq!(squashed("LoginForm"), squashed("login_form"));
        assert_eq!(squashed("login-form"), "loginform");
    }

    #[test]
    fn plural_tokens_match() {
        assert!(token_matches("users", "user"));
        assert!(token_matches("user", "users"));
        assert!(token_matches("login", "login"));
        assert!(!token_matches("logins", "lo"));
        assert!(!token_matches("loginform", "login"));
    }
}
