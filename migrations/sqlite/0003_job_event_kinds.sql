-- Bounded claims (SQLite): a job's open events of the same kind coalesce, so a claim loads the
-- oldest events of its backlog plus the newest event of each kind instead of every row.

-- The coalescing kind of an event (`pull_request/synchronize`), set when it is stored; NULL
-- for events each of which must be handled (comment commands, a repository's pushes) and for
-- events stored before this migration.
ALTER TABLE job_events ADD COLUMN kind TEXT;

-- The newest open event of a kind, the distinct kinds (a skip scan), and the next open events
-- that must each be handled, all by index seeks whatever the size of the backlog.
CREATE INDEX job_events_open_kind ON job_events (job_id, kind, id) WHERE processed_at IS NULL;
