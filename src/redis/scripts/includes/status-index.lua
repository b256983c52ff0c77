-- status-index: the per-status indexes of tasks.
--- @include "args"
--- @include "keys"

-- Moves a task from status `old` (nil for a new task) to `new` in the per-status indexes. The
-- caller writes the `status` and `updated_at` fields, usually in the HSET it makes anyway: on the
-- hot paths (submit, dispatch, acknowledgement, success) every Redis call counts, since each costs
-- Redis about as much as the command's own work (docs/performance.md).
local function index_status(id, old, seq, new)
  if old then redis.call('ZREM', {{Keys.tasksByStatus(old)}}, id) end
  redis.call('ZADD', {{Keys.tasksByStatus(new)}}, seq or 0, id)
end

-- Moves a task between the per-status indexes and stamps updated_at (reads what it needs).
local function set_status(id, new_status)
  local k = tkey(id)
  local f = redis.call('HMGET', k, 'status', 'seq')
  index_status(id, f[1], f[2], new_status)
  redis.call('HSET', k, 'status', new_status, 'updated_at', NOW_ISO)
end
