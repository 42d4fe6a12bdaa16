//! The tables behind login to the service's pages (`crate::web::auth`): browser sessions,
//! the OAuth `state` values in flight, and auditors' read-only tokens. Only hashes of the
//! session ids, states and auditor tokens are stored; the user's forge token is kept here,
//! encrypted by `crate::web::auth` (and never sent to the browser), so that the service can ask
//! the forge on the user's behalf.

use super::{Store, StoreError, now_ms, on_pool};

/// A session to create.
pub struct NewWebSession<'a> {
    /// SHA-256 (hex) of the session id the cookie carries.
    pub id_hash: &'a str,
    /// `github`, `gitlab` or `auditor`.
    pub kind: &'a str,
    /// The forge login, or `auditor:<token id>`.
    pub login: &'a str,
    /// The user's OAuth token on the forge, sealed by the caller (not for auditors).
    pub forge_token: Option<&'a str>,
    /// The auditor token the session was opened with.
    pub auditor_token_id: Option<i64>,
    /// Unix milliseconds after which the session is void.
    pub expires_at: i64,
}

/// A live session, as read back. No `Debug`: it holds the forge token.
#[derive(sqlx::FromRow)]
pub struct StoredWebSession {
    /// `github`, `gitlab` or `auditor`.
    pub kind: String,
    /// The login.
    pub login: String,
    /// The user's OAuth token on the forge.
    pub forge_token: Option<String>,
    /// The auditor token the session was opened with.
    pub auditor_token_id: Option<i64>,
    /// When it ends (Unix milliseconds).
    pub expires_at: i64,
    /// The repositories of the auditor token (JSON list of `forge:path`).
    pub auditor_repos: Option<String>,
}

/// An auditor token as stored (never the token itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredAuditorToken {
    /// Its number, for `auditor-token revoke`.
    pub id: i64,
    /// The repositories it opens, `forge:path`.
    pub repos: Vec<String>,
    /// Who it was made for (free text).
    pub note: String,
    /// When it was made (Unix milliseconds).
    pub created_at: i64,
    /// When it stops working (Unix milliseconds).
    pub expires_at: i64,
    /// When it was revoked, if it was.
    pub revoked_at: Option<i64>,
}

#[derive(sqlx::FromRow)]
struct TokenRow {
    id: i64,
    repos: String,
    note: String,
    created_at: i64,
    expires_at: i64,
    revoked_at: Option<i64>,
}

impl TryFrom<TokenRow> for StoredAuditorToken {
    type Error = StoreError;
    fn try_from(r: TokenRow) -> Result<StoredAuditorToken, StoreError> {
        let repos: Vec<String> = serde_json::from_str(&r.repos).map_err(|e| {
            StoreError::Corrupt(format!("auditor token {}: repositories: {e}", r.id))
        })?;
        Ok(StoredAuditorToken {
            id: r.id,
            repos,
            note: r.note,
            created_at: r.created_at,
            expires_at: r.expires_at,
            revoked_at: r.revoked_at,
        })
    }
}

impl Store {
    /// Records an OAuth `state` (its hash) until `expires_at`, and forgets expired ones.
    pub async fn put_oauth_state(
        &self,
        state_hash: &str,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        let now = now_ms();
        on_pool!(&self.db, pool => {
            sqlx::query("DELETE FROM web_oauth_states WHERE expires_at <= $1")
                .bind(now)
                .execute(pool)
                .await?;
            sqlx::query("INSERT INTO web_oauth_states (state_hash, expires_at) VALUES ($1, $2)")
                .bind(state_hash)
                .bind(expires_at)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// Takes an OAuth `state` (its hash): true once, while it has not expired; false after.
    pub async fn take_oauth_state(&self, state_hash: &str) -> Result<bool, StoreError> {
        let now = now_ms();
        let done = on_pool!(&self.db, pool => {
            sqlx::query("DELETE FROM web_oauth_states WHERE state_hash = $1 AND expires_at > $2")
                .bind(state_hash)
                .bind(now)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(done == 1)
    }

    /// Creates a session, and deletes expired ones.
    pub async fn create_web_session(&self, s: &NewWebSession<'_>) -> Result<(), StoreError> {
        let now = now_ms();
        on_pool!(&self.db, pool => {
            sqlx::query("DELETE FROM web_sessions WHERE expires_at <= $1")
                .bind(now)
                .execute(pool)
                .await?;
            sqlx::query(
                "INSERT INTO web_sessions (id_hash, kind, login, forge_token, auditor_token_id, created_at, expires_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(s.id_hash)
            .bind(s.kind)
            .bind(s.login)
            .bind(s.forge_token)
            .bind(s.auditor_token_id)
            .bind(now)
            .bind(s.expires_at)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// The session with this id hash when it is live: not expired and, for an auditor, its
    /// token neither expired nor revoked.
    pub async fn web_session(&self, id_hash: &str) -> Result<Option<StoredWebSession>, StoreError> {
        let now = now_ms();
        let row = on_pool!(&self.read, pool => {
            sqlx::query_as::<_, StoredWebSession>(
                "SELECT s.kind, s.login, s.forge_token, s.auditor_token_id, s.expires_at, t.repos AS auditor_repos \
                 FROM web_sessions s LEFT JOIN auditor_tokens t ON t.id = s.auditor_token_id \
                 WHERE s.id_hash = $1 AND s.expires_at > $2 \
                 AND (s.auditor_token_id IS NULL OR (t.id IS NOT NULL AND t.revoked_at IS NULL AND t.expires_at > $2))",
            )
            .bind(id_hash)
            .bind(now)
            .fetch_optional(pool)
            .await?
        });
        Ok(row)
    }

    /// Ends a session (logout); false when there was none.
    pub async fn delete_web_session(&self, id_hash: &str) -> Result<bool, StoreError> {
        let n = on_pool!(&self.db, pool => {
            sqlx::query("DELETE FROM web_sessions WHERE id_hash = $1")
                .bind(id_hash)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(n > 0)
    }

    /// Stores a new auditor token (its hash) and returns its id.
    pub async fn create_auditor_token(
        &self,
        token_hash: &str,
        repos: &[String],
        note: &str,
        expires_at: i64,
    ) -> Result<i64, StoreError> {
        let repos = serde_json::to_string(repos)
            .map_err(|e| StoreError::Corrupt(format!("auditor token repositories: {e}")))?;
        let now = now_ms();
        let id: (i64,) = on_pool!(&self.db, pool => {
            sqlx::query_as(
                "INSERT INTO auditor_tokens (token_hash, repos, note, created_at, expires_at) \
                 VALUES ($1, $2, $3, $4, $5) RETURNING id",
            )
            .bind(token_hash)
            .bind(&repos)
            .bind(note)
            .bind(now)
            .bind(expires_at)
            .fetch_one(pool)
            .await?
        });
        Ok(id.0)
    }

    /// The auditor token with this hash when it may be used now (not expired, not revoked).
    pub async fn usable_auditor_token(
        &self,
        token_hash: &str,
    ) -> Result<Option<StoredAuditorToken>, StoreError> {
        let now = now_ms();
        let row = on_pool!(&self.db, pool => {
            sqlx::query_as::<_, TokenRow>(
                "SELECT id, repos, note, created_at, expires_at, revoked_at FROM auditor_tokens \
                 WHERE token_hash = $1 AND revoked_at IS NULL AND expires_at > $2",
            )
                .bind(token_hash)
                .bind(now)
                .fetch_optional(pool)
                .await?
        });
        row.map(StoredAuditorToken::try_from).transpose()
    }

    /// Every auditor token, newest first.
    pub async fn auditor_tokens(&self) -> Result<Vec<StoredAuditorToken>, StoreError> {
        let rows = on_pool!(&self.read, pool => {
            sqlx::query_as::<_, TokenRow>(
                "SELECT id, repos, note, created_at, expires_at, revoked_at FROM auditor_tokens ORDER BY id DESC",
            )
                .fetch_all(pool)
                .await?
        });
        rows.into_iter().map(StoredAuditorToken::try_from).collect()
    }

    /// Revokes auditor token `id` and ends its sessions; false when there is no such token
    /// or it was already revoked.
    pub async fn revoke_auditor_token(&self, id: i64) -> Result<bool, StoreError> {
        let now = now_ms();
        let n = on_pool!(&self.db, pool => {
            let n = sqlx::query(
                "UPDATE auditor_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL",
            )
            .bind(now)
            .bind(id)
            .execute(pool)
            .await?
            .rows_affected();
            sqlx::query("DELETE FROM web_sessions WHERE auditor_token_id = $1")
                .bind(id)
                .execute(pool)
                .await?;
            n
        });
        Ok(n == 1)
    }
}
