-- Version 6: concurrency and rate limits.
--
-- A job with a concurrency limit carries its key and limit in two columns, set by the push
-- (NULL for every other job, which therefore takes no part in anything below). A leased
-- (`running`) row of a key holds one of its slots: the slots in use are a count over the
-- leased rows of the key, so a slot is freed by the very transition that ends the lease and
-- can never leak. A job whose key is full when a reserve reaches it is moved aside to the
-- new state `waiting`, in the reserve statement itself, and comes back to the head of its
-- queue when a slot of its key frees (the triggers below).
--
-- SQLite cannot change a CHECK constraint in place, so the table is rebuilt with `waiting`
-- among its states (the documented copy, drop and rename); its indexes and triggers are
-- created again as versions 1 to 5 left them, but for `jobs_available`, which now also
-- carries the concurrency columns so the reserve reads its candidates from the index alone.

CREATE TABLE jobs_v6 (
    id                INTEGER PRIMARY KEY,
    jid               TEXT    NOT NULL UNIQUE,
    queue             TEXT    NOT NULL,
    class             TEXT    NOT NULL,
    -- 'waiting': moved aside by a reserve while its concurrency key was full.
    state             TEXT    NOT NULL
        CHECK (state IN ('available', 'scheduled', 'running', 'retryable', 'dead', 'done',
                         'waiting')),
    run_at            INTEGER NOT NULL,
    pos               INTEGER NOT NULL,
    attempts          INTEGER NOT NULL DEFAULT 0,
    lease_owner       TEXT,
    lease_token       TEXT,
    lease_seq         INTEGER,
    lease_expires_at  INTEGER,
    finish_failed     INTEGER,
    payload           TEXT    NOT NULL,
    rescues           INTEGER NOT NULL DEFAULT 0,
    priority          INTEGER NOT NULL DEFAULT 0,
    unique_key        TEXT,
    unique_until      TEXT CHECK (unique_until IN ('start', 'success')),
    unique_expires_at INTEGER,
    -- The job's concurrency limit: at most `concurrency_limit` rows of `concurrency_key`
    -- are `running` at once (the limit of the row being reserved counts).
    concurrency_key   TEXT,
    concurrency_limit INTEGER
) STRICT;

INSERT INTO jobs_v6 (id, jid, queue, class, state, run_at, pos, attempts, lease_owner,
                     lease_token, lease_seq, lease_expires_at, finish_failed, payload, rescues,
                     priority, unique_key, unique_until, unique_expires_at)
SELECT id, jid, queue, class, state, run_at, pos, attempts, lease_owner,
       lease_token, lease_seq, lease_expires_at, finish_failed, payload, rescues,
       priority, unique_key, unique_until, unique_expires_at
FROM jobs;

DROP TABLE jobs;
ALTER TABLE jobs_v6 RENAME TO jobs;

CREATE INDEX jobs_available
    ON jobs (queue, priority, pos, concurrency_key, concurrency_limit) WHERE state = 'available';
CREATE INDEX jobs_scheduled ON jobs (run_at, pos) WHERE state = 'scheduled';
CREATE INDEX jobs_retryable ON jobs (run_at, pos) WHERE state = 'retryable';
CREATE INDEX jobs_dead ON jobs (run_at, pos) WHERE state = 'dead';
CREATE INDEX jobs_running ON jobs (lease_seq) WHERE state = 'running';
CREATE UNIQUE INDEX jobs_unique ON jobs (unique_key) WHERE unique_key IS NOT NULL;

-- The slots in use of a key: its leased rows.
CREATE INDEX jobs_slots ON jobs (concurrency_key)
    WHERE state = 'running' AND concurrency_key IS NOT NULL;
-- The jobs moved aside, per key, oldest (smallest position) first.
CREATE INDEX jobs_waiting ON jobs (concurrency_key, pos) WHERE state = 'waiting';

CREATE TRIGGER jobs_known_queue_insert AFTER INSERT ON jobs WHEN NEW.state = 'available'
BEGIN
    INSERT OR IGNORE INTO known_queues (name) VALUES (NEW.queue);
END;
CREATE TRIGGER jobs_known_queue_update AFTER UPDATE OF state ON jobs WHEN NEW.state = 'available'
BEGIN
    INSERT OR IGNORE INTO known_queues (name) VALUES (NEW.queue);
END;
CREATE TRIGGER jobs_pos_sequence AFTER INSERT ON jobs
BEGIN
    UPDATE sequences SET value = NEW.pos WHERE name = 'pos' AND value < NEW.pos;
END;
CREATE TRIGGER jobs_finished AFTER UPDATE OF state ON jobs WHEN NEW.state = 'done'
BEGIN
    INSERT INTO counters (name, period, value)
    VALUES ('processed', strftime('%Y-%m-%d', NEW.run_at / 1000000, 'unixepoch'), 1),
           ('failed', strftime('%Y-%m-%d', NEW.run_at / 1000000, 'unixepoch'), NEW.finish_failed)
    ON CONFLICT (name, period) DO UPDATE SET value = value + excluded.value;
    DELETE FROM jobs WHERE id = NEW.id;
END;
CREATE TRIGGER jobs_unique_release AFTER UPDATE OF state ON jobs
    WHEN NEW.unique_key IS NOT NULL
     AND (NEW.state = 'dead' OR (NEW.state = 'running' AND NEW.unique_until = 'start'))
BEGIN
    UPDATE jobs SET unique_key = NULL WHERE id = NEW.id;
END;

-- What a transition of a row with a concurrency key does, in one trigger (so a row
-- without a key costs one test of its WHEN per change of state, and a keyed job leased
-- by a reserve no more):
-- 1. A job the reserve statement moved aside holds no lease and counted no attempt.
-- 2. A slot frees when a leased row leaves `running` (any finish, a requeue, a rescue; a
--    settle whose lease was lost matches no row and fires nothing), and a job that leaves
--    its queue any other way than a reserve (an admin kill) may have been the one brought
--    back for a slot still free. Either way the oldest job waiting for the key goes back to
--    the head of its queue, ahead of every priority, as a requeue puts it.
-- 3. When the row that left `running` went to the head of that same queue itself (a
--    requeue or a rescue), it is put back ahead of the job it brought back.
CREATE TRIGGER jobs_limits AFTER UPDATE OF state ON jobs
    WHEN OLD.concurrency_key IS NOT NULL AND NEW.state <> 'running'
BEGIN
    UPDATE jobs SET attempts = OLD.attempts, lease_owner = NULL, lease_token = NULL,
        lease_seq = NULL, lease_expires_at = NULL
    WHERE id = NEW.id AND NEW.state = 'waiting' AND OLD.state = 'available';
    UPDATE jobs SET state = 'available', priority = -1,
        pos = (SELECT coalesce(min(k.pos), 0) - 1 FROM jobs AS k
               WHERE k.queue = jobs.queue AND k.state = 'available' AND k.priority = -1)
    WHERE id = (SELECT w.id FROM jobs AS w
                WHERE w.state = 'waiting' AND w.concurrency_key = OLD.concurrency_key
                ORDER BY w.pos LIMIT 1)
      AND ((OLD.state = 'running' AND NEW.state <> 'running')
        OR (OLD.state = 'available' AND NEW.state NOT IN ('available', 'running', 'waiting')
            AND (SELECT count(*) FROM jobs AS k
                 WHERE k.state = 'running' AND k.concurrency_key = OLD.concurrency_key)
                < OLD.concurrency_limit));
    UPDATE jobs SET pos = (SELECT min(k.pos) - 1 FROM jobs AS k
                           WHERE k.queue = jobs.queue AND k.state = 'available'
                             AND k.priority = -1)
    WHERE id = NEW.id AND OLD.state = 'running' AND state = 'available' AND priority = -1
      AND pos > (SELECT min(k.pos) FROM jobs AS k
                 WHERE k.queue = jobs.queue AND k.state = 'available' AND k.priority = -1);
END;

-- The same for rows deleted: a leased row deleted unrun (an expired job), or a queued one
-- (an admin delete or queue clear, a unique push replacing it).
CREATE TRIGGER jobs_slot_deleted AFTER DELETE ON jobs
    WHEN OLD.concurrency_key IS NOT NULL
     AND (OLD.state = 'running'
       OR (OLD.state = 'available'
           AND (SELECT count(*) FROM jobs AS k
                WHERE k.state = 'running' AND k.concurrency_key = OLD.concurrency_key)
               < OLD.concurrency_limit))
BEGIN
    UPDATE jobs SET state = 'available', priority = -1,
        pos = (SELECT coalesce(min(k.pos), 0) - 1 FROM jobs AS k
               WHERE k.queue = jobs.queue AND k.state = 'available' AND k.priority = -1)
    WHERE id = (SELECT w.id FROM jobs AS w
                WHERE w.state = 'waiting' AND w.concurrency_key = OLD.concurrency_key
                ORDER BY w.pos LIMIT 1);
END;

-- Rate limits: a sliding log per key. `rate_limits` holds each key's limit and window as
-- last declared and when its window empties (its newest start plus the window); the key
-- and its starts are deleted once that passes. `rate_starts` holds one row per start
-- granted (microseconds), pruned as the window slides.
CREATE TABLE rate_limits (
    key        TEXT    PRIMARY KEY,
    max_starts INTEGER NOT NULL,
    per_us     INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
CREATE INDEX rate_limits_expiry ON rate_limits (expires_at);

CREATE TABLE rate_starts (
    id  INTEGER PRIMARY KEY,
    key TEXT    NOT NULL,
    at  INTEGER NOT NULL
) STRICT;
CREATE INDEX rate_starts_key ON rate_starts (key, at);

CREATE TRIGGER rate_limits_expired AFTER DELETE ON rate_limits
BEGIN
    DELETE FROM rate_starts WHERE key = OLD.key;
END;
