-- Shared prelude, prepended to every script in this folder (see scripts.ts).
-- Convention: ARGV[1] = now in ms, ARGV[2] = now as ISO-8601 UTC, ARGV[3] = the caller's fencing
-- token ('*' when the script needs none); script arguments start at ARGV[4].
-- Keys are built here from the `mloc:` prefix (docs/redis-keys.md); v1 worker keys are the
-- PROTOCOL.md names. This relies on a single Redis (not a cluster), where scripts may touch
-- keys not passed in KEYS.
local P = 'mloc:'
local NOW_MS = tonumber(ARGV[1])
local NOW_ISO = ARGV[2]
local FENCE = ARGV[3]
local FINAL = { DONE = true, FAILED = true, CANCELLED = true }

-- Scheduling writes are fenced: only the current leader (whose lease value the caller passes) may
-- make them, so a deposed leader that has not noticed yet changes nothing.
local function fenced()
  return FENCE == '*' or redis.call('GET', P .. 'leader') == FENCE
end

local function tkey(id) return P .. 'task:' .. id end
local function holder_key(w) return P .. 'worker:' .. w .. ':task' end
local function inbox_key(w) return P .. 'worker:' .. w .. ':inbox' end

-- A worker that registered with protocol=2 takes its dispatches from a durable inbox (docs/protocol.md).
local function speaks_v2(w)
  return redis.call('HGET', 'worker:' .. w, 'protocol') == '2'
end

-- Removes the dispatches of a task from a v2 worker's inbox that the worker has not taken yet.
-- Returns true when one was removed (the worker never saw that attempt).
local function drop_from_inbox(w, id)
  local dropped = false
  for _, raw in ipairs(redis.call('LRANGE', inbox_key(w), 0, -1)) do
    local ok, m = pcall(cjson.decode, raw)
    if ok and type(m) == 'table' and m.task_id == id then
      redis.call('LREM', inbox_key(w), 0, raw)
      dropped = true
    end
  end
  return dropped
end

-- cjson encodes an empty table as {}; our lists must stay lists.
local function json_array(t)
  if #t == 0 then return '[]' end
  return cjson.encode(t)
end

local function decode_list(raw)
  if not raw or raw == '' then return {} end
  local ok, v = pcall(cjson.decode, raw)
  if ok and type(v) == 'table' then return v end
  return {}
end

-- Lifecycle events for monitoring; the ORCH_ prefix keeps them apart from worker reports.
local function publish_task_event(etype, id, fields)
  local ev = fields or {}
  ev.type = etype
  ev.task_id = id
  ev.ts = NOW_ISO
  ev.source = 'orchestrator'
  redis.call('PUBLISH', 'tasks.events', cjson.encode(ev))
end

-- Moves a task from status `old` (nil for a new task) to `new` in the per-status indexes. The
-- caller writes the `status` and `updated_at` fields, usually in the HSET it makes anyway: on the
-- hot paths (submit, dispatch, acknowledgement, success) every Redis call counts, since each costs
-- Redis about as much as the command's own work (docs/performance.md).
local function index_status(id, old, seq, new)
  if old then redis.call('ZREM', P .. 'tasks:status:' .. old, id) end
  redis.call('ZADD', P .. 'tasks:status:' .. new, seq or 0, id)
end

-- Moves a task between the per-status indexes and stamps updated_at (reads what it needs).
local function set_status(id, new_status)
  local k = tkey(id)
  local f = redis.call('HMGET', k, 'status', 'seq')
  index_status(id, f[1], f[2], new_status)
  redis.call('HSET', k, 'status', new_status, 'updated_at', NOW_ISO)
end

-- Higher priority first, then oldest (lowest seq) first.
local function enqueue_at(id, seq, priority)
  local score = tonumber(seq or '0') - tonumber(priority or '0') * 4294967296
  redis.call('ZADD', P .. 'queue', score, id)
end

local function enqueue(id)
  local f = redis.call('HMGET', tkey(id), 'seq', 'priority')
  enqueue_at(id, f[1], f[2])
end

-- Creates a PENDING task in one write and indexes it (all tasks, its owner's, PENDING). `fields`
-- (field -> string) come first; `status` and `waiting_on` (when given) follow and override them.
-- The caller queues or dispatches it.
local function create_task(id, seq, fields, owner, waiting_json)
  local args = { 'seq', seq, 'submitted_at', NOW_ISO, 'updated_at', NOW_ISO }
  for f, v in pairs(fields) do
    table.insert(args, f)
    table.insert(args, v)
  end
  table.insert(args, 'status')
  table.insert(args, 'PENDING')
  if waiting_json then
    table.insert(args, 'waiting_on')
    table.insert(args, waiting_json)
  end
  redis.call('HSET', tkey(id), unpack(args))
  redis.call('ZADD', P .. 'tasks', seq, id)
  if owner and owner ~= '' then redis.call('ZADD', P .. 'tasks:owner:' .. owner, seq, id) end
  index_status(id, nil, seq, 'PENDING')
end

local function remove_from_queues(id)
  redis.call('ZREM', P .. 'queue', id)
  redis.call('ZREM', P .. 'delayed', id)
end

-- Frees worker w if (and only if) it holds task_id. The holder key, not the v1 status field,
-- is what keeps two tasks off one worker.
local function release_worker(w, task_id)
  if not w or w == '' then return false end
  local hk = holder_key(w)
  if redis.call('GET', hk) ~= task_id then return false end
  redis.call('DEL', hk)
  local wk = 'worker:' .. w
  local status = redis.call('HGET', wk, 'status')
  if not status then return true end
  if status == 'RUNNING' then
    status = 'IDLE'
    redis.call('HSET', wk, 'status', status)
  end
  -- Published whatever the hash said: schedulers that saw the worker busy learn it is free (or
  -- whatever the worker itself set meanwhile, such as IDLE or STOPPING).
  redis.call('PUBLISH', 'workers.events', cjson.encode({
    type = 'STATUS', worker_id = w, status = status, ts = NOW_ISO,
    extra = { last_task = task_id }, source = 'orchestrator' }))
  return true
end

-- Why worker w cannot take a task now, or nil when it can; then whether it speaks protocol 2.
local function worker_unavailable(w, cutoff_iso)
  if redis.call('EXISTS', holder_key(w)) == 1 then return 'busy' end
  if redis.call('EXISTS', P .. 'worker:' .. w .. ':suspect') == 1 then return 'suspect' end
  local f = redis.call('HMGET', 'worker:' .. w, 'status', 'last_seen', 'protocol')
  if not f[1] then return 'gone' end
  if f[1] ~= 'IDLE' then return 'status ' .. f[1] end
  if redis.call('EXISTS', 'worker:' .. w .. ':hb') == 0 then return 'stale' end
  -- ISO-8601 UTC timestamps compare as strings on their first 19 characters (to the second).
  if not f[2] or string.sub(f[2], 1, 19) < string.sub(cutoff_iso, 1, 19) then return 'stale' end
  return nil, f[3] == '2'
end

local function is_stale(w, cutoff_iso)
  if redis.call('EXISTS', 'worker:' .. w .. ':hb') == 0 then return true end
  local seen = redis.call('HGET', 'worker:' .. w, 'last_seen')
  return (not seen) or string.sub(seen, 1, 19) < string.sub(cutoff_iso, 1, 19)
end

-- Sends a PENDING task to worker w (already checked available): holder lock, worker RUNNING,
-- dispatch message on the topic. When PUBLISH reaches nobody the dispatch is undone and the task
-- goes straight back to the queue. A v2 worker gets the message in its durable inbox as well, and
-- its dispatch stands whether or not anyone heard the PUBLISH (then only a mirror for monitoring).
-- `t` is the task's DISPATCH_FIELDS and `v2` whether w speaks protocol 2, when the caller has read
-- them (read here otherwise). Returns 'ok' or 'no_subscriber'.
local DISPATCH_FIELDS = { 'status', 'seq', 'attempt', 'doc', 'task_type', 'priority' }
local function dispatch_to(id, w, topic, strategy, reason, ack_deadline_ms, t, v2)
  local k = tkey(id)
  t = t or redis.call('HMGET', k, unpack(DISPATCH_FIELDS))
  if v2 == nil then v2 = speaks_v2(w) end
  local attempt = tonumber(t[3] or '0') + 1
  redis.call('ZREM', P .. 'queue', id)
  redis.call('SET', holder_key(w), id)
  redis.call('HSET', k, 'attempt', attempt, 'assigned_worker', w, 'dispatched_at', NOW_ISO,
    'strategy', strategy, 'reason', reason, 'unschedulable', '', 'status', 'DISPATCHED', 'updated_at', NOW_ISO)
  index_status(id, t[1], t[2], 'DISPATCHED')
  local msg = '{"task_id":' .. cjson.encode(id) .. ',"task":' .. t[4] .. ',"task_type":' .. cjson.encode(t[5])
    .. ',"assigned_worker":' .. cjson.encode(w) .. ',"dispatched_at":' .. cjson.encode(NOW_ISO)
    .. ',"attempt":' .. attempt .. '}'
  if v2 then redis.call('RPUSH', inbox_key(w), msg) end
  local heard = redis.call('PUBLISH', topic, msg)
  if heard == 0 and not v2 then
    redis.call('DEL', holder_key(w))
    redis.call('HSET', k, 'attempt', attempt - 1, 'assigned_worker', '', 'dispatched_at', '',
      'status', 'PENDING', 'updated_at', NOW_ISO)
    index_status(id, 'DISPATCHED', t[2], 'PENDING')
    enqueue_at(id, t[2], t[6])
    return 'no_subscriber'
  end
  redis.call('HSET', 'worker:' .. w, 'status', 'RUNNING')
  redis.call('PUBLISH', 'workers.events', cjson.encode({
    type = 'STATUS', worker_id = w, status = 'RUNNING', ts = NOW_ISO,
    extra = { task_id = id }, source = 'orchestrator' }))
  redis.call('ZADD', P .. 'unacked', ack_deadline_ms, id)
  redis.call('ZADD', P .. 'inflight', NOW_MS, id)
  publish_task_event('ORCH_TASK_DISPATCHED', id, { worker_id = w, attempt = attempt, strategy = strategy })
  return 'ok'
end

local function record_attempt(id, w, outcome, err)
  local k = tkey(id)
  local list = decode_list(redis.call('HGET', k, 'attempts'))
  table.insert(list, { attempt = tonumber(redis.call('HGET', k, 'attempt') or '0'), worker = w,
    outcome = outcome, error = err, ended_at = NOW_ISO })
  redis.call('HSET', k, 'attempts', cjson.encode(list))
end

-- Ends one task (no cascade). A task still held by a worker keeps its holder lock until the
-- worker reports, the ack deadline passes, or the worker is found stale.
local function finalize(id, status, err)
  local k = tkey(id)
  -- A v2 worker that has not taken the dispatch yet never will: free it now.
  local held = redis.call('HMGET', k, 'status', 'assigned_worker')
  if held[1] == 'DISPATCHED' and held[2] and held[2] ~= '' and drop_from_inbox(held[2], id) then
    release_worker(held[2], id)
    redis.call('ZREM', P .. 'unacked', id)
  end
  remove_from_queues(id)
  redis.call('ZREM', P .. 'inflight', id)
  redis.call('SREM', P .. 'parents', id)
  if err then redis.call('HSET', k, 'error', err) end
  redis.call('HSET', k, 'finished_at', NOW_ISO)
  set_status(id, status)
  publish_task_event('ORCH_TASK_' .. status, id, { error = err })
end

local function cancel_children(id, why)
  for _, c in ipairs(decode_list(redis.call('HGET', tkey(id), 'children'))) do
    local st = redis.call('HGET', tkey(c), 'status')
    if st and not FINAL[st] then finalize(c, 'CANCELLED', why) end
  end
end

-- Ends a task and everything that can no longer run because of it: its shards, and every task
-- downstream of it (transitively), which ends with the same status and a reason naming the root.
local function cascade_end(root, status, err)
  finalize(root, status, err)
  cancel_children(root, 'parent ' .. root .. ' ended ' .. status)
  local name = redis.call('HGET', tkey(root), 'name') or ''
  local why = 'dependency ' .. root .. ' (' .. name .. ') ended ' .. status
  local todo, i = { root }, 1
  while i <= #todo do
    local cur = todo[i]
    i = i + 1
    for _, d in ipairs(redis.call('SMEMBERS', P .. 'task:' .. cur .. ':dependents')) do
      local st = redis.call('HGET', tkey(d), 'status')
      if st and not FINAL[st] then
        finalize(d, status, why)
        cancel_children(d, why)
        table.insert(todo, d)
      end
    end
  end
end

-- A dependency finished successfully: dependents that wait on nothing else become ready.
-- Returns how many were queued.
local function release_dependents(id)
  local queued = 0
  for _, d in ipairs(redis.call('SMEMBERS', P .. 'task:' .. id .. ':dependents')) do
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

-- The current attempt failed (worker report, lost worker, no acknowledgement): retry on another
-- worker after the backoff, or fail for good and cascade. Returns 'retry' or 'failed'.
local function fail_attempt(id, w, err, backoff_cap_sec)
  local k = tkey(id)
  redis.call('ZREM', P .. 'inflight', id)
  redis.call('ZREM', P .. 'unacked', id)
  record_attempt(id, w, 'failed', err)
  local f = redis.call('HMGET', k, 'retries', 'max_retries', 'backoff_sec', 'parent_id', 'shard_index', 'shard_total')
  local retries, max_retries = tonumber(f[1] or '0'), tonumber(f[2] or '0')
  if retries < max_retries then
    retries = retries + 1
    redis.call('HSET', k, 'retries', retries, 'error', err, 'exclude', w, 'assigned_worker', '')
    set_status(id, 'PENDING')
    local delay = math.min(tonumber(f[3] or '0') * retries, backoff_cap_sec)
    if delay > 0 then
      redis.call('ZADD', P .. 'delayed', NOW_MS + math.floor(delay * 1000), id)
    else
      enqueue(id)
    end
    publish_task_event('ORCH_TASK_RETRY_SCHEDULED', id, { worker_id = w, error = err, retry = retries, delay_sec = delay })
    return 'retry'
  end
  cascade_end(id, 'FAILED', err)
  local parent = f[4]
  if parent and parent ~= '' then
    local pst = redis.call('HGET', tkey(parent), 'status')
    if pst and not FINAL[pst] then
      cascade_end(parent, 'FAILED', 'shard ' .. (f[5] or '?') .. '/' .. (f[6] or '?') .. ' failed: ' .. err)
    end
  end
  return 'failed'
end

-- The current attempt succeeded. `t` is the task's SUCCEED_FIELDS; the task is DISPATCHED or
-- RUNNING on w, so it is in neither queue, is no parent, and w has taken its dispatch: what
-- `finalize` undoes for any task has nothing to undo here, and the task ends in one write.
-- Returns 'done' ('done:queued' when dependents became ready), or 'parent_ready:<id>' when this
-- was the last shard of a parent, which the caller then aggregates and finalizes.
local SUCCEED_FIELDS = { 'status', 'assigned_worker', 'attempt', 'seq', 'attempts', 'parent_id' }
local function succeed(id, w, result_json, t)
  local k = tkey(id)
  redis.call('ZREM', P .. 'inflight', id)
  redis.call('ZREM', P .. 'unacked', id)
  local attempts = decode_list(t[5])
  table.insert(attempts, { attempt = tonumber(t[3] or '0'), worker = w, outcome = 'succeeded', ended_at = NOW_ISO })
  redis.call('HSET', k, 'attempts', cjson.encode(attempts), 'result', result_json, 'error', '',
    'finished_at', NOW_ISO, 'status', 'DONE', 'updated_at', NOW_ISO)
  index_status(id, t[1], t[4], 'DONE')
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
