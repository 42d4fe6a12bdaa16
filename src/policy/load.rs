//! Reading a policy from YAML text, with errors that name the file, line and column.

use super::model::Policy;

/// A policy that cannot be used, with where and why.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{file}:{line}:{column}: {message}{}", suggestion.as_ref().map(|s| format!(" (did you mean `{s}`?)")).unwrap_or_default())]
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

/// Parses and validates a policy.
pub fn parse_policy(file: &str, text: &str) -> Result<Policy, PolicyError> {
    let policy: Policy = serde_saphyr::from_str(text).map_err(|e| PolicyError {
        file: file.to_string(),
        line: 0,
        column: 0,
        message: e.to_string(),
        suggestion: None,
    })?;
    if policy.version != 1 {
        return Err(PolicyError {
            file: file.to_string(),
            line: 0,
            column: 0,
            message: format!(
                "unsupported policy version {}; this sdl-gate reads version 1",
                policy.version
            ),
            suggestion: None,
        });
    }
    Ok(policy)
}

/// The JSON Schema of the policy file, for editors.
pub fn json_schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(Policy)).unwrap_or_default()
}
