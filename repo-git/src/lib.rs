//! EXITON's work on a project's git repository (issue 18), through libgit2
//! only — never a shell with user-controlled arguments.
//!
//! - [`repo`]: opening, creating and cloning a repository, and its status.
//! - [`context`]: what the band is shown of a commit — the repository's
//!   map and the files most relevant to a task.
//! - [`change`]: a proposal (whole files, unified diffs) turned into a
//!   commit in memory, and the in-memory merge and landing of it.
//!
//! Everything here is synchronous (libgit2 is); the server calls it from
//! blocking tasks.

pub mod change;
pub mod context;
pub mod repo;

/// libgit2's bindings, for callers that name its types (an `Oid`).
pub use git2;
