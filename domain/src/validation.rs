//! Field validation shared by every value object: an error that names the
//! offending field, so every surface (form, server function, REST API) can
//! point the user at it.

use serde::{Deserialize, Serialize};

/// A field that failed validation, with a human-readable reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[error("{field}: {message}")]
pub struct InvalidField {
    /// The field name as it appears in the API (snake_case).
    pub field: String,
    /// Why the value was refused, phrased for the user.
    pub message: String,
}

impl InvalidField {
    pub fn new(field: &str, message: impl Into<String>) -> Self {
        Self {
            field: field.to_owned(),
            message: message.into(),
        }
    }
}

/// Unicode bidi embedding, override and isolate controls (LRE, RLE, PDF, LRO,
/// RLO, LRI, RLI, FSI, PDI). They are format characters (category Cf), so
/// `char::is_control` lets them through, yet they reorder how everything after
/// them is displayed: a task titled `\u{202E}fdp.exe` reads as `exe.pdf`, and
/// in descriptions fed to the coder they can make code or a diff read
/// differently from what it does ("Trojan Source", CVE-2021-42574). No field
/// needs them: plain RTL text displays correctly without.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// The zero-width directional marks (LRM, RLM, ALM). They only nudge
/// neighbouring neutral characters, so mixed-direction prose legitimately
/// uses them; but a one-line name or title has no use for invisible
/// characters that can make two different values look identical.
fn is_bidi_mark(c: char) -> bool {
    matches!(c, '\u{200E}' | '\u{200F}' | '\u{061C}')
}

/// Trims `raw` and checks it is non-empty, at most `max` characters and free
/// of control characters (newlines are allowed only when `multiline`) and of
/// bidi controls (directional marks are allowed only when `multiline`).
pub(crate) fn text(
    field: &str,
    raw: &str,
    max: usize,
    multiline: bool,
    required: bool,
) -> Result<String, InvalidField> {
    let value = raw.trim();
    if required && value.is_empty() {
        return Err(InvalidField::new(field, "must not be empty"));
    }
    let chars = value.chars().count();
    if chars > max {
        return Err(InvalidField::new(
            field,
            format!("must be at most {max} characters (got {chars})"),
        ));
    }
    let bad_control = value
        .chars()
        .any(|c| c.is_control() && !(multiline && matches!(c, '\n' | '\r' | '\t')));
    if bad_control {
        return Err(InvalidField::new(
            field,
            "must not contain control characters",
        ));
    }
    let bad_bidi = value
        .chars()
        .any(|c| is_bidi_control(c) || (!multiline && is_bidi_mark(c)));
    if bad_bidi {
        return Err(InvalidField::new(
            field,
            "must not contain bidirectional control characters (such as U+202E)",
        ));
    }
    Ok(value.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_and_accepts() {
        assert_eq!(text("f", "  hi ", 5, false, true).as_deref(), Ok("hi"));
    }

    #[test]
    fn refuses_empty_when_required() {
        let err = text("title", "   ", 5, false, true).unwrap_err();
        assert_eq!(err.field, "title");
    }

    #[test]
    fn allows_empty_when_optional() {
        assert_eq!(text("d", "", 5, true, false).as_deref(), Ok(""));
    }

    #[test]
    fn counts_characters_not_bytes() {
        assert!(text("f", "ééééé", 5, false, true).is_ok());
        assert!(text("f", "éééééé", 5, false, true).is_err());
    }

    #[test]
    fn newlines_only_when_multiline() {
        assert!(text("f", "a\nb", 5, true, true).is_ok());
        assert!(text("f", "a\nb", 5, false, true).is_err());
        assert!(text("f", "a\u{7}b", 5, true, true).is_err());
    }

    const BIDI_MESSAGE: &str = "must not contain bidirectional control characters (such as U+202E)";

    #[test]
    fn single_line_refuses_every_bidi_control_and_mark() {
        let controls = ('\u{202A}'..='\u{202E}').chain('\u{2066}'..='\u{2069}');
        for c in controls.chain(['\u{200E}', '\u{200F}', '\u{061C}']) {
            let err = text("title", &format!("invoice{c}fdp.exe"), 50, false, true).unwrap_err();
            assert_eq!(err.field, "title", "U+{:04X}", u32::from(c));
            assert_eq!(err.message, BIDI_MESSAGE, "U+{:04X}", u32::from(c));
        }
    }

    #[test]
    fn multiline_refuses_bidi_controls() {
        let controls = ('\u{202A}'..='\u{202E}').chain('\u{2066}'..='\u{2069}');
        for c in controls {
            let raw = format!(
                "if access_level != \"user{c}\u{2066}// Check if admin\u{2069}\u{2066}\") {{"
            );
            let err = text("description", &raw, 200, true, false).unwrap_err();
            assert_eq!(err.field, "description", "U+{:04X}", u32::from(c));
            assert_eq!(err.message, BIDI_MESSAGE);
        }
    }

    #[test]
    fn multiline_keeps_directional_marks_for_rtl_prose() {
        for c in ['\u{200E}', '\u{200F}', '\u{061C}'] {
            let raw = format!("Rename to \u{5E9}\u{5DC}\u{5D5}\u{5DD}{c} (v2)\nthen ship");
            assert_eq!(
                text("description", &raw, 200, true, false).as_deref(),
                Ok(raw.as_str())
            );
        }
    }

    #[test]
    fn plain_rtl_text_is_fine_everywhere() {
        let hebrew = "\u{5E9}\u{5DC}\u{5D5}\u{5DD} world";
        assert!(text("name", hebrew, 50, false, true).is_ok());
        assert!(text("description", hebrew, 50, true, false).is_ok());
    }
}
