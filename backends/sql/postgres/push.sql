-- Store a batch of jobs in one statement (one round trip, all or nothing).
-- $1 jids, $2 queues, $3 envelopes (JSON text), $4 due times (NULL: into the queue now),
-- $5 now, $6 the envelopes' `enqueued_at` (now for queued jobs). A job with a due time is scheduled; any other goes to the tail of its queue,
-- the queue becomes known, and the channel is notified once per queue. Inside a
-- transaction the notification is delivered at commit, and never on rollback.
WITH input AS (
    SELECT *
    FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $6::float8[])
        WITH ORDINALITY AS t (jid, queue, payload, at, enqueued_at, ord)
),
inserted AS (
    INSERT INTO __SCHEMA__.jobs (jid, queue, state, run_at, position, enqueued_at, payload)
    SELECT jid,
           queue,
           CASE WHEN at IS NULL THEN 'available' ELSE 'scheduled' END::__SCHEMA__.job_state,
           coalesce(at, $5),
           nextval('__SCHEMA__.position_seq'),
           enqueued_at,
           payload::json
    FROM input
    ORDER BY ord
    RETURNING queue, state
),
known AS (
    INSERT INTO __SCHEMA__.queues (name)
    SELECT DISTINCT queue FROM input WHERE at IS NULL
    ON CONFLICT DO NOTHING
)
SELECT pg_notify(__CHANNEL__, queue)
FROM (SELECT DISTINCT queue FROM inserted WHERE state = 'available') AS woken
