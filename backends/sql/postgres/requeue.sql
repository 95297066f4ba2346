-- Give leases back to the head of their queues, envelopes unchanged. $1 row ids,
-- $2 lease tokens. They end up at the head in the order given: head positions are drawn
-- last item first, so the first item gets the lowest. The head is ahead of every priority:
-- priority -1 (migration 7 says how promotion gives the envelope's back). Unique locks
-- are kept. A lease no longer held is ignored:
-- the token is set exactly while the row runs (see finish.sql for why the state is not
-- named as well). A job with a concurrency limit frees its slot, and the oldest job
-- waiting for it comes back right behind the job given back (migration 9), prepared by
-- `locked` as in `finish.sql`.
WITH item AS (
    SELECT * FROM unnest($1::bigint[], $2::bigint[]) WITH ORDINALITY AS i (id, lease, ord)
),
placed AS (
    SELECT id, lease, -nextval('__SCHEMA__.head_seq') AS position
    FROM (SELECT id, lease FROM item ORDER BY ord DESC) AS ordered
),
back AS (
    UPDATE __SCHEMA__.jobs AS j
    SET state = 'available',
        priority = -1,
        position = placed.position,
        lease_owner = NULL,
        lease_token = NULL,
        lease_expires_at = NULL
    FROM placed
    WHERE j.id = placed.id AND j.lease_token = placed.lease
    RETURNING j.queue, j.concurrency_key
),
locked AS MATERIALIZED (
    SELECT count(__SCHEMA__.limit_prepare(keys)) AS keys
    FROM (SELECT array_agg(concurrency_key) AS keys
          FROM back WHERE concurrency_key IS NOT NULL) AS limited
    WHERE keys IS NOT NULL
),
known AS (
    INSERT INTO __SCHEMA__.queues (name)
    SELECT DISTINCT queue FROM back
    ON CONFLICT DO NOTHING
)
SELECT pg_notify(__CHANNEL__, queue) FROM (SELECT DISTINCT queue FROM back) AS q CROSS JOIN locked
