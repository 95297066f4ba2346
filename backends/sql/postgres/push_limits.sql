-- Store a batch that has jobs with concurrency limits, in one statement: `push_flow.sql`
-- with the limit columns as well, $11 concurrency keys and $12 limits (NULL: none), read
-- from the envelopes in Rust (migration 9 says what they do). Batches without a limited
-- job keep `push_flow.sql` or `push.sql`, which never name these columns. Everything else
-- is as `push_flow.sql` says: $1 jids, $2 queues, $3 envelopes (JSON text), $4 due times
-- (NULL: into the queue now), $5 now, $6 the envelopes' `enqueued_at`, $7 priorities,
-- $8 unique keys (NULL: none), $9 until, $10 when each lock lapses; a row whose unique key
-- another row holds is not stored, and `stored` says how many were.
WITH input AS (
    SELECT *
    FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $6::float8[],
                $7::smallint[], $8::text[], $9::text[], $10::timestamptz[], $11::text[],
                $12::integer[])
        WITH ORDINALITY AS t (jid, queue, payload, at, enqueued_at, priority, unique_key,
                              unique_until, unique_expires_at, concurrency_key,
                              concurrency_limit, ord)
),
inserted AS (
    INSERT INTO __SCHEMA__.jobs (jid, queue, state, run_at, priority, position, enqueued_at,
                                 payload, unique_key, unique_until, unique_expires_at,
                                 concurrency_key, concurrency_limit)
    SELECT jid,
           queue,
           CASE WHEN at IS NULL THEN 'available' ELSE 'scheduled' END::__SCHEMA__.job_state,
           coalesce(at, $5),
           priority,
           nextval('__SCHEMA__.position_seq'),
           enqueued_at,
           payload::json,
           unique_key,
           unique_until,
           unique_expires_at,
           concurrency_key,
           concurrency_limit
    FROM input
    ORDER BY ord
    ON CONFLICT (unique_key) WHERE unique_key IS NOT NULL DO NOTHING
    RETURNING queue, state
),
known AS (
    INSERT INTO __SCHEMA__.queues (name)
    SELECT DISTINCT queue FROM inserted WHERE state = 'available'
    ON CONFLICT DO NOTHING
),
woken AS (
    SELECT pg_notify(__CHANNEL__, queue)
    FROM (SELECT DISTINCT queue FROM inserted WHERE state = 'available') AS q
)
SELECT (SELECT count(*) FROM inserted) AS stored, (SELECT count(*) FROM woken) AS woken
