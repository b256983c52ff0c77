-- claim-dispatch: places one queued task on one worker and publishes the dispatch.
-- KEYS: none (keys are built from the ids; docs/redis-keys.md).
-- ARGV: [1-3] now (ms), now (ISO), fence (includes/args.lua; fenced); [4] task id, [5] worker id,
--   [6] topic, [7] strategy, [8] reason, [9] last_seen cutoff (ISO; older = stale),
--   [10] ack deadline (ms); only for a task whose spec references upstream results (TASK-SPEC
--   section 2), resolved by the scheduler just before: [11] the resolved document (JSON) to send
--   instead of the stored one ('' for none), [12] '' or why the references cannot be resolved.
-- Returns: 'ok', 'no_subscriber' (nobody heard it; the task is queued again), 'task_gone' (no
-- longer queued), 'worker:<why>' (the worker cannot take it), 'failed' (ARGV[12]: the task failed
-- for good, no retry, its dependents with it) or 'not_leader'.
-- Race prevented: two schedulers (or two passes) choosing the same task or the same worker.
-- The task must still be in the queue and the worker must hold no task; both are checked and
-- taken in this one script, so a task is dispatched once and a worker runs one task at a time.
--- @include "fenced"
--- @include "keys"
--- @include "worker-liveness"
--- @include "dispatch"
--- @include "cascade"

if not fenced() then return 'not_leader' end
local id, w = ARGV[4], ARGV[5]
if not redis.call('ZSCORE', {{Keys.queue}}, id) then return 'task_gone' end
local t = redis.call('HMGET', tkey(id), unpack(DISPATCH_FIELDS))
if t[1] ~= 'PENDING' then return 'task_gone' end
-- A reference that cannot be resolved will not resolve on another attempt either.
if ARGV[12] and ARGV[12] ~= '' then
  cascade_end(id, 'FAILED', ARGV[12])
  return 'failed'
end
local why, v2 = worker_unavailable(w, ARGV[9])
if why then return 'worker:' .. why end
-- The stored document stays as submitted (a retry resolves it again); the worker gets the resolved one.
if ARGV[11] and ARGV[11] ~= '' then t[4] = ARGV[11] end
return dispatch_to(id, w, ARGV[6], ARGV[7], ARGV[8], tonumber(ARGV[10]), t, v2)
