-- What one row of a bulk enqueue costs the Postgres server, piece by piece (docs/scaling.md,
-- "Postgres bulk enqueue"). Run against a fresh schema `bulkx` made by `jobs migrate`:
--   jobs migrate --url 'postgres://root@127.0.0.1:5432/test?schema=bulkx'
--   psql -h 127.0.0.1 -U root test -q -f bench/peers/ceilings/pg-insert-cost.sql
--   psql -h 127.0.0.1 -U root test -c 'DROP SCHEMA bulkx CASCADE'
-- Each step inserts 100,000 rows shaped like the push (`push.sql`) in one statement on the
-- server, so no client or round trip is timed; the later steps drop one index each.
\timing on
SET search_path = bulkx;
TRUNCATE jobs;
-- 1. the real statement shape, 100 x 1000 rows, all at once server-side
INSERT INTO jobs (jid, queue, state, run_at, position, enqueued_at, payload)
SELECT md5(g::text || random()::text), 'default', 'available', now(), nextval('position_seq'), extract(epoch from now()),
 ('{"class":"BenchNoop","queue":"default","args":[' || g || '],"retry":3,"jid":"' || md5(g::text) || '","created_at":1765000000.123,"enqueued_at":1765000000.123}')::json
FROM generate_series(1, 100000) g;
TRUNCATE jobs;
-- 2. without the json cast (payload validated as text? keep json column: cast is required) - measure the cast alone
SELECT count(*) FROM (SELECT ('{"class":"BenchNoop","queue":"default","args":[' || g || '],"retry":3,"jid":"' || md5(g::text) || '","created_at":1765000000.123,"enqueued_at":1765000000.123}')::json FROM generate_series(1,100000) g) x;
SELECT count(*) FROM (SELECT md5(g::text || random()::text) FROM generate_series(1,100000) g) x;
-- 3. without the jid unique index
ALTER TABLE jobs DROP CONSTRAINT jobs_jid_key;
INSERT INTO jobs (jid, queue, state, run_at, position, enqueued_at, payload)
SELECT md5(g::text || random()::text), 'default', 'available', now(), nextval('position_seq'), extract(epoch from now()),
 ('{"class":"BenchNoop","queue":"default","args":[' || g || '],"retry":3,"jid":"' || md5(g::text) || '","created_at":1765000000.123,"enqueued_at":1765000000.123}')::json
FROM generate_series(1, 100000) g;
TRUNCATE jobs;
-- 4. also without the available index
DROP INDEX jobs_available_idx;
INSERT INTO jobs (jid, queue, state, run_at, position, enqueued_at, payload)
SELECT md5(g::text || random()::text), 'default', 'available', now(), nextval('position_seq'), extract(epoch from now()),
 ('{"class":"BenchNoop","queue":"default","args":[' || g || '],"retry":3,"jid":"' || md5(g::text) || '","created_at":1765000000.123,"enqueued_at":1765000000.123}')::json
FROM generate_series(1, 100000) g;
TRUNCATE jobs;
-- 5. also without the pkey
ALTER TABLE jobs DROP CONSTRAINT jobs_pkey;
INSERT INTO jobs (jid, queue, state, run_at, position, enqueued_at, payload)
SELECT md5(g::text || random()::text), 'default', 'available', now(), nextval('position_seq'), extract(epoch from now()),
 ('{"class":"BenchNoop","queue":"default","args":[' || g || '],"retry":3,"jid":"' || md5(g::text) || '","created_at":1765000000.123,"enqueued_at":1765000000.123}')::json
FROM generate_series(1, 100000) g;
