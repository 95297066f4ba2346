-- The limits in use, a page of them ($2 offset, $3 limit): every concurrency key with a slot
-- held (a running row) or a job waiting, by key, with the limit of its newest such row;
-- then every rate key with a start in its window at $1 (microseconds since the epoch;
-- NULL: the server's `now()`, `LeaseClock::Store`), by key. Keys sort byte by byte
-- (`COLLATE "C"`), whatever the database's collation. A rate key's window holds the starts
-- after $1 minus its window; when it holds `limit` of them, `frees_at_us` is when the
-- oldest of the last `limit` leaves.
WITH at AS (
    SELECT coalesce($1::bigint, floor(extract(epoch FROM now()) * 1000000)::bigint) AS now_us
),
concurrency AS (
    SELECT 0 AS kind, concurrency_key AS key,
           (array_agg(concurrency_limit ORDER BY id DESC))[1] AS "limit",
           count(*) FILTER (WHERE state = 'running') AS in_use,
           count(*) FILTER (WHERE state = 'waiting') AS waiting,
           NULL::bigint AS per_us, NULL::bigint AS frees_at_us
    FROM __SCHEMA__.jobs
    WHERE concurrency_key IS NOT NULL AND state IN ('running', 'waiting')
    GROUP BY concurrency_key
),
windows AS (
    SELECT r.key, r."limit", r.per_us,
           ARRAY(SELECT s FROM unnest(r.starts) AS s WHERE s > at.now_us - r.per_us ORDER BY s)
               AS live
    FROM __SCHEMA__.limit_rates AS r, at
    WHERE r.expires_at > timestamptz 'epoch' + at.now_us * interval '1 microsecond'
),
rates AS (
    SELECT 1 AS kind, key, "limit", cardinality(live)::bigint, 0::bigint, per_us,
           CASE WHEN cardinality(live) >= "limit"
                THEN live[cardinality(live) - "limit" + 1] + per_us END
    FROM windows
    WHERE cardinality(live) > 0
)
SELECT kind, key, "limit", in_use, waiting, per_us, frees_at_us
FROM (SELECT * FROM concurrency UNION ALL SELECT * FROM rates) AS used
ORDER BY kind, key COLLATE "C"
OFFSET $2 LIMIT $3
