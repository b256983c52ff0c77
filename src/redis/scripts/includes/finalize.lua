-- finalize: ends one task (no cascade). A task still held by a worker keeps its holder lock until
-- the worker reports, the ack deadline passes, or the worker is found stale. That worker's attempt
-- is recorded as ended (outcome = the status in lower case) and a v2 worker is told to stop it
-- (stop-attempt); `worker_told` in the record says whether it could be.
--- @include "args"
--- @include "keys"
--- @include "v2-inbox"
--- @include "release-worker"
--- @include "stop-attempt"
--- @include "attempts"
--- @include "status-index"
--- @include "task-events"
--- @include "finished-index"

local function finalize(id, status, err)
  local k = tkey(id)
  local held = redis.call('HMGET', k, 'status', 'assigned_worker', 'retention_sec', 'parent_id')
  local w = held[2]
  if (held[1] == 'DISPATCHED' or held[1] == 'RUNNING') and w and w ~= '' then
    if held[1] == 'DISPATCHED' and drop_from_inbox(w, id) then
      -- A v2 worker that has not taken the dispatch yet never will: free it now.
      release_worker(w, id)
      redis.call('ZREM', {{Keys.unacked}}, id)
    elseif redis.call('GET', holder_key(w)) == id then
      -- The worker has the attempt and may be running it.
      local why = err or status
      local told = tell_worker_to_stop(w, id, why)
      if not told then why = why .. '; worker ' .. w .. ' speaks protocol v1 and cannot be told to stop: it may run the attempt to its end' end
      record_attempt(id, w, string.lower(status), why, { worker_told = told })
    end
  end
  redis.call('ZREM', {{Keys.queue}}, id)
  redis.call('ZREM', {{Keys.delayed}}, id)
  redis.call('ZREM', {{Keys.inflight}}, id)
  redis.call('SREM', {{Keys.parents}}, id)
  if err then redis.call('HSET', k, 'error', err) end
  redis.call('HSET', k, 'finished_at', NOW_ISO)
  set_status(id, status)
  index_finished(id, held[3], held[4])
  publish_task_event('ORCH_TASK_' .. status, id, { error = err })
end
