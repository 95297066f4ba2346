-- Store a batch of jobs that have priorities or unique locks, in one statement: push.sql
-- with the flow-control columns (plain batches keep push.sql, which never names them).
-- $1 jids, $2 queues, $3 envelopes (JSON text), $4 due times (NULL: into the queue now),
-- $5 now, $6 the envelopes' `enqueued_at`, $7 priorities (0..9), $8 unique keys (NULL:
-- none), $9 until (`start` or `success`), $10 when each lock lapses.
--
-- A row whose key another row holds is not stored (ON CONFLICT ... DO NOTHING, also
-- between rows of the batch: the first in order wins). The caller (`unique.rs`) sends
-- only rows whose keys it found free, with the holders locked and the lapsed ones
-- cleared in the same transaction, so a row left out here means another push took the
-- key since; it compares `stored` with what it sent and tries again. Only stored rows
-- make their queues known and notify them.
--
-- EXPLAIN (checked by `push_flow_and_unique_hold_use_the_unique_index`): Insert on jobs,
-- Conflict Resolution: NOTHING, Conflict Arbiter Indexes: jobs_unique_key_idx.
WITH input AS (
    SELECT *
    FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $6::float8[],
                $7::smallint[], $8::text[], $9::text[], $10::timestamptz[])
        WITH ORDINALITY AS t (jid, queue, payload, at, enqueued_at, priority, unique_key,
                              unique_until, unique_expires_at, ord)
),
inserted AS (
    INSERT INTO __SCHEMA__.jobs (jid, queue, state, run_at, priority, position, enqueued_at,
                                 payload, unique_key, unique_until, unique_expires_at)
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
           unique_expires_at
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
