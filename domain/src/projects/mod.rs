//! Projects: a user's containers for tasks (spec `Project`).

mod error;
mod model;
mod ports;
mod service;

pub use error::ProjectError;
pub use model::{NewProject, Project, ProjectPatch, ProjectStatus};
pub use ports::ProjectRepository;
pub use service::ProjectService;
