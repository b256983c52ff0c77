-- claim-dispatch: places one queued task on one worker and publishes the dispatch.
-- ARGV[3] task id, [4] worker id, [5] topic, [6] strategy, [7] reason,
-- [8] last_seen cutoff (ISO; older = stale), [9] ack deadline (ms).
-- Returns 'ok', 'no_subscriber' (nobody heard it; the task is queued again),
-- 'task_gone' (no longer queued) or 'worker:<why>' (the worker cannot take it).
-- Race prevented: two schedulers (or two passes) choosing the same task or the same worker.
-- The task must still be in the queue and the worker must hold no task; both are checked and
-- taken in this one script, so a task is dispatched once and a worker runs one task at a time.
local id, w = ARGV[3], ARGV[4]
if not redis.call('ZSCORE', P .. 'queue', id) or redis.call('HGET', tkey(id), 'status') ~= 'PENDING' then
  return 'task_gone'
end
local why = worker_unavailable(w, ARGV[8])
if why then return 'worker:' .. why end
return dispatch_to(id, w, ARGV[5], ARGV[6], ARGV[7], tonumber(ARGV[9]))
