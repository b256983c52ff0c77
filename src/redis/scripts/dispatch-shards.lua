-- dispatch-shards: fans a queued data-parallel task out into shard tasks, one per worker. Nothing
-- is written unless every worker is free.
-- KEYS: none (keys are built from the ids; docs/redis-keys.md).
-- ARGV: [1-3] now (ms), now (ISO), fence (includes/args.lua; fenced);
--   [4] JSON {parent, topic, strategy, reason, cutoff, ack_deadline_ms,
--             shards: [{id, worker, fields: {field: string}}]} (fields from src/redis/task-codec.ts).
-- Returns: 'ok', 'task_gone', 'worker:<id>:<why>' or 'not_leader'.
-- Race prevented: as claim-dispatch, for several workers at once; a shard whose dispatch nobody
-- heard is simply queued as an ordinary task.
--- @include "args"
--- @include "fenced"
--- @include "keys"
--- @include "status-index"
--- @include "task-events"
--- @include "worker-liveness"
--- @include "create-task"
--- @include "dispatch"

if not fenced() then return 'not_leader' end
local a = cjson.decode(ARGV[4])
local parent = a.parent
local pk = tkey(parent)
if not redis.call('ZSCORE', {{Keys.queue}}, parent) or redis.call('HGET', pk, 'status') ~= 'PENDING' then
  return 'task_gone'
end
local v2 = {}
for _, s in ipairs(a.shards) do
  local why, speaks2 = worker_unavailable(s.worker, a.cutoff)
  if why then return 'worker:' .. s.worker .. ':' .. why end
  v2[s.worker] = speaks2
end

local ids = {}
for _, s in ipairs(a.shards) do table.insert(ids, s.id) end
redis.call('ZREM', {{Keys.queue}}, parent)
redis.call('HSET', pk, 'assigned_worker', {{MULTI_WORKER}}, 'children', cjson.encode(ids), 'shard_total', #ids,
  'shards_done', 0, 'strategy', a.strategy, 'reason', a.reason, 'unschedulable', '',
  'dispatched_at', NOW_ISO, 'started_at', NOW_ISO)
set_status(parent, 'RUNNING')
redis.call('SADD', {{Keys.parents}}, parent)
local owner = redis.call('HGET', pk, 'owner')
publish_task_event('ORCH_TASK_DISPATCHED', parent, { worker_id = {{MULTI_WORKER}}, shards = #ids, strategy = a.strategy })

for _, s in ipairs(a.shards) do
  local seq = redis.call('INCR', {{Keys.seq}})
  create_task(s.id, seq, s.fields, owner)
  local f = s.fields
  dispatch_to(s.id, s.worker, a.topic, a.strategy, a.reason, a.ack_deadline_ms,
    { 'PENDING', seq, f.attempt, f.doc, f.task_type, f.priority }, v2[s.worker])
end
return 'ok'
