-- Settle a batch of leases in one statement, with the counters.
-- $1 row ids, $2 lease tokens, $3 new envelopes (JSON text, NULL when not kept),
-- $4 outcomes (completed, discard, expired, retry, snooze, dead), $5 times (retry, snooze),
-- $6 failed flags, $7 now, $8 today (UTC), $9 the new envelopes' `enqueued_at`,
-- $10 whether completed jobs are kept (state `completed`, pruned later) or deleted.
--
-- Fencing: an item applies only while its row is still running under the same lease
-- token; a rescued, requeued or already settled lease matches nothing. The token alone
-- says so (it is set exactly while the row runs: constraint `jobs_lease_while_running`);
-- naming the state as well let the planner, with statistics taken while nothing ran,
-- walk every running row through `jobs_running_idx` once per item instead of looking the
-- item up by primary key (~80 ms for 200 items at 750 running). The row lock taken
-- by DELETE/UPDATE re-checks the condition against the latest row version, so a rescue
-- racing this statement makes the item lost rather than applied twice. The indexes of
-- the items that applied are returned; the others are reported lost. A settled run
-- ended, so a kept row's rescue count starts again from zero.
--
-- Unique locks end with their job: a deleted row (completed, discard, expired) takes its
-- `unique_key` with it, and a row kept as completed or dead drops it; retries and snoozes
-- keep theirs. An expired job (due to start by its expiry and did not) is deleted unrun and
-- counted in the `expired` total, not in `processed` (nor per day).
--
-- Concurrency limits (migration 9): a settled row with a `concurrency_key` frees its slot
-- and brings a waiting job of its key back (trigger `jobs_limit_free`, fired as the
-- statement ends). Once every item's row is locked, `locked` takes the advisory locks those
-- keys need, in lock id order (`limit_prepare`), so settles of many keys never wait on each
-- other in a cycle (migration 9). It is read only for a settled row with a key (reading it
-- reads all of `settled` first, so every row is locked before any key lock is waited for):
-- for plain rows it is never run.
WITH item AS (
    SELECT *
    FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::timestamptz[],
                $6::boolean[], $9::float8[])
        WITH ORDINALITY AS i (id, lease, payload, outcome, at, failed, enqueued_at, idx)
),
removed AS (
    DELETE FROM __SCHEMA__.jobs AS j
    USING item AS i
    WHERE j.id = i.id AND j.lease_token = i.lease
      AND (i.outcome IN ('discard', 'expired') OR (i.outcome = 'completed' AND NOT $10))
    RETURNING i.idx, i.outcome, i.failed, j.concurrency_key
),
moved AS (
    UPDATE __SCHEMA__.jobs AS j
    SET state = CASE i.outcome
                    WHEN 'retry' THEN 'retryable'
                    WHEN 'snooze' THEN 'scheduled'
                    WHEN 'completed' THEN 'completed'
                    ELSE 'dead'
                END::__SCHEMA__.job_state,
        run_at = coalesce(i.at, $7),
        position = nextval('__SCHEMA__.position_seq'),
        enqueued_at = CASE WHEN i.payload IS NULL THEN j.enqueued_at ELSE i.enqueued_at END,
        payload = coalesce(i.payload::json, j.payload),
        lease_owner = NULL,
        lease_token = NULL,
        lease_expires_at = NULL,
        rescues = 0,
        unique_key = CASE WHEN i.outcome IN ('completed', 'dead') THEN NULL
                          ELSE j.unique_key END
    FROM item AS i
    WHERE j.id = i.id AND j.lease_token = i.lease
      AND (i.outcome IN ('retry', 'snooze', 'dead') OR (i.outcome = 'completed' AND $10))
    RETURNING i.idx, i.outcome, i.failed, j.concurrency_key
),
settled AS (
    SELECT * FROM removed
    UNION ALL
    SELECT * FROM moved
),
locked AS MATERIALIZED (
    SELECT count(__SCHEMA__.limit_prepare(keys)) AS keys
    FROM (SELECT array_agg(concurrency_key) AS keys
          FROM settled WHERE concurrency_key IS NOT NULL) AS limited
    WHERE keys IS NOT NULL
),
counts AS (
    SELECT 'processed' AS name, count(*) FILTER (WHERE outcome NOT IN ('snooze', 'expired')) AS n
    FROM settled
    UNION ALL
    SELECT 'failed', count(*) FILTER (WHERE failed) FROM settled
    UNION ALL
    SELECT 'expired', count(*) FILTER (WHERE outcome = 'expired') FROM settled
),
totals AS (
    INSERT INTO __SCHEMA__.counters (name, shard, value)
    SELECT name, pg_backend_pid() % 16, n FROM counts WHERE n > 0
    ON CONFLICT (name, shard) DO UPDATE SET value = counters.value + excluded.value
),
daily AS (
    INSERT INTO __SCHEMA__.counters_daily (day, name, shard, value)
    SELECT $8, name, pg_backend_pid() % 16, n FROM counts WHERE n > 0 AND name <> 'expired'
    ON CONFLICT (day, name, shard) DO UPDATE SET value = counters_daily.value + excluded.value
)
SELECT idx, outcome
FROM settled
WHERE concurrency_key IS NULL OR (SELECT keys FROM locked) IS NOT NULL
