-- claim-dispatch: places one queued task on one worker and publishes the dispatch.
-- KEYS: none (keys are built from the ids; docs/redis-keys.md).
-- ARGV: [1-3] now (ms), now (ISO), fence (includes/args.lua; fenced); [4] task id, [5] worker id,
--   [6] topic, [7] strategy, [8] reason, [9] last_seen cutoff (ISO; older = stale),
--   [10] ack deadline (ms).
-- Returns: 'ok', 'no_subscriber' (nobody heard it; the task is queued again), 'task_gone' (no
-- longer queued), 'worker:<why>' (the worker cannot take it) or 'not_leader'.
-- Race prevented: two schedulers (or two passes) choosing the same task or the same worker.
-- The task must still be in the queue and the worker must hold no task; both are checked and
-- taken in this one script, so a task is dispatched once and a worker runs one task at a time.
--- @include "fenced"
--- @include "keys"
--- @include "worker-liveness"
--- @include "dispatch"

if not fenced() then return 'not_leader' end
local id, w = ARGV[4], ARGV[5]
if not redis.call('ZSCORE', {{Keys.queue}}, id) then return 'task_gone' end
local t = redis.call('HMGET', tkey(id), unpack(DISPATCH_FIELDS))
if t[1] ~= 'PENDING' then return 'task_gone' end
local why, v2 = worker_unavailable(w, ARGV[9])
if why then return 'worker:' .. why end
return dispatch_to(id, w, ARGV[6], ARGV[7], ARGV[8], tonumber(ARGV[10]), t, v2)
