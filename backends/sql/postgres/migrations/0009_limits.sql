-- Version 9: concurrency and rate limits (`jobs::envelope::limits`).
--
-- Concurrency. `concurrency_key` and `concurrency_limit` are a job's
-- `jobs_rs_concurrency`, read from the envelope in Rust and written at push
-- (`push_limits.sql`) only for jobs that have one; every other row keeps them NULL, and
-- nothing below ever runs for it (the triggers' WHEN clauses fail on their first test).
-- A row that is `running` with a key holds one slot of that key. `limit_slots` counts, per
-- key, the slots held (`in_use`) and the jobs moved aside (`waiting`, a job state of its
-- own, version 8); a key with neither has no row. Only these functions change it, each
-- holding the key's advisory lock (`limit_lock`):
--   * `limit_reserve`, called by the reserve (`reserve.sql`) with the limited rows it
--     picked, in reserve order: each takes a slot, or, its key holding the job's own
--     `concurrency_limit` slots already, is moved aside (unleased, no attempt counted, its
--     unique lock kept) and the reserve hands it to nobody.
--   * `limit_free`, a trigger on every move of a row out of `running` (any finish,
--     requeue, rescue, burial; update or delete): gives the slot back and brings the oldest
--     waiting job of the key (lowest id: push order) back to the head of its queue, in the
--     statement that moved the holder. A settle fenced off by its lease token matches no
--     row, so fires nothing. A waiting row deleted is counted out.
-- A slot is thus held exactly while its row is running; a crash leaves counts and rows
-- agreeing (one transaction), and a dead process's slots free when rescue takes its
-- expired leases back.
--
-- Moving aside deletes the row and inserts it again, same id, as `waiting`, rather than
-- updating it: a reserver whose snapshot still saw it available then finds it deleted and
-- passes on, where following an update would have left it holding a lock on the waiting
-- row (a locking read locks the newest version to re-check it, and keeps that lock). So
-- waiting rows are locked by nobody but the statement bringing one back (and, for a
-- moment, a unique push reading its key's holder).
--
-- Lock order, so that nothing deadlocks: a statement first locks its job rows (reserve:
-- SKIP LOCKED, so without waiting; finish, requeue, rescue, burial: the leases it moves),
-- then takes all its keys' advisory locks, sorted by lock id (`limit_reserve`, and
-- `limit_prepare` from `finish.sql`, `requeue.sql`, `rescue.sql` and the burial in
-- `lease.rs`), and only then writes `limit_slots` or waiting rows (the triggers take each
-- key's lock again, free for its holder). Holding a key's lock nothing waits for a job row
-- but a waiting one, so reserves and settles never wait on each other in a cycle (one
-- through a unique push holding a waiting unique job is broken by Postgres).
--
-- Head order. A job given back to its queue (requeue, rescue) leads it, and the waiting
-- job its slot brings back comes right behind it. Head positions are minus `head_seq`, so
-- `head_seq` now steps by 2: minus (value - 1), one above a job's own head position, is
-- then never drawn, and is where `limit_free` puts the job it brings back. A job brought
-- back by a settle (its holder left the queue) gets a fresh head position.
ALTER TABLE __SCHEMA__.jobs
    ADD COLUMN concurrency_key   text,
    ADD COLUMN concurrency_limit integer;

-- The waiting jobs of a key, oldest pushed first.
CREATE INDEX jobs_waiting_idx ON __SCHEMA__.jobs (concurrency_key, id)
    WHERE state = 'waiting';

CREATE TABLE __SCHEMA__.limit_slots (
    key     text    PRIMARY KEY,
    in_use  integer NOT NULL,
    waiting integer NOT NULL,
    -- As the last job taken or moved aside with this key declared it.
    "limit" integer NOT NULL
);

ALTER SEQUENCE __SCHEMA__.head_seq INCREMENT BY 2;

-- The advisory lock of a concurrency key, apart from other schemas' and other apps'.
CREATE FUNCTION __SCHEMA__.limit_lock(key text) RETURNS bigint
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT hashtextextended(__CHANNEL__ || ' concurrency ' || key, 0)
$$;

-- What a statement moving limited rows out of `running` does once it has locked them and
-- before it moves them: takes the advisory locks of `keys` (one entry per row), sorted by
-- lock id, for the rest of the transaction. Returns how many keys.
CREATE FUNCTION __SCHEMA__.limit_prepare(keys text[]) RETURNS integer LANGUAGE sql AS $$
    SELECT count(*)::integer
    FROM (SELECT pg_advisory_xact_lock(lock)
          FROM (SELECT DISTINCT __SCHEMA__.limit_lock(k.key) AS lock
                FROM unnest(keys) AS k (key)
                ORDER BY 1) AS sorted) AS taken
$$;

-- The reserve's limited rows `ids` (locked by it), with their keys and limits, in reserve
-- order: takes a slot for each whose key has fewer than its limit held, and moves the
-- others aside. Returns the ids moved aside, which the reserve leaves alone.
CREATE FUNCTION __SCHEMA__.limit_reserve(ids bigint[], keys text[], limits integer[])
    RETURNS bigint[] LANGUAGE plpgsql AS $$
DECLARE
    aside bigint[] := '{}';
    r __SCHEMA__.jobs%ROWTYPE;
BEGIN
    PERFORM __SCHEMA__.limit_prepare(keys);
    FOR i IN 1 .. coalesce(cardinality(ids), 0) LOOP
        INSERT INTO __SCHEMA__.limit_slots AS s (key, in_use, waiting, "limit")
        VALUES (keys[i], 1, 0, greatest(coalesce(limits[i], 1), 1))
        ON CONFLICT (key) DO UPDATE SET in_use = s.in_use + 1, "limit" = excluded."limit"
        WHERE s.in_use < excluded."limit";
        CONTINUE WHEN FOUND;
        UPDATE __SCHEMA__.limit_slots
        SET waiting = waiting + 1, "limit" = greatest(coalesce(limits[i], 1), 1)
        WHERE key = keys[i];
        DELETE FROM __SCHEMA__.jobs WHERE id = ids[i] RETURNING * INTO r;
        r.state := 'waiting';
        INSERT INTO __SCHEMA__.jobs OVERRIDING SYSTEM VALUE VALUES (r.*);
        aside := aside || ids[i];
    END LOOP;
    RETURN aside;
END
$$;

CREATE FUNCTION __SCHEMA__.limit_free() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    slot record;
    place bigint;
    back_id bigint;
    back_queue text;
BEGIN
    PERFORM pg_advisory_xact_lock(__SCHEMA__.limit_lock(OLD.concurrency_key));
    IF OLD.state = 'waiting' THEN
        -- A waiting row deleted.
        UPDATE __SCHEMA__.limit_slots SET waiting = greatest(waiting - 1, 0)
        WHERE key = OLD.concurrency_key
        RETURNING in_use, waiting INTO slot;
    ELSE
        UPDATE __SCHEMA__.limit_slots SET in_use = in_use - 1
        WHERE key = OLD.concurrency_key AND in_use > 0
        RETURNING in_use, waiting INTO slot;
    END IF;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    IF OLD.state = 'running' AND slot.waiting > 0 THEN
        place := NULL;
        IF TG_OP = 'UPDATE' THEN
            IF NEW.state = 'available' THEN
                place := NEW.position + 1;
            END IF;
        END IF;
        IF place IS NULL THEN
            place := -nextval('__SCHEMA__.head_seq');
        END IF;
        SELECT id INTO back_id FROM __SCHEMA__.jobs
        WHERE concurrency_key = OLD.concurrency_key AND state = 'waiting'
        ORDER BY id LIMIT 1
        FOR UPDATE SKIP LOCKED;
        IF NOT FOUND THEN
            SELECT id INTO back_id FROM __SCHEMA__.jobs
            WHERE concurrency_key = OLD.concurrency_key AND state = 'waiting'
            ORDER BY id LIMIT 1
            FOR UPDATE;
        END IF;
        UPDATE __SCHEMA__.jobs
        SET state = 'available', priority = -1, position = place
        WHERE id = back_id AND state = 'waiting'
        RETURNING queue INTO back_queue;
        IF FOUND THEN
            UPDATE __SCHEMA__.limit_slots SET waiting = waiting - 1
            WHERE key = OLD.concurrency_key
            RETURNING in_use, waiting INTO slot;
            IF NOT EXISTS (SELECT 1 FROM __SCHEMA__.queues WHERE name = back_queue) THEN
                INSERT INTO __SCHEMA__.queues (name) VALUES (back_queue) ON CONFLICT DO NOTHING;
            END IF;
            PERFORM pg_notify(__CHANNEL__, back_queue);
        ELSE
            -- The count said a job waited and none does: trust the rows.
            UPDATE __SCHEMA__.limit_slots SET waiting = 0
            WHERE key = OLD.concurrency_key
            RETURNING in_use, waiting INTO slot;
        END IF;
    END IF;
    IF slot.in_use = 0 AND slot.waiting = 0 THEN
        DELETE FROM __SCHEMA__.limit_slots WHERE key = OLD.concurrency_key;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER jobs_limit_free AFTER UPDATE OF state ON __SCHEMA__.jobs
    FOR EACH ROW
    WHEN (OLD.concurrency_key IS NOT NULL AND OLD.state = 'running' AND NEW.state <> 'running')
    EXECUTE FUNCTION __SCHEMA__.limit_free();
CREATE TRIGGER jobs_limit_free_deleted AFTER DELETE ON __SCHEMA__.jobs
    FOR EACH ROW
    WHEN (OLD.concurrency_key IS NOT NULL AND OLD.state IN ('running', 'waiting'))
    EXECUTE FUNCTION __SCHEMA__.limit_free();

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
