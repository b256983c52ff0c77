-- create-task: creates a PENDING task in one write and indexes it (all tasks, its owner's, PENDING).
-- `fields` (field -> string) are the task's fields as the TypeScript codec wrote them
-- (src/redis/task-codec.ts), stored as they are. Added here: `seq`, `submitted_at` and `updated_at`
-- first; `status` PENDING (the status it is indexed under) and `waiting_on` (when given) last,
-- overriding. The caller queues or dispatches the task.
--- @include "args"
--- @include "keys"
--- @include "status-index"

local function create_task(id, seq, fields, owner, waiting_json)
  local args = { 'seq', seq, 'submitted_at', NOW_ISO, 'updated_at', NOW_ISO }
  for f, v in pairs(fields) do
    table.insert(args, f)
    table.insert(args, v)
  end
  table.insert(args, 'status')
  table.insert(args, 'PENDING')
  if waiting_json then
    table.insert(args, 'waiting_on')
    table.insert(args, waiting_json)
  end
  redis.call('HSET', tkey(id), unpack(args))
  redis.call('ZADD', {{Keys.allTasks}}, seq, id)
  if owner and owner ~= '' then redis.call('ZADD', {{Keys.tasksByOwner(owner)}}, seq, id) end
  index_status(id, nil, seq, 'PENDING')
end
