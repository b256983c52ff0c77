-- dispatch: sends a PENDING task to worker w (already checked available): holder lock, worker
-- RUNNING, dispatch message on the topic. When PUBLISH reaches nobody the dispatch is undone and the
-- task goes straight back to the queue. A v2 worker gets the message in its durable inbox as well,
-- and its dispatch stands whether or not anyone heard the PUBLISH (then only a mirror for
-- monitoring). `t` is the task's DISPATCH_FIELDS and `v2` whether w speaks protocol 2, when the
-- caller has read them (read here otherwise). Returns 'ok' or 'no_subscriber'.
--- @include "args"
--- @include "keys"
--- @include "v2-inbox"
--- @include "status-index"
--- @include "enqueue"
--- @include "task-events"

local DISPATCH_FIELDS = { 'status', 'seq', 'attempt', 'doc', 'task_type', 'priority' }
local function dispatch_to(id, w, topic, strategy, reason, ack_deadline_ms, t, v2)
  local k = tkey(id)
  t = t or redis.call('HMGET', k, unpack(DISPATCH_FIELDS))
  if v2 == nil then v2 = speaks_v2(w) end
  local attempt = tonumber(t[3] or '0') + 1
  redis.call('ZREM', {{Keys.queue}}, id)
  redis.call('SET', holder_key(w), id)
  redis.call('HSET', k, 'attempt', attempt, 'assigned_worker', w, 'dispatched_at', NOW_ISO,
    'strategy', strategy, 'reason', reason, 'unschedulable', '', 'status', 'DISPATCHED', 'updated_at', NOW_ISO)
  index_status(id, t[1], t[2], 'DISPATCHED')
  local msg = '{"task_id":' .. cjson.encode(id) .. ',"task":' .. t[4] .. ',"task_type":' .. cjson.encode(t[5])
    .. ',"assigned_worker":' .. cjson.encode(w) .. ',"dispatched_at":' .. cjson.encode(NOW_ISO)
    .. ',"attempt":' .. attempt .. '}'
  if v2 then redis.call('RPUSH', inbox_key(w), msg) end
  local heard = redis.call('PUBLISH', topic, msg)
  if heard == 0 and not v2 then
    redis.call('DEL', holder_key(w))
    redis.call('HSET', k, 'attempt', attempt - 1, 'assigned_worker', '', 'dispatched_at', '',
      'status', 'PENDING', 'updated_at', NOW_ISO)
    index_status(id, 'DISPATCHED', t[2], 'PENDING')
    enqueue_at(id, t[2], t[6])
    return 'no_subscriber'
  end
  redis.call('HSET', worker_key(w), 'status', 'RUNNING')
  redis.call('PUBLISH', {{WORKERS_EVENTS_CHANNEL}}, cjson.encode({
    type = 'STATUS', worker_id = w, status = 'RUNNING', ts = NOW_ISO,
    extra = { task_id = id }, source = {{ORCHESTRATOR_SOURCE}} }))
  redis.call('ZADD', {{Keys.unacked}}, ack_deadline_ms, id)
  redis.call('ZADD', {{Keys.inflight}}, NOW_MS, id)
  publish_task_event('ORCH_TASK_DISPATCHED', id, { worker_id = w, attempt = attempt, strategy = strategy })
  return 'ok'
end
