-- Version 10: priority aging (`Backend::priority_age`, `age.sql`).
--
-- A waiting job's `priority` column is the band it runs in; aging lowers it (a smaller
-- number runs first) as the job waits, and `aged` counts the steps it climbed, so its
-- declared priority is `priority + aged` (the envelope's `jobs_rs_priority`, which is never
-- rewritten). Every row starts at 0 (a column with a constant default is added without
-- rewriting the table). `position` is kept: among the jobs of its new band, an aged job
-- runs ahead of every job pushed after it.
ALTER TABLE __SCHEMA__.jobs ADD COLUMN aged smallint NOT NULL DEFAULT 0;

-- The aging pass finds the jobs due to climb without reading the others: a job that
-- climbed `aged` steps climbs again once `enqueued_at` is `(aged + 1)` steps old, so the
-- pass probes this index once per value of `aged` (0 to 8) for the rows enqueued before
-- that step's cutoff. Only available rows of a band above 0 are in it: the jobs given
-- back to the head (priority -1) and the jobs of band 0 never climb. Building it scans
-- the table once.
CREATE INDEX jobs_aging_idx ON __SCHEMA__.jobs (aged, enqueued_at)
    WHERE state = 'available' AND priority > 0;

-- A band is earned by waiting in the queue: a job that comes back to it (promoted after a
-- retry, enqueued again by an admin action, given back by a requeue or a rescue, brought
-- back by a concurrency limit) starts again from its declared priority, or keeps the
-- head band (-1) the statement moving it set. The statements that move jobs back leave a
-- priority of 0 or more as it was, so this trigger puts the envelope's back; it fires only
-- for rows that climbed (its WHEN clause is tested without calling the function).
CREATE FUNCTION __SCHEMA__.aging_reset() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.aged := 0;
    IF NEW.priority >= 0 THEN
        NEW.priority := __SCHEMA__.job_priority(NEW.payload);
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER jobs_aging_reset BEFORE UPDATE OF state ON __SCHEMA__.jobs
    FOR EACH ROW
    WHEN (OLD.aged > 0 AND OLD.state <> 'available' AND NEW.state = 'available')
    EXECUTE FUNCTION __SCHEMA__.aging_reset();
