-- Add a batch of metrics samples, one row per (hour, class) given once: $1 hours, $2 job
-- names, $3 processed, $4 failed, $5 total microseconds, $6 every sample's histogram one
-- after another ($7 counts each). Counters and histogram buckets add up.
INSERT INTO __SCHEMA__.job_metrics AS m (hour, class, processed, failed, total_us, histogram)
SELECT s.hour, s.class, s.processed, s.failed, s.total_us,
       ($6::bigint[])[((s.n - 1) * $7 + 1):(s.n * $7)]
FROM unnest($1::timestamptz[], $2::text[], $3::bigint[], $4::bigint[], $5::bigint[])
     WITH ORDINALITY AS s(hour, class, processed, failed, total_us, n)
ON CONFLICT (hour, class) DO UPDATE SET
    processed = m.processed + EXCLUDED.processed,
    failed = m.failed + EXCLUDED.failed,
    total_us = m.total_us + EXCLUDED.total_us,
    histogram = ARRAY(
        SELECT coalesce(a, 0) + coalesce(b, 0)
        FROM unnest(m.histogram, EXCLUDED.histogram) WITH ORDINALITY AS u(a, b, i)
        ORDER BY i
    )
