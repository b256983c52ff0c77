-- queue-head: what a scheduling pass reads of the ready queue, in one round trip. Read-only.
-- KEYS: none (keys are built from the ids; docs/redis-keys.md).
-- ARGV: [1-3] now (ms), now (ISO), fence (includes/args.lua; unused here); [4] offset, [5] count.
-- Returns: { depth, id, req, exclude, unschedulable, name, id, req, ... }: the queue's length, then
-- five entries per task from position `offset` (highest priority, then oldest, first). A field
-- that is missing comes back as nil.
--- @include "keys"

local offset, n = tonumber(ARGV[4]), tonumber(ARGV[5])
local out = { redis.call('ZCARD', {{Keys.queue}}) }
if n <= 0 then return out end
for _, id in ipairs(redis.call('ZRANGE', {{Keys.queue}}, offset, offset + n - 1)) do
  local f = redis.call('HMGET', tkey(id), 'req', 'exclude', 'unschedulable', 'name')
  table.insert(out, id)
  for i = 1, 4 do table.insert(out, f[i]) end
end
return out
