-- finalize: ends one task (no cascade). A task still held by a worker keeps its holder lock until
-- the worker reports, the ack deadline passes, or the worker is found stale.
--- @include "args"
--- @include "keys"
--- @include "v2-inbox"
--- @include "release-worker"
--- @include "status-index"
--- @include "task-events"

local function finalize(id, status, err)
  local k = tkey(id)
  -- A v2 worker that has not taken the dispatch yet never will: free it now.
  local held = redis.call('HMGET', k, 'status', 'assigned_worker')
  if held[1] == 'DISPATCHED' and held[2] and held[2] ~= '' and drop_from_inbox(held[2], id) then
    release_worker(held[2], id)
    redis.call('ZREM', {{Keys.unacked}}, id)
  end
  redis.call('ZREM', {{Keys.queue}}, id)
  redis.call('ZREM', {{Keys.delayed}}, id)
  redis.call('ZREM', {{Keys.inflight}}, id)
  redis.call('SREM', {{Keys.parents}}, id)
  if err then redis.call('HSET', k, 'error', err) end
  redis.call('HSET', k, 'finished_at', NOW_ISO)
  set_status(id, status)
  publish_task_event('ORCH_TASK_' .. status, id, { error = err })
end
