-- finished-index: a task that ended (DONE, FAILED, CANCELLED) enters the index of finished tasks
-- (Keys.finished), scored by the time its retention is over; the leader removes it then
-- (remove-expired). A shard is not indexed: it goes with its parent (remove-task).
--- @include "args"

-- `retention_sec` and `parent_id` are the task's fields of those names (false when absent: a task
-- created before retention existed is kept DEFAULT_TASK_RETENTION_SEC).
local function index_finished(id, retention_sec, parent_id)
  if parent_id and parent_id ~= '' then return end
  local sec = tonumber(retention_sec or '') or {{DEFAULT_TASK_RETENTION_SEC}}
  redis.call('ZADD', {{Keys.finished}}, NOW_MS + sec * 1000, id)
end
