-- Version 4: how many times each job was rescued from a process that died while running it
-- (its lease expired). Rescue adds one; the job is buried instead of requeued when the
-- count reaches the worker's limit; any finish of a run sets it back to zero. Reserve hands
-- it out with the job, so a worker runs a job with rescues alone.
ALTER TABLE jobs ADD COLUMN rescues INTEGER NOT NULL DEFAULT 0;
