-- prune-tasks: one step of POST /admin/prune: looks at up to `examine` tasks of an index from a
-- cursor on, and removes those that finished before `before` (with the given status and owner),
-- with their shards, unless removal_blocker keeps them (they are skipped).
-- KEYS: none (keys are built from the arguments; docs/redis-keys.md).
-- ARGV: [1-3] now (ms), now (ISO), fence (includes/args.lua; unfenced); [4] status ('' for any
--   final status), [5] owner ('' for any), [6] before (ISO-8601 UTC, as toISOString writes it),
--   [7] cursor (a score of the index: only later entries are looked at; '' from the start),
--   [8] examine (most entries looked at), [9] most tasks to remove.
--   The index read is the owner's when an owner is given, else the status's, else all tasks
--   (each scored by `seq`, so the oldest submissions come first).
-- Returns: JSON {removed: [ids, shards included], tasks: tasks removed (not counting shards),
--   cursor: the score to go on from, or false when the index was read to its end}.
-- Race prevented: a task that gains a dependent or changes between the read and the removal: each
-- is checked and removed in this one atomic step.
--- @include "final"
--- @include "remove-task"

local status, owner, before, cursor = ARGV[4], ARGV[5], ARGV[6], ARGV[7]
local examine, limit = tonumber(ARGV[8]), tonumber(ARGV[9])
local src = {{Keys.allTasks}}
if owner ~= '' then
  src = {{Keys.tasksByOwner(owner)}}
elseif status ~= '' then
  src = {{Keys.tasksByStatus(status)}}
end
local rows = redis.call('ZRANGEBYSCORE', src, cursor == '' and '-inf' or ('(' .. cursor), '+inf', 'WITHSCORES', 'LIMIT', 0, examine)
local removed, count, last, stopped = {}, 0, false, false
for i = 1, #rows, 2 do
  if count >= limit then
    stopped = true
    break
  end
  local id = rows[i]
  last = rows[i + 1]
  local f = read_for_removal(id)
  if f[1] and FINAL[f[1]] and (status == '' or f[1] == status) and (f[4] == false or f[4] == '')
    and f[7] and f[7] ~= '' and f[7] < before then
    if not remove_task(id, removed, f) then count = count + 1 end
  end
end
local done = not stopped and #rows < examine * 2
return cjson.encode({ removed = removed, tasks = count, cursor = (not done) and last or false })
