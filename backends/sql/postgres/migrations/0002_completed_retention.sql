-- Version 2: completed jobs may be kept for a while (`completed_retention_secs=` in the
-- URL) instead of deleted; rescue prunes them in batches, oldest first, through this index.
CREATE INDEX jobs_completed_idx ON __SCHEMA__.jobs (run_at)
    WHERE state = 'completed';
