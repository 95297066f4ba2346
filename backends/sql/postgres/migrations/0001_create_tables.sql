-- The jobs schema, version 1. `__SCHEMA__` is replaced by the quoted schema name
-- (default "jobs") before this runs, inside one transaction under an advisory lock.

-- Where a job is. Completed jobs are deleted; `completed` is kept for a retention option.
CREATE TYPE __SCHEMA__.job_state AS ENUM
    ('available', 'scheduled', 'running', 'retryable', 'dead', 'completed');

-- Order within a state: pushes, promotions and moves into a set take the next value of
-- `position_seq` (the tail); requeues and rescues take minus the next value of
-- `head_seq`, which is below every other position (the head).
CREATE SEQUENCE __SCHEMA__.position_seq;
CREATE SEQUENCE __SCHEMA__.head_seq;
-- A fresh value per reservation: the lease token that fences finish and requeue.
CREATE SEQUENCE __SCHEMA__.lease_seq;

CREATE TABLE __SCHEMA__.jobs (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    jid              text                   NOT NULL,
    queue            text                   NOT NULL,
    state            __SCHEMA__.job_state   NOT NULL,
    -- available: when it was enqueued; scheduled, retryable: when it is due;
    -- dead: when it died.
    run_at           timestamptz            NOT NULL,
    -- Reserve orders by (priority, position) within a queue; every job is 0 for now.
    priority         smallint               NOT NULL DEFAULT 0,
    position         bigint                 NOT NULL,
    -- Times reserved.
    attempts         integer                NOT NULL DEFAULT 0,
    -- Set while running: the process holding the lease, its token and its expiry.
    lease_owner      text,
    lease_token      bigint,
    lease_expires_at timestamptz,
    -- The envelope's `enqueued_at`, kept here so promotions can stamp it in SQL; it
    -- overrides the copy inside `payload` when a job is read.
    enqueued_at      double precision,
    -- The job envelope as every backend stores it. `json`, not `jsonb`: json keeps the
    -- text byte for byte (as Sidekiq's Redis does), where jsonb refuses `\u0000` in
    -- strings and rewrites numbers (1e308 comes back as 309 digits). The `->>`
    -- operators still work on it for the admin filters.
    payload          json                   NOT NULL,
    CONSTRAINT jobs_jid_key UNIQUE (jid)
);

-- Reserve: the head of one queue, walked in order, available rows only.
CREATE INDEX jobs_available_idx ON __SCHEMA__.jobs (queue, priority, position)
    WHERE state = 'available';
-- Promote and the admin listings: soonest first (dead: most recent first).
CREATE INDEX jobs_scheduled_idx ON __SCHEMA__.jobs (run_at, position)
    WHERE state = 'scheduled';
CREATE INDEX jobs_retryable_idx ON __SCHEMA__.jobs (run_at, position)
    WHERE state = 'retryable';
CREATE INDEX jobs_dead_idx ON __SCHEMA__.jobs (run_at, position)
    WHERE state = 'dead';
-- Rescue (expired leases) and heartbeat (one owner's leases): running rows are few.
CREATE INDEX jobs_running_idx ON __SCHEMA__.jobs (lease_expires_at)
    WHERE state = 'running';

-- Every queue that has had a job, until it is cleared.
CREATE TABLE __SCHEMA__.queues (
    name text PRIMARY KEY
);

CREATE TABLE __SCHEMA__.paused_queues (
    name      text        PRIMARY KEY,
    paused_at timestamptz NOT NULL DEFAULT now()
);

-- Live worker processes. `record` holds what the admin side returns (info, running jobs,
-- quiet flag, exact beat time); the columns are what the queries need.
CREATE TABLE __SCHEMA__.processes (
    id         text        PRIMARY KEY,
    record     json        NOT NULL,
    beat_at    timestamptz NOT NULL,
    -- The last beat plus the process's lease ttl: rescue drops the record after this.
    expires_at timestamptz NOT NULL
);

-- Signals left for a process, read and cleared by its next heartbeat.
CREATE TABLE __SCHEMA__.process_signals (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    process_id text NOT NULL REFERENCES __SCHEMA__.processes (id) ON DELETE CASCADE,
    signal     text NOT NULL
);
CREATE INDEX process_signals_process_idx ON __SCHEMA__.process_signals (process_id);

-- Counters (processed, failed, dead_trimmed), split into shards by backend pid so
-- concurrent finishes do not queue on one row; readers sum the shards.
CREATE TABLE __SCHEMA__.counters (
    name  text     NOT NULL,
    shard smallint NOT NULL,
    value bigint   NOT NULL,
    PRIMARY KEY (name, shard)
);

-- The same per UTC day (processed, failed).
CREATE TABLE __SCHEMA__.counters_daily (
    day   date     NOT NULL,
    name  text     NOT NULL,
    shard smallint NOT NULL,
    value bigint   NOT NULL,
    PRIMARY KEY (day, name, shard)
);
