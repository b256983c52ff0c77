-- cancel-task: ARGV[4] task id. Cancelling a shard cancels its parent (and so every shard).
-- Returns 'cancelled:<id>', 'not_found', or 'final:<status>'.
-- Race prevented: a cancel racing a result; whichever runs first wins and the other sees a final task.
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
