-- enqueue: the ready queue; higher priority first, then oldest (lowest seq) first.
--- @include "keys"

local function enqueue_at(id, seq, priority)
  local score = tonumber(seq or '0') - tonumber(priority or '0') * 4294967296
  redis.call('ZADD', {{Keys.queue}}, score, id)
end

local function enqueue(id)
  local f = redis.call('HMGET', tkey(id), 'seq', 'priority')
  enqueue_at(id, f[1], f[2])
end
