-- `/sdl` comment commands (PostgreSQL): threat-model references and which comments were handled.

-- Threat-model references recorded with `/sdl threat-model`; fed to the threat_model gate.
-- Revoked (like waivers) when the comment that recorded them is edited or deleted.
CREATE TABLE threat_model_refs (
    id          BIGSERIAL PRIMARY KEY,
    forge       TEXT    NOT NULL,
    repository  TEXT    NOT NULL,
    number      BIGINT  NOT NULL,
    reference   TEXT    NOT NULL,
    author      TEXT    NOT NULL,
    created_at  BIGINT  NOT NULL,
    sha         TEXT    NOT NULL,
    comment_id  BIGINT,
    revoked     TEXT,
    revoked_at  BIGINT
);
CREATE INDEX threat_model_refs_change ON threat_model_refs (forge, repository, number);

-- Comments whose commands were run: a job re-run after a crash must not run them twice.
-- state: started (effects may be partly done) | done.
CREATE TABLE handled_commands (
    forge       TEXT    NOT NULL,
    repository  TEXT    NOT NULL,
    comment_id  BIGINT  NOT NULL,
    number      BIGINT  NOT NULL,
    state       TEXT    NOT NULL,
    started_at  BIGINT  NOT NULL,
    finished_at BIGINT,
    PRIMARY KEY (forge, repository, comment_id)
);

-- Waiver expiry at start-up: unrevoked waivers by expiry.
CREATE INDEX waivers_expiry ON waivers (expires_at) WHERE revoked IS NULL;
CREATE INDEX waivers_comment ON waivers (forge, repository, comment_id);
