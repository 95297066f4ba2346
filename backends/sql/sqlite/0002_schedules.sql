-- Recurring jobs: each schedule's shared state, and the ticks already claimed.
-- Times are integer microseconds since the epoch.

CREATE TABLE schedules (
    name        TEXT    PRIMARY KEY,
    description TEXT    NOT NULL,
    -- The job a run enqueues, as envelope JSON (each run gets a fresh jid).
    job         TEXT    NOT NULL,
    enabled     INTEGER NOT NULL,
    last_run    INTEGER,
    next_run    INTEGER
) STRICT, WITHOUT ROWID;

-- One row per (schedule, tick) that enqueued its job; the key makes a tick run once.
CREATE TABLE schedule_claims (
    name       TEXT    NOT NULL,
    tick       INTEGER NOT NULL,
    -- Claims are pruned once this passes.
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (name, tick)
) STRICT, WITHOUT ROWID;
CREATE INDEX schedule_claims_expiry ON schedule_claims (expires_at);
