-- The evidence ledger (PostgreSQL): append-only entries chained by hash, and the signed
-- checkpoints over them. Replicas append one at a time under an advisory lock. The triggers
-- keep the service itself (retention, a bug) from changing history; they do not stop an
-- administrator, which is what the hashes and the signed checkpoints are for.

CREATE TABLE ledger_entries (
    seq         BIGINT  PRIMARY KEY,
    hash        TEXT    NOT NULL,
    body        TEXT    NOT NULL,
    kind        TEXT    NOT NULL,
    forge       TEXT    NOT NULL,
    repository  TEXT    NOT NULL,
    number      BIGINT  NOT NULL,
    head_sha    TEXT,
    verdict     TEXT,
    -- What makes a once-only entry once only (`waiver_granted:…`), so a job re-run after a
    -- crash finds the entry its first run appended instead of appending a second.
    once        TEXT    UNIQUE,
    recorded_at BIGINT  NOT NULL
);
CREATE INDEX ledger_entries_change ON ledger_entries (forge, repository, number, seq);

CREATE TABLE ledger_checkpoints (
    size       BIGINT PRIMARY KEY,
    note       TEXT   NOT NULL,
    frontier   TEXT   NOT NULL,
    tsa_reply  TEXT,
    created_at BIGINT NOT NULL
);

CREATE FUNCTION ledger_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the evidence ledger is append-only';
END;
$$;
CREATE TRIGGER ledger_entries_append_only BEFORE UPDATE OR DELETE ON ledger_entries
    FOR EACH ROW EXECUTE FUNCTION ledger_append_only();
CREATE TRIGGER ledger_checkpoints_append_only BEFORE UPDATE OR DELETE ON ledger_checkpoints
    FOR EACH ROW EXECUTE FUNCTION ledger_append_only();
