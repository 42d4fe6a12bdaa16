-- Retention (PostgreSQL): processed job events and the deliveries no event refers to any more are
-- pruned after SDL_GATE_RETENTION_DAYS, so what used to be read back from raw deliveries is
-- kept on its own.

-- The GitHub App installation a repository was last reached through (work the service gives
-- itself, such as a waiver expiring after a restart, names none).
CREATE TABLE repository_installations (
    forge           TEXT    NOT NULL,
    repository      TEXT    NOT NULL,
    installation_id BIGINT  NOT NULL,
    seen_at         BIGINT  NOT NULL,
    PRIMARY KEY (forge, repository)
);

-- Processed events by age, for the pruner (open events are not in it).
CREATE INDEX job_events_done ON job_events (processed_at) WHERE processed_at IS NOT NULL;
-- Whether a delivery is still referred to (and the foreign-key check when one is deleted).
CREATE INDEX job_events_delivery ON job_events (delivery_pk);
