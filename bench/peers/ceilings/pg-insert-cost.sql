-- What one row of a bulk enqueue costs the Postgres server, piece by piece (docs/scaling.md,
-- "Postgres bulk enqueue"). Run against a fresh schema `bulkx` made by `jobs migrate`:
--   jobs migrate --url 'postgres://root@127.0.0.1:5432/test?schema=bulkx'
--   psql -h 127.0.0.1 -U root test -q -f bench/peers/ceilings/pg-insert-cost.sql
--   psql -h 127.0.0.1 -U root test -c 'DROP SCHEMA bulkx CASCADE'
-- Each step inserts 100,000 rows shaped like the push (`push.sql`) in one statement on the
-- server, so no client or round trip is timed. Jids are made as `jobs::envelope::new_jid`
-- makes them (the time first, so they sort in the order they are made, then random hex),
-- except in step 2 (all random, as a jid a caller supplies may be). The later steps drop one
-- index each, inside a transaction rolled back, so the schema is left as it was.
\timing on
SET search_path = bulkx;
TRUNCATE jobs;
-- 1. the real table, jids made in order
INSERT INTO jobs (jid, queue, state, run_at, position, enqueued_at, payload)
SELECT lpad(to_hex(1000000000 + g), 10, '0') || substr(md5(random()::text), 1, 14), 'default', 'available', now(), nextval('position_seq'), extract(epoch from now()),
 ('{"class":"BenchNoop","queue":"default","args":[' || g || '],"retry":3,"jid":"' || md5(g::text) || '","created_at":1765000000.123,"enqueued_at":1765000000.123}')::json
FROM generate_series(1, 100000) g;
TRUNCATE jobs;
-- 2. the real table, random jids
INSERT INTO jobs (jid, queue, state, run_at, position, enqueued_at, payload)
SELECT substr(md5(g::text || random()::text), 1, 24), 'default', 'available', now(), nextval('position_seq'), extract(epoch from now()),
 ('{"class":"BenchNoop","queue":"default","args":[' || g || '],"retry":3,"jid":"' || md5(g::text) || '","created_at":1765000000.123,"enqueued_at":1765000000.123}')::json
FROM generate_series(1, 100000) g;
TRUNCATE jobs;
-- 3. making the rows alone (jid, position, payload with its ::json check), nothing inserted
SELECT count(*) FROM (SELECT lpad(to_hex(1000000000 + g), 10, '0') || substr(md5(random()::text), 1, 14), nextval('position_seq'),
 ('{"class":"BenchNoop","queue":"default","args":[' || g || '],"retry":3,"jid":"' || md5(g::text) || '","created_at":1765000000.123,"enqueued_at":1765000000.123}')::json
FROM generate_series(1, 100000) g) x;
-- 4. without the jid unique index
BEGIN;
ALTER TABLE jobs DROP CONSTRAINT jobs_jid_key;
INSERT INTO jobs (jid, queue, state, run_at, position, enqueued_at, payload)
SELECT lpad(to_hex(1000000000 + g), 10, '0') || substr(md5(random()::text), 1, 14), 'default', 'available', now(), nextval('position_seq'), extract(epoch from now()),
 ('{"class":"BenchNoop","queue":"default","args":[' || g || '],"retry":3,"jid":"' || md5(g::text) || '","created_at":1765000000.123,"enqueued_at":1765000000.123}')::json
FROM generate_series(1, 100000) g;
-- 5. and without the available index
DELETE FROM jobs;
DROP INDEX jobs_available_idx;
INSERT INTO jobs (jid, queue, state, run_at, position, enqueued_at, payload)
SELECT lpad(to_hex(1000000000 + g), 10, '0') || substr(md5(random()::text), 1, 14), 'default', 'available', now(), nextval('position_seq'), extract(epoch from now()),
 ('{"class":"BenchNoop","queue":"default","args":[' || g || '],"retry":3,"jid":"' || md5(g::text) || '","created_at":1765000000.123,"enqueued_at":1765000000.123}')::json
FROM generate_series(1, 100000) g;
-- 6. and without the primary key
DELETE FROM jobs;
ALTER TABLE jobs DROP CONSTRAINT jobs_pkey;
INSERT INTO jobs (jid, queue, state, run_at, position, enqueued_at, payload)
SELECT lpad(to_hex(1000000000 + g), 10, '0') || substr(md5(random()::text), 1, 14), 'default', 'available', now(), nextval('position_seq'), extract(epoch from now()),
 ('{"class":"BenchNoop","queue":"default","args":[' || g || '],"retry":3,"jid":"' || md5(g::text) || '","created_at":1765000000.123,"enqueued_at":1765000000.123}')::json
FROM generate_series(1, 100000) g;
ROLLBACK;
TRUNCATE jobs;
