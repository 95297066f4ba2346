-- Move up to $2 scheduled, then retry, jobs due at or before $1 to the tail of their
-- queues, stamping `enqueued_at` ($3, epoch seconds) and dropping `at`. SKIP LOCKED
-- means two promoters never move the same job: each row moves once.
WITH due AS (
    SELECT id, ord, pos FROM (
        (SELECT id, 1 AS ord, run_at, position AS pos
         FROM __SCHEMA__.jobs
         WHERE state = 'scheduled' AND run_at <= $1
         ORDER BY run_at, position
         LIMIT $2
         FOR UPDATE SKIP LOCKED)
        UNION ALL
        (SELECT id, 2 AS ord, run_at, position AS pos
         FROM __SCHEMA__.jobs
         WHERE state = 'retryable' AND run_at <= $1
         ORDER BY run_at, position
         LIMIT $2
         FOR UPDATE SKIP LOCKED)
    ) AS both_sets
    LIMIT $2
),
placed AS (
    SELECT id, nextval('__SCHEMA__.position_seq') AS position
    FROM (SELECT id FROM due ORDER BY ord, pos) AS ordered
),
moved AS (
    UPDATE __SCHEMA__.jobs AS j
    SET state = 'available',
        run_at = $1,
        position = placed.position,
        payload = jsonb_set(j.payload - 'at', '{enqueued_at}', to_jsonb($3::float8))
    FROM placed
    WHERE j.id = placed.id
    RETURNING j.queue
),
known AS (
    INSERT INTO __SCHEMA__.queues (name)
    SELECT DISTINCT queue FROM moved
    ON CONFLICT DO NOTHING
),
woken AS (
    SELECT pg_notify(__CHANNEL__, queue) FROM (SELECT DISTINCT queue FROM moved) AS q
)
SELECT (SELECT count(*) FROM moved) AS moved, (SELECT count(*) FROM woken) AS woken
