-- ack-task: the assigned worker acknowledged a dispatch (v1: STATUS RUNNING naming the task in extra
-- or payload, or TASK_STARTED; v2: TASK_STARTED on the stream): DISPATCHED -> RUNNING.
-- KEYS: none (keys are built from the ids; docs/redis-keys.md).
-- ARGV: [1-3] now (ms), now (ISO), fence (includes/args.lua; unfenced); [4] task id, [5] worker id,
--   [6] attempt number or '' (v1 acknowledgements carry none).
-- Returns: 1 when the task moved DISPATCHED -> RUNNING, else 0.
-- Race prevented: a late acknowledgement from a worker that no longer holds the task, or one that
-- arrives after the result, changes nothing.
--- @include "args"
--- @include "keys"
--- @include "status-index"
--- @include "task-events"

local id, w = ARGV[4], ARGV[5]
local k = tkey(id)
local f = redis.call('HMGET', k, 'status', 'assigned_worker', 'attempt', 'seq')
if f[1] ~= 'DISPATCHED' or f[2] ~= w then return 0 end
if ARGV[6] and ARGV[6] ~= '' and tonumber(ARGV[6]) ~= tonumber(f[3]) then return 0 end
redis.call('ZREM', {{Keys.unacked}}, id)
redis.call('HSET', k, 'started_at', NOW_ISO, 'status', 'RUNNING', 'updated_at', NOW_ISO)
index_status(id, 'DISPATCHED', f[4], 'RUNNING')
publish_task_event('ORCH_TASK_STARTED', id, { worker_id = w })
return 1
