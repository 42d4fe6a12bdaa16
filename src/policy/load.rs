//! Reading a policy from YAML text, with errors that name the file, line and column.
//!
//! Three passes, all pure:
//! 1. limits: at most [`MAX_POLICY_BYTES`]; serde-saphyr runs with a tight [`Budget`] (nesting
//!    depth, nodes, aliases and alias replay), so a YAML bomb or a deeply nested file ends in a
//!    clean error, never a panic, a stack overflow or an allocation storm;
//! 2. strict typing: serde-saphyr deserializes into [`Policy`] (`deny_unknown_fields`
//!    everywhere) and its error, which carries a location, becomes a [`PolicyError`] with a
//!    "did you mean" for misspelt keys and values;
//! 3. semantics: [`super::validate`] checks what types cannot (approvals ≥ 1, somebody can
//!    satisfy the review gate, reasons on ignores…); a position index of the text
//!    ([`super::positions`]) gives those errors the line and column of the key at fault.
//!
//! [`Budget`]: serde_saphyr::Budget

use std::fmt::{self, Write as _};
use std::sync::OnceLock;

use chrono::NaiveDate;
use serde_saphyr::Error as YamlError;

use super::model::Policy;
use super::positions::{Pos, PositionIndex, display_path};
use super::suggest::did_you_mean;
use super::validate::{At, Issue, Level, validate};

/// Largest policy file accepted, in bytes (1 MiB; real policies are a few KiB).
pub const MAX_POLICY_BYTES: usize = 1024 * 1024;

/// How messages name the root mapping.
const TOP_LEVEL: &str = "the top level";

/// Deepest nesting of mappings and sequences accepted. The policy itself nests six levels.
pub const MAX_POLICY_DEPTH: usize = 24;

/// A policy that cannot be used, with where and why.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub struct PolicyError {
    /// The file name as given.
    pub file: String,
    /// 1-based line (0 when the error is about the file as a whole).
    pub line: usize,
    /// 1-based column (0 when unknown).
    pub column: usize,
    /// What is wrong.
    pub message: String,
    /// The closest valid key, for a misspelt one.
    pub suggestion: Option<String>,
}

/// Writes `file:line:col: `, leaving out what is unknown.
fn write_location(
    f: &mut fmt::Formatter<'_>,
    file: &str,
    line: usize,
    column: usize,
) -> fmt::Result {
    match (line, column) {
        (0, _) => write!(f, "{file}: "),
        (l, 0) => write!(f, "{file}:{l}: "),
        (l, c) => write!(f, "{file}:{l}:{c}: "),
    }
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_location(f, &self.file, self.line, self.column)?;
        f.write_str(&self.message)?;
        if let Some(s) = &self.suggestion {
            write!(f, " (did you mean `{s}`?)")?;
        }
        Ok(())
    }
}

/// Something worth fixing in a policy that still loads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyWarning {
    /// The file name as given.
    pub file: String,
    /// 1-based line (0 when about the file as a whole).
    pub line: usize,
    /// 1-based column (0 when unknown).
    pub column: usize,
    /// What is worth fixing.
    pub message: String,
}

impl fmt::Display for PolicyWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_location(f, &self.file, self.line, self.column)?;
        write!(f, "warning: {}", self.message)
    }
}

/// A policy that loaded, with the warnings found on the way.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyReport {
    /// The policy.
    pub policy: Policy,
    /// Warnings, in file order.
    pub warnings: Vec<PolicyWarning>,
}

/// Every error of a policy that did not load, in file order (never empty).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub struct PolicyErrors(pub Vec<PolicyError>);

impl fmt::Display for PolicyErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

/// Parses and validates a policy; the first error (in file order, errors about the file as a
/// whole last) when it is not usable.
pub fn parse_policy(file: &str, text: &str) -> Result<Policy, PolicyError> {
    match check_policy(file, text, None) {
        Ok(report) => Ok(report.policy),
        Err(mut errors) => Err(if errors.0.is_empty() {
            // check_policy never returns an empty list; stay closed if it ever did.
            file_error(file, "policy rejected".into())
        } else {
            errors.0.swap_remove(0)
        }),
    }
}

/// Parses and validates a policy, returning every semantic error (a syntax or type error
/// stops the parse, so it comes alone) or the policy with its warnings. With `today`, ignore
/// entries are also checked against the date (expired, or more than a year ahead).
pub fn check_policy(
    file: &str,
    text: &str,
    today: Option<NaiveDate>,
) -> Result<PolicyReport, PolicyErrors> {
    if text.len() > MAX_POLICY_BYTES {
        return Err(PolicyErrors(vec![file_error(
            file,
            format!(
                "policy file is {} bytes; the limit is {MAX_POLICY_BYTES} bytes",
                text.len()
            ),
        )]));
    }
    let policy = match serde_saphyr::from_str_with_options::<Policy>(text, options()) {
        Ok(p) => p,
        Err(e) => {
            let index = PositionIndex::build(text);
            if !index.has_content() {
                return Err(PolicyErrors(vec![file_error(
                    file,
                    "policy file is empty; it needs at least `version: 1`".into(),
                )]));
            }
            return Err(PolicyErrors(vec![yaml_error(file, &e, &index)]));
        }
    };
    let index = PositionIndex::build(text);
    let mut errors = Vec::new();
    let mut warnings = Vec::new();
    for issue in validate(&policy, &index, today) {
        let (pos, exact) = locate(&index, &issue);
        let (line, column) = pos.map_or((0, 0), |p| (p.line, p.column));
        let message = if exact {
            issue.message
        } else {
            // The value is a default: say where it would be written.
            format!("{} (at `{}`)", issue.message, display_path(&issue.path))
        };
        match issue.level {
            Level::Error => errors.push(PolicyError {
                file: file.to_string(),
                line,
                column,
                message,
                suggestion: issue.suggestion,
            }),
            Level::Warning => warnings.push(PolicyWarning {
                file: file.to_string(),
                line,
                column,
                message,
            }),
        }
    }
    if errors.is_empty() {
        // File order; issues about the file as a whole (line 0) come last.
        warnings.sort_by_key(|w| (w.line == 0, w.line, w.column));
        Ok(PolicyReport { policy, warnings })
    } else {
        errors.sort_by_key(|e| (e.line == 0, e.line, e.column));
        Err(PolicyErrors(errors))
    }
}

/// The position of an issue, and whether it is the issue's own key (not an ancestor's).
fn locate(index: &PositionIndex, issue: &Issue) -> (Option<Pos>, bool) {
    match index.get(&issue.path) {
        Some(e) => (
            Some(match issue.at {
                At::Key => e.key,
                At::Value => e.value,
            }),
            true,
        ),
        None => (index.nearest(&issue.path).map(|e| e.key), false),
    }
}

/// Deserializer settings: strict limits for a file that is a few KiB in practice.
fn options() -> serde_saphyr::Options {
    serde_saphyr::options! {
        budget: serde_saphyr::budget! {
            max_reader_input_bytes: Some(MAX_POLICY_BYTES),
            max_events: 200_000,
            max_aliases: 256,
            max_anchors: 256,
            max_recorded_anchor_events: 10_000,
            max_recorded_anchor_bytes: MAX_POLICY_BYTES,
            max_depth: MAX_POLICY_DEPTH,
            max_documents: 1,
            max_nodes: 100_000,
            max_total_scalar_bytes: MAX_POLICY_BYTES,
            max_merge_keys: 64,
        },
        alias_limits: serde_saphyr::alias_limits! {
            max_total_replayed_events: 5_000,
            max_replay_stack_depth: 16,
            max_alias_expansions_per_anchor: 256,
        },
    }
}

fn file_error(file: &str, message: String) -> PolicyError {
    PolicyError {
        file: file.to_string(),
        line: 0,
        column: 0,
        message,
        suggestion: None,
    }
}

/// The innermost error, without snippet or alias wrappers.
fn innermost(e: &YamlError) -> &YamlError {
    let mut cur = e.without_snippet();
    while let YamlError::AliasError { error, .. } = cur {
        cur = error.without_snippet();
    }
    cur
}

/// The section a key at `pos` sits in (`gates.security_review`), or "the top level".
fn section_of_key(index: &PositionIndex, pos: Pos) -> String {
    match index.key_at(pos) {
        Some(e) if e.path.len() > 1 => {
            format!(
                "`{}`",
                display_path(e.path.get(..e.path.len() - 1).unwrap_or(&[]))
            )
        }
        _ => TOP_LEVEL.to_string(),
    }
}

/// The path of the value at `pos`, for messages.
fn value_path(index: &PositionIndex, pos: Pos) -> Option<String> {
    index
        .value_at(pos)
        .or_else(|| index.enclosing(pos))
        .map(|e| display_path(&e.path))
}

/// Turns a deserializer error into a [`PolicyError`] at its location.
fn yaml_error(file: &str, err: &YamlError, index: &PositionIndex) -> PolicyError {
    let inner = innermost(err);
    let pos = err
        .location()
        .or_else(|| inner.location())
        .filter(|l| l.line() > 0)
        .map(|l| Pos {
            line: usize::try_from(l.line()).unwrap_or(0),
            column: usize::try_from(l.column()).unwrap_or(0),
        });
    let at = |pos: Option<Pos>| -> Option<String> { pos.and_then(|p| value_path(index, p)) };
    let mut suggestion = None;
    let message = match inner {
        YamlError::SerdeUnknownField {
            field, expected, ..
        } => {
            suggestion = did_you_mean(field, expected.iter().copied()).map(str::to_string);
            let section =
                pos.map_or_else(|| TOP_LEVEL.to_string(), |p| section_of_key(index, p));
            // A key misplaced in the policy is pointed to the policy's sections, one misplaced
            // under `floor` to the floor's (which repeat many of the policy's keys).
            let in_floor = section.starts_with("`floor");
            let homes: Vec<String> = key_homes()
                .iter()
                .filter(|(k, home)| k == field && (home.starts_with("floor") == in_floor))
                .map(|(_, home)| {
                    if home == TOP_LEVEL {
                        home.clone()
                    } else {
                        format!("`{home}`")
                    }
                })
                .filter(|home| *home != section)
                .collect();
            let mut msg = format!("unknown key `{field}` in {section}");
            if homes.len() > 3 {
                let _ = write!(
                    msg,
                    "; `{field}` belongs in one of {} sections, e.g. {}",
                    homes.len(),
                    homes.first().map_or("", String::as_str)
                );
            } else if !homes.is_empty() {
                let _ = write!(msg, "; `{field}` belongs in {}", homes.join(" or "));
            } else if suggestion.is_none() {
                let _ = write!(msg, "; valid keys: {}", expected.join(", "));
            }
            msg
        }
        YamlError::SerdeUnknownVariant {
            variant, expected, ..
        } => {
            suggestion = did_you_mean(variant, expected.iter().copied()).map(str::to_string);
            let what = at(pos).map(|p| format!(" for `{p}`")).unwrap_or_default();
            format!(
                "unknown value `{variant}`{what}; expected one of: {}",
                expected.join(", ")
            )
        }
        YamlError::SerdeInvalidType {
            unexpected,
            expected,
            ..
        } => {
            let what = at(pos).map(|p| format!(" for `{p}`")).unwrap_or_default();
            format!("wrong type{what}: expected {expected}, found {unexpected}")
        }
        YamlError::SerdeInvalidValue {
            unexpected,
            expected,
            ..
        } => {
            let what = at(pos).map(|p| format!(" for `{p}`")).unwrap_or_default();
            format!("invalid value{what}: expected {expected}, found {unexpected}")
        }
        YamlError::SerdeMissingField { field, .. } => {
            let what = pos
                .and_then(|p| mapping_at(index, p))
                .map(|p| format!(" in `{p}`"))
                .unwrap_or_else(|| " at the top level".to_string());
            format!("missing required key `{field}`{what}")
        }
        YamlError::DuplicateMappingKey { key, .. } => match key {
            Some(k) => format!("duplicate key `{k}`"),
            None => "duplicate key".to_string(),
        },
        YamlError::Message { msg, .. } => {
            let path = at(pos);
            let what = path.as_ref().map(|p| format!(" for `{p}`")).unwrap_or_default();
            if path.as_deref().is_some_and(|p| p.ends_with("until")) {
                format!("invalid date{what}: {msg}; write a real calendar date as YYYY-MM-DD")
            } else if msg.contains("recursion limit") {
                format!("policy file nests too deeply ({msg})")
            } else {
                format!("invalid value{what}: {msg}")
            }
        }
        YamlError::Budget { breach, .. } => budget_message(breach),
        YamlError::Unexpected { expected, .. } => {
            let what = at(pos).map(|p| format!(" for `{p}`")).unwrap_or_default();
            format!("wrong type{what}: expected {}", friendly_expected(expected))
        }
        YamlError::InvalidScalar { ty, .. } => {
            let what = at(pos).map(|p| format!(" for `{p}`")).unwrap_or_default();
            format!("invalid value{what}: expected {}", friendly_expected(ty))
        }
        YamlError::InvalidBooleanStrict { .. } => {
            let what = at(pos).map(|p| format!(" for `{p}`")).unwrap_or_default();
            format!("invalid value{what}: expected `true` or `false`")
        }
        YamlError::AliasReplayLimitExceeded { .. }
        | YamlError::AliasExpansionLimitExceeded { .. }
        | YamlError::AliasReplayStackDepthExceeded { .. }
        | YamlError::AliasReplayCounterOverflow { .. } => {
            "too many alias expansions (a YAML \"billion laughs\" bomb?); a policy needs few or no aliases".to_string()
        }
        YamlError::MultipleDocuments { .. } => {
            "the policy file holds more than one YAML document (`---`); write one".to_string()
        }
        YamlError::InvalidUtf8Input => "policy file is not valid UTF-8".to_string(),
        other => {
            let text = other
                .render_with_formatter(&serde_saphyr::UserMessageFormatter)
                .lines()
                .next()
                .unwrap_or("invalid YAML")
                .to_string();
            let text = strip_location_suffix(&text);
            if text.contains("recursion limit") {
                format!("policy file nests too deeply ({text})")
            } else {
                text.to_string()
            }
        }
    };
    let (line, column) = pos.map_or((0, 0), |p| (p.line, p.column));
    PolicyError {
        file: file.to_string(),
        line,
        column,
        message,
        suggestion,
    }
}

/// The mapping a missing key belongs to: serde-saphyr points at the mapping's value or at
/// one of its keys.
fn mapping_at(index: &PositionIndex, pos: Pos) -> Option<String> {
    if let Some(e) = index.value_at(pos) {
        return Some(display_path(&e.path)).filter(|p| !p.is_empty());
    }
    index
        .key_at(pos)
        .or_else(|| index.enclosing(pos))
        .and_then(|e| e.path.get(..e.path.len().saturating_sub(1)))
        .map(display_path)
        .filter(|p| !p.is_empty())
}

/// A deserializer's "expected …" in the words of a policy author.
fn friendly_expected(expected: &str) -> &str {
    match expected {
        "sequence start" => "a list (`[a, b]` or one `- item` per line)",
        "mapping start" => "a mapping (`key: value` lines)",
        "string scalar" | "scalar" => "a single value, not a list or mapping",
        "u32" | "u64" | "usize" | "i64" => "a whole number",
        "bool" => "`true` or `false`",
        other => other,
    }
}

/// A budget breach, explained.
fn budget_message(breach: &serde_saphyr::budget::BudgetBreach) -> String {
    use serde_saphyr::budget::BudgetBreach as B;
    match breach {
        B::Depth { .. } => format!(
            "policy file nests deeper than {MAX_POLICY_DEPTH} levels; a policy needs about six"
        ),
        B::Documents { .. } => {
            "the policy file holds more than one YAML document (`---`); write one".to_string()
        }
        B::Aliases { .. } | B::Anchors { .. } => {
            "too many YAML anchors or aliases; a policy needs few or none".to_string()
        }
        other => {
            format!("policy file exceeds a safety limit ({other:?}); a policy is a small document")
        }
    }
}

/// serde-saphyr appends ` at line L column C` to some messages; the location is ours to print.
fn strip_location_suffix(text: &str) -> &str {
    match text.rfind(" at line ") {
        Some(i) => text.get(..i).unwrap_or(text),
        None => text,
    }
}

/// Every key of the policy with the section it is valid in (`approvals` →
/// `gates.security_review`), found by walking the JSON Schema; for "belongs in" hints when a
/// valid key is written in the wrong section.
fn key_homes() -> &'static [(String, String)] {
    static HOMES: OnceLock<Vec<(String, String)>> = OnceLock::new();
    HOMES.get_or_init(|| {
        let schema = json_schema();
        let mut out = Vec::new();
        walk_schema(&schema, &schema, "", 0, &mut out);
        out
    })
}

fn walk_schema(
    root: &serde_json::Value,
    node: &serde_json::Value,
    path: &str,
    depth: usize,
    out: &mut Vec<(String, String)>,
) {
    // The policy nests about six levels; the bound also stops any `$ref` cycle.
    if depth > 12 {
        return;
    }
    if let Some(target) = node
        .get("$ref")
        .and_then(|r| r.as_str())
        .and_then(|r| r.strip_prefix("#/"))
    {
        let mut cur = root;
        for part in target.split('/') {
            match cur.get(part) {
                Some(next) => cur = next,
                None => return,
            }
        }
        walk_schema(root, cur, path, depth + 1, out);
        return;
    }
    if let Some(props) = node.get("properties").and_then(|p| p.as_object()) {
        for (key, sub) in props {
            let here = if path.is_empty() {
                TOP_LEVEL.to_string()
            } else {
                path.to_string()
            };
            out.push((key.clone(), here));
            let child = if path.is_empty() {
                key.clone()
            } else {
                format!("{path}.{key}")
            };
            walk_schema(root, sub, &child, depth + 1, out);
        }
    }
    if let Some(items) = node.get("items") {
        walk_schema(root, items, &format!("{path}[]"), depth + 1, out);
    }
    for combinator in ["anyOf", "oneOf", "allOf"] {
        if let Some(variants) = node.get(combinator).and_then(|v| v.as_array()) {
            for v in variants {
                walk_schema(root, v, path, depth + 1, out);
            }
        }
    }
}

/// The JSON Schema of the policy file, for editors (`# yaml-language-server: $schema=…`).
pub fn json_schema() -> serde_json::Value {
    let mut schema = serde_json::to_value(schemars::schema_for!(Policy)).unwrap_or_default();
    if let Some(obj) = schema.as_object_mut() {
        obj.insert(
            "title".into(),
            serde_json::Value::String("sdl-gate policy".into()),
        );
    }
    schema
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn location_suffix_is_stripped() {
        assert_eq!(
            strip_location_suffix("bad thing at line 3 column 4"),
            "bad thing"
        );
        assert_eq!(strip_location_suffix("bad thing"), "bad thing");
    }
}
