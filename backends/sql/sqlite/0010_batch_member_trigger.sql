-- Version 10: a batch member that ends well moves in its batch inside its settle's statement.
--
-- 1. A member's job row names its member row (`batch_member`, set when the job is stored
--    by `batch.rs`'s add, which registers the member first). Member rows get row ids in the
--    order they were added, so the members of one settle (jobs run about in that order)
--    share a few pages, where the (bid, member) key scattered them over the whole table.
-- 2. When the settle marks a member's job `done` without a failure (it succeeded, or was
--    discarded without failing), the trigger below moves the member to `succeeded` and
--    changes its batch's counts by that move only, as the settle transaction does for every
--    other outcome: a member already there changes nothing, so a member settled twice
--    counts once.
-- 3. A batch this leaves sealed with nothing pending and a callback not yet fired is noted
--    in `batch_due` in the same statement: a process that dies before it fires the
--    callbacks leaves the note for the next settle or promotion pass of any process; the
--    pass that fires them deletes the note in its transaction, and the fired times make a
--    second pass a no-op.
CREATE TABLE batch_members_v10 (
    id      INTEGER PRIMARY KEY,
    bid     TEXT NOT NULL,
    member  TEXT NOT NULL,
    state   TEXT NOT NULL CHECK (state IN ('pending', 'succeeded', 'failed', 'dead')),
    UNIQUE (bid, member)
);
INSERT INTO batch_members_v10 (bid, member, state)
SELECT bid, member, state FROM batch_members ORDER BY bid, member;
DROP TABLE batch_members;
ALTER TABLE batch_members_v10 RENAME TO batch_members;

ALTER TABLE jobs ADD COLUMN batch_member INTEGER;
UPDATE jobs SET batch_member = (
    SELECT m.id FROM batch_members AS m
    WHERE m.bid = jobs.payload ->> '$.bid' AND m.member = jobs.jid)
WHERE payload ->> '$.bid' IS NOT NULL;

CREATE TABLE batch_due (
    bid TEXT NOT NULL PRIMARY KEY
) WITHOUT ROWID;

CREATE TRIGGER jobs_member_succeeded AFTER UPDATE OF state ON jobs
    WHEN NEW.state = 'done' AND NEW.batch_member IS NOT NULL AND NEW.finish_failed = 0
BEGIN
    UPDATE batches SET
        pending = pending - (m.state = 'pending'),
        failed = failed - (m.state = 'failed'),
        dead = dead - (m.state = 'dead'),
        succeeded = succeeded + 1
    FROM (SELECT bid, state FROM batch_members
          WHERE id = NEW.batch_member AND state <> 'succeeded') AS m
    WHERE batches.bid = m.bid;
    UPDATE batch_members SET state = 'succeeded'
    WHERE id = NEW.batch_member AND state <> 'succeeded';
    INSERT OR IGNORE INTO batch_due (bid)
    SELECT b.bid FROM batch_members AS m JOIN batches AS b ON b.bid = m.bid
    WHERE m.id = NEW.batch_member AND b.sealed = 1 AND b.pending = 0
      AND (b.complete_at IS NULL OR (b.success_at IS NULL AND b.failed = 0 AND b.dead = 0));
END;
