//! `context::choose` on a repository big enough for the threaded search
//! (over 2,000 files), written with git2 directly for speed.

// Fixture helpers outside `#[test]` fns fail loudly on any error too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use git2::{Oid, Repository, Signature};
use repo_git::context::{ContextRequest, choose, clear_cache};

const DIRS: usize = 50;
const FILES: usize = 50;

fn generate(repo: &Repository) -> Oid {
    let mut root = repo.treebuilder(None).unwrap();
    for d in 0..DIRS {
        let mut dir = repo.treebuilder(None).unwrap();
        for f in 0..FILES {
            let mut text = format!("// file {d}/{f}\npub fn f{f}() -> u32 {{ {f} }}\n");
            if d == 3 && f == 7 {
                text.push_str("struct HayStack; // the only one\n");
            }
            if d == DIRS - 1 && f == FILES - 2 {
                text.push_str("// a needle, just one\n");
            }
            let blob = repo.blob(text.as_bytes()).unwrap();
            dir.insert(format!("f{f:02}.rs"), blob, 0o100644).unwrap();
        }
        root.insert(format!("d{d:02}"), dir.write().unwrap(), 0o040000)
            .unwrap();
    }
    let tree = repo.find_tree(root.write().unwrap()).unwrap();
    let signature = Signature::now("Test", "test@example.com").unwrap();
    repo.commit(Some("HEAD"), &signature, &signature, "import", &tree, &[])
        .unwrap()
}

#[test]
fn the_threaded_search_finds_files_in_every_part() {
    let dir = tempfile::tempdir().unwrap();
    let repo = Repository::init(dir.path()).unwrap();
    let head = generate(&repo);
    let request = ContextRequest::from_text("needle HayStack", 10_000, 20);
    let context = choose(&repo, head, &request).unwrap();
    let shown: Vec<&str> = context.files.iter().map(|f| f.path.as_str()).collect();
    // The identifier weighs twice a word; both are equally rare.
    assert_eq!(shown, ["d03/f07.rs", "d49/f48.rs"]);
    assert!(context.files[0].content.contains("HayStack"));
    assert!(context.files[1].content.contains("needle"));
    assert_eq!(context.map.total_files, DIRS * FILES);
    assert_eq!(context.map.entries.len(), 20);

    clear_cache();
    assert_eq!(choose(&repo, head, &request).unwrap(), context);
}
