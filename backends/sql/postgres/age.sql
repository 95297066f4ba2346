-- One priority-aging pass at $1 (epoch seconds), one step per $2 seconds waited: every
-- available job of a band above 0 whose wait earned it a better band moves there
-- (`jobs::backend::AgeParams::aged`: declared priority minus whole steps waited, never
-- below 0). Returns how many moved.
--
-- The inner SELECT probes `jobs_aging_idx` (migration 10) once per number of steps
-- already climbed (`aged`, 0 to 8): the rows due to climb again are those enqueued at least
-- `aged + 1` steps ago, so a pass reads only the rows that move (and those within a
-- millisecond of moving, which the cutoff lets in so that float rounding can never leave a
-- due row out; the UPDATE checks each row exactly). SKIP LOCKED: a row a reserve holds is
-- leaving the queue; one another pass holds is moving already. The ids go to the UPDATE as
-- an array, which it looks up by primary key whatever the planner guesses of their number
-- (a join would make a generic plan, guessing thousands, read the whole table).
--
-- A moved row keeps its position: in its new band it runs ahead of every job pushed after
-- it. Its declared priority stays `priority + aged`; the payload is not touched.
WITH moved AS (
    UPDATE __SCHEMA__.jobs AS j
    SET priority = greatest(j.priority + j.aged
                            - floor(greatest($1::float8 - j.enqueued_at, 0) / $2::float8),
                            0)::smallint,
        aged = (j.priority + j.aged
                - greatest(j.priority + j.aged
                           - floor(greatest($1::float8 - j.enqueued_at, 0) / $2::float8),
                           0))::smallint
    WHERE j.id = ANY (ARRAY(
            SELECT due.id
            FROM generate_series(0, 8) AS s (k)
            CROSS JOIN LATERAL (
                SELECT id
                FROM __SCHEMA__.jobs
                WHERE state = 'available' AND priority > 0 AND aged = s.k
                  AND enqueued_at <= $1::float8 - (s.k + 1) * $2::float8 + 0.001
                FOR UPDATE SKIP LOCKED
            ) AS due
          ))
      AND j.state = 'available'
      AND greatest(j.priority + j.aged
                   - floor(greatest($1::float8 - j.enqueued_at, 0) / $2::float8), 0) < j.priority
    RETURNING 1
)
SELECT count(*) FROM moved
