-- Version 7: batches.
--
-- A batch is one row: what it is (`info`, the JSON of `jobs::batch::BatchInfo`, with its
-- callbacks), whether it is sealed, its member counts and when each callback fired. Each
-- member (a job by jid, or a child batch as `b:<bid>`) is one row of `batch_members` in
-- exactly one state; the settle transaction moves it by key and adjusts the counts by that
-- move only, so a member settled twice counts once and no count goes below zero.
CREATE TABLE batches (
    id           INTEGER PRIMARY KEY,
    bid          TEXT    NOT NULL UNIQUE,
    info         TEXT    NOT NULL,
    sealed       INTEGER NOT NULL DEFAULT 0,
    pending      INTEGER NOT NULL DEFAULT 0,
    succeeded    INTEGER NOT NULL DEFAULT 0,
    failed       INTEGER NOT NULL DEFAULT 0,
    dead         INTEGER NOT NULL DEFAULT 0,
    complete_at  REAL,
    success_at   REAL,
    death_at     REAL,
    expires_at   REAL    NOT NULL
);

CREATE INDEX batches_expiry ON batches (expires_at);

CREATE TABLE batch_members (
    bid     TEXT NOT NULL,
    member  TEXT NOT NULL,
    state   TEXT NOT NULL CHECK (state IN ('pending', 'succeeded', 'failed', 'dead')),
    PRIMARY KEY (bid, member)
) WITHOUT ROWID;
