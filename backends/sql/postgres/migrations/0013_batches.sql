-- Version 11: batches.
--
-- A batch is one row: what it is (`info`, the JSON of `jobs::batch::BatchInfo`, with its
-- callbacks), whether it is sealed, its member counts and when each callback fired. Each
-- member (a job by jid, or a child batch as `b:<bid>`) is one row of `batch_members` in
-- exactly one state. The settle transaction locks the batch row (`FOR UPDATE`), moves the
-- member by key and adjusts the counts by that move only, so a member settled twice counts
-- once, no count goes below zero, and a callback is claimed (its `*_at` set) once.
CREATE TABLE __SCHEMA__.batches (
    id           bigserial PRIMARY KEY,
    bid          text      NOT NULL UNIQUE,
    info         text      NOT NULL,
    sealed       boolean   NOT NULL DEFAULT false,
    pending      bigint    NOT NULL DEFAULT 0 CHECK (pending >= 0),
    succeeded    bigint    NOT NULL DEFAULT 0 CHECK (succeeded >= 0),
    failed       bigint    NOT NULL DEFAULT 0 CHECK (failed >= 0),
    dead         bigint    NOT NULL DEFAULT 0 CHECK (dead >= 0),
    complete_at  double precision,
    success_at   double precision,
    death_at     double precision,
    expires_at   double precision NOT NULL
);

CREATE INDEX batches_expiry_idx ON __SCHEMA__.batches (expires_at);

CREATE TABLE __SCHEMA__.batch_members (
    bid     text NOT NULL,
    member  text NOT NULL,
    state   text NOT NULL CHECK (state IN ('pending', 'succeeded', 'failed', 'dead')),
    PRIMARY KEY (bid, member)
);
