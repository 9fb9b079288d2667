use super::*;

fn one_file(raw: &str) -> ProposedFile {
    let out = CoderOutput::parse(raw);
    assert_eq!(out.files.len(), 1, "files in {out:#?}");
    out.files[0].clone()
}

#[test]
fn path_in_the_info_string() {
    let f = one_file("Here:\n```rust src/main.rs\nfn main() {}\n```\nDone.");
    assert_eq!(f.path, "src/main.rs");
    assert_eq!(f.language.as_deref(), Some("rust"));
    assert_eq!(f.content, "fn main() {}\n");
    assert!(!f.truncated);
}

#[test]
fn path_as_info_attributes() {
    for raw in [
        "```rust title=\"src/main.rs\"\nx\n```",
        "```path=src/main.rs\nx\n```",
        "```rust file=src/main.rs\nx\n```",
        "```rust:src/main.rs\nx\n```",
        "~~~rust src/main.rs\nx\n~~~",
    ] {
        assert_eq!(one_file(raw).path, "src/main.rs", "{raw}");
    }
    assert_eq!(
        one_file("```path=src/main.rs\nx\n```").language,
        None,
        "an attribute alone gives no language"
    );
}

#[test]
fn path_on_the_preceding_line() {
    for marker in [
        "File: src/main.rs",
        "file: `src/main.rs`",
        "**File:** `src/main.rs`",
        "// src/main.rs",
        "**src/main.rs**",
        "### src/main.rs",
        "`src/main.rs`",
        "- src/main.rs",
    ] {
        let raw = format!("Intro.\n\n{marker}\n```rust\nfn main() {{}}\n```\n");
        let out = CoderOutput::parse(&raw);
        assert_eq!(out.files.len(), 1, "{marker}");
        assert_eq!(out.files[0].path, "src/main.rs", "{marker}");
        // A line that only named the file is not left dangling in the prose.
        assert_eq!(out.prose, "Intro.", "{marker}");
    }
}

#[test]
fn a_sentence_ending_in_a_quoted_path_names_the_block_and_stays() {
    let out = CoderOutput::parse("Update `src/lib.rs` as follows:\n```rust\npub fn a() {}\n```");
    assert_eq!(out.files[0].path, "src/lib.rs");
    assert_eq!(out.prose, "Update `src/lib.rs` as follows:");
}

#[test]
fn first_line_comment_names_the_block() {
    let f = one_file("```python\n# app/models.py\nclass A: pass\n```");
    assert_eq!(f.path, "app/models.py");
    assert!(f.content.starts_with("# app/models.py\n"));
    let f = one_file("```html\n<!-- web/index.html -->\n<p>hi</p>\n```");
    assert_eq!(f.path, "web/index.html");
}

#[test]
fn a_marker_before_an_earlier_block_does_not_name_a_later_one() {
    let raw = "File: a.rs\n```rust\nA\n```\n```rust\nB\n```";
    let out = CoderOutput::parse(raw);
    assert_eq!(out.files.len(), 1);
    assert_eq!(out.files[0].path, "a.rs");
    assert!(out.prose.contains("B"), "the pathless block stays prose");
}

#[test]
fn blocks_without_a_path_stay_in_the_prose() {
    let raw = "Run this:\n```bash\ncargo test\n```\nThen check.";
    let out = CoderOutput::parse(raw);
    assert!(out.files.is_empty());
    assert_eq!(out.prose, raw);
    assert!(out.warnings.is_empty());
}

#[test]
fn headings_and_words_are_not_paths() {
    let out = CoderOutput::parse("### Step 1\n```rust\nfn x() {}\n```");
    assert!(out.files.is_empty());
    let out = CoderOutput::parse("Version 1.2.3\n```\nx\n```");
    assert!(out.files.is_empty());
}

#[test]
fn traversal_and_absolute_paths_are_refused() {
    for raw in [
        "```rust ../../etc/passwd\nroot\n```",
        "File: /etc/passwd\n```\nroot\n```",
        "```path=C:\\Windows\\win.ini\nx\n```",
        "```sh ~/.bashrc\nx\n```",
        "```rust src/../../x.rs\nx\n```",
    ] {
        let out = CoderOutput::parse(raw);
        assert!(out.files.is_empty(), "{raw}");
        assert_eq!(out.warnings.len(), 1, "{raw}");
        assert!(
            out.prose.contains("```"),
            "the block is kept as prose: {raw}"
        );
    }
}

#[test]
fn paths_are_normalised() {
    assert_eq!(normalise_path("./src//main.rs").unwrap(), "src/main.rs");
    assert_eq!(
        normalise_path("src\\lib\\mod.rs").unwrap(),
        "src/lib/mod.rs"
    );
    assert_eq!(normalise_path("..\\x"), Err(UnsafePath::Traversal));
    assert_eq!(normalise_path("/x"), Err(UnsafePath::Absolute));
    assert_eq!(normalise_path("c:/x"), Err(UnsafePath::Absolute));
    assert_eq!(normalise_path(" ./ "), Err(UnsafePath::Empty));
    assert_eq!(
        normalise_path("a\u{0}b"),
        Err(UnsafePath::ControlCharacters)
    );
    // `..` inside a name is not traversal.
    assert_eq!(normalise_path("a..b/c").unwrap(), "a..b/c");
}

#[test]
fn unclosed_fence_keeps_the_content_and_marks_truncation() {
    let out = CoderOutput::parse("```rust src/main.rs\nfn main() {\n    let x =");
    assert!(out.truncated);
    assert_eq!(out.files[0].content, "fn main() {\n    let x =\n");
    assert!(out.files[0].truncated);
    assert_eq!(out.warnings.len(), 1);
    let out = CoderOutput::parse("text\n```bash\necho");
    assert!(out.truncated);
    assert!(out.prose.contains("echo"));
}

#[test]
fn longer_fences_contain_shorter_ones() {
    let raw = "````markdown README.md\n```rust\nfn a() {}\n```\n````";
    let f = one_file(raw);
    assert_eq!(f.path, "README.md");
    assert_eq!(f.content, "```rust\nfn a() {}\n```\n");
}

#[test]
fn indented_fences_lose_their_indent() {
    let f = one_file("1. Create it:\n   ```rust src/a.rs\n   fn a() {\n       b();\n   }\n   ```");
    assert_eq!(f.content, "fn a() {\n    b();\n}\n");
}

#[test]
fn a_file_proposed_twice_keeps_the_last_version() {
    let out = CoderOutput::parse("```rust a.rs\n1\n```\n```rust a.rs\n2\n```");
    assert_eq!(out.files.len(), 1);
    assert_eq!(out.files[0].content, "2\n");
    assert_eq!(out.warnings.len(), 1);
}

#[test]
fn diff_blocks_become_patches() {
    let raw = "Fix:\n```diff\n--- a/src/a.rs\n+++ b/src/a.rs\n@@ -1,2 +1,2 @@\n fn a() {}\n-fn b() {}\n+fn c() {}\n--- a/src/b.rs\n+++ b/src/b.rs\n@@ -3 +3 @@\n-x\n+y\n```\nThat's it.";
    let out = CoderOutput::parse(raw);
    assert!(out.files.is_empty());
    assert_eq!(out.patches.len(), 2);
    assert_eq!(out.patches[0].path, "src/a.rs");
    assert_eq!(out.patches[0].hunks[0].old_start, 1);
    assert_eq!(out.patches[1].path, "src/b.rs");
    assert_eq!(out.prose, "Fix:\nThat's it.");
}

#[test]
fn diff_block_with_path_in_info_and_no_headers() {
    let out = CoderOutput::parse("```diff src/x.rs\n@@ -1 +1 @@\n-a\n+b\n```");
    assert_eq!(out.patches.len(), 1);
    assert_eq!(out.patches[0].path, "src/x.rs");
}

#[test]
fn an_unlabelled_block_holding_a_diff_is_a_patch() {
    let out = CoderOutput::parse("```\n--- a/x.txt\n+++ b/x.txt\n@@ -1 +1 @@\n-a\n+b\n```");
    assert_eq!(out.patches.len(), 1);
}

#[test]
fn bare_diffs_in_prose_are_split_per_file() {
    let raw = "Apply:\ndiff --git a/a.txt b/a.txt\n--- a/a.txt\n+++ b/a.txt\n@@ -1 +1 @@\n-a\n+b\n--- a/b.txt\n+++ b/b.txt\n@@ -1,2 +1,2 @@\n x\n-y\n+z\nNotes after.";
    let out = CoderOutput::parse(raw);
    assert_eq!(out.patches.len(), 2);
    assert_eq!(out.patches[1].path, "b.txt");
    assert_eq!(out.patches[1].hunks[0].lines, vec![" x", "-y", "+z"]);
    assert_eq!(out.prose, "Apply:\nNotes after.");
}

#[test]
fn patches_with_unsafe_paths_become_prose() {
    let out =
        CoderOutput::parse("--- a/../../etc/passwd\n+++ b/../../etc/passwd\n@@ -1 +1 @@\n-a\n+b\n");
    assert!(out.patches.is_empty());
    assert_eq!(out.warnings.len(), 1);
    assert!(out.prose.contains("+b"));
}

#[test]
fn a_bare_rule_line_is_not_a_diff() {
    let raw = "--- \nsome text\n+++ more";
    let out = CoderOutput::parse(raw);
    assert!(out.patches.is_empty());
    assert_eq!(out.prose, raw);
}

#[test]
fn self_reported_confidence_forms() {
    let cases: &[(&str, f64)] = &[
        ("Confidence: 0.8", 0.8),
        ("**Confidence:** 0.72", 0.72),
        ("## Confidence\n\n0.72", 0.72),
        ("- confidence = 85%", 0.85),
        ("Confidence score: 8/10", 0.8),
        ("Confidence: 90", 0.9),
        ("Confidence: 1.4", 1.0),
        ("{\"confidence\": 0.9, \"notes\": \"x\"}", 0.9),
        ("{\"Confidence\": \"0.65\"}", 0.65),
        ("Confidence: high", 0.8),
        ("Confidence: 0.5\n...\nConfidence: 0.7", 0.7),
    ];
    for (text, want) in cases {
        let got = parse_self_reported_confidence(text);
        assert!(
            got.is_some_and(|g| (g - want).abs() < 1e-9),
            "{text:?}: {got:?}"
        );
    }
    assert_eq!(parse_self_reported_confidence("no number here"), None);
    assert_eq!(parse_self_reported_confidence("Confidence: unknown"), None);
    assert_eq!(parse_self_reported_confidence("confidence: 5/0"), None);
}

#[test]
fn coder_output_reads_confidence_from_prose_not_from_files() {
    let raw = "```python conf.py\nconfidence: 0.1\n```\nConfidence: 0.9";
    assert_eq!(CoderOutput::parse(raw).self_reported_confidence, Some(0.9));
}

#[test]
fn review_verdict_lines() {
    let cases = [
        ("Verdict: approve", ReviewVerdict::Approve),
        ("**Verdict:** Approved", ReviewVerdict::Approve),
        ("VERDICT: REQUEST CHANGES", ReviewVerdict::RequestChanges),
        ("Verdict: request_changes", ReviewVerdict::RequestChanges),
        ("## Verdict\nReject", ReviewVerdict::Reject),
        ("{\"verdict\": \"reject\"}", ReviewVerdict::Reject),
        (
            "{\"verdict\": \"request-changes\"}",
            ReviewVerdict::RequestChanges,
        ),
        ("Decision: LGTM", ReviewVerdict::Approve),
    ];
    for (text, want) in cases {
        assert_eq!(Review::parse(text).map(|r| r.verdict), Some(want), "{text}");
    }
    assert_eq!(Review::parse("Looks fine to me."), None);
    assert_eq!(Review::parse("Verdict: maybe"), None);
}

#[test]
fn review_issues_and_confidence() {
    let text = "Verdict: request changes\n\nIssues:\n- missing error handling in `load`\n- no test for empty input\n\n1. naming\nSummary follows.\nConfidence: 0.7";
    let r = Review::parse(text).unwrap();
    assert_eq!(r.verdict, ReviewVerdict::RequestChanges);
    assert_eq!(
        r.issues,
        vec![
            "missing error handling in `load`",
            "no test for empty input",
            "naming"
        ]
    );
    assert_eq!(r.self_reported_confidence, Some(0.7));
}

#[test]
fn review_issues_from_json() {
    let text = r#"{"verdict": "reject", "issues": ["drops the table", "say \"no\""]}"#;
    let r = Review::parse(text).unwrap();
    assert_eq!(r.issues, vec!["drops the table", "say \"no\""]);
    let r = Review::parse("Verdict: approve\n### Issues\nNone found.").unwrap();
    assert!(r.issues.is_empty());
}

#[test]
fn verdict_serialises_snake_case() {
    assert_eq!(ReviewVerdict::RequestChanges.as_str(), "request_changes");
    assert_eq!(
        ReviewVerdict::from_word("Rejected."),
        Some(ReviewVerdict::Reject)
    );
}

#[test]
fn a_realistic_answer() {
    let raw = "I'll add a health endpoint.\n\n**File: `server/src/health.rs`**\n```rust\npub async fn health() -> &'static str {\n    \"ok\"\n}\n```\n\nThen wire it up:\n\n```diff\ndiff --git a/server/src/main.rs b/server/src/main.rs\n--- a/server/src/main.rs\n+++ b/server/src/main.rs\n@@ -10,6 +10,7 @@ fn router() -> Router {\n     Router::new()\n         .route(\"/\", get(index))\n+        .route(\"/health\", get(health::health))\n         .with_state(state)\n\n }\n \n```\n\nRun `cargo test` afterwards.\n\n## Confidence\n0.82\n";
    let out = CoderOutput::parse(raw);
    assert_eq!(out.files.len(), 1);
    assert_eq!(out.files[0].path, "server/src/health.rs");
    assert_eq!(out.patches.len(), 1);
    let hunk = &out.patches[0].hunks[0];
    assert_eq!(
        (
            hunk.old_start,
            hunk.old_count,
            hunk.new_start,
            hunk.new_count
        ),
        (10, 6, 10, 7)
    );
    assert_eq!(hunk.lines.len(), 7);
    assert_eq!(out.self_reported_confidence, Some(0.82));
    assert!(!out.truncated);
    assert!(out.warnings.is_empty(), "{:?}", out.warnings);
    assert!(out.prose.starts_with("I'll add a health endpoint."));
    assert!(!out.prose.contains("File:"));
    assert!(out.prose.contains("Then wire it up:"));
}

/// Truncation can cut an answer anywhere: no prefix may panic.
#[test]
fn every_prefix_parses_without_panicking() {
    let raw = "Voilà — ✓\nFile: src/é.rs\n```rust\nfn é() {}\n```\n--- a/x\n+++ b/x\n@@ -1,2 +1,2 @@\n a\n-b\n+ç\nVerdict: approve\nIssues:\n- ünïcode\nConfidence: 80%\n{\"verdict\": \"reject\", \"issues\": [\"a\\\"";
    for (end, _) in raw.char_indices() {
        let prefix = &raw[..end];
        let _ = CoderOutput::parse(prefix);
        let _ = Review::parse(prefix);
        let _ = crate::band::safety::scan(prefix);
    }
}
