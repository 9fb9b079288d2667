//! The task entity, its columns, and the board query.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::InvalidField;
use crate::validation::text;

/// The board's four columns, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum TaskStatus {
    #[default]
    Todo,
    InProgress,
    Review,
    Done,
}

impl TaskStatus {
    pub const ALL: [Self; 4] = [Self::Todo, Self::InProgress, Self::Review, Self::Done];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Todo => "todo",
            Self::InProgress => "in_progress",
            Self::Review => "review",
            Self::Done => "done",
        }
    }

    /// Column heading shown on the board.
    pub fn label(self) -> &'static str {
        match self {
            Self::Todo => "To do",
            Self::InProgress => "In progress",
            Self::Review => "Review",
            Self::Done => "Done",
        }
    }

    /// # Errors
    /// `InvalidField("status")` naming the allowed values.
    pub fn parse(s: &str) -> Result<Self, InvalidField> {
        Self::ALL
            .into_iter()
            .find(|v| v.as_str() == s)
            .ok_or_else(|| {
                InvalidField::new("status", "must be one of todo, in_progress, review, done")
            })
    }

    /// The neighbouring column (for keyboard moves), if any.
    pub fn next(self) -> Option<Self> {
        let i = Self::ALL.iter().position(|s| *s == self)?;
        Self::ALL.get(i + 1).copied()
    }

    pub fn previous(self) -> Option<Self> {
        let i = Self::ALL.iter().position(|s| *s == self)?;
        i.checked_sub(1).and_then(|j| Self::ALL.get(j).copied())
    }
}

/// Who created the task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum CreatedBy {
    #[default]
    Human,
    Ai,
}

impl CreatedBy {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Human => "human",
            Self::Ai => "ai",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "human" => Some(Self::Human),
            "ai" => Some(Self::Ai),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Task {
    pub id: Uuid,
    pub project_id: Uuid,
    pub title: String,
    pub description: String,
    pub status: TaskStatus,
    pub assigned_ai_agent: Option<String>,
    pub ai_generated: bool,
    pub confidence_score: Option<f64>,
    pub human_review_required: bool,
    pub created_by: CreatedBy,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// When a human last moved the card: a run that started before then
    /// leaves the card where the human put it.
    #[serde(default)]
    pub human_moved_at: Option<DateTime<Utc>>,
    /// When the last run event that moved the card or set its AI fields
    /// happened: an older event handed over late changes nothing.
    #[serde(default)]
    pub progressed_at: Option<DateTime<Utc>>,
}

/// Input for creating a task.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct NewTask {
    pub title: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub status: Option<TaskStatus>,
}

/// A partial update; a new `status` moves the task to that column.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct TaskPatch {
    pub title: Option<String>,
    pub description: Option<String>,
    pub status: Option<TaskStatus>,
}

pub(crate) fn task_title(raw: &str) -> Result<String, InvalidField> {
    text("title", raw, 500, false, true)
}

pub(crate) fn task_description(raw: &str) -> Result<String, InvalidField> {
    text("description", raw, 20_000, true, false)
}

/// Words to find, each matched as a prefix, all required. Built from free
/// text by keeping letters and digits only, so no user input ever reaches a
/// full-text query syntax (FTS5 `MATCH`, `to_tsquery`) unescaped.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SearchTerms(Vec<String>);

impl SearchTerms {
    pub const MAX_TERMS: usize = 12;
    pub const MAX_TERM_CHARS: usize = 64;

    /// Splits `raw` into lower-cased alphanumeric words; `None` when nothing
    /// searchable remains (which means "no text filter").
    pub fn parse(raw: &str) -> Option<Self> {
        let terms: Vec<String> = raw
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .map(|w| {
                w.chars()
                    .take(Self::MAX_TERM_CHARS)
                    .collect::<String>()
                    .to_lowercase()
            })
            .take(Self::MAX_TERMS)
            .collect();
        (!terms.is_empty()).then_some(Self(terms))
    }

    pub fn terms(&self) -> &[String] {
        &self.0
    }
}

/// Board filter: optional text search and optional column.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TaskQuery {
    pub search: Option<SearchTerms>,
    pub status: Option<TaskStatus>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_round_trips_and_orders() {
        for s in TaskStatus::ALL {
            assert_eq!(TaskStatus::parse(s.as_str()).unwrap(), s);
        }
        assert_eq!(TaskStatus::Todo.next(), Some(TaskStatus::InProgress));
        assert_eq!(TaskStatus::Done.next(), None);
        assert_eq!(TaskStatus::Todo.previous(), None);
        assert_eq!(TaskStatus::Done.previous(), Some(TaskStatus::Review));
        assert_eq!(TaskStatus::parse("doing").unwrap_err().field, "status");
    }

    #[test]
    fn search_terms_strip_query_syntax() {
        let t = SearchTerms::parse(r#"Fix "login" OR NEAR(x*) -bug"#).unwrap();
        assert_eq!(t.terms(), ["fix", "login", "or", "near", "x", "bug"]);
        assert!(SearchTerms::parse(" *** \"\" ").is_none());
    }

    #[test]
    fn search_terms_are_bounded() {
        let many = "a ".repeat(100);
        assert_eq!(
            SearchTerms::parse(&many).unwrap().terms().len(),
            SearchTerms::MAX_TERMS
        );
        let long = "z".repeat(500);
        assert_eq!(
            SearchTerms::parse(&long).unwrap().terms()[0].len(),
            SearchTerms::MAX_TERM_CHARS
        );
    }

    #[test]
    fn title_rules() {
        assert_eq!(task_title("").unwrap_err().field, "title");
        assert!(task_title(&"t".repeat(501)).is_err());
        assert!(task_description(&"d\n".repeat(100)).is_ok());
    }
}
