//! GitHub code-scanning alerts (the JSON array `GET /repos/{o}/{r}/code-scanning/alerts`
//! answers) → findings.
//!
//! The GitHub App reads a pull request's static-analysis results from code scanning rather
//! than from files, and `sdl-gate check --report` reads the same array saved with `gh api`.
//! The mapping keeps to the SARIF reader's rules, so a result gets the same verdict whether it
//! arrives as the uploaded SARIF or as the alert GitHub made of it:
//! - only `open` alerts are findings: `dismissed` is GitHub's accepted suppression, `fixed`
//!   and `closed` are gone (an alert with an `open` instance on the ref counts);
//! - severity: `rule.security_severity_level` (the SARIF `security-severity` score as GitHub
//!   bands it), else `rule.severity` read as a SARIF level (`error` high, `warning` medium,
//!   `note` low, `none` note), else medium;
//! - kind: the SARIF classification by tool and rule tags (a Trivy vulnerability uploaded to
//!   code scanning is a dependency finding, gitleaks a secret…);
//! - CWE from tags such as `external/cwe/cwe-089`; file and line from the most recent
//!   instance's location; the message from that instance, else the rule's description;
//! - fingerprint: tool, rule, file, package and advisory ids, as for every non-SARIF format
//!   (the API does not return SARIF's `partialFingerprints`).

use serde_json::Value;

use super::error::ReportError;
use super::finding::{Finding, FindingKind, Severity};
use super::json::{Ctx, Draft, idx, join, line, s, strs};
use super::normalise::{clip, normalise_path, parse_cwe};
use super::sarif::{RuleClass, dependency_facts, level_severity};

/// Names the source of alerts when a tool name is missing.
pub(crate) const TOOL: &str = "GitHub code scanning";

/// True when the first element of a JSON array looks like a code-scanning alert.
pub(crate) fn looks_like_alert(first_keys: &[String]) -> bool {
    let has = |k: &str| first_keys.iter().any(|x| x == k);
    has("rule") && has("tool") && has("most_recent_instance")
}

/// The open alerts of `root` (an array of alert objects) as findings; the tools they name are
/// added to `tools`.
pub(crate) fn parse(
    ctx: Ctx<'_>,
    root: &Value,
    tools: &mut Vec<String>,
) -> Result<Vec<Finding>, ReportError> {
    let alerts = root
        .as_array()
        .ok_or_else(|| ctx.err("", "expected an array of code-scanning alerts"))?;
    let mut out = Vec::new();
    for (i, alert) in alerts.iter().enumerate() {
        let path = idx("", i);
        ctx.expect_object(alert, &path)?;
        if let Some(f) = finding(ctx, alert, &path)? {
            if !tools.contains(&f.tool) {
                tools.push(f.tool.clone());
            }
            out.push(f);
        }
    }
    Ok(out)
}

/// Whether the alert stands open: its own state, and its instance on the ref when given.
fn is_open(alert: &Value) -> bool {
    let state = |v: &Value| s(v, "state").map(str::to_ascii_lowercase);
    match state(alert).as_deref() {
        Some("open") => true,
        // Older answers omit the state; the instance then tells.
        None => alert
            .get("most_recent_instance")
            .and_then(state)
            .is_none_or(|st| st == "open"),
        Some(_) => false,
    }
}

fn finding(ctx: Ctx<'_>, alert: &Value, path: &str) -> Result<Option<Finding>, ReportError> {
    if !is_open(alert) {
        return Ok(None);
    }
    // Checked to be an object; read through the `Value` helpers below.
    ctx.object(alert, "rule", path)?.ok_or_else(|| {
        ctx.err(
            &join(path, "rule"),
            "is missing: every alert names its rule",
        )
    })?;
    let rule = &alert["rule"];
    let tool = ctx
        .object(alert, "tool", path)?
        .and_then(|t| t.get("name"))
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .unwrap_or(TOOL)
        .to_owned();
    let rule_id = s(rule, "id")
        .or_else(|| s(rule, "name"))
        .ok_or_else(|| {
            ctx.err(
                &join(path, "rule"),
                "names no rule: neither `id` nor `name` is set",
            )
        })?
        .to_owned();
    let tags = strs(rule, "tags");
    let kind = RuleClass {
        tool: &tool.to_ascii_lowercase(),
        tags: &tags,
        rule_name: s(rule, "name").unwrap_or(""),
        rule_kind: "",
        rule_id: &rule_id,
    }
    .kind();
    let severity = s(rule, "security_severity_level")
        .and_then(Severity::from_word)
        .or_else(|| s(rule, "severity").and_then(level_severity))
        .unwrap_or(Severity::Medium);
    // `Draft::finish` sorts and deduplicates.
    let cwe: Vec<u32> = tags
        .iter()
        .filter(|t| t.to_ascii_lowercase().contains("cwe"))
        .filter_map(|t| parse_cwe(t))
        .collect();

    let instance = alert.get("most_recent_instance").unwrap_or(&Value::Null);
    let location = instance.get("location").unwrap_or(&Value::Null);
    let message = instance
        .get("message")
        .and_then(|m| s(m, "text"))
        .or_else(|| s(rule, "description"))
        .unwrap_or(&rule_id)
        .to_owned();
    let (advisories, package) = if kind == FindingKind::Dependency {
        dependency_facts(&rule_id, &message, s(rule, "help").unwrap_or(""))
    } else {
        (Vec::new(), None)
    };
    Ok(Some(
        Draft {
            tool,
            rule: rule_id,
            severity,
            kind,
            cwe,
            file: s(location, "path").map(|p| normalise_path(p, None)),
            line: line(location, "start_line"),
            message: clip(&message),
            package,
            advisories,
            help_uri: s(rule, "help_uri").map(str::to_owned),
        }
        .finish(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const CTX: Ctx<'static> = Ctx {
        source: "alerts.json",
        format: "GitHub code-scanning alerts JSON",
    };

    fn alert(state: &str, rule: Value, tool: &str) -> Value {
        json!({
            "number": 4, "state": state,
            "rule": rule,
            "tool": {"name": tool, "version": "1"},
            "most_recent_instance": {
                "ref": "refs/pull/7/merge", "state": state,
                "message": {"text": "User input reaches a SQL query."},
                "location": {"path": "./src/db.rs", "start_line": 12, "end_line": 12}
            }
        })
    }

    fn one(v: Value) -> Vec<Finding> {
        let mut tools = Vec::new();
        parse(CTX, &json!([v]), &mut tools).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn an_open_codeql_alert_keeps_rule_cwe_severity_and_place() {
        let f = one(alert(
            "open",
            json!({"id": "rust/sql-injection", "severity": "error", "security_severity_level": "critical",
                   "tags": ["security", "external/cwe/cwe-089"], "help_uri": "https://codeql.github.com/"}),
            "CodeQL",
        ));
        assert_eq!(f.len(), 1);
        let f = &f[0];
        assert_eq!(
            (f.tool.as_str(), f.rule.as_str()),
            ("CodeQL", "rust/sql-injection")
        );
        assert_eq!(f.severity, Severity::Critical, "security level wins");
        assert_eq!(f.kind, FindingKind::Code);
        assert_eq!(f.cwe, vec![89]);
        assert_eq!((f.file.as_deref(), f.line), (Some("src/db.rs"), Some(12)));
        assert_eq!(f.message, "User input reaches a SQL query.");
        assert_eq!(f.help_uri.as_deref(), Some("https://codeql.github.com/"));
    }

    #[test]
    fn dismissed_and_fixed_alerts_are_not_findings() {
        for state in ["dismissed", "fixed", "closed"] {
            assert!(
                one(alert(
                    state,
                    json!({"id": "r", "severity": "error"}),
                    "CodeQL"
                ))
                .is_empty(),
                "{state}"
            );
        }
    }

    #[test]
    fn without_a_security_level_the_rule_severity_reads_as_a_sarif_level() {
        for (level, want) in [
            ("error", Severity::High),
            ("warning", Severity::Medium),
            ("note", Severity::Low),
            ("none", Severity::Note),
        ] {
            let f = one(alert(
                "open",
                json!({"id": "r", "severity": level}),
                "Semgrep",
            ));
            assert_eq!(f[0].severity, want, "{level}");
        }
        let f = one(alert("open", json!({"id": "r"}), "Semgrep"));
        assert_eq!(f[0].severity, Severity::Medium, "no level at all");
    }

    #[test]
    fn tools_classify_as_in_sarif() {
        let secret = one(alert("open", json!({"id": "aws-key"}), "gitleaks"));
        assert_eq!(secret[0].kind, FindingKind::Secret);
        let dep = one(alert(
            "open",
            json!({"id": "CVE-2022-24713", "name": "OsPackageVulnerability", "tags": ["vulnerability"]}),
            "Trivy",
        ));
        assert_eq!(dep[0].kind, FindingKind::Dependency);
        assert_eq!(dep[0].advisories, vec!["CVE-2022-24713".to_string()]);
    }

    #[test]
    fn moving_a_finding_keeps_its_fingerprint() {
        let mut a = alert("open", json!({"id": "r"}), "CodeQL");
        let first = one(a.clone())[0].fingerprint.clone();
        a["most_recent_instance"]["location"]["start_line"] = json!(99);
        assert_eq!(one(a)[0].fingerprint, first);
    }

    #[test]
    fn wrong_shapes_name_the_place() {
        let mut tools = Vec::new();
        let err = parse(
            CTX,
            &json!([{"state": "open", "tool": {"name": "x"}}]),
            &mut tools,
        )
        .expect_err("no rule");
        assert!(err.to_string().contains("[0].rule"), "{err}");
        let err = parse(CTX, &json!([{"state": "open", "rule": {}}]), &mut tools)
            .expect_err("rule without id");
        assert!(err.to_string().contains("[0].rule"), "{err}");
        let err = parse(CTX, &json!({"alerts": []}), &mut tools).expect_err("not an array");
        assert!(err.to_string().contains("array"), "{err}");
    }
}
