//! A project's git repository (issue 18): which repository the band works
//! on — a local one inside the operator's allowed roots, a clone, or a new
//! one — its base branch and push policy, and where it stands.

mod error;
mod model;
mod ports;
mod service;

pub use error::RepoError;
pub use model::{
    ChangeRequest, ChangedFile, CloneUrl, CodeContext, CodeProvenance, ContextAsk, Credentials,
    LinkRequest, MapEntry, ProposedChange, ProposedEdit, PushPolicy, RepoKind, RepoLink,
    RepoStatus, SessionChange, ShownFile, ShownRef, inside_roots,
};
pub use ports::{GitHost, GitHostError, RepoLinkStore, SecretBox, StoredLink};
pub use service::{RepoSettings, RepositoryService};

#[cfg(test)]
mod service_tests;
