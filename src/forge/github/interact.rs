//! The conversation calls of `/sdl` commands on GitHub: reactions on an issue comment,
//! replies on the pull request, finding an earlier reply, and a collaborator's permission.

use http::Method;
use serde::Deserialize;
use serde_json::json;

use crate::commands::Permission;
use crate::forge::{ChangeRef, ForgeError, Interact, Reaction};
use crate::snapshot::Login;

use super::http::encode;
use super::publish::bot_login;
use super::{GithubForge, installation, model, split_repo};

/// `GET /repos/{o}/{r}/collaborators/{user}/permission`: `permission` is the legacy name
/// (`admin`, `write`, `read`, `none`; `maintain` shows as `write`, `triage` as `read`),
/// `role_name` the precise one when present.
#[derive(Debug, Deserialize)]
struct PermissionAnswer {
    permission: String,
    #[serde(default)]
    role_name: Option<String>,
}

/// The permission GitHub answered: `role_name` when it is a known role, else `permission`.
fn permission_of(answer: &PermissionAnswer) -> Option<Permission> {
    answer
        .role_name
        .as_deref()
        .and_then(Permission::parse)
        .or_else(|| Permission::parse(&answer.permission))
}

impl Interact for GithubForge {
    async fn react(
        &self,
        change: &ChangeRef,
        comment_id: u64,
        reaction: Reaction,
    ) -> Result<(), ForgeError> {
        let inst = installation(change)?;
        let (owner, repo) = split_repo(&change.repository)?;
        let path = format!(
            "/repos/{}/{}/issues/comments/{comment_id}/reactions",
            encode(owner),
            encode(repo)
        );
        let what = format!("POST {path}");
        // 201 adds it, 200 says it was there already: both are what we want.
        self.http
            .call(
                inst,
                Method::POST,
                &path,
                Some(&json!({ "content": reaction.as_github() })),
                &what,
            )
            .await
            .map(|_| ())
    }

    async fn reply(&self, change: &ChangeRef, body: &str) -> Result<u64, ForgeError> {
        let inst = installation(change)?;
        let (owner, repo) = split_repo(&change.repository)?;
        let path = format!(
            "/repos/{}/{}/issues/{}/comments",
            encode(owner),
            encode(repo),
            change.number
        );
        let what = format!("POST {path}");
        Ok(self
            .http
            .call(
                inst,
                Method::POST,
                &path,
                Some(&json!({ "body": body })),
                &what,
            )
            .await?
            .json::<model::Created>(&what)?
            .id)
    }

    async fn find_reply(
        &self,
        change: &ChangeRef,
        marker: &str,
    ) -> Result<Option<u64>, ForgeError> {
        let inst = installation(change)?;
        let bot = bot_login(self).await?;
        let (owner, repo) = split_repo(&change.repository)?;
        let base = format!(
            "/repos/{}/{}/issues/{}/comments",
            encode(owner),
            encode(repo),
            change.number
        );
        let what = format!("GET {base}");
        let comments = self
            .http
            .pages(inst, &format!("{base}?per_page=100"), 30, &what, |r| {
                r.json::<Vec<model::Comment>>(&what)
            })
            .await?;
        Ok(comments.into_iter().find_map(|c| {
            let ours = c.user.is_some_and(|u| u.login.eq_ignore_ascii_case(&bot));
            (ours && c.body.is_some_and(|b| b.starts_with(marker))).then_some(c.id)
        }))
    }

    async fn permission(
        &self,
        change: &ChangeRef,
        login: &Login,
    ) -> Result<Option<Permission>, ForgeError> {
        let inst = installation(change)?;
        let (owner, repo) = split_repo(&change.repository)?;
        let path = format!(
            "/repos/{}/{}/collaborators/{}/permission",
            encode(owner),
            encode(repo),
            encode(login.as_str())
        );
        let what = format!("GET {path}");
        match self.http.call(inst, Method::GET, &path, None, &what).await {
            Ok(reply) => Ok(permission_of(&reply.json::<PermissionAnswer>(&what)?)),
            // Not a user GitHub knows as a collaborator: no permission to count.
            Err(ForgeError::NotFound { .. }) => Ok(None),
            // The App may not read permissions (it needs `metadata: read` and, for private
            // repositories, push access): the policy's users and teams still decide.
            Err(ForgeError::Forbidden { what }) => {
                tracing::warn!(%what, "cannot read a collaborator's permission");
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_name_wins_over_the_legacy_permission() {
        // Recorded answer (pygithub-replay Repository.testCollaboratorRoleName): a maintainer
        // shows as `write` in `permission`.
        let a: PermissionAnswer = serde_json::from_str(
            r#"{"user":{"login":"jacquev6"},"permission":"write","role_name":"maintain"}"#,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(permission_of(&a), Some(Permission::Maintain));
        let a: PermissionAnswer =
            serde_json::from_str(r#"{"permission":"read"}"#).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(permission_of(&a), Some(Permission::Read));
        let a: PermissionAnswer =
            serde_json::from_str(r#"{"permission":"admin","role_name":"custom-role"}"#)
                .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(permission_of(&a), Some(Permission::Admin));
    }
}
