-- Version 5: a lease token is set exactly while a row is running. Reserve sets it with
-- `running`; finish, requeue, rescue and the dead-letter path clear it when the row leaves
-- `running`. finish.sql and requeue.sql fence on the token alone and rely on this: naming
-- the state there lets the planner walk `jobs_running_idx` (every running row) once per
-- item whenever its statistics say that nothing runs.
ALTER TABLE __SCHEMA__.jobs ADD CONSTRAINT jobs_lease_while_running
    CHECK ((state = 'running') = (lease_token IS NOT NULL));
