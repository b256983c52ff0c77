-- refuse-attempt: the worker reported it has no executor for the task's type (the error text of
-- noExecutorError in src/contracts/protocol.ts, which our worker sends): the attempt cannot
-- succeed there, so no retry is counted. The attempt is recorded as 'refused', the task goes back to
-- the queue at once (excluding that worker), and the schedulers are told on workers.events
-- (STATUS with extra.no_executor = <type>) so that their worker index stops offering that type to
-- it until it registers again. Callers have released the worker already.
--- @include "args"
--- @include "keys"
--- @include "status-index"
--- @include "enqueue"
--- @include "task-events"
--- @include "attempts"

local NO_EXECUTOR_PREFIX = {{NO_EXECUTOR_ERROR_PREFIX}}
local NO_EXECUTOR_SUFFIX = {{NO_EXECUTOR_ERROR_SUFFIX}}

-- The task type a failure report says the worker has no executor for, or nil.
local function refused_type(err)
  if type(err) ~= 'string' or #err <= #NO_EXECUTOR_PREFIX + #NO_EXECUTOR_SUFFIX then return nil end
  if string.sub(err, 1, #NO_EXECUTOR_PREFIX) ~= NO_EXECUTOR_PREFIX or string.sub(err, -#NO_EXECUTOR_SUFFIX) ~= NO_EXECUTOR_SUFFIX then return nil end
  local t = string.sub(err, #NO_EXECUTOR_PREFIX + 1, #err - #NO_EXECUTOR_SUFFIX)
  if string.find(t, '%s') then return nil end
  return t
end

local function refuse_attempt(id, w, err, task_type)
  local k = tkey(id)
  redis.call('ZREM', {{Keys.inflight}}, id)
  redis.call('ZREM', {{Keys.unacked}}, id)
  record_attempt(id, w, 'refused', err)
  redis.call('HSET', k, 'error', err, 'exclude', w, 'assigned_worker', '')
  set_status(id, 'PENDING')
  enqueue(id)
  redis.call('PUBLISH', {{WORKERS_EVENTS_CHANNEL}}, cjson.encode({
    type = 'STATUS', worker_id = w, status = redis.call('HGET', worker_key(w), 'status') or 'IDLE', ts = NOW_ISO,
    extra = { no_executor = task_type }, source = {{ORCHESTRATOR_SOURCE}} }))
  publish_task_event('ORCH_TASK_RETRY_SCHEDULED', id, { worker_id = w, error = err, retry = tonumber(redis.call('HGET', k, 'retries') or '0'), delay_sec = 0, refused = true })
  return 'retry'
end
