//! Path-aware access to `serde_json::Value` for the non-SARIF formats.
//!
//! The dependency-scanner formats are small next to SARIF and their shapes vary by version,
//! so they are read from a `Value`. These helpers keep track of where they are, so that a
//! wrong shape is reported as, say, `Results[2].Vulnerabilities: expected an array, found a
//! string`, and turn the common "missing or null" case into "empty" instead of an error.

use serde_json::{Map, Value};

use super::error::ReportError;
use super::finding::{Finding, FindingKind, Package, Severity};
use super::normalise::fingerprint;

/// Where we are: the source name and the format, for error messages.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ctx<'s> {
    /// Source name.
    pub source: &'s str,
    /// Human name of the format.
    pub format: &'static str,
}

impl Ctx<'_> {
    /// A structure error at `path`.
    pub fn err(&self, path: &str, message: impl Into<String>) -> ReportError {
        ReportError::Structure {
            source_name: self.source.to_owned(),
            format: self.format,
            path: path.to_owned(),
            message: message.into(),
        }
    }

    /// `v[key]` as an array; missing or null is empty; another type is an error at `path.key`.
    pub fn array<'v>(
        &self,
        v: &'v Value,
        key: &str,
        path: &str,
    ) -> Result<&'v [Value], ReportError> {
        match v.get(key) {
            None | Some(Value::Null) => Ok(&[]),
            Some(Value::Array(a)) => Ok(a),
            Some(other) => Err(self.err(
                &join(path, key),
                format!("expected an array, found {}", type_name(other)),
            )),
        }
    }

    /// `v[key]` as an object; missing or null is `None`; another type is an error.
    pub fn object<'v>(
        &self,
        v: &'v Value,
        key: &str,
        path: &str,
    ) -> Result<Option<&'v Map<String, Value>>, ReportError> {
        match v.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Object(o)) => Ok(Some(o)),
            Some(other) => Err(self.err(
                &join(path, key),
                format!("expected an object, found {}", type_name(other)),
            )),
        }
    }

    /// Requires `v` itself to be an object.
    pub fn expect_object<'v>(
        &self,
        v: &'v Value,
        path: &str,
    ) -> Result<&'v Map<String, Value>, ReportError> {
        v.as_object()
            .ok_or_else(|| self.err(path, format!("expected an object, found {}", type_name(v))))
    }
}

/// `path.key`, or `key` at the root.
pub(crate) fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

/// `path[i]`.
pub(crate) fn idx(path: &str, i: usize) -> String {
    format!("{path}[{i}]")
}

/// A JSON type name for messages.
pub(crate) fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// `v[key]` as a non-empty trimmed string; numbers are not strings.
pub(crate) fn s<'v>(v: &'v Value, key: &str) -> Option<&'v str> {
    v.get(key)?
        .as_str()
        .map(str::trim)
        .filter(|x| !x.is_empty())
}

/// `v[key]` as a list of strings: an array's string items, or a single string.
pub(crate) fn strs<'v>(v: &'v Value, key: &str) -> Vec<&'v str> {
    match v.get(key) {
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .map(str::trim)
            .filter(|x| !x.is_empty())
            .collect(),
        Some(Value::String(x)) if !x.trim().is_empty() => vec![x.trim()],
        _ => Vec::new(),
    }
}

/// `v[key]` as a number: a JSON number or a numeric string.
pub(crate) fn num(v: &Value, key: &str) -> Option<f64> {
    match v.get(key)? {
        Value::Number(n) => n.as_f64(),
        Value::String(x) => x.trim().parse().ok(),
        _ => None,
    }
    .filter(|x: &f64| x.is_finite())
}

/// `v[key]` as a 1-based line number.
pub(crate) fn line(v: &Value, key: &str) -> Option<u32> {
    num(v, key)
        .filter(|n| *n >= 1.0 && *n <= u32::MAX as f64)
        .map(|n| n as u32)
}

/// Everything a non-SARIF parser knows about one finding; [`Draft::finish`] adds the
/// fingerprint.
pub(crate) struct Draft {
    pub tool: String,
    pub rule: String,
    pub severity: Severity,
    pub kind: FindingKind,
    pub cwe: Vec<u32>,
    pub file: Option<String>,
    pub line: Option<u32>,
    pub message: String,
    pub package: Option<Package>,
    pub advisories: Vec<String>,
    pub help_uri: Option<String>,
}

impl Draft {
    /// Builds the finding with a fingerprint over tool, rule, file, package name and the
    /// sorted advisory ids (never the line, so a moved finding keeps its identity).
    pub fn finish(mut self) -> Finding {
        super::normalise::tidy_cwes(&mut self.cwe);
        let mut ids: Vec<String> = self
            .advisories
            .iter()
            .map(|a| a.to_ascii_uppercase())
            .collect();
        ids.sort();
        let pkg = self.package.as_ref().map(|p| p.name.as_str()).unwrap_or("");
        let fp = fingerprint(&[
            &self.tool,
            &self.rule,
            self.file.as_deref().unwrap_or(""),
            pkg,
            &ids.join(","),
        ]);
        Finding {
            tool: self.tool,
            rule: self.rule,
            severity: self.severity,
            kind: self.kind,
            cwe: self.cwe,
            file: self.file,
            line: self.line,
            message: self.message,
            fingerprint: fp,
            package: self.package,
            advisories: self.advisories,
            help_uri: self.help_uri,
        }
    }
}

/// The first version in a "patched" range such as `>=6.10.3` or `>= 1.2, <2`; `None` when
/// the range names none (`<0.0.0` means "no fix").
pub(crate) fn first_patched(range: &str) -> Option<String> {
    let r = range.trim();
    let rest = r
        .strip_prefix(">=")
        .or_else(|| r.strip_prefix("^"))
        .or_else(|| r.strip_prefix("~"))?;
    let v: String = rest
        .trim()
        .chars()
        .take_while(|c| !c.is_whitespace() && *c != ',' && *c != '|')
        .collect();
    (!v.is_empty()).then_some(v)
}

/// Compares dotted numeric versions (`0.4.8` < `1.1.0`); non-numeric parts compare as text.
pub(crate) fn version_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    let parts = |v: &str| -> Vec<String> { v.split(['.', '-', '+']).map(str::to_owned).collect() };
    let (pa, pb) = (parts(a), parts(b));
    for i in 0..pa.len().max(pb.len()) {
        let x = pa.get(i).map(String::as_str).unwrap_or("0");
        let y = pb.get(i).map(String::as_str).unwrap_or("0");
        let ord = match (x.parse::<u64>(), y.parse::<u64>()) {
            (Ok(m), Ok(n)) => m.cmp(&n),
            _ => x.cmp(y),
        };
        if ord.is_ne() {
            return ord;
        }
    }
    std::cmp::Ordering::Equal
}

/// The lowest patched version above `installed` among `>=X` ranges, else the lowest one.
pub(crate) fn best_fix(installed: Option<&str>, patched: &[&str]) -> Option<String> {
    let mut candidates: Vec<String> = patched.iter().filter_map(|p| first_patched(p)).collect();
    candidates.sort_by(|a, b| version_cmp(a, b));
    if let Some(inst) = installed
        && let Some(c) = candidates.iter().find(|c| version_cmp(c, inst).is_gt())
    {
        return Some(c.clone());
    }
    candidates.into_iter().next()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patched_ranges() {
        assert_eq!(first_patched(">=6.10.3"), Some("6.10.3".into()));
        assert_eq!(first_patched("<0.0.0"), None);
        assert_eq!(
            best_fix(Some("0.4.7"), &[">=1.1.0", ">=0.4.8"]),
            Some("0.4.8".into())
        );
        assert_eq!(
            best_fix(Some("1.0.0"), &[">=1.1.0", ">=0.4.8"]),
            Some("1.1.0".into())
        );
        assert_eq!(best_fix(None, &[]), None);
    }
}
