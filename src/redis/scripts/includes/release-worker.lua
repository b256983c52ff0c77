-- release-worker: frees worker w if (and only if) it holds task_id. The holder key, not the v1
-- status field, is what keeps two tasks off one worker. Returns true when it held the task.
--- @include "args"
--- @include "keys"

local function release_worker(w, task_id)
  if not w or w == '' then return false end
  local hk = holder_key(w)
  if redis.call('GET', hk) ~= task_id then return false end
  redis.call('DEL', hk)
  local wk = worker_key(w)
  local status = redis.call('HGET', wk, 'status')
  if not status then return true end
  if status == 'RUNNING' then
    status = 'IDLE'
    redis.call('HSET', wk, 'status', status)
  end
  -- Published whatever the hash said: schedulers that saw the worker busy learn it is free (or
  -- whatever the worker itself set meanwhile, such as IDLE or STOPPING).
  redis.call('PUBLISH', {{WORKERS_EVENTS_CHANNEL}}, cjson.encode({
    type = 'STATUS', worker_id = w, status = status, ts = NOW_ISO,
    extra = { last_task = task_id }, source = {{ORCHESTRATOR_SOURCE}} }))
  return true
end
