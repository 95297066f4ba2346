-- A process beats: upsert its record ($1 id, $2 record JSON, $3 now), extend every lease it
-- holds and its record's life to $4 (now + lease ttl) or, when $4 is NULL, to the server's
-- `now()` plus $5 microseconds (`jobs::clock::LeaseClock::Store`), and take the signals left
-- for it, oldest first. When $6 (row ids) is not NULL, only the leases on those rows are
-- extended, the ones the process still holds; its other leases lapse (a reserve whose reply
-- never reached it).
--
-- Leases whose rows another statement has locked are skipped (SKIP LOCKED): that is the
-- process's own finish or requeue taking the row out of `running`, or a rescue. Waiting
-- for them instead deadlocked with a finish of the same leases, which locks its rows in
-- its items' order while this walked them in index order; the store then rolled one of
-- the two back. A lease skipped now is extended by the next beat, well inside its TTL.
WITH until AS (
    SELECT coalesce($4::timestamptz, now() + $5::bigint * interval '1 microsecond') AS at
),
beat AS (
    INSERT INTO __SCHEMA__.processes (id, record, beat_at, expires_at)
    SELECT $1, $2::json, $3, until.at FROM until
    ON CONFLICT (id) DO UPDATE
    SET record = excluded.record, beat_at = excluded.beat_at, expires_at = excluded.expires_at
),
extended AS (
    UPDATE __SCHEMA__.jobs AS j
    SET lease_expires_at = until.at
    FROM until, (
        SELECT id FROM __SCHEMA__.jobs
        WHERE state = 'running' AND lease_owner = $1
          AND ($6::bigint[] IS NULL OR id = ANY($6::bigint[]))
        FOR UPDATE SKIP LOCKED
    ) AS mine
    WHERE j.id = mine.id
),
taken AS (
    DELETE FROM __SCHEMA__.process_signals
    WHERE process_id = $1
    RETURNING id, signal
)
SELECT signal FROM taken ORDER BY id
