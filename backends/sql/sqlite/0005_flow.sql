-- Version 5: flow control. Priorities order a queue; a unique job holds its lock in its own
-- row; expired jobs are counted in `counters` (name 'expired', period 'total').

-- The run band of an available job: its priority (0 runs first, 9 last), or -1 for a job
-- put back at the head of its queue (requeue, rescue), ahead of every priority. Set when a
-- row becomes available: by the push, from the payload when promoted or enqueued now, -1
-- by a requeue. A queue runs in (priority, pos) order, read straight from the index.
ALTER TABLE jobs ADD COLUMN priority INTEGER NOT NULL DEFAULT 0;
DROP INDEX jobs_available;
CREATE INDEX jobs_available ON jobs (queue, priority, pos) WHERE state = 'available';

-- A unique job's lock, kept in its own row: the key while the row holds it (NULL once
-- released, or once lapsed and taken by another job), 'start' or 'success', and when it
-- lapses (microseconds). The partial unique index lets one row hold a key. A row only ever
-- releases its own lock, inside the statement of the transition that releases it: deleting
-- the row (a finish, an expiry, an admin delete, a queue clear) or, by the trigger below,
-- moving it to dead (a finish, a kill, a rescue at its limit) or starting a job whose lock
-- is held until it starts.
ALTER TABLE jobs ADD COLUMN unique_key TEXT;
ALTER TABLE jobs ADD COLUMN unique_until TEXT CHECK (unique_until IN ('start', 'success'));
ALTER TABLE jobs ADD COLUMN unique_expires_at INTEGER;
CREATE UNIQUE INDEX jobs_unique ON jobs (unique_key) WHERE unique_key IS NOT NULL;

CREATE TRIGGER jobs_unique_release AFTER UPDATE OF state ON jobs
    WHEN NEW.unique_key IS NOT NULL
     AND (NEW.state = 'dead' OR (NEW.state = 'running' AND NEW.unique_until = 'start'))
BEGIN
    UPDATE jobs SET unique_key = NULL WHERE id = NEW.id;
END;
