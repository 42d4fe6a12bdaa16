//! Format detection from content, never from the file name.
//!
//! A CI job names its reports whatever it likes (`results.json`, `gl-sast-report.json`,
//! `scan.sarif`), so sdl-gate looks at what is inside. JSON is first scanned with a shallow
//! probe that keeps only the top-level keys, short string values one level down and the keys
//! of the first element of top-level arrays — everything else is skipped without allocation.
//! The probe also validates the JSON syntax, so its errors carry line and column. The rules
//! below then decide the format from those keys.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::ReportFormat;

/// The shallow view of a JSON document used for detection.
#[derive(Debug, Default)]
pub(crate) struct Probe {
    /// Top-level members of an object document, in order.
    pub members: Vec<(String, Shallow)>,
    /// For an array document: its length and the keys of its first element.
    pub array: Option<(usize, Vec<String>)>,
}

/// A top-level member's value, seen shallowly.
#[derive(Debug, Default)]
pub(crate) enum Shallow {
    /// null, a boolean, or anything not kept.
    #[default]
    Other,
    /// A number.
    Number,
    /// A string (kept up to 512 bytes; longer ones are cut).
    Str(String),
    /// An array, with the keys of its first element when that is an object.
    Array(Vec<String>),
    /// An object: its keys, and its short string values.
    Object(Vec<String>, Vec<(String, String)>),
}

impl Probe {
    /// The value of top-level member `key`.
    pub fn get(&self, key: &str) -> Option<&Shallow> {
        self.members.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// True when the document has top-level member `key`.
    pub fn has(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// Top-level string member `key`.
    pub fn str(&self, key: &str) -> Option<&str> {
        match self.get(key)? {
            Shallow::Str(s) => Some(s),
            _ => None,
        }
    }

    /// A short, human description of what the document looks like, for error messages.
    pub fn describe(&self) -> String {
        if let Some((len, keys)) = &self.array {
            return if keys.is_empty() {
                format!("a JSON array of {len} items")
            } else {
                format!("a JSON array of {len} objects with keys {}", list(keys))
            };
        }
        let keys: Vec<String> = self.members.iter().map(|(k, _)| k.clone()).collect();
        if keys.is_empty() {
            "an empty JSON object".to_owned()
        } else {
            format!("a JSON object with top-level keys {}", list(&keys))
        }
    }
}

fn list(keys: &[String]) -> String {
    const SHOW: usize = 12;
    let mut s: Vec<String> = keys
        .iter()
        .take(SHOW)
        .map(|k| format!("`{}`", clip_key(k)))
        .collect();
    if keys.len() > SHOW {
        s.push(format!("… ({} more)", keys.len() - SHOW));
    }
    s.join(", ")
}

fn clip_key(k: &str) -> String {
    let cleaned: String = k
        .chars()
        .filter(|c| !c.is_control() && *c != '`')
        .take(40)
        .collect();
    cleaned
}

impl Shallow {
    /// Keys of an object value, or of the first element of an array value.
    pub fn keys(&self) -> &[String] {
        match self {
            Shallow::Array(k) | Shallow::Object(k, _) => k,
            _ => &[],
        }
    }

    /// A string value nested one level down (`scan.type`).
    pub fn child_str(&self, key: &str) -> Option<&str> {
        match self {
            Shallow::Object(_, strings) => strings
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.as_str()),
            _ => None,
        }
    }
}

impl<'de> Deserialize<'de> for Probe {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Probe;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object or array")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Probe, A::Error> {
                let mut members = Vec::new();
                while let Some(key) = map.next_key::<String>()? {
                    let value = map.next_value::<Shallow>()?;
                    members.push((key, value));
                }
                Ok(Probe {
                    members,
                    array: None,
                })
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Probe, A::Error> {
                let mut len = 0;
                let mut keys = Vec::new();
                if let Some(first) = seq.next_element::<KeysOnly>()? {
                    len = 1;
                    keys = first.0;
                    while seq.next_element::<IgnoredAny>()?.is_some() {
                        len += 1;
                    }
                }
                Ok(Probe {
                    members: Vec::new(),
                    array: Some((len, keys)),
                })
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Probe, E> {
                Ok(Probe::default())
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Probe, E> {
                Ok(Probe::default())
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Probe, E> {
                Ok(Probe::default())
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Probe, E> {
                Ok(Probe::default())
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<Probe, E> {
                Ok(Probe::default())
            }
            fn visit_unit<E: de::Error>(self) -> Result<Probe, E> {
                Ok(Probe::default())
            }
        }
        d.deserialize_any(V)
    }
}

impl<'de> Deserialize<'de> for Shallow {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Shallow;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Shallow, A::Error> {
                let mut keys = Vec::new();
                let mut strings = Vec::new();
                while let Some(key) = map.next_key::<String>()? {
                    if let Leaf(Some(s)) = map.next_value::<Leaf>()? {
                        strings.push((key.clone(), s));
                    }
                    keys.push(key);
                }
                Ok(Shallow::Object(keys, strings))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Shallow, A::Error> {
                let mut keys = Vec::new();
                if let Some(first) = seq.next_element::<KeysOnly>()? {
                    keys = first.0;
                    while seq.next_element::<IgnoredAny>()?.is_some() {}
                }
                Ok(Shallow::Array(keys))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Shallow, E> {
                Ok(Shallow::Str(clip_str(v)))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Shallow, E> {
                Ok(Shallow::Other)
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Shallow, E> {
                Ok(Shallow::Number)
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Shallow, E> {
                Ok(Shallow::Number)
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Shallow, E> {
                Ok(Shallow::Number)
            }
            fn visit_unit<E: de::Error>(self) -> Result<Shallow, E> {
                Ok(Shallow::Other)
            }
        }
        d.deserialize_any(V)
    }
}

fn clip_str(v: &str) -> String {
    let mut end = v.len().min(512);
    while !v.is_char_boundary(end) {
        end -= 1;
    }
    v[..end].to_owned()
}

/// Keys of an object; any other value gives no keys. Values are skipped.
struct KeysOnly(Vec<String>);

impl<'de> Deserialize<'de> for KeysOnly {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = KeysOnly;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<KeysOnly, A::Error> {
                let mut keys = Vec::new();
                while let Some(key) = map.next_key::<String>()? {
                    map.next_value::<IgnoredAny>()?;
                    keys.push(key);
                }
                Ok(KeysOnly(keys))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<KeysOnly, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(KeysOnly(Vec::new()))
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<KeysOnly, E> {
                Ok(KeysOnly(Vec::new()))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<KeysOnly, E> {
                Ok(KeysOnly(Vec::new()))
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<KeysOnly, E> {
                Ok(KeysOnly(Vec::new()))
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<KeysOnly, E> {
                Ok(KeysOnly(Vec::new()))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<KeysOnly, E> {
                Ok(KeysOnly(Vec::new()))
            }
            fn visit_unit<E: de::Error>(self) -> Result<KeysOnly, E> {
                Ok(KeysOnly(Vec::new()))
            }
        }
        d.deserialize_any(V)
    }
}

/// A short string value, or nothing (other values are skipped).
struct Leaf(Option<String>);

impl<'de> Deserialize<'de> for Leaf {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Leaf;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Leaf, E> {
                Ok(Leaf((v.len() <= 512).then(|| v.to_owned())))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Leaf, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Leaf(None))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Leaf, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Leaf(None))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Leaf, E> {
                Ok(Leaf(None))
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Leaf, E> {
                Ok(Leaf(None))
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Leaf, E> {
                Ok(Leaf(None))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Leaf, E> {
                Ok(Leaf(None))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Leaf, E> {
                Ok(Leaf(None))
            }
        }
        d.deserialize_any(V)
    }
}

/// What detection concluded about a JSON document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Detected {
    /// A supported report format.
    Format(ReportFormat),
    /// Recognised, but deliberately not read: what it is and what to do instead.
    Unsupported {
        /// What the content is.
        what: String,
        /// Why it is not read.
        reason: String,
    },
    /// Nothing matched.
    Unknown,
}

fn unsupported(what: &str, reason: &str) -> Detected {
    Detected::Unsupported {
        what: what.to_owned(),
        reason: reason.to_owned(),
    }
}

/// npm's error document (`npm audit --json` without a lockfile, or when the registry refuses
/// the audit): `{"error": {"code", "summary", "detail"}}`. The audit itself failed, so the
/// document is no evidence of anything — least of all "no vulnerabilities" — and reading it
/// is an error of the gate (fail closed).
fn npm_error(err: &Shallow, message: Option<&str>) -> Detected {
    let clean = |v: &str| -> String {
        v.split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .chars()
            .filter(|c| !c.is_control())
            .take(300)
            .collect()
    };
    let text = |key: &str| err.child_str(key).map(clean).filter(|v| !v.is_empty());
    let code = text("code").unwrap_or_else(|| "registry error".to_owned());
    // A registry error leaves `summary` empty and says what happened in `message`.
    let said = [
        text("summary"),
        text("detail"),
        message.map(clean).filter(|m| !m.is_empty()),
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join(" ");
    let hint = match code.as_str() {
        "ENOLOCK" => {
            "commit the lockfile, or run `npm install --package-lock-only` before `npm audit`"
        }
        "ENOAUDIT" => {
            "the configured registry does not support audits; audit against registry.npmjs.org"
        }
        _ => "fix the audit step so that `npm audit --json` writes its report",
    };
    Detected::Unsupported {
        what: format!("npm error output ({code})"),
        reason: format!(
            "the audit itself failed, so no dependency was checked{}; {hint}",
            if said.is_empty() {
                String::new()
            } else {
                format!(" (npm said: {said})")
            }
        ),
    }
}

/// The detection rules for JSON documents, most specific first.
pub(crate) fn detect_json(p: &Probe) -> Detected {
    if let Some((_, first_keys)) = &p.array {
        let has = |k: &str| first_keys.iter().any(|x| x == k);
        if has("name") && (has("vulns") || has("version")) && !has("SID") {
            return Detected::Format(ReportFormat::PipAudit); // pip-audit before 2.5: top-level array
        }
        if has("category") && has("risk_status") && has("synthetic_id") {
            return unsupported(
                "Threagile risks.json (analysis output)",
                "risks.json is derived from a Threagile model; commit the model itself (threagile.yaml) as the threat model — Threagile risks are not read as scanner findings",
            );
        }
        if super::code_scanning::looks_like_alert(first_keys) {
            return Detected::Format(ReportFormat::GithubCodeScanning);
        }
        if has("SID") && has("target") {
            return unsupported(
                "pytm threat library",
                "a library of threat definitions, not a scan result or a model of this system",
            );
        }
        return native_tool_json(p).unwrap_or(Detected::Unknown);
    }

    // SARIF: `runs` plus a SARIF version or schema.
    if p.has("runs") {
        let version = p.str("version").unwrap_or("");
        let schema = p
            .str("$schema")
            .or_else(|| p.str("schema_uri"))
            .unwrap_or("");
        if version.starts_with("2.") || schema.to_ascii_lowercase().contains("sarif") {
            if !version.is_empty() && version != "2.1.0" {
                return unsupported(
                    &format!("SARIF version {version}"),
                    "sdl-gate reads SARIF 2.1.0 (the OASIS standard); upgrade the tool or convert the log",
                );
            }
            return Detected::Format(ReportFormat::Sarif);
        }
        if version.starts_with("1.") {
            return unsupported(
                &format!("SARIF version {version}"),
                "SARIF 1.x is pre-standard; sdl-gate reads SARIF 2.1.0 — upgrade the tool or convert the log",
            );
        }
    }
    if p.str("bomFormat")
        .is_some_and(|f| f.eq_ignore_ascii_case("CycloneDX"))
    {
        return Detected::Format(ReportFormat::CycloneDx);
    }
    if p.has("spdxVersion") || p.has("SPDXID") {
        return Detected::Format(ReportFormat::Spdx);
    }
    if p.str("@context")
        .is_some_and(|c| c.to_ascii_lowercase().contains("spdx"))
    {
        return Detected::Format(ReportFormat::Spdx);
    }
    if p.has("SchemaVersion") && (p.has("Results") || p.has("ArtifactName")) {
        return Detected::Format(ReportFormat::Trivy);
    }
    if p.has("matches") && (p.has("descriptor") || p.has("source") || p.has("distro")) {
        return Detected::Format(ReportFormat::Grype);
    }
    if p.has("auditReportVersion") {
        return Detected::Format(ReportFormat::NpmAuditV7);
    }
    if matches!(p.get("vulnerabilities"), Some(Shallow::Object(..)))
        && p.has("metadata")
        && !p.has("lockfile")
    {
        return Detected::Format(ReportFormat::NpmAuditV7);
    }
    if matches!(p.get("advisories"), Some(Shallow::Object(..)))
        && (p.has("actions") || p.has("muted") || p.has("metadata"))
    {
        return Detected::Format(ReportFormat::NpmAuditV6);
    }
    if p.has("lockfile") && p.has("vulnerabilities") && (p.has("database") || p.has("warnings")) {
        return Detected::Format(ReportFormat::CargoAudit);
    }
    if let Some(Shallow::Array(keys)) = p.get("dependencies")
        && !p.has("licenses")
        && (keys.is_empty() || keys.iter().any(|k| k == "vulns" || k == "skip_reason"))
    {
        return Detected::Format(ReportFormat::PipAudit);
    }
    if let Some(Shallow::Array(keys)) = p.get("results")
        && (keys.is_empty() || keys.iter().any(|k| k == "packages" || k == "source"))
    {
        return Detected::Format(ReportFormat::OsvScanner);
    }
    if p.has("licenses") && p.has("dependencies") && p.has("version") {
        return unsupported(
            "GitLab license scanning report",
            "not a security report; sdl-gate reads sast, dependency_scanning, secret_detection, container_scanning",
        );
    }
    if let Some(Shallow::Array(_)) = p.get("vulnerabilities") {
        let scan_type = p.get("scan").and_then(|s| s.child_str("type"));
        let gitlab_like =
            p.has("scan") || p.has("remediations") || p.has("dependency_files") || p.has("version");
        if gitlab_like {
            return match scan_type {
                Some("sast") => Detected::Format(ReportFormat::GitlabSast),
                Some("dependency_scanning") => {
                    Detected::Format(ReportFormat::GitlabDependencyScanning)
                }
                Some("secret_detection") => Detected::Format(ReportFormat::GitlabSecretDetection),
                Some("container_scanning") | Some("cluster_image_scanning") => {
                    Detected::Format(ReportFormat::GitlabContainerScanning)
                }
                Some(other) => unsupported(
                    &format!("GitLab {other} report"),
                    "sdl-gate reads the GitLab report types sast, dependency_scanning, secret_detection, container_scanning; upload the scanner's own output (SARIF or JSON) for other scan types",
                ),
                None if p.has("dependency_files") => {
                    Detected::Format(ReportFormat::GitlabDependencyScanning)
                }
                None => Detected::Format(ReportFormat::GitlabSast),
            };
        }
    }
    if let Some(err @ Shallow::Object(keys, _)) = p.get("error")
        && keys.iter().any(|k| k == "code" || k == "summary")
    {
        return npm_error(err, p.str("message"));
    }
    // Things that are clearly not scanner reports: say what they are.
    if (p.has("$schema") || p.has("$id"))
        && (p.has("properties") || p.has("definitions") || p.has("$defs"))
    {
        return unsupported(
            "a JSON Schema",
            "a schema describes a format; it is neither a scanner report nor a threat model",
        );
    }
    if p.has("otmVersion") || (p.has("summary") && p.has("detail")) || p.has("applicationInfo") {
        return unsupported(
            "a threat model",
            "threat models are read by the threat_model gate from the configured threat-model paths, not as scanner reports",
        );
    }
    native_tool_json(p).unwrap_or(Detected::Unknown)
}

/// A scanner's own JSON output where SARIF was expected, with the flag that makes that
/// scanner write SARIF instead (bandit, semgrep, ruff, ESLint, hadolint, checkov).
fn native_tool_json(p: &Probe) -> Option<Detected> {
    let hint = |tool: &str, flag: &str| {
        Some(unsupported(
            &format!("{tool}'s own JSON output"),
            &format!("sdl-gate reads {tool}'s SARIF: run it with `{flag}`"),
        ))
    };
    if let Some((_, keys)) = &p.array {
        let has = |k: &str| keys.iter().any(|x| x == k);
        if has("filePath") && has("messages") {
            return hint("ESLint", "-f @microsoft/eslint-formatter-sarif");
        }
        if has("code") && has("filename") && has("location") {
            return hint("ruff", "ruff check --output-format sarif");
        }
        if has("code") && has("file") && has("level") && has("line") {
            return hint("hadolint", "hadolint -f sarif");
        }
        if has("check_type") && has("results") {
            return hint("checkov", "checkov -o sarif");
        }
        return None;
    }
    let result_keys = match p.get("results") {
        Some(Shallow::Array(keys)) => keys.as_slice(),
        _ => &[],
    };
    let result_has = |k: &str| result_keys.iter().any(|x| x == k);
    if p.has("check_type") && p.has("results") {
        return hint("checkov", "checkov -o sarif");
    }
    if p.has("metrics") && p.has("generated_at") && p.has("results") {
        return hint("bandit", "bandit -f sarif");
    }
    if (result_has("check_id") || p.has("paths")) && p.has("errors") && p.has("results") {
        return hint("semgrep", "semgrep --sarif");
    }
    None
}
