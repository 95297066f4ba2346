-- The live holders of the unique keys $1 at $2 (the push's time), locked for the rest of
-- the push's transaction, after freeing the lapsed ones. $1 is sorted and distinct.
--
-- Each key has at most one row (`jobs_unique_key_idx`). Those rows are locked in key
-- order (FOR UPDATE above the sort), so two pushes of overlapping keys wait on each other
-- instead of deadlocking, and a holder cannot be finished, reserved or deleted under the
-- push: what this returns stays true until the push commits. A row whose lock was released
-- meanwhile is re-checked after the wait and left out. A lock whose `unique_expires_at` is
-- at or before $2 has lapsed: its row keeps its job but no longer its key. A holder is
-- waiting when it is in a queue, the scheduled set or the retry set, or moved aside for a
-- concurrency slot (a push may replace it: its row holds no slot, so deleting it frees none).
--
-- EXPLAIN (checked by `push_flow_and_unique_hold_use_the_unique_index`, generic plan, 3,000
-- locks held among 5,000 jobs):
--   CTE holder -> LockRows -> Sort (unique_key)
--                 -> Bitmap Heap Scan on jobs
--                    -> Bitmap Index Scan on jobs_unique_key_idx (unique_key = ANY ($1))
--   CTE lapsed -> Update on jobs j -> Nested Loop
--                 -> CTE Scan on holder h (NOT live) -> Index Scan using jobs_pkey on jobs j
WITH holder AS (
    SELECT id, unique_key, jid, state, unique_expires_at > $2 AS live
    FROM __SCHEMA__.jobs
    WHERE unique_key = ANY($1::text[])
    ORDER BY unique_key
    FOR UPDATE
),
lapsed AS (
    UPDATE __SCHEMA__.jobs AS j
    SET unique_key = NULL
    FROM holder AS h
    WHERE j.id = h.id AND NOT h.live
)
SELECT unique_key, jid, id, state IN ('available', 'scheduled', 'retryable', 'waiting') AS waiting
FROM holder
WHERE live
