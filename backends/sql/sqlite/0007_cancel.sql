-- Cancellation (version 7): the cancelled set, and cancel requests for running jobs.
--
-- A cancelled job leaves `jobs` (so its unique lock and concurrency slot go with the row,
-- as with every delete) and is kept here, most recent first, trimmed like the dead set.
CREATE TABLE cancelled_jobs (
    id           INTEGER PRIMARY KEY,
    jid          TEXT    NOT NULL,
    queue        TEXT    NOT NULL,
    class        TEXT    NOT NULL,
    -- When it was cancelled, µs since the epoch.
    cancelled_at INTEGER NOT NULL,
    payload      TEXT    NOT NULL
) STRICT;
CREATE INDEX cancelled_jobs_at ON cancelled_jobs (cancelled_at, id);
CREATE INDEX cancelled_jobs_jid ON cancelled_jobs (jid);

-- A cancel asked of a running job, read by the heartbeat of the process running it (and
-- before a rescued job runs again); removed when the job is settled as cancelled, pruned
-- after three days otherwise.
CREATE TABLE cancel_requests (
    jid          TEXT    PRIMARY KEY,
    requested_at INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
