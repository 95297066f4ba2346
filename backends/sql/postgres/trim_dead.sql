-- Trim the dead set: jobs that died before $1 (NULL: none by age), then the oldest
-- beyond the $2 most recent. Counts the trimmed jobs in the `dead_trimmed` counter.
WITH doomed AS (
    SELECT id FROM __SCHEMA__.jobs WHERE state = 'dead' AND run_at < $1
    UNION
    SELECT id FROM (
        SELECT id FROM __SCHEMA__.jobs
        WHERE state = 'dead'
        ORDER BY run_at DESC, position DESC
        OFFSET $2
    ) AS beyond
),
removed AS (
    DELETE FROM __SCHEMA__.jobs AS j
    USING doomed AS d
    WHERE j.id = d.id AND j.state = 'dead'
    RETURNING 1
),
counted AS (
    INSERT INTO __SCHEMA__.counters (name, shard, value)
    SELECT 'dead_trimmed', pg_backend_pid() % 16, count(*) FROM removed HAVING count(*) > 0
    ON CONFLICT (name, shard) DO UPDATE SET value = counters.value + excluded.value
)
SELECT count(*) FROM removed
