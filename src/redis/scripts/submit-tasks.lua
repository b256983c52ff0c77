-- submit-tasks: creates every task of one submission, all or none; queues the ready ones, and may
-- dispatch one of them at once.
-- KEYS: none (keys are built from the ids; docs/redis-keys.md).
-- ARGV: [1-3] now (ms), now (ISO), fence (includes/args.lua; the fencing token of `dispatch`, else '*');
--   [4] JSON {instance, tasks: [{id, key, owner, fields: {field: string}, deps: [id]}], dispatch?},
--   deps before dependents; `fields` come from src/redis/task-codec.ts; `instance` (the submitting
--   orchestrator) is carried on ORCH_TASK_SUBMITTED. `dispatch` = {id, worker, topic, strategy,
--   reason, cutoff, ack_deadline_ms}: a worker the leader chose for task `id`. When that task is
--   ready and nothing else is queued (so no ready task is owed the worker first), it is dispatched
--   here with the checks of claim-dispatch; otherwise it is queued as usual and the reason is returned.
-- Returns: JSON {ok: true, tasks: [{id, status, waiting_on, dispatch?}]} (cjson writes an empty
-- waiting_on as {}; `dispatch` is 'ok' or why not) or {ok: false, error: 'unknown_dependency', key, dependency}.
-- Race prevented: a dependency that finishes between validation and creation. Both happen in this
-- one script, so a new task either sees its dependency DONE/ended or is registered as its dependent
-- before the dependency can finish.
--- @include "args"
--- @include "fenced"
--- @include "keys"
--- @include "json"
--- @include "task-events"
--- @include "create-task"
--- @include "enqueue"
--- @include "finalize"
--- @include "worker-liveness"
--- @include "dispatch"

local payload = cjson.decode(ARGV[4])
local in_batch = {}
for _, t in ipairs(payload.tasks) do in_batch[t.id] = true end

-- Validate everything before the first write: a script that errors half way keeps its writes.
for _, t in ipairs(payload.tasks) do
  for _, d in ipairs(t.deps) do
    if not in_batch[d] and redis.call('EXISTS', tkey(d)) == 0 then
      return cjson.encode({ ok = false, error = 'unknown_dependency', key = t.key, dependency = d })
    end
  end
end

local out = {}
for _, t in ipairs(payload.tasks) do
  local id = t.id
  local seq = redis.call('INCR', {{Keys.seq}})
  local waiting, dead, dead_status = {}, nil, nil
  for _, d in ipairs(t.deps) do
    local st = redis.call('HGET', tkey(d), 'status')
    if st == 'FAILED' or st == 'CANCELLED' then
      if not dead then dead, dead_status = d, st end
    elseif st ~= 'DONE' then
      table.insert(waiting, d)
      redis.call('SADD', {{Keys.dependents(d)}}, id)
    end
  end
  create_task(id, seq, t.fields, t.owner, json_array(waiting))
  publish_task_event('ORCH_TASK_SUBMITTED', id, { name = t.fields.name, instance = payload.instance })
  local status, dispatched = 'PENDING', nil
  local d = payload.dispatch
  if d and d.id == id then dispatched = 'not_ready' end
  if dead then
    local name = redis.call('HGET', tkey(dead), 'name') or ''
    finalize(id, dead_status, 'dependency ' .. dead .. ' (' .. name .. ') ended ' .. dead_status)
    status = dead_status
  elseif #waiting == 0 then
    if dispatched then
      if redis.call('ZCARD', {{Keys.queue}}) > 0 then
        dispatched = 'queue_not_empty'
      elseif FENCE == '*' or not fenced() then
        dispatched = 'not_leader'
      else
        local why, v2 = worker_unavailable(d.worker, d.cutoff)
        if why then
          dispatched = 'worker:' .. why
        else
          local f = t.fields
          dispatched = dispatch_to(id, d.worker, d.topic, d.strategy, d.reason, tonumber(d.ack_deadline_ms),
            { 'PENDING', seq, f.attempt, f.doc, f.task_type, f.priority }, v2)
          if dispatched == 'ok' then status = 'DISPATCHED' end
        end
      end
    end
    -- dispatch_to queues the task again itself when nobody heard it.
    if status == 'PENDING' and dispatched ~= 'no_subscriber' then enqueue_at(id, seq, t.fields.priority) end
  end
  table.insert(out, { id = id, status = status, waiting_on = waiting, dispatch = dispatched })
end
return cjson.encode({ ok = true, tasks = out })
