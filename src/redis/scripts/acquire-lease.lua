-- acquire-lease: ARGV[4] instance id, [5] lease TTL (ms). Returns the fencing token
-- ('<instance>#<epoch>', the lease key's value) when this instance became leader, else false.
-- Race prevented: two replicas taking the lease at once; the epoch only grows, so every leader
-- has a token no earlier leader had.
if redis.call('EXISTS', P .. 'leader') == 1 then return false end
local epoch = redis.call('INCR', P .. 'leader:epoch')
local token = ARGV[4] .. '#' .. epoch
redis.call('SET', P .. 'leader', token, 'PX', tonumber(ARGV[5]))
return token
