//! A linked repository, the request to link one, and its status.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::InvalidField;

/// Where the repository comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RepoKind {
    /// A repository on the server's machine, inside an allowed root.
    Local,
    /// A clone of a URL, kept in the data directory.
    Clone,
    /// A new empty repository in the data directory.
    New,
}

impl RepoKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Local => "local",
            Self::Clone => "clone",
            Self::New => "new",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Local, Self::Clone, Self::New]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

/// What a merge pushes, for a clone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PushPolicy {
    /// Nothing leaves the machine.
    #[default]
    None,
    /// The base branch, fast-forward only.
    Base,
    /// Only the task branch, for a pull request.
    Branch,
}

impl PushPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Base => "base",
            Self::Branch => "branch",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::None, Self::Base, Self::Branch]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

/// A project's repository.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RepoLink {
    pub project_id: Uuid,
    pub kind: RepoKind,
    /// The repository's directory on the server, canonical.
    pub path: String,
    /// Where a clone came from, without credentials.
    pub url: Option<String>,
    /// Whether credentials are stored (encrypted) for it; never shown.
    pub has_credentials: bool,
    pub base_branch: String,
    pub push: PushPolicy,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// `PUT /api/v1/projects/{id}/repository`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkRequest {
    pub kind: Option<String>,
    pub path: Option<String>,
    pub url: Option<String>,
    pub base_branch: Option<String>,
    pub push: Option<String>,
}

/// Where a linked repository stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepoStatus {
    /// The branch checked out, if any.
    pub checked_out: Option<String>,
    /// `HEAD`'s commit.
    pub head: Option<String>,
    pub base_branch: String,
    /// The base branch's tip; `None` when the branch is gone.
    pub base_commit: Option<String>,
    pub bare: bool,
    pub clean: bool,
    /// Changed, staged or untracked paths (the first fifty).
    pub dirty: Vec<String>,
    pub dirty_count: usize,
    pub upstream: Option<String>,
    pub ahead: Option<usize>,
    pub behind: Option<usize>,
}

/// What to show the band of a repository: the text its files are ranked
/// against (the task's title, description and context), and how much
/// file text fits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContextAsk {
    pub text: String,
    pub budget_bytes: usize,
    /// The most map entries.
    pub map_cap: usize,
}

/// One file of the repository's map.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MapEntry {
    pub path: String,
    pub bytes: u64,
    pub language: Option<String>,
}

/// A file shown to the band, whole or the part most relevant to the task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShownFile {
    pub path: String,
    /// The blob's id: exactly which content was shown.
    pub blob: String,
    pub bytes: u64,
    pub content: String,
    pub whole: bool,
    /// Why it was chosen, in words ("path matches 'login'").
    pub why: Vec<String>,
}

/// What the band is shown of a repository at one commit (spec
/// ContextWindowManager): its map and the files most relevant to the task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodeContext {
    pub commit: String,
    pub base_branch: String,
    pub map: Vec<MapEntry>,
    pub total_files: usize,
    pub map_truncated: bool,
    pub files: Vec<ShownFile>,
}

impl CodeContext {
    /// What a session records of it: the commit and which files, by blob.
    pub fn provenance(&self) -> CodeProvenance {
        CodeProvenance {
            commit: self.commit.clone(),
            base_branch: self.base_branch.clone(),
            files: self
                .files
                .iter()
                .map(|f| ShownRef {
                    path: f.path.clone(),
                    blob: f.blob.clone(),
                    bytes: f.bytes,
                    whole: f.whole,
                    why: f.why.clone(),
                })
                .collect(),
        }
    }
}

/// Which files, at which commit, a session's band was shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodeProvenance {
    /// The base commit the session works on.
    pub commit: String,
    pub base_branch: String,
    pub files: Vec<ShownRef>,
}

/// One file a session was shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShownRef {
    pub path: String,
    pub blob: String,
    pub bytes: u64,
    pub whole: bool,
    #[serde(default)]
    pub why: Vec<String>,
}

/// One edit of a proposal: a whole file, a unified diff of one file (as
/// the coder wrote it), or a deletion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ProposedEdit {
    Write { path: String, content: String },
    Patch { path: String, diff: String },
    Delete { path: String },
}

impl ProposedEdit {
    /// The edits the coder's answer makes: its whole files, then its diffs.
    /// A file cut off mid-way is left out (the answer's parse already
    /// warns about it, and half a file must never be committed).
    pub fn from_coder(output: &crate::band::CoderOutput) -> Vec<Self> {
        let files = output
            .files
            .iter()
            .filter(|f| !f.truncated)
            .map(|f| Self::Write {
                path: f.path.clone(),
                content: f.content.clone(),
            });
        let patches = output.patches.iter().map(|p| Self::Patch {
            path: p.path.clone(),
            diff: p.raw.clone(),
        });
        files.chain(patches).collect()
    }
}

/// A proposal to turn into a commit on a task branch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeRequest {
    /// The session's base commit: the change builds on it.
    pub base_commit: String,
    /// The task's title and the session's short id, which name the task
    /// branch (`exiton/<task-slug>-<short id>`).
    pub task_title: String,
    pub short_id: String,
    pub message: String,
    pub edits: Vec<ProposedEdit>,
}

/// How a proposal changed one file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangedFile {
    pub path: String,
    /// `added`, `modified` or `deleted`.
    pub change: String,
    pub additions: u32,
    pub deletions: u32,
}

/// A proposal made into a commit on its task branch (nothing else moved:
/// no work tree, no base branch).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProposedChange {
    pub branch: String,
    pub commit: String,
    pub base_commit: String,
    pub files: Vec<ChangedFile>,
}

/// What became of a session's proposal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum SessionChange {
    /// A commit on the task branch.
    Proposed(ProposedChange),
    /// Why it could not be built (the gate's reason, shown to the human).
    Refused { why: String },
}

/// User name and secret for a clone over https. `Debug` never shows the
/// secret.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credentials {
    pub username: String,
    pub secret: String,
}

impl Credentials {
    /// The form sealed for storage: user name, NUL, secret (a user name
    /// never holds a NUL).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = self.username.as_bytes().to_vec();
        out.push(0);
        out.extend_from_slice(self.secret.as_bytes());
        out
    }

    /// Reads what [`Self::to_bytes`] wrote.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        let at = bytes.iter().position(|b| *b == 0)?;
        Some(Self {
            username: String::from_utf8(bytes[..at].to_vec()).ok()?,
            secret: String::from_utf8(bytes[at + 1..].to_vec()).ok()?,
        })
    }
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// A URL to clone: https, ssh (`ssh://` or `user@host:path`) or file.
/// Credentials written into an https URL (`https://user:token@host/…`) are
/// taken out: they are stored apart, encrypted, and never shown again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloneUrl {
    /// The URL without credentials, as stored and shown.
    pub url: String,
    /// The local path of a `file://` URL (checked against the roots).
    pub file_path: Option<String>,
    pub credentials: Option<Credentials>,
}

impl CloneUrl {
    const MAX_LEN: usize = 2048;

    /// # Errors
    /// `InvalidField("url")` for anything else (plain http included: it
    /// would send credentials in the clear).
    pub fn parse(raw: &str) -> Result<Self, InvalidField> {
        let raw = raw.trim();
        let invalid = |why: &str| InvalidField::new("url", why);
        if raw.is_empty() {
            return Err(invalid("is required to clone"));
        }
        if raw.len() > Self::MAX_LEN || raw.chars().any(|c| c.is_control() || c == ' ') {
            return Err(invalid("is not a URL"));
        }
        if let Some(rest) = raw.strip_prefix("https://") {
            let (authority, tail) = rest.split_once('/').unwrap_or((rest, ""));
            let (userinfo, host) = match authority.rsplit_once('@') {
                Some((u, h)) => (Some(u), h),
                None => (None, authority),
            };
            if host.is_empty() || tail.is_empty() {
                return Err(invalid("needs a host and a repository path"));
            }
            let credentials = userinfo.map(|u| {
                let (user, secret) = u.split_once(':').unwrap_or((u, ""));
                Credentials {
                    username: percent_decode(user),
                    secret: percent_decode(secret),
                }
            });
            if credentials
                .as_ref()
                .is_some_and(|c| c.username.contains('\0') || c.secret.contains('\0'))
            {
                return Err(invalid("holds a NUL in its credentials"));
            }
            return Ok(Self {
                url: format!("https://{host}/{tail}"),
                file_path: None,
                credentials,
            });
        }
        if let Some(rest) = raw.strip_prefix("ssh://") {
            if rest
                .split_once('/')
                .is_none_or(|(h, p)| h.is_empty() || p.is_empty())
            {
                return Err(invalid("needs a host and a repository path"));
            }
            return Ok(Self {
                url: raw.to_owned(),
                file_path: None,
                credentials: None,
            });
        }
        if let Some(path) = raw.strip_prefix("file://") {
            if !path.starts_with('/') {
                return Err(invalid("a file URL needs an absolute path"));
            }
            return Ok(Self {
                url: raw.to_owned(),
                file_path: Some(percent_decode(path)),
                credentials: None,
            });
        }
        // scp-like ssh: user@host:path (no scheme).
        if !raw.contains("://")
            && let Some((authority, path)) = raw.split_once(':')
            && authority.contains('@')
            && !authority.starts_with('@')
            && !authority.contains('/')
            && !path.is_empty()
        {
            return Ok(Self {
                url: raw.to_owned(),
                file_path: None,
                credentials: None,
            });
        }
        Err(invalid("must be an https, ssh or file URL"))
    }
}

/// Decodes `%XX` escapes (credentials often hold `@` or `:`).
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(hex) = s.get(i + 1..i + 3)
            && let Ok(b) = u8::from_str_radix(hex, 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Whether the canonical `path` lies inside one of the canonical `roots`
/// (compared by path components, so `/srv/repos-old` is not inside
/// `/srv/repos`).
pub fn inside_roots(path: &Path, roots: &[PathBuf]) -> bool {
    roots.iter().any(|root| path.starts_with(root))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn https_credentials_are_taken_out_of_the_url() {
        let u = CloneUrl::parse("https://ada:t%40ken@example.com/team/app.git").unwrap();
        assert_eq!(u.url, "https://example.com/team/app.git");
        let c = u.credentials.unwrap();
        assert_eq!((c.username.as_str(), c.secret.as_str()), ("ada", "t@ken"));
        assert!(!format!("{c:?}").contains("t@ken"));
        assert!(
            CloneUrl::parse("https://example.com/app.git")
                .unwrap()
                .credentials
                .is_none()
        );
    }

    #[test]
    fn ssh_file_and_scp_forms_are_accepted_and_others_refused() {
        assert!(CloneUrl::parse("ssh://git@example.com/team/app.git").is_ok());
        assert!(CloneUrl::parse("git@github.com:team/app.git").is_ok());
        let f = CloneUrl::parse("file:///srv/repos/app").unwrap();
        assert_eq!(f.file_path.as_deref(), Some("/srv/repos/app"));
        for bad in [
            "",
            "http://example.com/app.git",
            "ftp://example.com/app",
            "https://example.com",
            "file://relative/path",
            "/srv/repos/app",
            "app",
            "https://exa mple.com/x",
        ] {
            let err = CloneUrl::parse(bad).unwrap_err();
            assert_eq!(err.field, "url", "{bad}");
        }
    }

    #[test]
    fn roots_compare_by_component() {
        let roots = [PathBuf::from("/srv/repos")];
        assert!(inside_roots(Path::new("/srv/repos/app"), &roots));
        assert!(inside_roots(Path::new("/srv/repos"), &roots));
        assert!(!inside_roots(Path::new("/srv/repos-old/app"), &roots));
        assert!(!inside_roots(Path::new("/srv"), &roots));
        assert!(!inside_roots(Path::new("/srv/repos/app"), &[]));
    }
}
