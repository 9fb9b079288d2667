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

/// Trims `raw` and checks it is non-empty, at most `max` characters and free
/// of control characters (newlines are allowed only when `multiline`).
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
}
