-- delete-task: removes one finished task now (DELETE /api/v1/tasks/{id}), with its shards; with
-- cascade, every task downstream of it too, provided each has finished. All or nothing.
-- KEYS: none (keys are built from the ids; docs/redis-keys.md).
-- ARGV: [1-3] now (ms), now (ISO), fence (includes/args.lua; unfenced); [4] task id,
--   [5] '1' to take the downstream tasks (transitively) too.
-- Returns: JSON {ok: true, removed: [ids, shards and downstream included]} or {ok: false, error,
--   task}: error 'not_found', 'unfinished', 'shard' (it goes with its parent), 'held' (a worker
--   still holds it), 'has_dependents' (without cascade), 'dependent:<id>' (unfinished downstream).
-- Race prevented: a dependent submitted, or a task that ends, between the checks and the removal:
-- everything is checked before the first write, in this one atomic step.
--- @include "keys"
--- @include "remove-task"

local root, cascade = ARGV[4], ARGV[5] == '1'
local order, fields, seen = { root }, {}, { [root] = true }
local i = 1
while i <= #order do
  local id = order[i]
  i = i + 1
  local f = read_for_removal(id)
  fields[id] = f
  local why = removal_blocker(id, f)
  if why then return cjson.encode({ ok = false, error = why, task = id }) end
  for _, d in ipairs(redis.call('SMEMBERS', {{Keys.dependents(id)}})) do
    if not seen[d] and redis.call('EXISTS', tkey(d)) == 1 then
      if not cascade then return cjson.encode({ ok = false, error = 'has_dependents', task = d }) end
      seen[d] = true
      table.insert(order, d)
    end
  end
end
local removed = {}
-- Downstream first: each removal then finds its dependents gone.
for j = #order, 1, -1 do remove_task(order[j], removed, fields[order[j]]) end
return cjson.encode({ ok = true, removed = removed })
