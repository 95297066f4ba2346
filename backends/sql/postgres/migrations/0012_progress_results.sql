-- Version 11: progress reports and results (issue 17).
--
-- A progress report is kept per job with the lease token of the run that wrote it: it is
-- written only while that token is the job's lease (the write checks the `jobs` row), and
-- read only while it still is, so a rescued run's report never shows as running. Reports
-- of ended runs are removed by the rescue pass.
CREATE TABLE __SCHEMA__.job_progress (
    jid         text   NOT NULL PRIMARY KEY,
    lease_token bigint NOT NULL,
    progress    json   NOT NULL
);

-- A job's return value, written in the transaction that settles it as completed, kept
-- until `expires_at` and then removed by the rescue pass. `json`, not `jsonb`: the text
-- comes back byte for byte.
CREATE TABLE __SCHEMA__.job_results (
    jid         text        NOT NULL PRIMARY KEY,
    class       text        NOT NULL,
    json        text        NOT NULL,
    finished_at timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL
);
CREATE INDEX job_results_expiry_idx ON __SCHEMA__.job_results (expires_at);
