-- queue-head: what a scheduling pass reads of the ready queue, in one round trip.
-- ARGV[4] offset, ARGV[5] count. Read-only (no fence).
-- Returns { depth, id, req, exclude, unschedulable, name, id, req, ... }: the queue's length, then
-- five entries per task from position `offset` (highest priority, then oldest, first). A field
-- that is missing comes back as nil.
local offset, n = tonumber(ARGV[4]), tonumber(ARGV[5])
local out = { redis.call('ZCARD', P .. 'queue') }
if n <= 0 then return out end
for _, id in ipairs(redis.call('ZRANGE', P .. 'queue', offset, offset + n - 1)) do
  local f = redis.call('HMGET', tkey(id), 'req', 'exclude', 'unschedulable', 'name')
  table.insert(out, id)
  for i = 1, 4 do table.insert(out, f[i]) end
end
return out
