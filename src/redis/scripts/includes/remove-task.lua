-- remove-task: removes a finished task for good with everything that belongs to it: its record
-- (attempts and a result are fields of it), its entries in every index (all tasks, its status, its
-- owner, the finished index), its dependents set and its own entries in its dependencies' sets,
-- its log stream, and its shards likewise. Used by remove-expired (retention), delete-task
-- (DELETE /api/v1/tasks/{id}) and prune-tasks (POST /admin/prune); the caller removes the result
-- files of the ids removed (ResultsService.remove), which live outside Redis.
--- @include "keys"
--- @include "final"
--- @include "json"

-- What remove_task reads of a task, in this order.
local REMOVE_FIELDS = { 'status', 'assigned_worker', 'children', 'parent_id', 'owner', 'depends_on', 'finished_at' }

local function read_for_removal(id)
  return redis.call('HMGET', tkey(id), unpack(REMOVE_FIELDS))
end

-- A worker still holds an attempt of the task (a cancelled attempt whose worker has not given it
-- back): its lock and ack deadline name the task, so the record stays until they are released.
local function held_by_worker(id, w)
  if redis.call('ZSCORE', {{Keys.unacked}}, id) then return true end
  return w and w ~= '' and redis.call('GET', holder_key(w)) == id
end

-- Why task `id` (its REMOVE_FIELDS `f`) cannot be removed now, or nil: unknown, not finished, a
-- shard of a parent that still exists (it goes with the parent), held by a worker (it or a shard),
-- or a task that depends on it has not finished yet ('dependent:<id>').
local function removal_blocker(id, f)
  if not f[1] then return 'not_found' end
  if not FINAL[f[1]] then return 'unfinished' end
  if f[4] and f[4] ~= '' and redis.call('EXISTS', tkey(f[4])) == 1 then return 'shard' end
  if held_by_worker(id, f[2]) then return 'held' end
  for _, c in ipairs(decode_list(f[3])) do
    local cf = redis.call('HMGET', tkey(c), 'status', 'assigned_worker')
    if cf[1] and not FINAL[cf[1]] then return 'unfinished' end
    if cf[1] and held_by_worker(c, cf[2]) then return 'held' end
  end
  for _, d in ipairs(redis.call('SMEMBERS', {{Keys.dependents(id)}})) do
    local st = redis.call('HGET', tkey(d), 'status')
    if st and not FINAL[st] then return 'dependent:' .. d end
  end
  return nil
end

-- Deletes one record with its keys and index entries, without checks. `f`: its REMOVE_FIELDS.
local function drop_record(id, f)
  local status, owner = f[1], f[5]
  redis.call('UNLINK', tkey(id), {{Keys.dependents(id)}}, {{Keys.taskLogs(id)}})
  redis.call('ZREM', {{Keys.allTasks}}, id)
  redis.call('ZREM', {{Keys.tasksByStatus(status)}}, id)
  if owner and owner ~= '' then redis.call('ZREM', {{Keys.tasksByOwner(owner)}}, id) end
  for _, dep in ipairs(decode_list(f[6])) do redis.call('SREM', {{Keys.dependents(dep)}}, id) end
  redis.call('ZREM', {{Keys.finished}}, id)
end

-- Removes task `id` (`f`: its REMOVE_FIELDS, read when nil) with its shards, unless removal_blocker
-- says why not. Appends the ids removed (the task's last) to `out`. Returns nil, or the reason.
local function remove_task(id, out, f)
  f = f or read_for_removal(id)
  local why = removal_blocker(id, f)
  if why then return why end
  for _, c in ipairs(decode_list(f[3])) do
    local cf = read_for_removal(c)
    if cf[1] then
      drop_record(c, cf)
      table.insert(out, c)
    end
  end
  drop_record(id, f)
  table.insert(out, id)
  return nil
end
