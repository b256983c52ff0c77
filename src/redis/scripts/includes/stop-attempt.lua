-- stop-attempt: an attempt that ends without its worker's own report (cancel, ack timeout, lost
-- worker) may still be running on that worker. A v2 worker is told, in the same atomic step: a
-- control message on its list `mloc:worker:<id>:control` (docs/protocol.md, "Control"), which it
-- reads with BLPOP and answers by stopping the attempt. A v1 worker cannot be told.
--- @include "args"
--- @include "keys"
--- @include "v2-inbox"

-- The list keeps the newest CONTROL_MAX messages and lives CONTROL_TTL_SEC after the last one: long
-- enough for a worker that was suspended (SIGSTOP, a frozen VM) to find it when it comes back.
local CONTROL_MAX = 32
local CONTROL_TTL_SEC = 7 * 24 * 3600

-- Tells worker w to stop the current attempt of task id when w speaks v2. Returns true when told.
local function tell_worker_to_stop(w, id, reason)
  if not w or w == '' or not speaks_v2(w) then return false end
  local ck = {{Keys.workerControl(w)}}
  local attempt = tonumber(redis.call('HGET', tkey(id), 'attempt') or '0') or 0
  redis.call('RPUSH', ck, cjson.encode({ type = 'CANCEL', task_id = id, attempt = attempt, reason = reason, ts = NOW_ISO }))
  redis.call('LTRIM', ck, -CONTROL_MAX, -1)
  redis.call('EXPIRE', ck, CONTROL_TTL_SEC)
  return true
end
