//! Glob patterns as a type: a pattern in a policy is checked when the policy is read, so every
//! later user holds a pattern that is known to compile.
//!
//! Compiling is the expensive part (a regular expression per pattern, a regex set per list),
//! so it happens once: a pattern compiles its own matcher on first use, and a list's set is
//! kept in a small process-wide cache keyed by the patterns' text. The gates of one evaluation
//! share the policy's `security_paths`, and the service evaluates the same policy again and
//! again, so each distinct list is compiled once per process instead of once per gate and
//! evaluation.

use std::fmt;
use std::sync::{Arc, OnceLock};

use globset::{Glob, GlobBuilder, GlobMatcher};
use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::recent::Recent;

/// A path or URL glob (`src/auth/**`, `**/*.tm7`, `https://tm.example.com/*`).
///
/// `*` does not cross `/`; `**` does. Matching is case-sensitive, as paths in git are.
#[derive(Clone)]
pub struct GlobPattern {
    text: String,
    glob: Glob,
    /// Compiled on first use: most patterns are only ever matched through a [`GlobList`].
    matcher: OnceLock<GlobMatcher>,
}

/// A glob that does not compile.
#[derive(Debug, thiserror::Error)]
#[error("invalid glob `{pattern}`: {reason}")]
pub struct GlobError {
    /// The pattern as written.
    pub pattern: String,
    /// What is wrong with it.
    pub reason: String,
}

fn build(text: &str) -> Result<Glob, globset::Error> {
    GlobBuilder::new(text)
        .literal_separator(true)
        .backslash_escape(true)
        .build()
}

impl GlobPattern {
    /// Compiles a pattern.
    pub fn new(text: &str) -> Result<Self, GlobError> {
        if text.is_empty() {
            return Err(GlobError {
                pattern: String::new(),
                reason: "empty pattern".into(),
            });
        }
        let glob = build(text).map_err(|e| GlobError {
            pattern: text.to_string(),
            reason: e.kind().to_string(),
        })?;
        Ok(GlobPattern {
            text: text.to_string(),
            matcher: OnceLock::new(),
            glob,
        })
    }

    /// Compiles a pattern written in this crate's source; panics on a typo there (a
    /// programming error caught by the default-policy tests, never by user input).
    pub(crate) fn new_unchecked(text: &str) -> Self {
        match GlobPattern::new(text) {
            Ok(g) => g,
            Err(e) => panic!("built-in glob does not compile: {e}"),
        }
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The compiled glob, for building sets.
    pub fn glob(&self) -> &Glob {
        &self.glob
    }

    /// Does `candidate` match?
    pub fn is_match(&self, candidate: &str) -> bool {
        self.matcher
            .get_or_init(|| self.glob.compile_matcher())
            .is_match(candidate)
    }
}

impl PartialEq for GlobPattern {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl fmt::Debug for GlobPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.text)
    }
}

impl fmt::Display for GlobPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Serialize for GlobPattern {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for GlobPattern {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        GlobPattern::new(&text).map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for GlobPattern {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "GlobPattern".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "minLength": 1,
            "description": "A glob: `*` matches within one path segment, `**` across segments, `?` one character, `[ab]` a class, `{a,b}` alternatives."
        })
    }
}

/// A compiled set of patterns, for matching many paths against many globs fast.
#[derive(Debug, Clone)]
pub struct GlobList {
    set: Arc<SetMatcher>,
    patterns: Vec<GlobPattern>,
}

/// The patterns of a list as one automaton. globset would give each `**/*.ext`-style pattern
/// its own regex and try them one by one (200 patterns: 200 regex compilations at load and up
/// to 200 regex runs per path); one regex set over the same regexes (each glob's own, from
/// `Glob::regex`) compiles once and answers "any match?" in one pass.
#[derive(Debug)]
enum SetMatcher {
    /// The usual case.
    Regex(regex::bytes::RegexSet),
    /// The regex set refused (a size limit): globset's own set.
    Glob(globset::GlobSet),
    /// Neither compiled: each pattern's own matcher, one by one.
    Each,
}

/// How many distinct compiled lists the process keeps (a policy has a handful; the service
/// sees one policy per repository).
const COMPILED_SETS: usize = 64;

/// Compiled sets by the patterns' text.
fn compiled_sets() -> &'static Recent<Vec<String>, Arc<SetMatcher>> {
    static CACHE: OnceLock<Recent<Vec<String>, Arc<SetMatcher>>> = OnceLock::new();
    CACHE.get_or_init(|| Recent::new(COMPILED_SETS))
}

/// The compiled set for `patterns`, from the cache or compiled now.
fn compiled_set(patterns: &[GlobPattern]) -> Arc<SetMatcher> {
    let key: Vec<String> = patterns.iter().map(|p| p.text.clone()).collect();
    if let Some(set) = compiled_sets().get(&key) {
        return set;
    }
    let set = Arc::new(
        match regex::bytes::RegexSet::new(patterns.iter().map(|p| p.glob().regex())) {
            Ok(set) => SetMatcher::Regex(set),
            Err(_) => {
                let mut builder = globset::GlobSetBuilder::new();
                for p in patterns {
                    builder.add(p.glob().clone());
                }
                match builder.build() {
                    Ok(set) => SetMatcher::Glob(set),
                    Err(_) => SetMatcher::Each,
                }
            }
        },
    );
    compiled_sets().put(key, set.clone());
    set
}

impl GlobList {
    /// Builds the set from patterns that already compiled one by one (compiled once per
    /// distinct list in this process; see the module documentation).
    pub fn new(patterns: &[GlobPattern]) -> Self {
        GlobList {
            set: compiled_set(patterns),
            patterns: patterns.to_vec(),
        }
    }

    /// True when no pattern is in the list.
    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// Does any pattern match?
    pub fn is_match(&self, candidate: &str) -> bool {
        match &*self.set {
            SetMatcher::Regex(set) => set.is_match(candidate.as_bytes()),
            SetMatcher::Glob(set) => set.is_match(candidate),
            SetMatcher::Each => self.patterns.iter().any(|p| p.is_match(candidate)),
        }
    }

    /// The first pattern that matches, for explanations.
    pub fn first_match(&self, candidate: &str) -> Option<&GlobPattern> {
        let first = match &*self.set {
            SetMatcher::Regex(set) => set.matches(candidate.as_bytes()).iter().next(),
            SetMatcher::Glob(set) => set.matches(candidate).first().copied(),
            SetMatcher::Each => return self.patterns.iter().find(|p| p.is_match(candidate)),
        };
        first.and_then(|i| self.patterns.get(i))
    }
}

#[cfg(test)]
mod tests {
    //! The compiled-set cache must never change an answer: a list is matched by its own
    //! patterns, whatever was compiled before it and however often the cache turned over.

    use super::*;

    fn list(patterns: &[&str]) -> GlobList {
        let compiled: Vec<GlobPattern> = patterns
            .iter()
            .map(|p| GlobPattern::new(p).unwrap_or_else(|e| panic!("{e}")))
            .collect();
        GlobList::new(&compiled)
    }

    #[test]
    fn the_set_answers_as_each_pattern_does() {
        let patterns = [
            "src/auth/**",
            "**/*.tm7",
            "docs/threat-model/*.md",
            "src/{crypto,tls}/**/*.rs",
            "lib/[abc]?.c",
            "**/Cargo.lock",
            "*.yml",
            "büro/**",
            "a\\*b",
            "**",
        ];
        let paths = [
            "src/auth/login.rs",
            "src/auth",
            "x/y/model.tm7",
            "model.tm7",
            "docs/threat-model/tm.md",
            "docs/threat-model/sub/tm.md",
            "src/tls/x/y.rs",
            "src/crypto/aes.rs",
            "src/crypto/aes.c",
            "lib/a1.c",
            "lib/d1.c",
            "lib/a12.c",
            "Cargo.lock",
            "x/Cargo.lock",
            "ci.yml",
            ".github/ci.yml",
            "büro/plan.md",
            "a*b",
            "axb",
            "",
        ];
        // Every pair of patterns (and each alone), against every path.
        let compiled: Vec<GlobPattern> = patterns
            .iter()
            .map(|p| GlobPattern::new(p).unwrap_or_else(|e| panic!("{p}: {e}")))
            .collect();
        for i in 0..compiled.len() {
            for j in i..compiled.len() {
                let subset = vec![compiled[i].clone(), compiled[j].clone()];
                let set = GlobList::new(&subset);
                assert!(matches!(*set.set, SetMatcher::Regex(_)), "one regex set");
                for path in paths {
                    let each = subset.iter().find(|p| p.is_match(path));
                    assert_eq!(
                        set.is_match(path),
                        each.is_some(),
                        "{:?} on {path:?}",
                        [patterns[i], patterns[j]]
                    );
                    assert_eq!(
                        set.first_match(path).map(GlobPattern::as_str),
                        each.map(GlobPattern::as_str),
                        "{:?} on {path:?}",
                        [patterns[i], patterns[j]]
                    );
                }
            }
        }
    }

    #[test]
    fn lists_with_different_patterns_do_not_share_a_compiled_set() {
        let auth = list(&["src/auth/**"]);
        let crypto = list(&["src/crypto/**"]);
        assert!(auth.is_match("src/auth/login.rs"));
        assert!(!auth.is_match("src/crypto/aes.rs"));
        assert!(crypto.is_match("src/crypto/aes.rs"));
        assert!(!crypto.is_match("src/auth/login.rs"));
        // Same patterns in another order: another list, and first_match names its own order.
        let both = list(&["src/**", "src/auth/**"]);
        let reversed = list(&["src/auth/**", "src/**"]);
        assert_eq!(
            both.first_match("src/auth/x.rs").map(GlobPattern::as_str),
            Some("src/**")
        );
        assert_eq!(
            reversed
                .first_match("src/auth/x.rs")
                .map(GlobPattern::as_str),
            Some("src/auth/**")
        );
    }

    #[test]
    fn answers_survive_the_cache_turning_over() {
        let first = list(&["keep/**"]);
        for i in 0..(COMPILED_SETS * 2) {
            let other = list(&[&format!("dir{i}/*.rs")]);
            assert!(other.is_match(&format!("dir{i}/a.rs")));
            assert!(!other.is_match("keep/a.rs"));
        }
        assert!(first.is_match("keep/x/y"));
        let again = list(&["keep/**"]);
        assert!(again.is_match("keep/x/y"));
        assert!(!again.is_match("dir0/a.rs"));
    }

    #[test]
    fn a_single_pattern_compiles_its_matcher_on_first_use_only() {
        let p = GlobPattern::new("docs/**/*.md").unwrap_or_else(|e| panic!("{e}"));
        assert!(p.matcher.get().is_none(), "not compiled by parsing");
        assert!(p.is_match("docs/a/b.md"));
        assert!(p.matcher.get().is_some());
        assert!(!p.is_match("docs/a/b.rs"));
    }
}
