-- promote-delayed: retries whose backoff is over go back to the queue.
-- KEYS: none (keys are built from the ids; docs/redis-keys.md).
-- ARGV: [1-3] now (ms), now (ISO), fence (includes/args.lua; fenced); [4] max count.
-- Returns: the number promoted.
--- @include "args"
--- @include "fenced"
--- @include "keys"
--- @include "enqueue"

if not fenced() then return 0 end
local due = redis.call('ZRANGEBYSCORE', {{Keys.delayed}}, '-inf', NOW_MS, 'LIMIT', 0, tonumber(ARGV[4]))
for _, id in ipairs(due) do
  redis.call('ZREM', {{Keys.delayed}}, id)
  if redis.call('HGET', tkey(id), 'status') == 'PENDING' then enqueue(id) end
end
return #due
