-- sdl-gate service schema (PostgreSQL). Times are Unix milliseconds (UTC), JSON is TEXT.

-- Every acted-on delivery, committed before the webhook is answered; (forge, delivery_id)
-- deduplicates redeliveries.
CREATE TABLE deliveries (
    id          BIGSERIAL PRIMARY KEY,
    forge       TEXT    NOT NULL,
    delivery_id TEXT    NOT NULL,
    event       TEXT    NOT NULL,
    action      TEXT,
    received_at BIGINT  NOT NULL,
    payload     TEXT    NOT NULL,
    UNIQUE (forge, delivery_id)
);

-- One row per change request (or commit / repository / installation): bursts coalesce here.
-- state: pending | running | done | parked. lease_token fences a worker whose lease expired.
CREATE TABLE jobs (
    id           BIGSERIAL PRIMARY KEY,
    key          TEXT    NOT NULL UNIQUE,
    forge        TEXT    NOT NULL,
    repository   TEXT    NOT NULL,
    target_kind  TEXT    NOT NULL,
    target_value TEXT    NOT NULL,
    state        TEXT    NOT NULL,
    run_after    BIGINT  NOT NULL,
    attempts     BIGINT  NOT NULL DEFAULT 0,
    lease_owner  TEXT,
    lease_until  BIGINT,
    lease_token  BIGINT  NOT NULL DEFAULT 0,
    claimed_upto BIGINT,
    last_error   TEXT,
    runs         BIGINT  NOT NULL DEFAULT 0,
    created_at   BIGINT  NOT NULL,
    updated_at   BIGINT  NOT NULL
);
CREATE INDEX jobs_due ON jobs (state, run_after);
CREATE INDEX jobs_lease ON jobs (state, lease_until);

-- The events a job has not yet processed (processed_at NULL) and their history.
CREATE TABLE job_events (
    id           BIGSERIAL PRIMARY KEY,
    job_id       BIGINT  NOT NULL REFERENCES jobs (id),
    delivery_pk  BIGINT  NOT NULL REFERENCES deliveries (id),
    detail       TEXT,
    processed_at BIGINT
);
CREATE INDEX job_events_open ON job_events (job_id, id) WHERE processed_at IS NULL;

-- Every evaluation result, for `/sdl status` and the evidence ledger.
CREATE TABLE evaluations (
    id           BIGSERIAL PRIMARY KEY,
    forge        TEXT    NOT NULL,
    repository   TEXT    NOT NULL,
    number       BIGINT  NOT NULL,
    head_sha     TEXT    NOT NULL,
    verdict      TEXT    NOT NULL,
    evaluated_at BIGINT  NOT NULL,
    result       TEXT    NOT NULL
);
CREATE INDEX evaluations_change ON evaluations (forge, repository, number, id);

-- Waivers granted with `/sdl waive`.
CREATE TABLE waivers (
    id          BIGSERIAL PRIMARY KEY,
    forge       TEXT    NOT NULL,
    repository  TEXT    NOT NULL,
    number      BIGINT  NOT NULL,
    gate        TEXT    NOT NULL,
    reason      TEXT    NOT NULL,
    author      TEXT    NOT NULL,
    created_at  BIGINT  NOT NULL,
    expires_at  BIGINT  NOT NULL,
    sha         TEXT    NOT NULL,
    comment_id  BIGINT,
    revoked     TEXT,
    revoked_at  BIGINT
);
CREATE INDEX waivers_change ON waivers (forge, repository, number);
