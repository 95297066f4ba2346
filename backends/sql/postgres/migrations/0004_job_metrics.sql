-- Version 4: job metrics. Per UTC hour and job name, the runs that ended, failed, their
-- total time and a histogram of durations (jobs::metrics::BOUNDS_MS buckets, 33 counts).
-- Workers add to a row with INSERT ... ON CONFLICT DO UPDATE; hours past the keep time
-- are deleted.

CREATE TABLE __SCHEMA__.job_metrics (
    hour      timestamptz NOT NULL,
    class     text        NOT NULL,
    processed bigint      NOT NULL DEFAULT 0,
    failed    bigint      NOT NULL DEFAULT 0,
    total_us  bigint      NOT NULL DEFAULT 0,
    histogram bigint[]    NOT NULL,
    PRIMARY KEY (hour, class)
);
