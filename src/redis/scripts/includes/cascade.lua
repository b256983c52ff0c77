-- cascade: ends a task and everything that can no longer run because of it: its shards, and every
-- task downstream of it (transitively), which ends with the same status and a reason naming the root.
--- @include "keys"
--- @include "final"
--- @include "json"
--- @include "finalize"

local function cancel_children(id, why)
  for _, c in ipairs(decode_list(redis.call('HGET', tkey(id), 'children'))) do
    local st = redis.call('HGET', tkey(c), 'status')
    if st and not FINAL[st] then finalize(c, 'CANCELLED', why) end
  end
end

local function cascade_end(root, status, err)
  finalize(root, status, err)
  cancel_children(root, 'parent ' .. root .. ' ended ' .. status)
  local name = redis.call('HGET', tkey(root), 'name') or ''
  local why = 'dependency ' .. root .. ' (' .. name .. ') ended ' .. status
  local todo, i = { root }, 1
  while i <= #todo do
    local cur = todo[i]
    i = i + 1
    for _, d in ipairs(redis.call('SMEMBERS', {{Keys.dependents(cur)}})) do
      local st = redis.call('HGET', tkey(d), 'status')
      if st and not FINAL[st] then
        finalize(d, status, why)
        cancel_children(d, why)
        table.insert(todo, d)
      end
    end
  end
end
