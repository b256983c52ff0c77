-- worker-liveness: whether a worker may take a task, and whether it is stale.
-- `cutoff_iso`: last_seen older than this is stale. ISO-8601 UTC timestamps compare as strings on
-- their first 19 characters (to the second).
--- @include "keys"

-- Why worker w cannot take a task now, or nil when it can; then whether it speaks protocol 2.
local function worker_unavailable(w, cutoff_iso)
  if redis.call('EXISTS', holder_key(w)) == 1 then return 'busy' end
  if redis.call('EXISTS', {{Keys.workerSuspect(w)}}) == 1 then return 'suspect' end
  if redis.call('SISMEMBER', {{Keys.draining}}, w) == 1 then return 'draining' end
  local f = redis.call('HMGET', worker_key(w), 'status', 'last_seen', 'protocol')
  if not f[1] then return 'gone' end
  if f[1] ~= 'IDLE' then return 'status ' .. f[1] end
  if redis.call('EXISTS', {{workerHeartbeatKey(w)}}) == 0 then return 'stale' end
  if not f[2] or string.sub(f[2], 1, 19) < string.sub(cutoff_iso, 1, 19) then return 'stale' end
  return nil, f[3] == '2'
end

local function is_stale(w, cutoff_iso)
  if redis.call('EXISTS', {{workerHeartbeatKey(w)}}) == 0 then return true end
  local seen = redis.call('HGET', worker_key(w), 'last_seen')
  return (not seen) or string.sub(seen, 1, 19) < string.sub(cutoff_iso, 1, 19)
end
