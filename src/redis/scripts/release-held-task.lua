-- release-held-task: a v1 worker that registers again has restarted: the attempt it held died with
-- the old process. A v1 worker that reports IDLE has finished the attempt it had acknowledged: by
-- now its report (sent before the IDLE) has been applied, or it never will be. Either way the worker
-- can no longer finish the task: it counts a failed attempt (with a clear error) and is retried or
-- failed, and the worker is free for new work.
-- KEYS: none (keys are built from the ids; docs/redis-keys.md).
-- ARGV: [1-3] now (ms), now (ISO), fence (includes/args.lua; fenced); [4] worker id, [5] task id,
--   [6] what the worker did: 'register' (it registered again) or 'idle' (it reported STATUS IDLE of
--   its own), [7] retry backoff cap (s).
-- Returns: 'requeued:<retry|failed>', 'not_held' (the worker no longer holds that task),
-- 'kept:<why>' (it holds it and may still finish it), 'invalid_id' or 'not_leader'.
-- Races prevented: the report arriving while we decide (the caller waits a moment first, and the
-- holder lock and the task's status are re-checked here, atomically: a report applied first leaves
-- 'not_held'); a dispatch made after the event (the caller names the task held when the event came,
-- and the worker must still hold that very task); our own worker registering again while it still
-- runs its task (it says RUNNING with that task id, and the task is kept).
--- @include "fenced"
--- @include "keys"
--- @include "worker-id"
--- @include "v2-inbox"
--- @include "release-worker"
--- @include "fail-attempt"

if not fenced() then return 'not_leader' end
local w, id, why = ARGV[4], ARGV[5], ARGV[6]
if not valid_worker_id(w) then return 'invalid_id' end
if redis.call('GET', holder_key(w)) ~= id then return 'not_held' end
local t = redis.call('HMGET', tkey(id), 'status', 'assigned_worker')
if t[2] ~= w or not (t[1] == 'RUNNING' or (why == 'register' and t[1] == 'DISPATCHED')) then return 'kept:task ' .. tostring(t[1]) end
-- A v2 worker's attempts are durable (inbox, processing list, stream): it reports them itself.
if speaks_v2(w) then return 'kept:v2' end
local wf = redis.call('HMGET', worker_key(w), 'status', 'extra_task_id', 'extra_last_task')
local err
if why == 'register' then
  if wf[1] == 'RUNNING' and wf[2] == id then return 'kept:running' end
  err = 'worker ' .. w .. ' registered again (it restarted) while it held the task; the attempt was lost with the old process'
else
  if wf[1] ~= 'IDLE' then return 'kept:status ' .. tostring(wf[1]) end
  if wf[3] == id then
    err = 'worker ' .. w .. ' went IDLE after the task, but its report never reached the orchestrator'
  else
    err = 'worker ' .. w .. ' went IDLE without reporting the task; the attempt is lost'
  end
end
release_worker(w, id)
return 'requeued:' .. fail_attempt(id, w, err, tonumber(ARGV[7]))
