-- sdl-gate service schema (SQLite). Times are Unix milliseconds (UTC), JSON is TEXT.

-- Every acted-on delivery, committed before the webhook is answered; (forge, delivery_id)
-- deduplicates redeliveries.
CREATE TABLE deliveries (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    forge       TEXT    NOT NULL,
    delivery_id TEXT    NOT NULL,
    event       TEXT    NOT NULL,
    action      TEXT,
    received_at INTEGER NOT NULL,
    payload     TEXT    NOT NULL,
    UNIQUE (forge, delivery_id)
);

-- One row per change request (or commit / repository / installation): bursts coalesce here.
-- state: pending | running | done | parked. lease_token fences a worker whose lease expired.
CREATE TABLE jobs (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    key          TEXT    NOT NULL UNIQUE,
    forge        TEXT    NOT NULL,
    repository   TEXT    NOT NULL,
    target_kind  TEXT    NOT NULL,
    target_value TEXT    NOT NULL,
    state        TEXT    NOT NULL,
    run_after    INTEGER NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    lease_owner  TEXT,
    lease_until  INTEGER,
    lease_token  INTEGER NOT NULL DEFAULT 0,
    claimed_upto INTEGER,
    last_error   TEXT,
    runs         INTEGER NOT NULL DEFAULT 0,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
);
CREATE INDEX jobs_due ON jobs (state, run_after);
CREATE INDEX jobs_lease ON jobs (state, lease_until);

-- The events a job has not yet processed (processed_at NULL) and their history.
CREATE TABLE job_events (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id       INTEGER NOT NULL REFERENCES jobs (id),
    delivery_pk  INTEGER NOT NULL REFERENCES deliveries (id),
    detail       TEXT,
    processed_at INTEGER
);
CREATE INDEX job_events_open ON job_events (job_id, id) WHERE processed_at IS NULL;

-- Every evaluation result, for `/sdl status` and the evidence ledger.
CREATE TABLE evaluations (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    forge        TEXT    NOT NULL,
    repository   TEXT    NOT NULL,
    number       INTEGER NOT NULL,
    head_sha     TEXT    NOT NULL,
    verdict      TEXT    NOT NULL,
    evaluated_at INTEGER NOT NULL,
    result       TEXT    NOT NULL
);
CREATE INDEX evaluations_change ON evaluations (forge, repository, number, id);

-- Waivers granted with `/sdl waive`.
CREATE TABLE waivers (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    forge       TEXT    NOT NULL,
    repository  TEXT    NOT NULL,
    number      INTEGER NOT NULL,
    gate        TEXT    NOT NULL,
    reason      TEXT    NOT NULL,
    author      TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    sha         TEXT    NOT NULL,
    comment_id  INTEGER,
    revoked     TEXT,
    revoked_at  INTEGER
);
CREATE INDEX waivers_change ON waivers (forge, repository, number);
