-- Version 7: flow control (unique jobs, priorities, expired jobs).
--
-- Unique locks live on the row of the job that holds them: `unique_key` is the lock's key
-- (`jobs::envelope::flow::UniqueLock::key`) while the job holds it, NULL otherwise;
-- `unique_until` is `start` or `success`, `unique_expires_at` when the lock lapses
-- whatever became of the job. A partial unique index makes two holders of one key
-- impossible. Every transition that releases a lock sets the row's `unique_key` to NULL in
-- the statement that makes it (or deletes the row), so a lock is never released apart from
-- its job's move, and only ever by its own job: another job's lock is on another row.
-- A lapsed lock (`unique_expires_at` passed) stays on its row until a push of its key
-- clears it, in the push's transaction. Columns without a default or check are added
-- without rewriting or scanning the table; building the index scans it once.
ALTER TABLE __SCHEMA__.jobs
    ADD COLUMN unique_key        text,
    ADD COLUMN unique_until      text,
    ADD COLUMN unique_expires_at timestamptz;
CREATE UNIQUE INDEX jobs_unique_key_idx ON __SCHEMA__.jobs (unique_key)
    WHERE unique_key IS NOT NULL;

-- Priorities: `priority` (version 1) is the envelope's `jobs_rs_priority`, 0 (the default,
-- runs first) to 9, written at push; reserve and the queue listing order by
-- (priority, position). A requeued or rescued job waits at the very head of its queue,
-- ahead of every priority: it gets priority -1 with its negative head position. Moves into
-- a queue other than requeue and rescue (promotion, enqueue now) give a row with a
-- negative priority its envelope's back through this function; every other row keeps its
-- column. It reads the field as `JobEnvelope::priority` does: a non-negative integer,
-- capped at 9, and 0 for anything else.
CREATE FUNCTION __SCHEMA__.job_priority(payload json) RETURNS smallint
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN json_typeof(payload -> 'jobs_rs_priority') = 'number'
                     AND (payload ->> 'jobs_rs_priority') ~ '^[0-9]{1,18}$'
                THEN least((payload ->> 'jobs_rs_priority')::bigint, 9)::smallint
                ELSE 0::smallint END
$$;

-- Expired jobs (dropped unstarted past their expiry) are counted in `counters` under
-- `expired`, a total only (finish.sql); no schema change is needed for them.
