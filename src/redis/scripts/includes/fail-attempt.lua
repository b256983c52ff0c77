-- fail-attempt: the current attempt failed (worker report, lost worker, no acknowledgement): retry
-- on another worker after the backoff, or fail for good and cascade (to the parent of a shard too).
-- Returns 'retry' or 'failed'.
--- @include "args"
--- @include "keys"
--- @include "final"
--- @include "status-index"
--- @include "enqueue"
--- @include "task-events"
--- @include "cascade"
--- @include "attempts"

-- `extra`: fields added to the attempt's record (record_attempt), or nil.
local function fail_attempt(id, w, err, backoff_cap_sec, extra)
  local k = tkey(id)
  redis.call('ZREM', {{Keys.inflight}}, id)
  redis.call('ZREM', {{Keys.unacked}}, id)
  record_attempt(id, w, 'failed', err, extra)
  local f = redis.call('HMGET', k, 'retries', 'max_retries', 'backoff_sec', 'parent_id', 'shard_index', 'shard_total')
  local retries, max_retries = tonumber(f[1] or '0'), tonumber(f[2] or '0')
  if retries < max_retries then
    retries = retries + 1
    redis.call('HSET', k, 'retries', retries, 'error', err, 'exclude', w, 'assigned_worker', '')
    set_status(id, 'PENDING')
    local delay = math.min(tonumber(f[3] or '0') * retries, backoff_cap_sec)
    if delay > 0 then
      redis.call('ZADD', {{Keys.delayed}}, NOW_MS + math.floor(delay * 1000), id)
    else
      enqueue(id)
    end
    publish_task_event('ORCH_TASK_RETRY_SCHEDULED', id, { worker_id = w, error = err, retry = retries, delay_sec = delay })
    return 'retry'
  end
  cascade_end(id, 'FAILED', err)
  local parent = f[4]
  if parent and parent ~= '' then
    local pst = redis.call('HGET', tkey(parent), 'status')
    if pst and not FINAL[pst] then
      cascade_end(parent, 'FAILED', 'shard ' .. (f[5] or '?') .. '/' .. (f[6] or '?') .. ' failed: ' .. err)
    end
  end
  return 'failed'
end
