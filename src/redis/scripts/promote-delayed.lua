-- promote-delayed: retries whose backoff is over go back to the queue. ARGV[4] max count.
-- Returns the number promoted.
if not fenced() then return 0 end
local due = redis.call('ZRANGEBYSCORE', P .. 'delayed', '-inf', NOW_MS, 'LIMIT', 0, tonumber(ARGV[4]))
for _, id in ipairs(due) do
  redis.call('ZREM', P .. 'delayed', id)
  if redis.call('HGET', tkey(id), 'status') == 'PENDING' then enqueue(id) end
end
return #due
