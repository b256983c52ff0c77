-- release-dependents: a dependency finished successfully: dependents that wait on nothing else
-- become ready. Returns how many were queued.
--- @include "keys"
--- @include "json"
--- @include "enqueue"

local function release_dependents(id)
  local queued = 0
  for _, d in ipairs(redis.call('SMEMBERS', {{Keys.dependents(id)}})) do
    local dk = tkey(d)
    local waiting = decode_list(redis.call('HGET', dk, 'waiting_on'))
    local rest = {}
    for _, x in ipairs(waiting) do if x ~= id then table.insert(rest, x) end end
    redis.call('HSET', dk, 'waiting_on', json_array(rest))
    if #rest == 0 and redis.call('HGET', dk, 'status') == 'PENDING' then
      enqueue(d)
      queued = queued + 1
    end
  end
  return queued
end
