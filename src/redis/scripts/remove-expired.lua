-- remove-expired: removes finished tasks whose retention is over and, while the finished index holds
-- more than TASK_HISTORY_MAX, the ones due first whatever their due time; a batch at most per call.
-- A task that cannot go yet (an unfinished task depends on it, a worker still holds it) is looked at
-- again `recheck` ms later.
-- KEYS: none (keys are built from the ids; docs/redis-keys.md).
-- ARGV: [1-3] now (ms), now (ISO), fence (includes/args.lua; unfenced: removal is checked per task,
--   so two callers cannot do harm); [4] batch: most entries of the index looked at, and the call
--   stops once it has removed that many records (a parent's shards count); [5] TASK_HISTORY_MAX;
--   [6] recheck (ms).
-- Returns: JSON {removed: [ids, shards included], postponed: n, more: true when the batch ended
--   before the due entries did}.
-- Race prevented: a task that gains a dependent, or is deleted, between the read and the removal:
-- each task is checked and removed in this one atomic step.
--- @include "args"
--- @include "remove-task"

local batch, max_kept, recheck = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local over = redis.call('ZCARD', {{Keys.finished}}) - max_kept
local head = redis.call('ZRANGE', {{Keys.finished}}, 0, batch - 1, 'WITHSCORES')
local removed, postponed, looked = {}, 0, 0
local more = false
for i = 1, #head, 2 do
  local id, due = head[i], tonumber(head[i + 1])
  if due > NOW_MS and over <= 0 then break end
  if #removed >= batch then
    more = true
    break
  end
  looked = looked + 1
  local why = remove_task(id, removed)
  if why == 'not_found' then
    redis.call('ZREM', {{Keys.finished}}, id)
    over = over - 1
  elseif why then
    redis.call('ZADD', {{Keys.finished}}, NOW_MS + recheck, id)
    postponed = postponed + 1
  else
    over = over - 1
  end
end
if looked == batch then more = true end
return cjson.encode({ removed = removed, postponed = postponed, more = more })
