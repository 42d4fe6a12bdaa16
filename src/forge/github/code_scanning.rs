//! Code scanning for the `sast` gate (`gates.sast.code_scanning`): the open alerts of a pull
//! request's merge ref, but only once they are known to be about its head commit.
//!
//! Alerts are read for `refs/pull/{n}/merge`, the ref GitHub's documentation names for a pull
//! request and the one CodeQL and SARIF uploads from `pull_request` workflows analyse. GitHub
//! keeps the alerts of a ref's latest analysis: right after a push they still describe the
//! previous commit, until the scanning workflow uploads again. Judging them then would pass a
//! head nobody scanned, so the analyses of the ref are read first (newest first, one page of
//! 100), and for every tool and category the newest analysis must be of a commit that contains
//! the head:
//!
//! - the head itself, or GitHub's current test merge (`merge_commit_sha` of the pull request);
//! - or a merge commit whose parents include the head: the base branch moved since the analysis,
//!   which does not make it stale. One `GET …/git/commits/{sha}` tells, and is cached, since a
//!   commit never changes.
//!
//! Otherwise the gate waits ([`CodeScanning::Stale`]); an analysis that reports an error fails
//! closed; only when all are current are the alerts read.
//!
//! Repositories that scan pushes but not pull requests have no analysis of the merge ref.
//! Then, when the head branch is in the repository itself (not a fork), the analyses of
//! `refs/heads/{branch}` serve, held to a stricter rule: each tool's newest must be of the
//! head commit exactly. The analyses are read before the
//! alerts, so alerts read afterwards are at least as new as the analyses judged current.
//!
//! A `404` means no analysis exists yet (the gate waits); a `403` (Advanced Security off, or the
//! App lacks `security_events: read`) cannot be decided, so it fails closed.

use std::collections::BTreeMap;

use http::Method;

use crate::forge::{ChangeHead, ForgeError};
use crate::reports::{Report, parse_code_scanning_alerts};
use crate::snapshot::{CodeScanning, Snapshot};

use super::http::encode;
use super::{GithubForge, lock, model, remember};

/// At most this many open code-scanning alerts are read (30 pages of 100); more fail closed.
pub const MAX_ALERTS: usize = 3000;

/// What code scanning said about a pull request.
pub(crate) enum Scanned {
    /// The open alerts of the ref, as one report; every analysis is of the head.
    Alerts {
        git_ref: String,
        report: Box<Report>,
    },
    /// No analysis of the ref exists yet.
    NoAnalysis { git_ref: String },
    /// The newest analysis by `tool` is of `analysed`, which does not contain the head.
    Stale {
        git_ref: String,
        tool: String,
        analysed: String,
    },
    /// They could not be read (permission, too many, malformed, a failed analysis), and why:
    /// the gate fails closed.
    Unreadable { git_ref: String, why: String },
}

impl Scanned {
    /// Puts what was learnt into the snapshot.
    pub(crate) fn apply(self, snap: &mut Snapshot) {
        match self {
            Scanned::Alerts { git_ref, report } => {
                snap.code_scanning = CodeScanning::Read { git_ref };
                snap.reports.push(*report);
            }
            Scanned::NoAnalysis { git_ref } => {
                snap.code_scanning = CodeScanning::NoAnalysis { git_ref };
            }
            Scanned::Stale {
                git_ref,
                tool,
                analysed,
            } => {
                snap.code_scanning = CodeScanning::Stale {
                    git_ref,
                    tool,
                    analysed,
                };
            }
            Scanned::Unreadable { git_ref, why } => {
                snap.code_scanning = CodeScanning::Unreadable { git_ref };
                snap.report_errors.push(why);
            }
        }
    }
}

/// The newest analysis of each tool and category (`analyses` may come in any order).
fn newest_per_tool(analyses: &[model::Analysis]) -> BTreeMap<String, &model::Analysis> {
    let mut newest: BTreeMap<String, &model::Analysis> = BTreeMap::new();
    for a in analyses {
        let tool = a.tool.name.as_deref().unwrap_or("an unnamed tool");
        let key = match a.category.as_deref().filter(|c| !c.is_empty()) {
            Some(category) => format!("{tool} ({category})"),
            None => tool.to_string(),
        };
        match newest.get(&key) {
            Some(seen) if (seen.created_at, seen.id) >= (a.created_at, a.id) => {}
            _ => {
                newest.insert(key, a);
            }
        }
    }
    newest
}

/// The parents of commit `sha` in `o/r`, from the cache or `GET …/git/commits/{sha}`.
async fn parents(
    forge: &GithubForge,
    inst: u64,
    o: &str,
    r: &str,
    sha: &str,
) -> Result<Vec<String>, ForgeError> {
    let key = (format!("{o}/{r}"), sha.to_string());
    if let Some(p) = lock(&forge.hints.parents).get(&key) {
        return Ok(p.clone());
    }
    let path = format!("/repos/{o}/{r}/git/commits/{}", encode(sha));
    let what = format!("GET /repos/{o}/{r}/git/commits/{{sha}}");
    let commit: model::GitCommit = forge
        .http
        .call(inst, Method::GET, &path, None, &what)
        .await?
        .json(&what)?;
    let parents: Vec<String> = commit.parents.into_iter().map(|p| p.sha).collect();
    remember(&forge.hints.parents, key, parents.clone());
    Ok(parents)
}

/// Which ref is read, and so which analysed commits are about the head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RefKind {
    /// `refs/pull/{n}/merge`: the head, or a test merge of it.
    Merge,
    /// `refs/heads/{branch}`, the head branch: the head commit only (a later commit on the
    /// branch is not the pull request's head yet).
    Branch,
}

/// Whether commit `analysed` is about the head of the pull request.
async fn covers_head(
    forge: &GithubForge,
    inst: u64,
    (o, r): (&str, &str),
    head: &ChangeHead,
    (kind, analysed): (RefKind, &str),
) -> Result<bool, ForgeError> {
    let same = |sha: &str| sha.eq_ignore_ascii_case(analysed);
    if same(head.head_sha.as_str()) {
        return Ok(true);
    }
    if kind == RefKind::Branch {
        return Ok(false);
    }
    if head
        .merge_commit_sha
        .as_ref()
        .is_some_and(|m| same(m.as_str()))
    {
        return Ok(true);
    }
    match parents(forge, inst, o, r, analysed).await {
        Ok(p) => Ok(p
            .iter()
            .any(|p| p.eq_ignore_ascii_case(head.head_sha.as_str()))),
        // The analysed commit is gone (a force push): it cannot contain the head.
        Err(ForgeError::NotFound { .. }) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Reads code scanning for pull request `n` at `head`: the analyses of its merge ref, then
/// its open alerts. When the merge ref has no analysis at all and the head branch is in this
/// repository, an analysis of pushes to that branch at the head commit serves instead
/// (workflows that scan on `push` only); without one either, the merge ref is what is
/// awaited.
pub(crate) async fn read(
    forge: &GithubForge,
    inst: u64,
    o: &str,
    r: &str,
    n: u64,
    head: &ChangeHead,
) -> Result<Scanned, ForgeError> {
    let merge = read_ref(
        forge,
        inst,
        (o, r),
        head,
        RefKind::Merge,
        format!("refs/pull/{n}/merge"),
    )
    .await?;
    let (Scanned::NoAnalysis { .. }, Some(branch)) = (&merge, &head.head_branch) else {
        return Ok(merge);
    };
    let pushed = read_ref(
        forge,
        inst,
        (o, r),
        head,
        RefKind::Branch,
        format!("refs/heads/{branch}"),
    )
    .await?;
    Ok(match pushed {
        Scanned::NoAnalysis { .. } => merge,
        other => other,
    })
}

/// Reads code scanning for `git_ref`: its analyses (each tool's newest must be about the
/// head), then its open alerts.
async fn read_ref(
    forge: &GithubForge,
    inst: u64,
    (o, r): (&str, &str),
    head: &ChangeHead,
    kind: RefKind,
    git_ref: String,
) -> Result<Scanned, ForgeError> {
    let source = format!("GitHub code scanning, {git_ref}");
    // What a refused read means, for either request: no analysis yet (404), or code scanning
    // the App cannot read (403), which fails closed; other errors go back to the queue.
    let refused = |e: ForgeError, git_ref: String| match e {
        ForgeError::NotFound { .. } => Ok(Scanned::NoAnalysis { git_ref }),
        ForgeError::Forbidden { what } => Ok(Scanned::Unreadable {
            why: format!(
                "{source}: {what} (code scanning must be enabled for the repository, and the App needs `security_events: read`)"
            ),
            git_ref,
        }),
        e => Err(e),
    };

    let path = format!(
        "/repos/{o}/{r}/code-scanning/analyses?ref={}&per_page=100",
        encode(&git_ref)
    );
    let what = format!("GET /repos/{o}/{r}/code-scanning/analyses");
    let analyses: Vec<model::Analysis> =
        match forge.http.call(inst, Method::GET, &path, None, &what).await {
            Ok(reply) => reply.json(&what)?,
            Err(e) => return refused(e, git_ref),
        };
    if analyses.is_empty() {
        return Ok(Scanned::NoAnalysis { git_ref });
    }
    for (tool, a) in newest_per_tool(&analyses) {
        if !a.error.trim().is_empty() {
            let why = format!(
                "{source}: the newest {tool} analysis (id {}) failed: {}",
                a.id,
                a.error.trim()
            );
            return Ok(Scanned::Unreadable { git_ref, why });
        }
        if !covers_head(forge, inst, (o, r), head, (kind, &a.commit_sha)).await? {
            return Ok(Scanned::Stale {
                git_ref,
                tool,
                analysed: a.commit_sha.clone(),
            });
        }
    }

    let path = format!(
        "/repos/{o}/{r}/code-scanning/alerts?ref={}&state=open&per_page=100",
        encode(&git_ref)
    );
    let what = format!("GET /repos/{o}/{r}/code-scanning/alerts");
    let answer = forge
        .http
        .pages_bounded(inst, &path, MAX_ALERTS / 100, &what, |reply| {
            reply.json::<Vec<serde_json::Value>>(&what)
        })
        .await;
    let alerts = match answer {
        Ok((_, true)) => {
            let why = format!(
                "{source}: more than {MAX_ALERTS} open alerts; only the first {MAX_ALERTS} can be read, so the rest could not be judged"
            );
            return Ok(Scanned::Unreadable { git_ref, why });
        }
        Ok((alerts, false)) => alerts,
        Err(e) => return refused(e, git_ref),
    };
    Ok(
        match parse_code_scanning_alerts(&source, &serde_json::Value::Array(alerts)) {
            Ok(report) => Scanned::Alerts {
                git_ref,
                report: Box::new(report),
            },
            Err(e) => Scanned::Unreadable {
                git_ref,
                why: e.to_string(),
            },
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn analysis(
        id: u64,
        tool: &str,
        category: Option<&str>,
        at: &str,
        sha: &str,
    ) -> model::Analysis {
        model::Analysis {
            id,
            commit_sha: sha.into(),
            category: category.map(str::to_string),
            created_at: at.parse().unwrap_or_default(),
            error: String::new(),
            tool: model::AnalysisTool {
                name: Some(tool.into()),
            },
        }
    }

    #[test]
    fn the_newest_analysis_of_each_tool_and_category_is_judged() {
        let all = [
            analysis(
                1,
                "CodeQL",
                Some("/language:go"),
                "2026-11-20T10:00:00Z",
                "old",
            ),
            analysis(
                3,
                "CodeQL",
                Some("/language:go"),
                "2026-11-21T10:00:00Z",
                "new",
            ),
            analysis(
                2,
                "CodeQL",
                Some("/language:js"),
                "2026-11-20T11:00:00Z",
                "js",
            ),
            analysis(4, "Semgrep", None, "2026-11-19T10:00:00Z", "sg"),
            analysis(5, "Semgrep", Some(""), "2026-11-18T10:00:00Z", "older"),
        ];
        let newest: Vec<(String, String)> = newest_per_tool(&all)
            .into_iter()
            .map(|(k, a)| (k, a.commit_sha.clone()))
            .collect();
        assert_eq!(
            newest,
            vec![
                ("CodeQL (/language:go)".to_string(), "new".to_string()),
                ("CodeQL (/language:js)".to_string(), "js".to_string()),
                ("Semgrep".to_string(), "sg".to_string()),
            ]
        );
    }
}
