-- reconcile-finished: after a gap in our subscription (restart, new leader, Redis reconnect) a
-- worker's report may have been lost. A RUNNING task whose worker is IDLE with extra_last_task
-- equal to the task can no longer be finished by that worker: it counts a failed attempt and goes
-- back to the queue. Workers of the durable variant are left alone: their reports wait in the stream.
-- KEYS: none (keys are built from the ids; docs/redis-keys.md).
-- ARGV: [1-3] now (ms), now (ISO), fence (includes/args.lua; fenced); [4] task id,
--   [5] retry backoff cap (s).
-- Returns: 'requeued:<retry|failed>', 'ok' (nothing to do) or 'not_leader'.
-- Race prevented: the report arriving while we decide; the task must still be RUNNING on that worker
-- here, in the same atomic step, or nothing changes.
--- @include "fenced"
--- @include "keys"
--- @include "v2-inbox"
--- @include "release-worker"
--- @include "fail-attempt"

if not fenced() then return 'not_leader' end
local id = ARGV[4]
local f = redis.call('HMGET', tkey(id), 'status', 'assigned_worker')
if f[1] ~= 'RUNNING' or not f[2] or f[2] == '' then return 'ok' end
local w = f[2]
-- A v2 worker's report is durable (the stream keeps it until applied): never presume it lost.
if speaks_v2(w) then return 'ok' end
local wf = redis.call('HMGET', worker_key(w), 'status', 'extra_last_task')
if wf[1] ~= 'IDLE' or wf[2] ~= id then return 'ok' end
release_worker(w, id)
return 'requeued:' .. fail_attempt(id, w, 'worker ' .. w .. ' finished the task while no orchestrator was listening; its report was lost', tonumber(ARGV[5]))
