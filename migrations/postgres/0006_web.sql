-- Login and access for the service's pages (PostgreSQL). Times are Unix milliseconds (UTC).

-- Signed-in browsers. The cookie carries a random id and its MAC; only the id's SHA-256 is
-- stored, so a copy of this table opens no session. The forge token is the user's OAuth
-- token, used to ask the forge whether the user may read a repository; it never leaves the
-- service and is stored encrypted (AES-256-GCM under a key derived from the session key,
-- bound to the row). kind: github | gitlab | auditor.
CREATE TABLE web_sessions (
    id_hash          TEXT    PRIMARY KEY,
    kind             TEXT    NOT NULL,
    login            TEXT    NOT NULL,
    forge_token      TEXT,
    auditor_token_id BIGINT,
    created_at       BIGINT  NOT NULL,
    expires_at       BIGINT  NOT NULL
);
CREATE INDEX web_sessions_expiry ON web_sessions (expires_at);

-- OAuth `state` values handed out and not yet used (SHA-256 only): a callback takes its row,
-- so a state works once.
CREATE TABLE web_oauth_states (
    state_hash TEXT    PRIMARY KEY,
    expires_at BIGINT  NOT NULL
);

-- Read-only tokens for auditors without forge accounts: the SHA-256 of the token only,
-- the repositories it opens (JSON list of "forge:path"), its expiry and revocation.
CREATE TABLE auditor_tokens (
    id         BIGSERIAL PRIMARY KEY,
    token_hash TEXT    NOT NULL UNIQUE,
    repos      TEXT    NOT NULL,
    note       TEXT    NOT NULL,
    created_at BIGINT  NOT NULL,
    expires_at BIGINT  NOT NULL,
    revoked_at BIGINT
);
