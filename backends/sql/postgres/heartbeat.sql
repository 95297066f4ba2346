-- A process beats: upsert its record ($1 id, $2 record JSON, $3 now, $4 now + lease ttl),
-- extend every lease it holds to $4, and take the signals left for it, oldest first.
WITH beat AS (
    INSERT INTO __SCHEMA__.processes (id, record, beat_at, expires_at)
    VALUES ($1, $2::json, $3, $4)
    ON CONFLICT (id) DO UPDATE
    SET record = excluded.record, beat_at = excluded.beat_at, expires_at = excluded.expires_at
),
extended AS (
    UPDATE __SCHEMA__.jobs
    SET lease_expires_at = $4
    WHERE state = 'running' AND lease_owner = $1
),
taken AS (
    DELETE FROM __SCHEMA__.process_signals
    WHERE process_id = $1
    RETURNING id, signal
)
SELECT signal FROM taken ORDER BY id
