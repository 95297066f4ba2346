-- The SQLite backend's schema, version 1. Times are integer microseconds since the epoch.
--
-- One `jobs` table holds every job in every state. Each state has its own partial index,
-- so each hot query (reserve from a queue, promote due jobs, extend or rescue leases) walks
-- only the rows of its state, and a job changing state moves between two small indexes.

CREATE TABLE jobs (
    id               INTEGER PRIMARY KEY,
    -- The envelope's job id; one row per job whatever its state.
    jid              TEXT    NOT NULL UNIQUE,
    queue            TEXT    NOT NULL,
    class            TEXT    NOT NULL,
    -- 'done' is a finished job on its way out: the trigger below counts and deletes it
    -- within the statement that set it, so no row is ever seen in that state.
    state            TEXT    NOT NULL
        CHECK (state IN ('available', 'scheduled', 'running', 'retryable', 'dead', 'done')),
    -- available, running: when it was enqueued (for queue latency);
    -- scheduled, retryable: when it is due; dead: when it died.
    run_at           INTEGER NOT NULL,
    -- Order: FIFO within a queue (the head has the smallest), ties of run_at elsewhere.
    pos              INTEGER NOT NULL,
    -- How many times it was reserved.
    attempts         INTEGER NOT NULL DEFAULT 0,
    -- The lease of a running job: the process holding it; the token that fences its
    -- settlement (random, new for each reserve call); the number of that call, one more
    -- than any running lease's when taken, so leases sort in reserve order; and when it
    -- expires unless the process beats.
    lease_owner      TEXT,
    lease_token      TEXT,
    lease_seq        INTEGER,
    lease_expires_at INTEGER,
    -- Set with state 'done': whether the run failed, for the `failed` counter.
    finish_failed    INTEGER,
    -- The job envelope as JSON text, byte for byte as the client wrote it.
    payload          TEXT    NOT NULL
) STRICT;

CREATE INDEX jobs_available ON jobs (queue, pos) WHERE state = 'available';
CREATE INDEX jobs_scheduled ON jobs (run_at, pos) WHERE state = 'scheduled';
CREATE INDEX jobs_retryable ON jobs (run_at, pos) WHERE state = 'retryable';
CREATE INDEX jobs_dead ON jobs (run_at, pos) WHERE state = 'dead';
-- Running jobs are few (at most the workers' total concurrency): heartbeats and rescue
-- scan them all, in lease order.
CREATE INDEX jobs_running ON jobs (lease_seq) WHERE state = 'running';

-- Queues that ever held a job (until cleared), and queues workers skip.
CREATE TABLE known_queues (name TEXT PRIMARY KEY) STRICT, WITHOUT ROWID;
CREATE TABLE paused_queues (name TEXT PRIMARY KEY) STRICT, WITHOUT ROWID;

-- A queue becomes known when a job becomes available in it, however it got there.
CREATE TRIGGER jobs_known_queue_insert AFTER INSERT ON jobs WHEN NEW.state = 'available'
BEGIN
    INSERT OR IGNORE INTO known_queues (name) VALUES (NEW.queue);
END;
CREATE TRIGGER jobs_known_queue_update AFTER UPDATE OF state ON jobs WHEN NEW.state = 'available'
BEGIN
    INSERT OR IGNORE INTO known_queues (name) VALUES (NEW.queue);
END;

-- Every inserted job takes its position from the `pos` sequence (the insert reads it once
-- per statement and numbers its rows from there); this moves the sequence past them.
CREATE TRIGGER jobs_pos_sequence AFTER INSERT ON jobs
BEGIN
    UPDATE sequences SET value = NEW.pos WHERE name = 'pos' AND value < NEW.pos;
END;

-- A finished job (completed or discarded) is counted for the UTC day of its finish, then
-- removed, inside the one statement that finished it.
CREATE TRIGGER jobs_finished AFTER UPDATE OF state ON jobs WHEN NEW.state = 'done'
BEGIN
    INSERT INTO counters (name, period, value)
    VALUES ('processed', strftime('%Y-%m-%d', NEW.run_at / 1000000, 'unixepoch'), 1),
           ('failed', strftime('%Y-%m-%d', NEW.run_at / 1000000, 'unixepoch'), NEW.finish_failed)
    ON CONFLICT (name, period) DO UPDATE SET value = value + excluded.value;
    DELETE FROM jobs WHERE id = NEW.id;
END;

-- Live worker processes, and the signals left for them until their next beat.
CREATE TABLE processes (
    id           TEXT    PRIMARY KEY,
    info         TEXT    NOT NULL,  -- ProcessInfo as JSON
    beat_at      INTEGER NOT NULL,
    quiet        INTEGER NOT NULL,
    running      TEXT    NOT NULL,  -- [{"job": envelope, "started_at": micros}]
    lease_ttl_us INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

CREATE TABLE process_signals (
    id         INTEGER PRIMARY KEY,
    process_id TEXT    NOT NULL REFERENCES processes (id) ON DELETE CASCADE,
    signal     TEXT    NOT NULL  -- ProcessSignal as JSON
) STRICT;
CREATE INDEX process_signals_process ON process_signals (process_id);

-- Counters: `processed`, `failed` and `dead_trimmed`, per UTC day ('YYYY-MM-DD'); a total
-- is the sum of its days.
CREATE TABLE counters (
    name   TEXT    NOT NULL,
    period TEXT    NOT NULL,
    value  INTEGER NOT NULL,
    PRIMARY KEY (name, period)
) STRICT, WITHOUT ROWID;

-- Monotonic sequences: `pos` hands out tail positions.
CREATE TABLE sequences (name TEXT PRIMARY KEY, value INTEGER NOT NULL) STRICT, WITHOUT ROWID;
INSERT INTO sequences (name, value) VALUES ('pos', 0);
