-- The evidence ledger (SQLite): append-only entries chained by hash, and the signed
-- checkpoints over them. The triggers keep the service itself (retention, a bug) from
-- changing history; they do not stop an administrator, which is what the hashes and the
-- signed checkpoints are for (`sdl-gate ledger verify`).

CREATE TABLE ledger_entries (
    seq         INTEGER PRIMARY KEY,
    hash        TEXT    NOT NULL,
    body        TEXT    NOT NULL,
    kind        TEXT    NOT NULL,
    forge       TEXT    NOT NULL,
    repository  TEXT    NOT NULL,
    number      INTEGER NOT NULL,
    head_sha    TEXT,
    verdict     TEXT,
    -- What makes a once-only entry once only (`waiver_granted:…`), so a job re-run after a
    -- crash finds the entry its first run appended instead of appending a second.
    once        TEXT    UNIQUE,
    recorded_at INTEGER NOT NULL
);
CREATE INDEX ledger_entries_change ON ledger_entries (forge, repository, number, seq);

CREATE TABLE ledger_checkpoints (
    size       INTEGER PRIMARY KEY,
    note       TEXT    NOT NULL,
    -- The right edge of the tree at this size (a cache, so the next checkpoint hashes only
    -- new entries; checked against the signed root before it is used).
    frontier   TEXT    NOT NULL,
    -- The RFC 3161 time-stamp reply (DER, base64) for the note, when SDL_GATE_LEDGER_TSA_URL
    -- is set.
    tsa_reply  TEXT,
    created_at INTEGER NOT NULL
);

CREATE TRIGGER ledger_entries_no_update BEFORE UPDATE ON ledger_entries
BEGIN SELECT RAISE(ABORT, 'the evidence ledger is append-only'); END;
CREATE TRIGGER ledger_entries_no_delete BEFORE DELETE ON ledger_entries
BEGIN SELECT RAISE(ABORT, 'the evidence ledger is append-only'); END;
CREATE TRIGGER ledger_checkpoints_no_update BEFORE UPDATE ON ledger_checkpoints
BEGIN SELECT RAISE(ABORT, 'the evidence ledger is append-only'); END;
CREATE TRIGGER ledger_checkpoints_no_delete BEFORE DELETE ON ledger_checkpoints
BEGIN SELECT RAISE(ABORT, 'the evidence ledger is append-only'); END;
