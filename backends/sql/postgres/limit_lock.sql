-- Take the advisory locks the concurrency keys of rows $1 need before the rows leave
-- `running`, in lock id order, for the rest of the transaction (`limit_prepare`,
-- migration 9): the burial of rescued jobs runs it (`lease.rs`) once it has locked the
-- rows and before it moves them.
SELECT count(__SCHEMA__.limit_prepare(keys))
FROM (SELECT array_agg(concurrency_key) AS keys
      FROM __SCHEMA__.jobs
      WHERE id = ANY($1::bigint[]) AND concurrency_key IS NOT NULL) AS limited
WHERE keys IS NOT NULL
