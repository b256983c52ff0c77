-- acquire-lease: takes the leader lease when it is free, with a new epoch.
-- KEYS: none (the lease and epoch keys are templated from keys.ts).
-- ARGV: [1-3] now (ms), now (ISO), fence (includes/args.lua; unused here); [4] instance id,
--   [5] lease TTL (ms).
-- Returns: the fencing token ('<instance>#<epoch>', the lease key's value) when this instance
-- became leader, else false.
-- Race prevented: two replicas taking the lease at once; the epoch only grows, so every leader
-- has a token no earlier leader had.

if redis.call('EXISTS', {{Keys.leader}}) == 1 then return false end
local epoch = redis.call('INCR', {{Keys.leaderEpoch}})
local token = ARGV[4] .. '#' .. epoch
redis.call('SET', {{Keys.leader}}, token, 'PX', tonumber(ARGV[5]))
return token
