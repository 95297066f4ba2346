-- Version 3: recurring jobs. Each schedule's shared state, and the ticks already claimed.

CREATE TABLE __SCHEMA__.schedules (
    name        text        PRIMARY KEY,
    description text        NOT NULL,
    -- The job a run enqueues, as envelope JSON (each run gets a fresh jid).
    job         text        NOT NULL,
    enabled     boolean     NOT NULL DEFAULT true,
    last_run    timestamptz,
    next_run    timestamptz
);

-- One row per (schedule, tick) that enqueued its job: the primary key makes a tick run
-- once. Claims are pruned once `expires_at` passes.
CREATE TABLE __SCHEMA__.schedule_claims (
    name       text        NOT NULL,
    tick       timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    PRIMARY KEY (name, tick)
);
CREATE INDEX schedule_claims_expiry_idx ON __SCHEMA__.schedule_claims (expires_at);
