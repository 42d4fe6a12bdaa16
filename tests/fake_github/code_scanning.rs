//! The fake GitHub's code scanning: `GET /repos/{o}/{r}/code-scanning/alerts` and
//! `…/code-scanning/analyses`, and `GET /repos/{o}/{r}/git/commits/{sha}` for the commits
//! analyses name.
//!
//! Like GitHub: analyses and alerts belong to a ref (`ref=refs/pull/{n}/merge`); an analysis
//! of a pull request's merge ref is of its test merge commit (`merge_commit_sha`, whose parents
//! are the base and the head); a ref with no analysis answers `404 no analysis found`; a
//! repository without code scanning (Advanced Security off) answers `403`; analyses come newest
//! first; `state` filters alerts; pages follow `per_page`/`page` with a `Link` header. Alert objects carry every field the `code-scanning-alert-items`
//! schema requires, plus `security_severity_level` and `help_uri` on the rule, which the real
//! API returns (see `../shared/fixtures/github-api/octocrab/codescanning_alerts_multiple.json`).

use std::collections::BTreeMap;

use axum::http::{Method, StatusCode};
use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};

use super::listing::token_ok;
use super::{
    Answer, FakeGithub, State, bad_credentials, lock, not_found, paginate, test_merge_sha,
    user_json,
};

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

/// One analysis (a CodeQL run, a SARIF upload) as the fake keeps it.
#[derive(Debug, Clone)]
pub struct AnalysisRec {
    pub id: u64,
    pub tool: String,
    pub category: String,
    /// The commit analysed.
    pub commit_sha: String,
    pub created_at: DateTime<Utc>,
    /// Empty unless the analysis failed.
    pub error: String,
}

/// What an upload says, before the fake numbers and dates it.
#[derive(Debug, Clone)]
pub struct Upload {
    pub tool: String,
    pub category: String,
    /// The commit analysed, and its parents (served by `…/git/commits/{sha}`).
    pub commit_sha: String,
    pub parents: Vec<String>,
    pub error: String,
}

impl Upload {
    /// A successful CodeQL analysis of `commit_sha`.
    pub fn codeql(commit_sha: &str, parents: &[&str]) -> Self {
        Upload {
            tool: "CodeQL".into(),
            category: "/language:rust".into(),
            commit_sha: commit_sha.into(),
            parents: parents.iter().map(|p| p.to_string()).collect(),
            error: String::new(),
        }
    }
}

/// The analyses of one ref and the open/dismissed alerts of the latest.
#[derive(Debug, Default)]
pub struct RefScan {
    pub analyses: Vec<AnalysisRec>,
    pub alerts: Vec<AlertRec>,
}

/// Code scanning per repository.
#[derive(Debug, Default)]
pub struct CodeScanningState {
    /// Repositories where code scanning is off (403).
    pub disabled: Vec<String>,
    /// (repo, ref) → its analyses and alerts.
    pub refs: BTreeMap<(String, String), RefScan>,
    /// (repo, commit) → parents, for commits analyses name.
    pub commits: BTreeMap<(String, String), Vec<String>>,
    next_number: u64,
    next_analysis: u64,
}

fn alert_json(base: &str, full: &str, git_ref: &str, commit: &str, a: &AlertRec) -> Value {
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
            "commit_sha": commit,
            "message": {"text": a.message},
            "location": {"path": a.path, "start_line": a.line, "end_line": a.line,
                          "start_column": 1, "end_column": 10},
            "classifications": []
        }
    })
}

fn analysis_json(base: &str, full: &str, git_ref: &str, a: &AnalysisRec) -> Value {
    json!({
        "ref": git_ref,
        "commit_sha": a.commit_sha,
        "analysis_key": ".github/workflows/codeql.yml:analyze",
        "environment": "{}",
        "category": a.category,
        "error": a.error,
        "created_at": a.created_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "results_count": 0,
        "rules_count": 12,
        "id": a.id,
        "url": format!("{base}/repos/{full}/code-scanning/analyses/{}", a.id),
        "sarif_id": format!("6c81cd8e-b078-4ac3-a3be-{:012x}", a.id),
        "tool": {"name": a.tool, "version": "2.19.0", "guid": null},
        "deletable": true,
        "warning": ""
    })
}

fn commit_json(base: &str, full: &str, sha: &str, parents: &[String]) -> Value {
    let who =
        json!({"date": "2026-11-20T10:00:00Z", "email": "noreply@github.com", "name": "GitHub"});
    json!({
        "sha": sha,
        "node_id": format!("C_{sha}"),
        "url": format!("{base}/repos/{full}/git/commits/{sha}"),
        "html_url": format!("https://github.com/{full}/commit/{sha}"),
        "author": who,
        "committer": who,
        "tree": {"sha": sha, "url": format!("{base}/repos/{full}/git/trees/{sha}")},
        "message": "Merge into base",
        "parents": parents.iter().map(|p| json!({
            "sha": p,
            "url": format!("{base}/repos/{full}/git/commits/{p}"),
            "html_url": format!("https://github.com/{full}/commit/{p}")
        })).collect::<Vec<_>>(),
        "verification": {"verified": false, "reason": "unsigned", "signature": null,
                         "payload": null, "verified_at": null}
    })
}

fn no_analysis() -> Answer {
    (
        StatusCode::NOT_FOUND,
        json!({"message": "no analysis found",
               "documentation_url": "https://docs.github.com/rest/code-scanning/code-scanning",
               "status": "404"}),
    )
        .into()
}

/// The parents of `sha` in `full`: a recorded commit, or the test merge of an open pull
/// request.
fn parents_of(st: &State, full: &str, sha: &str) -> Option<Vec<String>> {
    if let Some(p) = st
        .code_scanning
        .commits
        .get(&(full.to_string(), sha.to_string()))
    {
        return Some(p.clone());
    }
    st.repos.get(full)?.pulls.values().find_map(|p| {
        (test_merge_sha(&p.base_sha, &p.head_sha) == sha)
            .then(|| vec![p.base_sha.clone(), p.head_sha.clone()])
    })
}

/// Answers the code-scanning and Git commit routes, or `None` when `path` is neither.
pub(super) fn route(
    st: &mut State,
    base: &str,
    method: &Method,
    path: &str,
    q: &BTreeMap<String, String>,
    auth: &str,
) -> Option<Answer> {
    let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let (owner, name, what) = match segs.as_slice() {
        [
            "repos",
            owner,
            name,
            "code-scanning",
            what @ ("alerts" | "analyses"),
        ] => (*owner, *name, *what),
        ["repos", owner, name, "git", "commits", _] => (*owner, *name, "commit"),
        _ => return None,
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
    if what == "commit" {
        let sha = segs.last().copied().unwrap_or_default();
        return Some(match parents_of(st, &full, sha) {
            Some(parents) => (StatusCode::OK, commit_json(base, &full, sha, &parents)).into(),
            None => not_found().into(),
        });
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
    let Some(scan) = st
        .code_scanning
        .refs
        .get(&(full.clone(), git_ref.clone()))
        .filter(|s| !s.analyses.is_empty())
    else {
        return Some(no_analysis());
    };
    let items: Vec<Value> = if what == "analyses" {
        let mut newest_first: Vec<&AnalysisRec> = scan.analyses.iter().collect();
        newest_first.sort_by_key(|a| std::cmp::Reverse((a.created_at, a.id)));
        newest_first
            .into_iter()
            .map(|a| analysis_json(base, &full, &git_ref, a))
            .collect()
    } else {
        let commit = scan
            .analyses
            .iter()
            .max_by_key(|a| (a.created_at, a.id))
            .map(|a| a.commit_sha.clone())
            .unwrap_or_default();
        let wanted = q.get("state");
        scan.alerts
            .iter()
            .filter(|a| wanted.is_none_or(|w| *w == a.state))
            .map(|a| alert_json(base, &full, &git_ref, &commit, a))
            .collect()
    };
    Some(paginate(base, path, q, items, |s, _| Value::Array(s)))
}

impl FakeGithub {
    /// Pull request `number`'s test merge commit and its parents (base, head), as GitHub
    /// computes it for `merge_commit_sha`.
    pub fn test_merge(&self, repo: &str, number: u64) -> (String, Vec<String>) {
        let st = lock(&self.state);
        match st.repos.get(repo).and_then(|r| r.pulls.get(&number)) {
            Some(p) => (
                test_merge_sha(&p.base_sha, &p.head_sha),
                vec![p.base_sha.clone(), p.head_sha.clone()],
            ),
            None => (test_merge_sha("", &number.to_string()), Vec::new()),
        }
    }

    /// Records a CodeQL analysis of `git_ref` (`refs/pull/{n}/merge`) at the pull request's
    /// current test merge commit, with these alerts: what a finished scan of the head leaves.
    /// Returns the alerts' numbers.
    pub fn code_scanning_analysis(
        &self,
        repo: &str,
        git_ref: &str,
        alerts: Vec<AlertRec>,
    ) -> Vec<u64> {
        let number = git_ref
            .strip_prefix("refs/pull/")
            .and_then(|r| r.strip_suffix("/merge"))
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        let (merge, parents) = self.test_merge(repo, number);
        let parents: Vec<&str> = parents.iter().map(String::as_str).collect();
        self.code_scanning_upload(repo, git_ref, Upload::codeql(&merge, &parents), alerts)
    }

    /// Records an analysis of `git_ref` as `upload` says, newer than every earlier one, with
    /// these alerts (numbered in order) replacing the ref's previous alerts. Returns their
    /// numbers.
    pub fn code_scanning_upload(
        &self,
        repo: &str,
        git_ref: &str,
        upload: Upload,
        alerts: Vec<AlertRec>,
    ) -> Vec<u64> {
        let mut st = lock(&self.state);
        st.repo(repo);
        let cs = &mut st.code_scanning;
        let alerts: Vec<AlertRec> = alerts
            .into_iter()
            .map(|mut a| {
                cs.next_number += 1;
                a.number = cs.next_number;
                a
            })
            .collect();
        let numbers = alerts.iter().map(|a| a.number).collect();
        cs.next_analysis += 1;
        let id = 500 + cs.next_analysis;
        let created_at = DateTime::<Utc>::UNIX_EPOCH
            + Duration::days(20_000)
            + Duration::minutes(i64::try_from(id).unwrap_or(0));
        cs.commits.insert(
            (repo.to_string(), upload.commit_sha.clone()),
            upload.parents.clone(),
        );
        let scan = cs
            .refs
            .entry((repo.to_string(), git_ref.to_string()))
            .or_default();
        scan.analyses.push(AnalysisRec {
            id,
            tool: upload.tool,
            category: upload.category,
            commit_sha: upload.commit_sha,
            created_at,
            error: upload.error,
        });
        scan.alerts = alerts;
        numbers
    }

    /// Sets the state of alert `number` of `repo` on every ref (`dismissed`, `open`): what a
    /// person dismissing or reopening it in GitHub's UI does.
    pub fn code_scanning_alert_state(&self, repo: &str, number: u64, state: &str) {
        let mut st = lock(&self.state);
        for ((r, _), scan) in st.code_scanning.refs.iter_mut() {
            if r != repo {
                continue;
            }
            for a in scan.alerts.iter_mut().filter(|a| a.number == number) {
                a.state = state.to_string();
            }
        }
    }

    /// Turns code scanning off for `repo` (GitHub answers 403).
    pub fn code_scanning_disabled(&self, repo: &str) {
        lock(&self.state)
            .code_scanning
            .disabled
            .push(repo.to_string());
    }
}
