-- Version 8: the state of a job its concurrency limit moved aside (version 9 says how).
-- An enum value added in a transaction cannot be used until that transaction commits, not
-- even in an index or trigger of the same transaction, so it is a migration of its own:
-- each migration commits before the next (`migrate.rs`).
ALTER TYPE __SCHEMA__.job_state ADD VALUE IF NOT EXISTS 'waiting';
