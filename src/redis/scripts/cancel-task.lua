-- cancel-task: cancels a task with its shards and downstream tasks. Cancelling a shard cancels its
-- parent (and so every shard).
-- KEYS: none (keys are built from the ids; docs/redis-keys.md).
-- ARGV: [1-3] now (ms), now (ISO), fence (includes/args.lua; unfenced); [4] task id.
-- Returns: 'cancelled:<id>', 'not_found', or 'final:<status>'.
-- Race prevented: a cancel racing a result; whichever runs first wins and the other sees a final task.
--- @include "keys"
--- @include "final"
--- @include "cascade"

local id = ARGV[4]
local st = redis.call('HGET', tkey(id), 'status')
if not st then return 'not_found' end
if FINAL[st] then return 'final:' .. st end
local parent = redis.call('HGET', tkey(id), 'parent_id')
if parent and parent ~= '' then
  id = parent
  st = redis.call('HGET', tkey(id), 'status')
  if FINAL[st] then return 'final:' .. st end
end
cascade_end(id, 'CANCELLED', 'cancelled by user')
return 'cancelled:' .. id
