//! The project entity and its validated inputs.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::InvalidField;
use crate::validation::text;

/// Lifecycle of a project (spec §2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ProjectStatus {
    #[default]
    Active,
    Paused,
    Completed,
    Archived,
}

impl ProjectStatus {
    pub const ALL: [Self; 4] = [Self::Active, Self::Paused, Self::Completed, Self::Archived];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Paused => "paused",
            Self::Completed => "completed",
            Self::Archived => "archived",
        }
    }

    /// # Errors
    /// `InvalidField("status")` naming the allowed values.
    pub fn parse(s: &str) -> Result<Self, InvalidField> {
        Self::ALL
            .into_iter()
            .find(|v| v.as_str() == s)
            .ok_or_else(|| {
                InvalidField::new(
                    "status",
                    "must be one of active, paused, completed, archived",
                )
            })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Project {
    pub id: Uuid,
    pub owner_id: Uuid,
    pub name: String,
    pub description: String,
    pub status: ProjectStatus,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

pub(crate) const NAME_MAX: usize = 255;
pub(crate) const DESCRIPTION_MAX: usize = 10_000;

/// Input for creating a project.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct NewProject {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
}

/// A partial update; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ProjectPatch {
    pub name: Option<String>,
    pub description: Option<String>,
    pub status: Option<ProjectStatus>,
}

pub(crate) fn project_name(raw: &str) -> Result<String, InvalidField> {
    text("name", raw, NAME_MAX, false, true)
}

pub(crate) fn project_description(raw: &str) -> Result<String, InvalidField> {
    text("description", raw, DESCRIPTION_MAX, true, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_parses_and_names_field() {
        assert_eq!(
            ProjectStatus::parse("paused").unwrap(),
            ProjectStatus::Paused
        );
        assert_eq!(ProjectStatus::parse("gone").unwrap_err().field, "status");
    }

    #[test]
    fn name_rules() {
        assert!(project_name("").is_err());
        assert_eq!(project_name("  Bebop ").unwrap(), "Bebop");
        assert!(project_name(&"x".repeat(256)).is_err());
    }
}
