-- Lease up to $2 jobs from the queues $1 (deduplicated, in priority order) to process $3
-- until $4, or, when $4 is NULL, for $5 microseconds from the server's `now()` (leases in
-- the store's clock: `jobs::clock::LeaseClock`), in one statement.
--
-- For each queue that is not paused, a LATERAL subquery walks `jobs_available_idx` from
-- the head (priority, position) and locks rows with FOR UPDATE SKIP LOCKED, so concurrent
-- reservers take disjoint rows without waiting on each other; the outer LIMIT stops the
-- walk once $2 rows are locked. Each row gets a fresh lease token (below). A job whose
-- unique lock is held until it starts (`unique_until = 'start'`) releases it here.
--
-- Asynchronous commit: `async_commit` sets `synchronous_commit = off` for this statement's
-- own transaction (`set_config(..., true)`, read when the transaction commits), so the
-- reserve does not wait for a WAL flush (~1.2 ms here) and enqueue-to-start pays one flush,
-- the push's, not two. At-least-once is kept: a reserve lost in a crash only means the
-- lease was never taken, so the row is `available` again after recovery and runs later;
-- and any finish, requeue or heartbeat of that lease commits synchronously, which flushes
-- the WAL up to and past the reserve first, so a lease that anything was recorded against
-- is never lost.
--
-- The token is the reserve time in microseconds times 1024 plus `lease_seq` modulo 1024,
-- not the bare sequence value: a sequence advance in a lost transaction is lost too, so
-- after a crash `lease_seq` could hand the same number to the same head rows again, and a
-- worker still holding the lost lease could then settle the new one. Time moves on across
-- a crash, so a token is never issued twice for a row; the sequence part keeps tokens of
-- one microsecond apart, and the order is still reservation order (rescue relies on it).
-- It fits a bigint until the year 2255.
--
-- EXPLAIN (checked by the `reserve_uses_the_partial_index` test, 5,000 jobs in 3 queues):
--   Sort (taken.ord, taken.priority, taken.position)
--     CTE picked
--       -> Limit -> Nested Loop
--          -> Nested Loop Anti Join
--             -> Function Scan on unnest q
--             -> Index Only Scan using paused_queues_pkey on paused_queues p
--          -> Subquery Scan on head -> Limit -> LockRows
--             -> Index Scan using jobs_available_idx on jobs (Index Cond: queue = q.name)
--     CTE taken
--       -> Update on jobs j -> Nested Loop
--          -> CTE Scan on picked
--          -> Index Scan using jobs_pkey on jobs j (Index Cond: id = picked.id)
-- Cost per call does not grow with queue depth: each queue's walk starts at its head. That
-- plan needs planner statistics on `jobs`: without any, the planner expects a few rows per
-- queue and picks a bitmap scan of the whole queue and a sort (125 ms at 200,000 queued
-- instead of 1.7 ms), so the backend analyzes the table once if autovacuum has not (`stats.rs`).
WITH async_commit AS MATERIALIZED (
    SELECT set_config('synchronous_commit', 'off', true) AS setting
),
picked AS (
    SELECT head.id, q.ord
    FROM unnest($1::text[]) WITH ORDINALITY AS q (name, ord)
    CROSS JOIN LATERAL (
        SELECT id
        FROM __SCHEMA__.jobs
        WHERE queue = q.name AND state = 'available'
        ORDER BY priority, position
        LIMIT $2
        FOR UPDATE SKIP LOCKED
    ) AS head
    WHERE NOT EXISTS (SELECT 1 FROM __SCHEMA__.paused_queues p WHERE p.name = q.name)
    LIMIT $2
),
taken AS (
    UPDATE __SCHEMA__.jobs AS j
    SET state = 'running',
        lease_owner = $3,
        lease_token = (extract(epoch FROM clock_timestamp()) * 1000000)::bigint * 1024
                      + nextval('__SCHEMA__.lease_seq') % 1024,
        lease_expires_at = coalesce($4::timestamptz, now() + $5::bigint * interval '1 microsecond'),
        attempts = j.attempts + 1,
        unique_key = CASE WHEN j.unique_until = 'start' THEN NULL ELSE j.unique_key END
    FROM picked
    WHERE j.id = picked.id
    RETURNING j.id, j.lease_token, j.priority, j.position, picked.ord, j.payload, j.enqueued_at,
              j.jid, j.queue, j.rescues
)
SELECT id, lease_token, payload::text, enqueued_at, jid, queue, rescues
FROM taken CROSS JOIN async_commit
ORDER BY ord, priority, position
