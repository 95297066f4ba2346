-- pgbench script: dequeue a hundred jobs per transaction with FOR UPDATE SKIP LOCKED.
DELETE FROM bench_ceiling.q WHERE id IN (
  SELECT id FROM bench_ceiling.q ORDER BY id LIMIT 100 FOR UPDATE SKIP LOCKED);
