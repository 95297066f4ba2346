-- Cancellation (version 11): the cancelled set, and cancel requests for running jobs.
--
-- A cancelled job leaves `jobs` (its unique lock and concurrency slot go with the row, as
-- with every delete) and is kept here, most recent first, trimmed like the dead set.
CREATE TABLE __SCHEMA__.cancelled_jobs (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    jid          text        NOT NULL,
    queue        text        NOT NULL,
    class        text        NOT NULL,
    cancelled_at timestamptz NOT NULL,
    payload      json        NOT NULL
);
CREATE INDEX cancelled_jobs_at_idx ON __SCHEMA__.cancelled_jobs (cancelled_at, id);
CREATE INDEX cancelled_jobs_jid_idx ON __SCHEMA__.cancelled_jobs (jid);

-- A cancel asked of a running job: NOTIFYed on `jobs_cancel.<schema>` and read by the
-- heartbeat of the process running it (and before a rescued job runs again); removed when
-- the job is settled as cancelled, pruned after three days otherwise.
CREATE TABLE __SCHEMA__.cancel_requests (
    jid          text        PRIMARY KEY,
    requested_at timestamptz NOT NULL
);
