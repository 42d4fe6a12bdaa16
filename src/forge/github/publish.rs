//! Publishing to a pull request: the `sdl-gate` check run on the head commit and the sticky
//! comment, both create-or-update so that retries and re-evaluations never duplicate them.
//!
//! **Check run.** Our run for the head commit is found in the check-runs listing the snapshot
//! just made (or, without one, by `GET …/commits/{sha}/check-runs?check_name=sdl-gate`), and
//! filtered by our App id. Found: `PATCH /repos/{o}/{r}/check-runs/{id}`; else
//! `POST /repos/{o}/{r}/check-runs` already completed with the result (one write instead of
//! an `in_progress` create followed by an update). Annotations go 50 per request, the first
//! batch in that request and further batches in further `PATCH`es. GitHub *appends*
//! annotations on every update, so the run's `external_id` records a fingerprint of the
//! annotations sent; an update with the same fingerprint sends none again, and the
//! fingerprint is written only with the last batch (a retry after a partial upload sends all
//! batches again: a duplicate annotation is preferable to a missing one). An update that
//! would change nothing is not sent at all.
//!
//! **Re-runs.** Every pull request run carries a "Re-evaluate" button (`actions`). When a
//! person clicks it, or GitHub's Re-run, the evaluation that follows creates a *new* run
//! (GitHub's guidance for a re-requested run, and visible proof that it ran); later
//! evaluations update that newest run.
//!
//! **Sticky comment.** Found among the pull request's comments as the one whose body starts
//! with [`COMMENT_MARKER`] and whose author is our App's bot; edited only when its body
//! differs. Created only when the policy's `report.comment` asks: `always`, or `on_failure`
//! when a gate fails. An existing sticky comment is always kept current, which also covers
//! "the last comment showed a failure and now it passes". Drafts get no new comment unless
//! the policy enforces drafts.
//!
//! **The remaining race.** Between our look-up and our create, another worker could create
//! the same check run or comment: two workers evaluating the same pull request at the same
//! moment. The queue closes it by running at most one job per pull request at a time (one
//! job per change, claimed with a lease). Should a lease expire while the first worker still
//! runs, two runs may exist for one head commit; the next evaluation then updates the newest
//! (GitHub shows the newest run of a name) and the first sticky comment.

use chrono::Utc;
use http::Method;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::forge::{
    ChangeRef, CommentAction, Conclusion, ForgeError, Notice, PublishOptions, Published, StickyPlan,
};
use crate::publication::{Annotation, COMMENT_MARKER, Publication, same_report};
use crate::snapshot::Sha;

use super::http::encode;
use super::model;
use super::{
    CHECK_NAME, GithubForge, RunHint, StickyHint, installation, lock, remember, split_repo,
};

/// The `external_id` of a notice run (no annotations).
const NOTICE_ID: &str = "sdl-gate:notice";

/// What the check run must show.
struct RunContent {
    conclusion: Conclusion,
    title: String,
    summary: String,
    text: Option<String>,
    batches: Vec<Vec<Annotation>>,
    external_id: String,
    details_url: Option<String>,
    /// Create a new run even when the head has one (a re-requested run).
    fresh: bool,
    /// Offer the "Re-evaluate" button.
    reevaluate: bool,
}

/// The check run's "Re-evaluate" button: GitHub sends `check_run` `requested_action` with
/// this identifier when it is clicked (label ≤ 20, description ≤ 40 characters).
fn reevaluate_action() -> Value {
    json!([{
        "label": "Re-evaluate",
        "description": "Evaluate the pull request again",
        "identifier": crate::events::github::REEVALUATE_ACTION,
    }])
}

/// A short fingerprint of the annotations, stored in the run's `external_id`.
fn fingerprint(batches: &[Vec<Annotation>]) -> String {
    let bytes = serde_json::to_vec(batches).unwrap_or_default();
    let digest = Sha256::digest(&bytes);
    format!("sdl-gate:{}", hex::encode(&digest[..8]))
}

fn unchanged(hint: &RunHint, c: &RunContent) -> bool {
    hint.conclusion.as_deref() == Some(c.conclusion.as_github())
        && hint.external_id.as_deref() == Some(c.external_id.as_str())
        && hint.title.as_deref() == Some(c.title.as_str())
        && hint
            .summary
            .as_deref()
            .is_some_and(|s| same_report(s, &c.summary))
        && hint.text.as_deref() == c.text.as_deref()
        && (c.details_url.is_none() || hint.details_url == c.details_url)
}

/// Our check run on `sha`: the snapshot's fresh listing, or a listing by name.
async fn find_run(
    forge: &GithubForge,
    inst: u64,
    change: &ChangeRef,
    sha: &Sha,
) -> Result<Option<RunHint>, ForgeError> {
    let key = (change.repository.clone(), sha.clone());
    if let Some(known) = forge.run_hint(&key) {
        return Ok(known);
    }
    let (owner, repo) = split_repo(&change.repository)?;
    let path = format!(
        "/repos/{}/{}/commits/{}/check-runs?check_name={CHECK_NAME}&per_page=100",
        encode(owner),
        encode(repo),
        sha
    );
    let what = format!(
        "GET /repos/{}/{}/commits/{sha}/check-runs?check_name={CHECK_NAME}",
        encode(owner),
        encode(repo)
    );
    let runs = forge
        .http
        .pages(inst, &path, 10, &what, |r| {
            Ok(r.json::<model::CheckRunList>(&what)?.check_runs)
        })
        .await?;
    let app_id = forge.http.app_id();
    Ok(runs
        .into_iter()
        .filter(|r| {
            r.name == CHECK_NAME
                && r.app
                    .as_ref()
                    .is_some_and(|a| app_id.is_none_or(|id| a.id == id))
        })
        .max_by_key(|r| r.id)
        .map(|r| RunHint {
            id: r.id,
            conclusion: r.conclusion,
            external_id: r.external_id,
            title: r.output.title,
            summary: r.output.summary,
            text: r.output.text,
            details_url: r.details_url,
        }))
}

/// Creates or updates our check run on `sha` to show `content`. Returns (id, created).
async fn upsert_run(
    forge: &GithubForge,
    inst: u64,
    change: &ChangeRef,
    sha: &Sha,
    content: RunContent,
) -> Result<(u64, bool), ForgeError> {
    let (owner, repo) = split_repo(&change.repository)?;
    let (o, r) = (encode(owner), encode(repo));
    let existing = if content.fresh {
        None
    } else {
        find_run(forge, inst, change, sha).await?
    };
    if let Some(h) = &existing
        && unchanged(h, &content)
    {
        return Ok((h.id, false));
    }
    // Annotations already sent with this fingerprint are not sent again (GitHub appends).
    let send_annotations = existing
        .as_ref()
        .is_none_or(|h| h.external_id.as_deref() != Some(content.external_id.as_str()));
    let batches: &[Vec<Annotation>] = if send_annotations {
        &content.batches
    } else {
        &[]
    };
    let requests = batches.len().max(1);
    let completed_at = Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string();

    let mut id = existing.as_ref().map(|h| h.id);
    let created = id.is_none();
    for i in 0..requests {
        let last = i + 1 == requests;
        let mut output = json!({
            "title": content.title,
            "summary": content.summary,
        });
        if let Some(text) = &content.text {
            output["text"] = json!(text);
        }
        if let Some(batch) = batches.get(i) {
            output["annotations"] = json!(batch);
        }
        let mut body = json!({ "output": output });
        if i == 0 {
            body["status"] = json!("completed");
            body["conclusion"] = json!(content.conclusion.as_github());
            body["completed_at"] = json!(completed_at);
            if let Some(url) = &content.details_url {
                body["details_url"] = json!(url);
            }
            if content.reevaluate {
                body["actions"] = reevaluate_action();
            }
        }
        // The fingerprint is written with the last batch only: a retry after a partial
        // upload sends every batch again.
        body["external_id"] = json!(if last {
            content.external_id.as_str()
        } else {
            "sdl-gate:partial"
        });
        id = Some(match id {
            Some(run) => {
                let path = format!("/repos/{o}/{r}/check-runs/{run}");
                let what = format!("PATCH {path}");
                forge
                    .http
                    .call(inst, Method::PATCH, &path, Some(&body), &what)
                    .await?
                    .json::<model::Created>(&what)?
                    .id
            }
            None => {
                body["name"] = json!(CHECK_NAME);
                body["head_sha"] = json!(sha.as_str());
                let path = format!("/repos/{o}/{r}/check-runs");
                let what = format!("POST {path}");
                let run = forge
                    .http
                    .call(inst, Method::POST, &path, Some(&body), &what)
                    .await?
                    .json::<model::Created>(&what)?
                    .id;
                // Known from now on, even if a later batch fails.
                forge.remember_run(
                    (change.repository.clone(), sha.clone()),
                    Some(RunHint {
                        id: run,
                        conclusion: Some(content.conclusion.as_github().into()),
                        external_id: Some(if last {
                            content.external_id.clone()
                        } else {
                            "sdl-gate:partial".into()
                        }),
                        title: Some(content.title.clone()),
                        summary: Some(content.summary.clone()),
                        text: content.text.clone(),
                        details_url: content.details_url.clone(),
                    }),
                );
                run
            }
        });
    }
    let run = id.unwrap_or_default();
    forge.remember_run(
        (change.repository.clone(), sha.clone()),
        Some(RunHint {
            id: run,
            conclusion: Some(content.conclusion.as_github().into()),
            external_id: Some(content.external_id.clone()),
            title: Some(content.title),
            summary: Some(content.summary),
            text: content.text,
            details_url: content.details_url,
        }),
    );
    Ok((run, created))
}

/// The login of our App's bot (`slug[bot]`): configured, or `GET /app` once.
pub(crate) async fn bot_login(forge: &GithubForge) -> Result<String, ForgeError> {
    if let Some(login) = &forge.bot_login {
        return Ok(login.clone());
    }
    forge
        .hints
        .bot_login
        .get_or_try_init(|| async {
            let what = "GET /app";
            let app: model::App = forge
                .http
                .app_call(Method::GET, "/app", None, what)
                .await?
                .json(what)?;
            Ok::<_, ForgeError>(format!("{}[bot]", app.slug))
        })
        .await
        .cloned()
}

/// Our sticky comment on the pull request, if any. `use_hints`: trust what this process
/// saw last (the comment we wrote, or a comment count of 0 from `head`).
async fn find_sticky(
    forge: &GithubForge,
    inst: u64,
    change: &ChangeRef,
    use_hints: bool,
) -> Result<Option<StickyHint>, ForgeError> {
    let key = (change.repository.clone(), change.number);
    if use_hints {
        if let Some(h) = lock(&forge.hints.sticky).get(&key) {
            return Ok(Some(h.clone()));
        }
        if lock(&forge.hints.comment_count).remove(&key) == Some(0) {
            return Ok(None);
        }
    }
    let bot = bot_login(forge).await?;
    let (owner, repo) = split_repo(&change.repository)?;
    let path = format!(
        "/repos/{}/{}/issues/{}/comments?per_page=100",
        encode(owner),
        encode(repo),
        change.number
    );
    let what = format!(
        "GET /repos/{}/{}/issues/{}/comments",
        encode(owner),
        encode(repo),
        change.number
    );
    let comments = forge
        .http
        .pages(inst, &path, 30, &what, |r| {
            r.json::<Vec<model::Comment>>(&what)
        })
        .await?;
    let found = comments.into_iter().find_map(|c| {
        let body = c.body?;
        let ours = c.user.is_some_and(|u| u.login.eq_ignore_ascii_case(&bot));
        (ours && body.starts_with(COMMENT_MARKER)).then_some(StickyHint { id: c.id, body })
    });
    match &found {
        Some(h) => remember(&forge.hints.sticky, key, h.clone()),
        None => {
            lock(&forge.hints.sticky).remove(&key);
        }
    }
    Ok(found)
}

/// Creates or updates the sticky comment with `body` as `mode` asks.
async fn upsert_sticky(
    forge: &GithubForge,
    inst: u64,
    change: &ChangeRef,
    body: &str,
    create: bool,
) -> Result<(Option<u64>, CommentAction), ForgeError> {
    let (owner, repo) = split_repo(&change.repository)?;
    let (o, r) = (encode(owner), encode(repo));
    let key = (change.repository.clone(), change.number);
    let payload: Value = json!({ "body": body });
    for use_hints in [true, false] {
        match find_sticky(forge, inst, change, use_hints).await? {
            Some(h) if same_report(&h.body, body) => {
                return Ok((Some(h.id), CommentAction::Unchanged));
            }
            Some(h) => {
                let path = format!("/repos/{o}/{r}/issues/comments/{}", h.id);
                let what = format!("PATCH {path}");
                match forge
                    .http
                    .call(inst, Method::PATCH, &path, Some(&payload), &what)
                    .await
                {
                    Ok(_) => {
                        remember(
                            &forge.hints.sticky,
                            key,
                            StickyHint {
                                id: h.id,
                                body: body.to_string(),
                            },
                        );
                        return Ok((Some(h.id), CommentAction::Updated));
                    }
                    // Deleted meanwhile: look again without hints.
                    Err(ForgeError::NotFound { .. }) if use_hints => {
                        lock(&forge.hints.sticky).remove(&key);
                        continue;
                    }
                    Err(e) => return Err(e),
                }
            }
            None if create => {
                let path = format!("/repos/{o}/{r}/issues/{}/comments", change.number);
                let what = format!("POST {path}");
                let id = forge
                    .http
                    .call(inst, Method::POST, &path, Some(&payload), &what)
                    .await?
                    .json::<model::Created>(&what)?
                    .id;
                remember(
                    &forge.hints.sticky,
                    key,
                    StickyHint {
                        id,
                        body: body.to_string(),
                    },
                );
                return Ok((Some(id), CommentAction::Created));
            }
            None => return Ok((None, CommentAction::Skipped)),
        }
    }
    Ok((None, CommentAction::Skipped))
}

/// Publishes `publication`: check run, then sticky comment.
pub(crate) async fn publish(
    forge: &GithubForge,
    change: &ChangeRef,
    publication: &Publication,
) -> Result<Published, ForgeError> {
    let inst = installation(change)?;
    let p = publication;
    let conclusion = p.conclusion;
    let content = RunContent {
        conclusion,
        title: p.title.clone(),
        summary: p.summary.clone(),
        text: Some(p.text.clone()),
        external_id: fingerprint(&p.annotations),
        batches: p.annotations.clone(),
        details_url: p.details_url.clone(),
        fresh: p.new_check_run,
        reevaluate: p.offer_reevaluate,
    };
    let (check_id, check_created) = if p.skip_check_run {
        (None, false)
    } else {
        let (id, created) = upsert_run(forge, inst, change, &p.head_sha, content).await?;
        (Some(id), created)
    };

    let (comment_id, comment) = match p.sticky {
        StickyPlan::Skip => (None, CommentAction::Skipped),
        plan => {
            let create = plan == StickyPlan::Post;
            upsert_sticky(forge, inst, change, &p.sticky_body, create).await?
        }
    };
    Ok(Published {
        check_id,
        check_created,
        conclusion,
        comment_id,
        comment,
    })
}

/// Publishes a notice (no policy, invalid policy) as the check run; no comment.
pub(crate) async fn publish_notice(
    forge: &GithubForge,
    change: &ChangeRef,
    head_sha: &Sha,
    notice: &Notice,
    opts: &PublishOptions,
) -> Result<Published, ForgeError> {
    let inst = installation(change)?;
    let content = RunContent {
        conclusion: notice.conclusion,
        title: notice.title.clone(),
        summary: notice.summary.clone(),
        text: None,
        batches: Vec::new(),
        external_id: NOTICE_ID.to_string(),
        details_url: opts.details_url.clone(),
        fresh: false,
        reevaluate: true,
    };
    let (check_id, check_created) = upsert_run(forge, inst, change, head_sha, content).await?;
    let check_id = Some(check_id);
    Ok(Published {
        check_id,
        check_created,
        conclusion: notice.conclusion,
        comment_id: None,
        comment: CommentAction::Skipped,
    })
}
