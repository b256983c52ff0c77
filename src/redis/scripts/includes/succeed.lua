-- succeed: the current attempt succeeded. `t` is the task's SUCCEED_FIELDS; the task is DISPATCHED
-- or RUNNING on w, so it is in neither queue, is no parent, and w has taken its dispatch: what
-- `finalize` undoes for any task has nothing to undo here, and the task ends in one write.
-- Returns 'done' ('done:queued' when dependents became ready), or 'parent_ready:<id>' when this
-- was the last shard of a parent, which the caller then aggregates and finalizes.
--- @include "args"
--- @include "keys"
--- @include "final"
--- @include "json"
--- @include "status-index"
--- @include "task-events"
--- @include "release-dependents"
--- @include "finished-index"

local SUCCEED_FIELDS = { 'status', 'assigned_worker', 'attempt', 'seq', 'attempts', 'parent_id', 'retention_sec' }
local function succeed(id, w, result_json, t)
  local k = tkey(id)
  redis.call('ZREM', {{Keys.inflight}}, id)
  redis.call('ZREM', {{Keys.unacked}}, id)
  local attempts = decode_list(t[5])
  table.insert(attempts, { attempt = tonumber(t[3] or '0'), worker = w, outcome = 'succeeded', ended_at = NOW_ISO })
  redis.call('HSET', k, 'attempts', cjson.encode(attempts), 'result', result_json, 'error', '',
    'finished_at', NOW_ISO, 'status', 'DONE', 'updated_at', NOW_ISO)
  index_status(id, t[1], t[4], 'DONE')
  index_finished(id, t[7], t[6])
  publish_task_event('ORCH_TASK_DONE', id)
  local queued = release_dependents(id)
  local parent = t[6]
  if parent and parent ~= '' then
    local pk = tkey(parent)
    local done = redis.call('HINCRBY', pk, 'shards_done', 1)
    local total = tonumber(redis.call('HGET', pk, 'shard_total') or '0')
    local pst = redis.call('HGET', pk, 'status')
    if done >= total and pst and not FINAL[pst] then return 'parent_ready:' .. parent end
  end
  return queued > 0 and 'done:queued' or 'done'
end
