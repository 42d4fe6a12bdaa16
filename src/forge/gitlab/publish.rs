//! Publishing to a merge request: the `sdl-gate` commit status on the head commit and the
//! sticky note, both create-or-update so that retries never duplicate them; award emoji and
//! reply notes for `/sdl` commands.
//!
//! **Status.** `POST /projects/:id/statuses/:sha` with `name=sdl-gate`: `pending` when an
//! evaluation of a commit without our status starts, then `success` or `failed` (a gate
//! that waits for a review or report is `failed` too: fail closed, GitLab has no "action
//! required"). A status that already says the same is not posted again (GitLab also refuses
//! some same-state transitions). The description names the blocking gates, cut to 255
//! characters; `target_url` is the service's details page.
//!
//! **Sticky note.** The bot's note whose body starts with [`COMMENT_MARKER`], found by listing
//! the merge request's notes (skipped when the merge request has no notes), edited in place
//! with `PUT` only when its text changed apart from the evaluation time.
//!
//! **Replies.** A reply to a command note ends with a hidden `<!-- sdl-gate:reply:KEY -->`
//! line; a retried job finds it and posts no second reply.

use std::time::Instant;

use http::Method;
use serde_json::json;

use crate::forge::{
    ChangeRef, CommentAction, Conclusion, ForgeError, Notice, PublishOptions, Published, StickyPlan,
};
use crate::publication::{COMMENT_MARKER, Publication, same_report};
use crate::snapshot::Sha;

use super::http::encode;
use super::{
    DESCRIPTION_LIMIT, GitlabForge, STATUS_HINT, STATUS_NAME, StatusHint, lock, model, remember,
};

/// Award emoji used to acknowledge commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Emoji {
    /// 👀 seen, working on it.
    Eyes,
    /// 👍 done.
    ThumbsUp,
    /// 😕 refused or not understood.
    Confused,
}

impl Emoji {
    /// GitLab's name for it.
    pub fn name(self) -> &'static str {
        match self {
            Emoji::Eyes => "eyes",
            Emoji::ThumbsUp => "thumbsup",
            Emoji::Confused => "confused",
        }
    }
}

fn project(change: &ChangeRef) -> String {
    format!("projects/{}", encode(change.repository.trim_matches('/')))
}

/// GitLab's status for a conclusion.
pub(crate) fn gitlab_state(c: Conclusion) -> &'static str {
    match c {
        Conclusion::Success | Conclusion::Neutral => "success",
        Conclusion::Failure | Conclusion::ActionRequired => "failed",
    }
}

/// `text` cut to GitLab's description limit (characters), with an ellipsis when cut.
pub(crate) fn description(text: &str) -> String {
    let one_line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() <= DESCRIPTION_LIMIT {
        return one_line;
    }
    let mut out: String = one_line.chars().take(DESCRIPTION_LIMIT - 1).collect();
    out.push('…');
    out
}

/// Our status on `sha`: a fresh hint from the snapshot, or a listing by name.
async fn find_status(
    forge: &GitlabForge,
    change: &ChangeRef,
    sha: &Sha,
) -> Result<Option<StatusHint>, ForgeError> {
    let key = (change.repository.clone(), sha.clone());
    if let Some((hint, at)) = lock(&forge.hints.statuses).get(&key)
        && (hint.is_some() || at.elapsed() < STATUS_HINT)
    {
        return Ok(hint.clone());
    }
    let path = format!(
        "{}/repository/commits/{sha}/statuses?name={STATUS_NAME}",
        project(change)
    );
    let what = format!("GET /{path}");
    let statuses: Vec<model::CommitStatus> = forge.http.pages(&path, 10, &what).await?;
    let found = statuses
        .into_iter()
        .filter(|s| s.name == STATUS_NAME && s.author.as_ref().is_none_or(|a| a.id == forge.bot_id))
        .max_by_key(|s| s.id)
        .map(|s| StatusHint {
            status: s.status,
            description: s.description.unwrap_or_default(),
            target_url: s.target_url,
        });
    remember(&forge.hints.statuses, key, (found.clone(), Instant::now()));
    Ok(found)
}

/// Posts our status on `sha` unless it already says the same. Returns whether it posted.
async fn upsert_status(
    forge: &GitlabForge,
    change: &ChangeRef,
    sha: &Sha,
    want: StatusHint,
) -> Result<bool, ForgeError> {
    let existing = find_status(forge, change, sha).await?;
    if existing.as_ref().is_some_and(|h| {
        h.status == want.status
            && h.description == want.description
            && (want.target_url.is_none() || h.target_url == want.target_url)
    }) {
        return Ok(false);
    }
    let path = format!("{}/statuses/{sha}", project(change));
    let what = format!("POST /{path}");
    let mut body = json!({
        "state": want.status,
        "name": STATUS_NAME,
        "description": want.description,
    });
    if let Some(url) = &want.target_url {
        body["target_url"] = json!(url);
    }
    forge
        .http
        .call(Method::POST, &path, Some(&body), &what)
        .await?;
    remember(
        &forge.hints.statuses,
        (change.repository.clone(), sha.clone()),
        (Some(want), Instant::now()),
    );
    Ok(true)
}

/// Sets `pending` on a commit that has no status of ours yet.
pub(crate) async fn mark_pending(
    forge: &GitlabForge,
    change: &ChangeRef,
    sha: &Sha,
) -> Result<(), ForgeError> {
    if find_status(forge, change, sha).await?.is_none() {
        upsert_status(
            forge,
            change,
            sha,
            StatusHint {
                status: "pending".into(),
                description: "sdl-gate is evaluating this merge request".into(),
                target_url: None,
            },
        )
        .await?;
    }
    Ok(())
}

/// The bot's sticky note on the merge request, if any.
async fn find_sticky(
    forge: &GitlabForge,
    change: &ChangeRef,
    use_hints: bool,
) -> Result<Option<(u64, String)>, ForgeError> {
    let key = (change.repository.clone(), change.number);
    if use_hints {
        if let Some(h) = lock(&forge.hints.sticky).get(&key) {
            return Ok(Some(h.clone()));
        }
        if lock(&forge.hints.note_count).remove(&key) == Some(0) {
            return Ok(None);
        }
    }
    let notes = notes(forge, change).await?;
    let found = notes.into_iter().find_map(|n| {
        let body = n.body?;
        (!n.system && n.author.id == forge.bot_id && body.starts_with(COMMENT_MARKER))
            .then_some((n.id, body))
    });
    match &found {
        Some(h) => remember(&forge.hints.sticky, key, h.clone()),
        None => {
            lock(&forge.hints.sticky).remove(&key);
        }
    }
    Ok(found)
}

/// Every note of the merge request, oldest first.
async fn notes(forge: &GitlabForge, change: &ChangeRef) -> Result<Vec<model::Note>, ForgeError> {
    let path = format!(
        "{}/merge_requests/{}/notes?sort=asc&order_by=created_at",
        project(change),
        change.number
    );
    let what = format!(
        "GET /{}/merge_requests/{}/notes",
        project(change),
        change.number
    );
    forge.http.pages(&path, 50, &what).await
}

/// Creates or updates the sticky note.
async fn upsert_sticky(
    forge: &GitlabForge,
    change: &ChangeRef,
    body: &str,
    create: bool,
) -> Result<(Option<u64>, CommentAction), ForgeError> {
    let key = (change.repository.clone(), change.number);
    let payload = json!({ "body": body });
    let base = format!("{}/merge_requests/{}/notes", project(change), change.number);
    for use_hints in [true, false] {
        match find_sticky(forge, change, use_hints).await? {
            Some((id, old)) if same_report(&old, body) => {
                return Ok((Some(id), CommentAction::Unchanged));
            }
            Some((id, _)) => {
                let path = format!("{base}/{id}");
                let what = format!("PUT /{path}");
                match forge
                    .http
                    .call(Method::PUT, &path, Some(&payload), &what)
                    .await
                {
                    Ok(_) => {
                        remember(&forge.hints.sticky, key, (id, body.to_string()));
                        return Ok((Some(id), CommentAction::Updated));
                    }
                    Err(ForgeError::NotFound { .. }) if use_hints => {
                        lock(&forge.hints.sticky).remove(&key);
                        continue;
                    }
                    Err(e) => return Err(e),
                }
            }
            None if create => {
                let what = format!("POST /{base}");
                let id = forge
                    .http
                    .call(Method::POST, &base, Some(&payload), &what)
                    .await?
                    .json::<model::Created>(&what)?
                    .id;
                remember(&forge.hints.sticky, key, (id, body.to_string()));
                return Ok((Some(id), CommentAction::Created));
            }
            None => return Ok((None, CommentAction::Skipped)),
        }
    }
    Ok((None, CommentAction::Skipped))
}

/// Publishes `publication`: the commit status, then the sticky note.
pub(crate) async fn publish(
    forge: &GitlabForge,
    change: &ChangeRef,
    publication: &Publication,
) -> Result<Published, ForgeError> {
    let p = publication;
    let conclusion = p.conclusion;
    let check_created = if p.skip_check_run {
        false
    } else {
        upsert_status(
            forge,
            change,
            &p.head_sha,
            StatusHint {
                status: gitlab_state(conclusion).into(),
                description: description(&p.title),
                target_url: p.details_url.clone(),
            },
        )
        .await?
    };
    let (comment_id, comment) = match p.sticky {
        StickyPlan::Skip => (None, CommentAction::Skipped),
        plan => {
            let create = plan == StickyPlan::Post;
            upsert_sticky(forge, change, &p.sticky_body, create).await?
        }
    };
    Ok(Published {
        check_id: None,
        check_created,
        conclusion,
        comment_id,
        comment,
    })
}

/// Publishes a notice (no policy, invalid policy) as the commit status; no note.
pub(crate) async fn publish_notice(
    forge: &GitlabForge,
    change: &ChangeRef,
    head_sha: &Sha,
    notice: &Notice,
    opts: &PublishOptions,
) -> Result<Published, ForgeError> {
    let created = upsert_status(
        forge,
        change,
        head_sha,
        StatusHint {
            status: gitlab_state(notice.conclusion).into(),
            description: description(&notice.title),
            target_url: opts.details_url.clone(),
        },
    )
    .await?;
    Ok(Published {
        check_id: None,
        check_created: created,
        conclusion: notice.conclusion,
        comment_id: None,
        comment: CommentAction::Skipped,
    })
}

/// Awards an emoji to a note; one already awarded is fine.
pub(crate) async fn award(
    forge: &GitlabForge,
    change: &ChangeRef,
    note_id: u64,
    emoji: Emoji,
) -> Result<(), ForgeError> {
    let path = format!(
        "{}/merge_requests/{}/notes/{note_id}/award_emoji",
        project(change),
        change.number
    );
    let what = format!("POST /{path}");
    let body = json!({ "name": emoji.name() });
    match forge
        .http
        .call(Method::POST, &path, Some(&body), &what)
        .await
    {
        Ok(_) => Ok(()),
        // "Award Emoji Name has already been taken" (GitLab answers 404 or 400 for it).
        Err(ForgeError::Rejected { what, .. } | ForgeError::NotFound { what })
            if what.contains("already been taken") =>
        {
            Ok(())
        }
        Err(e) => Err(e),
    }
}

/// Posts `body` as a new note on the merge request; returns its id.
pub(crate) async fn post_note(
    forge: &GitlabForge,
    change: &ChangeRef,
    body: &str,
) -> Result<u64, ForgeError> {
    let path = format!("{}/merge_requests/{}/notes", project(change), change.number);
    let what = format!("POST /{path}");
    let payload = json!({ "body": body });
    Ok(forge
        .http
        .call(Method::POST, &path, Some(&payload), &what)
        .await?
        .json::<model::Created>(&what)?
        .id)
}

/// The id of a note of the bot's on the merge request whose body starts with `marker`.
pub(crate) async fn find_note(
    forge: &GitlabForge,
    change: &ChangeRef,
    marker: &str,
) -> Result<Option<u64>, ForgeError> {
    Ok(notes(forge, change).await?.into_iter().find_map(|n| {
        let ours = !n.system && n.author.id == forge.bot_id;
        (ours && n.body.as_deref().is_some_and(|b| b.starts_with(marker))).then_some(n.id)
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptions_fit_gitlabs_limit() {
        let long = "gate ".repeat(200);
        let d = description(&long);
        assert_eq!(d.chars().count(), DESCRIPTION_LIMIT);
        assert!(d.ends_with('…'));
        assert_eq!(
            description("2 SDL gate(s)\nblock: a, b"),
            "2 SDL gate(s) block: a, b"
        );
    }

    #[test]
    fn conclusions_fail_closed() {
        assert_eq!(gitlab_state(Conclusion::ActionRequired), "failed");
        assert_eq!(gitlab_state(Conclusion::Failure), "failed");
        assert_eq!(gitlab_state(Conclusion::Success), "success");
    }
}
