-- Scratch table for the readiness write probe: after a failed delivery commit (full disk),
-- `/readyz` writes and deletes one row of the size of a large delivery here, so it only says
-- ready again once such a commit would succeed. Always empty between probes.
CREATE TABLE write_probe (
    id INTEGER PRIMARY KEY,
    filler BLOB NOT NULL
);
