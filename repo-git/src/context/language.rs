//! A file's language, from its name: a small fixed table, because the map
//! only needs a rough picture of what the repository is made of.

/// Extensions (lowercase, without the dot) and their language.
const BY_EXTENSION: &[(&str, &str)] = &[
    ("bash", "Shell"),
    ("c", "C"),
    ("cc", "C++"),
    ("cjs", "JavaScript"),
    ("clj", "Clojure"),
    ("cpp", "C++"),
    ("cs", "C#"),
    ("css", "CSS"),
    ("cxx", "C++"),
    ("dart", "Dart"),
    ("erl", "Erlang"),
    ("ex", "Elixir"),
    ("exs", "Elixir"),
    ("fs", "F#"),
    ("go", "Go"),
    ("gradle", "Gradle"),
    ("graphql", "GraphQL"),
    ("h", "C"),
    ("hpp", "C++"),
    ("hs", "Haskell"),
    ("htm", "HTML"),
    ("html", "HTML"),
    ("java", "Java"),
    ("js", "JavaScript"),
    ("json", "JSON"),
    ("jsx", "JavaScript"),
    ("kt", "Kotlin"),
    ("kts", "Kotlin"),
    ("less", "CSS"),
    ("lua", "Lua"),
    ("m", "Objective-C"),
    ("md", "Markdown"),
    ("mjs", "JavaScript"),
    ("ml", "OCaml"),
    ("php", "PHP"),
    ("pl", "Perl"),
    ("proto", "Protocol Buffers"),
    ("ps1", "PowerShell"),
    ("py", "Python"),
    ("r", "R"),
    ("rb", "Ruby"),
    ("rs", "Rust"),
    ("rst", "reStructuredText"),
    ("scala", "Scala"),
    ("scss", "CSS"),
    ("sh", "Shell"),
    ("sql", "SQL"),
    ("svelte", "Svelte"),
    ("swift", "Swift"),
    ("tf", "Terraform"),
    ("toml", "TOML"),
    ("ts", "TypeScript"),
    ("tsx", "TypeScript"),
    ("txt", "Text"),
    ("vue", "Vue"),
    ("xml", "XML"),
    ("yaml", "YAML"),
    ("yml", "YAML"),
    ("zig", "Zig"),
    ("zsh", "Shell"),
];

/// Whole file names with a language but no telling extension.
const BY_NAME: &[(&str, &str)] = &[
    ("Dockerfile", "Dockerfile"),
    ("Gemfile", "Ruby"),
    ("Makefile", "Makefile"),
    ("Rakefile", "Ruby"),
    ("justfile", "Makefile"),
    ("makefile", "Makefile"),
];

/// The language of the file at `path`, if the table knows it.
pub(crate) fn language_of(path: &str) -> Option<&'static str> {
    let name = path.rsplit('/').next().unwrap_or(path);
    if let Ok(i) = BY_NAME.binary_search_by(|(n, _)| n.cmp(&name)) {
        return Some(BY_NAME[i].1);
    }
    let (stem, extension) = name.rsplit_once('.')?;
    if stem.is_empty() {
        // A dot file such as `.gitignore` has no extension.
        return None;
    }
    let extension = extension.to_ascii_lowercase();
    BY_EXTENSION
        .binary_search_by(|(e, _)| e.cmp(&extension.as_str()))
        .ok()
        .map(|i| BY_EXTENSION[i].1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_are_sorted_for_binary_search() {
        assert!(BY_EXTENSION.windows(2).all(|w| w[0].0 < w[1].0));
        assert!(BY_NAME.windows(2).all(|w| w[0].0 < w[1].0));
    }

    #[test]
    fn languages_by_extension_and_name() {
        assert_eq!(language_of("src/lib.rs"), Some("Rust"));
        assert_eq!(language_of("web/App.TSX"), Some("TypeScript"));
        assert_eq!(language_of("docker/Dockerfile"), Some("Dockerfile"));
        assert_eq!(language_of("README"), None);
        assert_eq!(language_of(".gitignore"), None);
        assert_eq!(language_of("logo.png"), None);
    }
}
