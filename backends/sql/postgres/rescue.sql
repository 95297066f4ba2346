-- Give every lease that expired at or before $1 (the server's `now()` when $1 is NULL:
-- `jobs::clock::LeaseClock::Store`) back to the head of its queue, counting one
-- more rescue of its job, and end its token (a later finish or requeue of it matches
-- nothing, so it is reported lost). Rescued jobs go back in the order they were reserved
-- (lease token order): head positions are drawn newest lease first, so the oldest gets the
-- lowest. The head is ahead of every priority: priority -1, as requeue.sql. Unique locks
-- are kept. Then drop process records whose last beat plus lease ttl is at or before $1.
--
-- A job whose count would reach $2 (the worker's `max_rescues`) was running each time a
-- process died: it is not requeued but returned as `doomed` (with its lease token and its
-- count), and the caller buries it with the error that says so, fenced by that token.
-- Rows of the first kind come back with a NULL id.
--
-- A rescued job with a concurrency limit frees its slot, and the oldest job waiting for it
-- comes back right behind it (migration 9), prepared by `locked` as in `finish.sql`. Rate
-- logs whose window emptied by $1 are deleted, so idle rate keys leave nothing behind.
WITH at AS (
    SELECT coalesce($1::timestamptz, now()) AS now
),
expired AS (
    SELECT id, lease_owner, lease_token
    FROM __SCHEMA__.jobs
    WHERE state = 'running' AND lease_expires_at <= (SELECT now FROM at) AND rescues + 1 < $2
    FOR UPDATE SKIP LOCKED
),
placed AS (
    SELECT id, lease_owner, -nextval('__SCHEMA__.head_seq') AS position
    FROM (SELECT id, lease_owner FROM expired ORDER BY lease_token DESC) AS newest_first
),
back AS (
    UPDATE __SCHEMA__.jobs AS j
    SET state = 'available',
        priority = -1,
        position = e.position,
        lease_owner = NULL,
        lease_token = NULL,
        lease_expires_at = NULL,
        rescues = j.rescues + 1
    FROM placed AS e
    WHERE j.id = e.id
    RETURNING j.jid, j.queue, e.lease_owner, j.rescues, j.concurrency_key
),
locked AS MATERIALIZED (
    SELECT count(__SCHEMA__.limit_prepare(keys)) AS keys
    FROM (SELECT array_agg(concurrency_key) AS keys
          FROM back WHERE concurrency_key IS NOT NULL) AS limited
    WHERE keys IS NOT NULL
),
doomed AS (
    SELECT id, jid, lease_owner, lease_token, rescues + 1 AS rescues
    FROM __SCHEMA__.jobs
    WHERE state = 'running' AND lease_expires_at <= (SELECT now FROM at) AND rescues + 1 >= $2
),
known AS (
    INSERT INTO __SCHEMA__.queues (name)
    SELECT DISTINCT queue FROM back
    ON CONFLICT DO NOTHING
),
woken AS (
    SELECT pg_notify(__CHANNEL__, queue) FROM (SELECT DISTINCT queue FROM back) AS q
),
gone AS (
    DELETE FROM __SCHEMA__.processes WHERE expires_at <= (SELECT now FROM at)
),
idle_rates AS (
    DELETE FROM __SCHEMA__.limit_rates WHERE expires_at <= (SELECT now FROM at)
)
SELECT jid, lease_owner, rescues, NULL::bigint AS id, NULL::bigint AS lease_token,
       (SELECT count(*) FROM woken) AS woken
FROM back CROSS JOIN locked
UNION ALL
SELECT jid, lease_owner, rescues, id, lease_token, 0
FROM doomed
