-- v2-inbox: a worker that registered with protocol=2 takes its dispatches from a durable inbox
-- (docs/protocol.md).
--- @include "keys"

local function speaks_v2(w)
  return redis.call('HGET', worker_key(w), 'protocol') == '2'
end

-- Removes the dispatches of a task from a v2 worker's inbox that the worker has not taken yet.
-- Returns true when one was removed (the worker never saw that attempt).
local function drop_from_inbox(w, id)
  local dropped = false
  for _, raw in ipairs(redis.call('LRANGE', inbox_key(w), 0, -1)) do
    local ok, m = pcall(cjson.decode, raw)
    if ok and type(m) == 'table' and m.task_id == id then
      redis.call('LREM', inbox_key(w), 0, raw)
      dropped = true
    end
  end
  return dropped
end
