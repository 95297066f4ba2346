-- Version 6: how many times each job was rescued from a process that died while running it
-- (its lease expired). rescue.sql adds one, or leaves the row to be buried when the count
-- reaches the worker's limit; finish.sql sets it back to zero when a run ends. Reserve
-- hands it out with the job, so a worker runs a job with rescues alone. A column with a
-- constant default is added without rewriting the table.
ALTER TABLE __SCHEMA__.jobs ADD COLUMN rescues integer NOT NULL DEFAULT 0;
