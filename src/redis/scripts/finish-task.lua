-- finish-task: applies a worker's TASK_SUCCEEDED or TASK_FAILED once.
-- KEYS: none (keys are built from the ids; docs/redis-keys.md).
-- ARGV: [1-3] now (ms), now (ISO), fence (includes/args.lua; unfenced); [4] task id, [5] worker id,
--   [6] 'succeeded' | 'failed', [7] result JSON or error text, [8] retry backoff cap (s),
--   [9] attempt number or '' (v1 events carry none).
-- Returns: 'done' ('done:queued' when dependents became ready), 'parent_ready:<id>', 'retry'
-- (also for a worker without an executor for the type: queued again, no retry counted), 'failed',
-- or 'ignored:<why>'.
-- Race prevented: duplicated or late events. Only the worker that holds the current attempt can
-- change the task, once; a shard is counted into its parent exactly once.
--- @include "keys"
--- @include "release-worker"
--- @include "succeed"
--- @include "fail-attempt"
--- @include "refuse-attempt"

local id, w, outcome = ARGV[4], ARGV[5], ARGV[6]
local k = tkey(id)
local f = redis.call('HMGET', k, unpack(SUCCEED_FIELDS)) -- status, assigned_worker, attempt first
-- A report naming an attempt other than the current one is late: it must not even free the worker,
-- which may hold a newer attempt of the same task.
if ARGV[9] ~= '' and f[1] and tonumber(ARGV[9]) ~= tonumber(f[3]) then return 'ignored:old_attempt' end
local released = release_worker(w, id)
if not f[1] then return 'ignored:unknown_task' end
if (f[1] ~= 'DISPATCHED' and f[1] ~= 'RUNNING') or f[2] ~= w then
  return 'ignored:not_held' .. (released and ':released' or '')
end
if outcome == 'succeeded' then return succeed(id, w, ARGV[7], f) end
-- No executor for the type on that worker: not a retry (includes/refuse-attempt.lua).
local refused = refused_type(ARGV[7])
if refused then return refuse_attempt(id, w, ARGV[7], refused) end
return fail_attempt(id, w, ARGV[7], tonumber(ARGV[8]))
