-- `/sdl` comment commands (SQLite): threat-model references and which comments were handled.

-- Threat-model references recorded with `/sdl threat-model`; fed to the threat_model gate.
-- Revoked (like waivers) when the comment that recorded them is edited or deleted.
CREATE TABLE threat_model_refs (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    forge       TEXT    NOT NULL,
    repository  TEXT    NOT NULL,
    number      INTEGER NOT NULL,
    reference   TEXT    NOT NULL,
    author      TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    sha         TEXT    NOT NULL,
    comment_id  INTEGER,
    revoked     TEXT,
    revoked_at  INTEGER
);
CREATE INDEX threat_model_refs_change ON threat_model_refs (forge, repository, number);

-- Comments whose commands were run: a job re-run after a crash must not run them twice.
-- state: started (effects may be partly done) | done.
CREATE TABLE handled_commands (
    forge       TEXT    NOT NULL,
    repository  TEXT    NOT NULL,
    comment_id  INTEGER NOT NULL,
    number      INTEGER NOT NULL,
    state       TEXT    NOT NULL,
    started_at  INTEGER NOT NULL,
    finished_at INTEGER,
    PRIMARY KEY (forge, repository, comment_id)
);

-- Waiver expiry at start-up: unrevoked waivers by expiry.
CREATE INDEX waivers_expiry ON waivers (expires_at) WHERE revoked IS NULL;
CREATE INDEX waivers_comment ON waivers (forge, repository, comment_id);
