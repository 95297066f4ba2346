-- Version 9: concurrency and rate limits (`jobs::envelope::limits`).
--
-- Concurrency. `concurrency_key` and `concurrency_limit` are a job's
-- `jobs_rs_concurrency`, read from the envelope in Rust and written at push
-- (`push_limits.sql`) only for jobs that have one; every other row keeps them NULL, so
-- nothing below ever runs for it. A row that is `running` with a key holds a slot of that
-- key; a row its key's limit moved aside is `waiting` (a state of its own, version 8). The
-- counts are the rows themselves (`jobs_limited_idx`): nothing else is kept per key, so a
-- key with no slot held and no job waiting leaves nothing behind.
--   * As the reserve (`reserve.sql`) turns a limited row `running`, `limit_take` takes a
--     slot for it or moves it aside (unleased, no attempt counted, its unique lock kept):
--     the reserve hands it to nobody.
--   * Every move of a row out of `running` (any finish, requeue, rescue, burial; update or
--     delete) fires `limit_free`, which brings the oldest waiting job of the key (lowest id:
--     push order) back to the head of its queue, in the statement that moved the holder. A
--     settle fenced off by its lease token matches no row, so fires nothing.
--
-- Serialization: two advisory locks per key (`limit_lock`), taken for the rest of the
-- transaction.
--   * `take`, exclusive, to take slots: they are counted under it (rows running now, a
--     free still in flight counting as held, rows this reserve took already), so no two
--     reserves ever hand out more than the limit.
--   * `wait`, shared, to move a job aside; exclusive, to free a slot of a key with no job
--     waiting (`limit_prepare`). Such a free thus waits for every reserve moving a job
--     aside at the time (say, on a count that still included the slot being freed) and
--     then sees and brings back that job.
--   A job of a key with jobs waiting waits behind them: the reserve moves it aside holding
--   `wait` shared and having seen under it a job waiting, which will come back (or is on
--   its way back) and take a slot and free it, and that free brings back this one or
--   another that will. Only rows at the head of their queue (requeued, rescued, brought
--   back: priority -1), and keys with nothing waiting, try for a slot, under `take`. A free
--   with a job waiting needs no lock: it brings back the oldest no one else is bringing
--   back (SKIP LOCKED). So a hot key's backlog grows and drains without its reserves and
--   settles waiting for each other, and slots are taken one reserve at a time.
--   What falls through (a waiting job's only way back cleared with its queue, or held by a
--   unique push as the last slot freed) is caught by rescue: `limit_sweep` brings back a
--   waiting job of every key with no slot held and no job on its way to one.
--
-- Nothing deadlocks: a reserve only tries key locks (a row whose lock is taken at that
-- instant is left for the next reserve), so it never waits for one; the statements that
-- move rows out of `running` (`finish.sql`, `requeue.sql`, `rescue.sql`, the burial in
-- `lease.rs`) lock those rows first, then take the `wait` locks they need sorted by lock
-- id, and then lock waiting rows only SKIP LOCKED. Holding a key lock nothing waits for a
-- row.
--
-- A job moved aside is written anew (deleted and inserted again, same id, by `limit_aside`
-- after the reserve) rather than left as the reserve's update of it: a reserver whose
-- snapshot still saw it available then finds it deleted and passes on, where following
-- the update would have left it holding a lock on the waiting row (a locking read locks
-- the newest version to re-check it, and keeps that lock), in the way of a free bringing
-- it back.
--
-- Head order. A job given back to its queue (requeue, rescue) leads it, and the waiting
-- job its slot brings back comes right behind it. Head positions are minus `head_seq`, so
-- `head_seq` now steps by 2: minus (value - 1), one above a job's own head position, is
-- then never drawn, and is where `limit_free` puts the job it brings back. A job brought
-- back by a settle (its holder left the queue) gets a fresh head position. Nothing is
-- notified: the caller wakes its own reservers, and the others find the job at their
-- next reserve.
ALTER TABLE __SCHEMA__.jobs
    ADD COLUMN concurrency_key   text,
    ADD COLUMN concurrency_limit integer;

-- Limited rows only: a key's slots held (running), its waiting jobs oldest first, the keys
-- in use for the dashboard.
CREATE INDEX jobs_limited_idx ON __SCHEMA__.jobs (concurrency_key, state, id)
    WHERE concurrency_key IS NOT NULL;

ALTER SEQUENCE __SCHEMA__.head_seq INCREMENT BY 2;

-- Advisory lock `kind` (`take` or `wait`) of a concurrency key, apart from other schemas'
-- and other apps' locks.
CREATE FUNCTION __SCHEMA__.limit_lock(kind text, key text) RETURNS bigint
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT hashtextextended(__CHANNEL__ || ' concurrency ' || kind || ' ' || key, 0)
$$;

-- Whether a job of `key` waits (committed, as of now). The helpers that query are
-- PL/pgSQL, which keeps their plans for the session, where SQL functions plan every call.
CREATE FUNCTION __SCHEMA__.limit_waits(key text) RETURNS boolean LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN EXISTS (SELECT 1 FROM __SCHEMA__.jobs
                   WHERE concurrency_key = key AND state = 'waiting');
END
$$;

-- Whether `key` has a slot held or a job at the head of a queue (on its way to a slot).
CREATE FUNCTION __SCHEMA__.limit_on_way(key text) RETURNS boolean
    LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN EXISTS (SELECT 1 FROM __SCHEMA__.jobs
                   WHERE concurrency_key = key AND state = 'running')
        OR EXISTS (SELECT 1 FROM __SCHEMA__.jobs
                   WHERE concurrency_key = key AND state = 'available' AND priority < 0);
END
$$;

-- Takes the `wait` locks of `keys`, exclusive, in lock id order. Returns how many.
CREATE FUNCTION __SCHEMA__.limit_lock_waits(keys text[]) RETURNS integer
    LANGUAGE plpgsql AS $$
BEGIN
    RETURN (SELECT count(taken.one)::integer
            FROM (SELECT (SELECT 1 FROM pg_advisory_xact_lock(sorted.l)) AS one
                  FROM (SELECT DISTINCT __SCHEMA__.limit_lock('wait', k) AS l
                        FROM unnest(keys) AS k
                        ORDER BY 1) AS sorted) AS taken);
END
$$;

-- What a statement moving limited rows out of `running` does once it has locked them and
-- before it moves them: takes the `wait` locks of those of `keys` (one entry per row) that
-- have no job waiting. Returns how many it took.
CREATE FUNCTION __SCHEMA__.limit_prepare(keys text[]) RETURNS integer
    LANGUAGE plpgsql AS $$
BEGIN
    RETURN __SCHEMA__.limit_lock_waits(ARRAY(
        SELECT k.key FROM (SELECT DISTINCT key FROM unnest(keys) AS u (key)) AS k
        WHERE NOT __SCHEMA__.limit_waits(k.key)));
END
$$;

-- The reserve (`reserve.sql`, unchanged for this) turns a limited row `running`: this
-- trigger, before the row is written, takes a slot for it, or moves it aside (the row
-- comes back `waiting`, unleased, with its attempts and unique lock as they were, and
-- `limit_aside` then writes it anew), or, when a key lock it needs is held by someone else
-- at that instant, leaves the row alone (it stays available, for the next reserve). Locks
-- are only tried here, never waited for: the reserve took its rows in walk order, not in
-- lock order. Rows the same statement took before count as held (a row trigger sees them).
CREATE FUNCTION __SCHEMA__.limit_take() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    k text := NEW.concurrency_key;
    lim integer := greatest(coalesce(NEW.concurrency_limit, 1), 1);
    held integer;
BEGIN
    IF OLD.priority >= 0 AND __SCHEMA__.limit_waits(k) THEN
        -- Behind a backlog: moved aside, if a job still waits once `wait` is held.
        IF NOT pg_try_advisory_xact_lock_shared(__SCHEMA__.limit_lock('wait', k)) THEN
            RETURN NULL;
        END IF;
        IF __SCHEMA__.limit_waits(k) THEN
            RETURN __SCHEMA__.limit_waiting(OLD, NEW);
        END IF;
    END IF;
    IF NOT pg_try_advisory_xact_lock(__SCHEMA__.limit_lock('take', k)) THEN
        RETURN NULL;
    END IF;
    SELECT count(*) INTO held FROM __SCHEMA__.jobs
    WHERE concurrency_key = k AND state = 'running';
    IF held < lim THEN
        RETURN NEW;
    END IF;
    -- Full: moved aside, which takes `wait` shared, and counts again under it: a free that
    -- saw no job waiting and so took `wait` exclusive has committed by then (its slot is no
    -- longer counted) or waits for this reserve (and will bring this job back).
    IF NOT pg_try_advisory_xact_lock_shared(__SCHEMA__.limit_lock('wait', k)) THEN
        RETURN NULL;
    END IF;
    SELECT count(*) INTO held FROM __SCHEMA__.jobs
    WHERE concurrency_key = k AND state = 'running';
    IF held < lim THEN
        RETURN NEW;
    END IF;
    RETURN __SCHEMA__.limit_waiting(OLD, NEW);
END
$$;

-- `new`, the reserve's version of row `old`, as the row moved aside instead.
CREATE FUNCTION __SCHEMA__.limit_waiting(old __SCHEMA__.jobs, new __SCHEMA__.jobs)
    RETURNS __SCHEMA__.jobs LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    new.state := 'waiting';
    new.lease_owner := NULL;
    new.lease_token := NULL;
    new.lease_expires_at := NULL;
    new.attempts := old.attempts;
    new.unique_key := old.unique_key;
    RETURN new;
END
$$;

-- After the reserve, each row it moved aside is deleted and inserted again, same id: see
-- above why a new row and not the updated one.
CREATE FUNCTION __SCHEMA__.limit_aside() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    r __SCHEMA__.jobs%ROWTYPE;
BEGIN
    DELETE FROM __SCHEMA__.jobs WHERE id = NEW.id RETURNING * INTO r;
    IF FOUND THEN
        INSERT INTO __SCHEMA__.jobs OVERRIDING SYSTEM VALUE VALUES (r.*);
    END IF;
    RETURN NULL;
END
$$;

-- Brings back the oldest job of `key` waiting that no one else is bringing back, to head
-- position `place` (a fresh head position when NULL); whether there was one.
CREATE FUNCTION __SCHEMA__.limit_bring_back(key text, place bigint) RETURNS boolean
    LANGUAGE plpgsql AS $$
DECLARE
    back_id bigint;
    back_queue text;
BEGIN
    SELECT id INTO back_id FROM __SCHEMA__.jobs
    WHERE concurrency_key = key AND state = 'waiting'
    ORDER BY id LIMIT 1
    FOR UPDATE SKIP LOCKED;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    UPDATE __SCHEMA__.jobs
    SET state = 'available', priority = -1,
        position = coalesce(place, -nextval('__SCHEMA__.head_seq'))
    WHERE id = back_id
    RETURNING queue INTO back_queue;
    IF NOT EXISTS (SELECT 1 FROM __SCHEMA__.queues WHERE name = back_queue) THEN
        INSERT INTO __SCHEMA__.queues (name) VALUES (back_queue) ON CONFLICT DO NOTHING;
    END IF;
    RETURN true;
END
$$;

CREATE FUNCTION __SCHEMA__.limit_free() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    place bigint;
BEGIN
    IF TG_OP = 'UPDATE' THEN
        IF NEW.state = 'available' THEN
            -- Given back to its queue: the job brought back goes right behind it.
            place := NEW.position + 1;
        END IF;
    END IF;
    PERFORM __SCHEMA__.limit_bring_back(OLD.concurrency_key, place);
    RETURN NULL;
END
$$;

CREATE TRIGGER jobs_limit_take BEFORE UPDATE OF state ON __SCHEMA__.jobs
    FOR EACH ROW
    WHEN (NEW.concurrency_key IS NOT NULL AND OLD.state = 'available' AND NEW.state = 'running')
    EXECUTE FUNCTION __SCHEMA__.limit_take();
CREATE TRIGGER jobs_limit_aside AFTER UPDATE OF state ON __SCHEMA__.jobs
    FOR EACH ROW
    WHEN (NEW.concurrency_key IS NOT NULL AND OLD.state = 'available' AND NEW.state = 'waiting')
    EXECUTE FUNCTION __SCHEMA__.limit_aside();
CREATE TRIGGER jobs_limit_free AFTER UPDATE OF state ON __SCHEMA__.jobs
    FOR EACH ROW
    WHEN (OLD.concurrency_key IS NOT NULL AND OLD.state = 'running' AND NEW.state <> 'running')
    EXECUTE FUNCTION __SCHEMA__.limit_free();
CREATE TRIGGER jobs_limit_free_deleted AFTER DELETE ON __SCHEMA__.jobs
    FOR EACH ROW
    WHEN (OLD.concurrency_key IS NOT NULL AND OLD.state = 'running')
    EXECUTE FUNCTION __SCHEMA__.limit_free();

-- Rescue's safety net: brings back one waiting job of every key that has jobs waiting, no
-- slot held and no job at the head of a queue, whose way back was lost (see above).
-- Returns how many it brought back.
CREATE FUNCTION __SCHEMA__.limit_sweep() RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    stalled text[];
    k text;
    n integer := 0;
BEGIN
    -- Every key with a job waiting (a skip scan of the index), then those looking stalled.
    stalled := ARRAY(
        WITH RECURSIVE waiting (key) AS (
            (SELECT concurrency_key FROM __SCHEMA__.jobs
             WHERE concurrency_key IS NOT NULL AND state = 'waiting'
             ORDER BY concurrency_key LIMIT 1)
            UNION ALL
            SELECT (SELECT concurrency_key FROM __SCHEMA__.jobs
                    WHERE concurrency_key > w.key AND state = 'waiting'
                    ORDER BY concurrency_key LIMIT 1)
            FROM waiting AS w WHERE w.key IS NOT NULL
        )
        SELECT key FROM waiting
        WHERE key IS NOT NULL AND NOT __SCHEMA__.limit_on_way(key));
    IF cardinality(stalled) = 0 THEN
        RETURN 0;
    END IF;
    -- As a free of a key with nothing waiting: after every reserve moving one aside.
    PERFORM __SCHEMA__.limit_lock_waits(stalled);
    FOREACH k IN ARRAY stalled LOOP
        CONTINUE WHEN __SCHEMA__.limit_on_way(k);
        IF __SCHEMA__.limit_bring_back(k, NULL) THEN
            n := n + 1;
        END IF;
    END LOOP;
    RETURN n;
END
$$;

-- Rate limits: one row per key holding the starts granted in its window, in microseconds
-- since the epoch, oldest first. `rate_take` locks the row (creating it), drops the starts
-- that left the window, and grants a start when fewer than `limit` remain; a refusal
-- stores nothing new. `expires_at` is when the window empties (newest start + per); rescue
-- deletes rows past it (`rescue.sql`), so idle keys leave nothing behind.
CREATE TABLE __SCHEMA__.limit_rates (
    key        text        PRIMARY KEY,
    "limit"    integer     NOT NULL,
    per_us     bigint      NOT NULL,
    starts     bigint[]    NOT NULL,
    expires_at timestamptz NOT NULL
);
CREATE INDEX limit_rates_expiry_idx ON __SCHEMA__.limit_rates (expires_at);

-- Take a start of `p_key` (at most `p_limit` per `p_per_us`) at `p_now_us`, or, when it is
-- NULL, at the server's clock read once the row is locked (`LeaseClock::Store`); a refusal
-- says when a start frees: when the oldest of the last `p_limit` starts leaves the window.
CREATE FUNCTION __SCHEMA__.rate_take(
    p_key text, p_limit integer, p_per_us bigint, p_now_us bigint,
    OUT granted boolean, OUT retry_at_us bigint
) LANGUAGE plpgsql AS $$
DECLARE
    stored bigint[];
    at_us bigint;
    live bigint[];
    n integer;
BEGIN
    INSERT INTO __SCHEMA__.limit_rates AS r (key, "limit", per_us, starts, expires_at)
    VALUES (p_key, p_limit, p_per_us, '{}', now())
    ON CONFLICT (key) DO UPDATE SET "limit" = excluded."limit", per_us = excluded.per_us
    RETURNING r.starts INTO stored;
    at_us := coalesce(p_now_us, floor(extract(epoch FROM clock_timestamp()) * 1000000)::bigint);
    live := ARRAY(SELECT s FROM unnest(stored) AS s WHERE s > at_us - p_per_us ORDER BY s);
    n := cardinality(live);
    IF n < p_limit THEN
        granted := true;
        live := ARRAY(SELECT s FROM unnest(live || at_us) AS s ORDER BY s);
    ELSE
        granted := false;
        retry_at_us := live[n - p_limit + 1] + p_per_us;
    END IF;
    UPDATE __SCHEMA__.limit_rates AS r
    SET starts = live,
        expires_at = timestamptz 'epoch'
                     + (live[cardinality(live)] + p_per_us) * interval '1 microsecond'
    WHERE r.key = p_key;
END
$$;
