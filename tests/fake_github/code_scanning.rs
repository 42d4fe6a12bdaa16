//! The fake GitHub's code scanning: `GET /repos/{o}/{r}/code-scanning/alerts`.
//!
//! Like GitHub: alerts belong to the analysis of a ref (`ref=refs/pull/{n}/merge`); a ref
//! with no analysis answers `404 no analysis found`; a repository without code scanning
//! (Advanced Security off) answers `403`; `state` filters; pages follow `per_page`/`page`
//! with a `Link` header. Alert objects carry every field the `code-scanning-alert-items`
//! schema requires, plus `security_severity_level` and `help_uri` on the rule, which the real
//! API returns (see `../shared/fixtures/github-api/octocrab/codescanning_alerts_multiple.json`).

use std::collections::BTreeMap;

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use super::listing::token_ok;
use super::{Answer, FakeGithub, State, bad_credentials, lock, not_found, paginate, user_json};

/// One alert as the fake keeps it.
#[derive(Debug, Clone)]
pub struct AlertRec {
    pub number: u64,
    /// `open`, `dismissed`, `fixed`.
    pub state: String,
    pub tool: String,
    pub rule_id: String,
    /// `none`, `note`, `warning`, `error`.
    pub severity: String,
    /// `low`, `medium`, `high`, `critical`, or none.
    pub security_severity_level: Option<String>,
    pub tags: Vec<String>,
    pub description: String,
    pub message: String,
    pub path: String,
    pub line: u32,
}

impl AlertRec {
    /// An open CodeQL-style alert of `rule_id` at `path:line`.
    pub fn open(rule_id: &str, level: &str, path: &str, line: u32, message: &str) -> Self {
        AlertRec {
            number: 0,
            state: "open".into(),
            tool: "CodeQL".into(),
            rule_id: rule_id.into(),
            severity: "error".into(),
            security_severity_level: Some(level.into()),
            tags: vec!["security".into()],
            description: format!("Rule {rule_id}"),
            message: message.into(),
            path: path.into(),
            line,
        }
    }
}

/// Code scanning per repository.
#[derive(Debug, Default)]
pub struct CodeScanningState {
    /// Repositories where code scanning is off (403).
    pub disabled: Vec<String>,
    /// (repo, ref) → the alerts of that ref's latest analysis.
    pub analyses: BTreeMap<(String, String), Vec<AlertRec>>,
    next_number: u64,
}

fn alert_json(base: &str, full: &str, git_ref: &str, a: &AlertRec) -> Value {
    let url = format!("{base}/repos/{full}/code-scanning/alerts/{}", a.number);
    let dismissed = a.state == "dismissed";
    json!({
        "number": a.number,
        "created_at": "2026-11-20T10:00:00Z",
        "updated_at": "2026-11-20T10:00:00Z",
        "url": url,
        "html_url": format!("https://github.com/{full}/security/code-scanning/{}", a.number),
        "instances_url": format!("{url}/instances"),
        "state": a.state,
        "fixed_at": null,
        "dismissed_by": if dismissed { user_json(base, "sec-lead", "User") } else { Value::Null },
        "dismissed_at": if dismissed { json!("2026-11-21T10:00:00Z") } else { Value::Null },
        "dismissed_reason": if dismissed { json!("false positive") } else { Value::Null },
        "dismissed_comment": null,
        "rule": {
            "id": a.rule_id,
            "name": a.rule_id,
            "severity": a.severity,
            "security_severity_level": a.security_severity_level,
            "description": a.description,
            "tags": a.tags,
            "help_uri": null
        },
        "tool": {"name": a.tool, "version": "2.19.0", "guid": null},
        "most_recent_instance": {
            "ref": git_ref,
            "analysis_key": ".github/workflows/codeql.yml:analyze",
            "environment": "{}",
            "category": ".github/workflows/codeql.yml:analyze",
            "state": a.state,
            "commit_sha": "0000000000000000000000000000000000000000",
            "message": {"text": a.message},
            "location": {"path": a.path, "start_line": a.line, "end_line": a.line,
                          "start_column": 1, "end_column": 10},
            "classifications": []
        }
    })
}

/// Answers the code-scanning route, or `None` when `path` is not it.
pub(super) fn route(
    st: &mut State,
    base: &str,
    method: &Method,
    path: &str,
    q: &BTreeMap<String, String>,
    auth: &str,
) -> Option<Answer> {
    let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let ["repos", owner, name, "code-scanning", "alerts"] = segs.as_slice() else {
        return None;
    };
    if method != Method::GET {
        return None;
    }
    if !token_ok(st, auth) {
        return Some(bad_credentials());
    }
    let full = format!("{owner}/{name}");
    if !st.repos.contains_key(&full) {
        return Some(not_found().into());
    }
    if st.code_scanning.disabled.contains(&full) {
        return Some(
            (
                StatusCode::FORBIDDEN,
                json!({"message": "Advanced Security must be enabled for this repository to use code scanning.",
                       "documentation_url": "https://docs.github.com/rest/code-scanning/code-scanning#list-code-scanning-alerts-for-a-repository",
                       "status": "403"}),
            )
                .into(),
        );
    }
    let git_ref = q.get("ref").cloned().unwrap_or_default();
    let Some(alerts) = st
        .code_scanning
        .analyses
        .get(&(full.clone(), git_ref.clone()))
    else {
        return Some(
            (
                StatusCode::NOT_FOUND,
                json!({"message": "no analysis found",
                       "documentation_url": "https://docs.github.com/rest/code-scanning/code-scanning#list-code-scanning-alerts-for-a-repository",
                       "status": "404"}),
            )
                .into(),
        );
    };
    let wanted = q.get("state");
    let items: Vec<Value> = alerts
        .iter()
        .filter(|a| wanted.is_none_or(|w| *w == a.state))
        .map(|a| alert_json(base, &full, &git_ref, a))
        .collect();
    Some(paginate(base, path, q, items, |s, _| Value::Array(s)))
}

impl FakeGithub {
    /// Records an analysis of `git_ref` in `repo` with these alerts (numbered in order),
    /// replacing the previous one: what a finished CodeQL run or SARIF upload leaves behind.
    pub fn code_scanning_analysis(&self, repo: &str, git_ref: &str, alerts: Vec<AlertRec>) {
        let mut st = lock(&self.state);
        st.repo(repo);
        let cs = &mut st.code_scanning;
        let alerts = alerts
            .into_iter()
            .map(|mut a| {
                cs.next_number += 1;
                a.number = cs.next_number;
                a
            })
            .collect();
        cs.analyses
            .insert((repo.to_string(), git_ref.to_string()), alerts);
    }

    /// Turns code scanning off for `repo` (GitHub answers 403).
    pub fn code_scanning_disabled(&self, repo: &str) {
        lock(&self.state)
            .code_scanning
            .disabled
            .push(repo.to_string());
    }
}
