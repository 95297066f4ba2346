-- Store a running job's progress report, fenced as a finish is: the token's epoch must be
-- the process's current one and the job's exact payload must still be in the process's
-- in-flight list; otherwise nothing is written (the lease was lost) and 0 is returned.
-- KEYS[1] jobs-rs:epoch:<n>:<process>, KEYS[2] the in-flight list, KEYS[3] jobs-rs:progress:<jid>.
-- ARGV[1] the token's epoch, ARGV[2] the raw payload, ARGV[3] the record (JSON: process,
-- epoch, progress), ARGV[4] its time to live in ms.
if (redis.call('GET', KEYS[1]) or '0') ~= ARGV[1] then return 0 end
if not redis.call('LPOS', KEYS[2], ARGV[2]) then return 0 end
redis.call('SET', KEYS[3], ARGV[3], 'PX', ARGV[4])
return 1
