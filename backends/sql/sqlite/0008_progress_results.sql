-- Progress reports and results (issue 17). Times are integer microseconds since the epoch.
--
-- A progress report is kept per job with the lease token of the run that wrote it: it is
-- written only while that token is the job's lease (the write checks the `jobs` row), and
-- read only while it still is, so a rescued run's report never shows. Reports of ended
-- runs are removed by the rescue pass.
CREATE TABLE job_progress (
    jid         TEXT NOT NULL PRIMARY KEY,
    lease_token TEXT NOT NULL,
    progress    TEXT NOT NULL
) STRICT, WITHOUT ROWID;

-- A job's return value, written in the transaction that settles it as completed, kept
-- until `expires_at` and then removed by the rescue pass.
CREATE TABLE job_results (
    jid         TEXT    NOT NULL PRIMARY KEY,
    class       TEXT    NOT NULL,
    json        TEXT    NOT NULL,
    finished_at INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
CREATE INDEX job_results_expiry ON job_results (expires_at);
