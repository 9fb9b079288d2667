//! A bounded, process-wide cache of what `choose` reads: blob texts by
//! blob id, and the recently changed files by commit id.
//!
//! Inflating every blob of a large repository is most of the time `choose`
//! takes, and a session asks again and again about the same base commit
//! (each prompt of each band member), while successive commits share
//! almost all their blobs. Blob ids are content hashes, so an entry is
//! valid in every repository and never goes stale; only the size bound
//! matters. Least recently used entries go first.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use git2::Oid;

/// At most this many bytes of text are kept (plus ~100 bytes a blob of
/// bookkeeping); a repository larger than that is partly read each time.
pub const CACHE_MAX_BYTES: usize = 256 * 1024 * 1024;
/// At most this many commits' recent changes are kept.
const MAX_COMMITS: usize = 64;

/// A blob as `choose` needs it: its size and, if it is UTF-8 text, the text.
#[derive(Clone)]
pub(crate) struct CachedBlob {
    pub(crate) bytes: u64,
    pub(crate) text: Option<Arc<str>>,
}

#[derive(Default)]
pub(crate) struct Cache {
    blobs: HashMap<Oid, (CachedBlob, u64)>,
    recent: HashMap<Oid, (Arc<HashMap<String, usize>>, u64)>,
    text_bytes: usize,
    clock: u64,
}

static CACHE: OnceLock<Mutex<Cache>> = OnceLock::new();

/// The cache, locked. A panic while it was held cannot leave it
/// inconsistent in a harmful way (at worst a size count is off), so a
/// poisoned lock is taken over.
pub(crate) fn lock() -> MutexGuard<'static, Cache> {
    CACHE
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Empties the cache (tests and benchmarks measure cold calls with it; a
/// server may call it to give memory back).
pub fn clear_cache() {
    *lock() = Cache::default();
}

impl Cache {
    pub(crate) fn blob(&mut self, oid: Oid) -> Option<CachedBlob> {
        self.clock += 1;
        let clock = self.clock;
        self.blobs.get_mut(&oid).map(|(blob, used)| {
            *used = clock;
            blob.clone()
        })
    }

    pub(crate) fn put_blob(&mut self, oid: Oid, blob: CachedBlob) {
        self.clock += 1;
        let size = blob.text.as_ref().map_or(0, |t| t.len());
        if size > CACHE_MAX_BYTES / 4 {
            return;
        }
        if let Some((old, _)) = self.blobs.insert(oid, (blob, self.clock)) {
            self.text_bytes -= old.text.as_ref().map_or(0, |t| t.len());
        }
        self.text_bytes += size;
        if self.text_bytes > CACHE_MAX_BYTES {
            self.evict_blobs();
        }
    }

    /// Drops the least recently used blobs down to three quarters of the
    /// bound, so eviction (a sort) happens rarely.
    fn evict_blobs(&mut self) {
        let mut by_age: Vec<(u64, Oid)> = self.blobs.iter().map(|(o, (_, u))| (*u, *o)).collect();
        by_age.sort_unstable();
        for (_, oid) in by_age {
            if self.text_bytes <= CACHE_MAX_BYTES / 4 * 3 {
                break;
            }
            if let Some((blob, _)) = self.blobs.remove(&oid) {
                self.text_bytes -= blob.text.as_ref().map_or(0, |t| t.len());
            }
        }
    }

    pub(crate) fn recent(&mut self, commit: Oid) -> Option<Arc<HashMap<String, usize>>> {
        self.clock += 1;
        let clock = self.clock;
        self.recent.get_mut(&commit).map(|(r, used)| {
            *used = clock;
            Arc::clone(r)
        })
    }

    pub(crate) fn put_recent(&mut self, commit: Oid, recent: Arc<HashMap<String, usize>>) {
        self.clock += 1;
        if self.recent.len() >= MAX_COMMITS {
            let oldest = self
                .recent
                .iter()
                .min_by_key(|(_, (_, u))| *u)
                .map(|(o, _)| *o);
            if let Some(oldest) = oldest {
                self.recent.remove(&oldest);
            }
        }
        self.recent.insert(commit, (recent, self.clock));
    }
}
