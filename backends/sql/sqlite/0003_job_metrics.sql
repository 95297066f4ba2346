-- Job metrics: per job name and UTC hour, how many runs ended, how many failed, their
-- total time, and a histogram of their durations (jobs::metrics::BOUNDS_MS buckets).

CREATE TABLE job_metrics (
    -- The start of the UTC hour, in microseconds since the epoch.
    hour      INTEGER NOT NULL,
    class     TEXT    NOT NULL,
    processed INTEGER NOT NULL,
    failed    INTEGER NOT NULL,
    total_us  INTEGER NOT NULL,
    -- Runs per bucket, as a JSON array of integers.
    histogram TEXT    NOT NULL,
    PRIMARY KEY (hour, class)
) STRICT, WITHOUT ROWID;
