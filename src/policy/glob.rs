//! Glob patterns as a type: a pattern in a policy is checked when the policy is read, so every
//! later user holds a pattern that is known to compile.

use std::fmt;

use globset::{Glob, GlobBuilder, GlobMatcher};
use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A path or URL glob (`src/auth/**`, `**/*.tm7`, `https://tm.example.com/*`).
///
/// `*` does not cross `/`; `**` does. Matching is case-sensitive, as paths in git are.
#[derive(Clone)]
pub struct GlobPattern {
    text: String,
    glob: Glob,
    matcher: GlobMatcher,
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
            matcher: glob.compile_matcher(),
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
        self.matcher.is_match(candidate)
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
    set: globset::GlobSet,
    patterns: Vec<GlobPattern>,
}

impl GlobList {
    /// Builds the set from patterns that already compiled one by one.
    pub fn new(patterns: &[GlobPattern]) -> Self {
        let mut builder = globset::GlobSetBuilder::new();
        for p in patterns {
            builder.add(p.glob().clone());
        }
        // Each glob compiled on its own, so the set compiles too; fall back to linear
        // matching over the individual matchers if the set ever refused.
        let set = builder
            .build()
            .unwrap_or_else(|_| globset::GlobSet::empty());
        GlobList {
            set,
            patterns: patterns.to_vec(),
        }
    }

    /// True when no pattern is in the list.
    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// Does any pattern match?
    pub fn is_match(&self, candidate: &str) -> bool {
        if self.set.is_empty() && !self.patterns.is_empty() {
            return self.patterns.iter().any(|p| p.is_match(candidate));
        }
        self.set.is_match(candidate)
    }

    /// The first pattern that matches, for explanations.
    pub fn first_match(&self, candidate: &str) -> Option<&GlobPattern> {
        if self.set.is_empty() && !self.patterns.is_empty() {
            return self.patterns.iter().find(|p| p.is_match(candidate));
        }
        self.set
            .matches(candidate)
            .first()
            .and_then(|&i| self.patterns.get(i))
    }
}
