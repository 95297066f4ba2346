-- Move up to $2 scheduled, then retry, jobs due at or before $1 to the tail of their
-- queues, stamping `enqueued_at` ($3, epoch seconds). SKIP LOCKED means two promoters
-- never move the same job: each row moves once. The retry set only fills what the
-- scheduled set left of the limit, so no row is locked that will not move. Each job keeps
-- its priority, written at push; one that was requeued or rescued (priority -1) since gets
-- its envelope's back (`job_priority`, migration 7), read only for those rows.
WITH sched AS (
    SELECT id, run_at, position
    FROM __SCHEMA__.jobs
    WHERE state = 'scheduled' AND run_at <= $1
    ORDER BY run_at, position
    LIMIT $2
    FOR UPDATE SKIP LOCKED
),
retry AS (
    SELECT id, run_at, position
    FROM __SCHEMA__.jobs
    WHERE state = 'retryable' AND run_at <= $1
    ORDER BY run_at, position
    LIMIT greatest($2 - (SELECT count(*) FROM sched), 0)
    FOR UPDATE SKIP LOCKED
),
placed AS (
    SELECT id, nextval('__SCHEMA__.position_seq') AS position
    FROM (
        SELECT id, 1 AS ord, run_at, position FROM sched
        UNION ALL
        SELECT id, 2 AS ord, run_at, position FROM retry
        ORDER BY ord, run_at, position
    ) AS ordered
),
moved AS (
    UPDATE __SCHEMA__.jobs AS j
    SET state = 'available',
        run_at = $1,
        priority = CASE WHEN j.priority < 0 THEN __SCHEMA__.job_priority(j.payload)
                        ELSE j.priority END,
        position = placed.position,
        enqueued_at = $3
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
