-- Delete up to $2 completed jobs finished before $1, oldest first. SKIP LOCKED lets two
-- processes prune at once without waiting on each other.
WITH old AS (
    SELECT id
    FROM __SCHEMA__.jobs
    WHERE state = 'completed' AND run_at < $1
    ORDER BY run_at
    LIMIT $2
    FOR UPDATE SKIP LOCKED
)
DELETE FROM __SCHEMA__.jobs AS j
USING old
WHERE j.id = old.id
