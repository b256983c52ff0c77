-- release-lost-worker: when the worker is stale (heartbeat key gone or last_seen before the
-- cutoff), the task it holds counts a failed attempt and goes back to the queue; with removal, the
-- v1 unregister steps run and an UNREGISTER event is published. A v2 worker that took the attempt is
-- told to stop it (stop-attempt): were it only suspended, it finds the message when it resumes.
-- KEYS: none (keys are built from the ids; docs/redis-keys.md).
-- ARGV: [1-3] now (ms), now (ISO), fence (includes/args.lua; fenced); [4] worker id,
--   [5] last_seen cutoff (ISO), [6] retry backoff cap (s), [7] '1' to also remove the worker from
--   the registry (cleanup), '0' to keep it.
-- Returns: JSON {stale, task, outcome, removed} ({stale: false, not_leader | invalid_id: true} when
-- refused).
-- Race prevented: a heartbeat arriving while we decide; staleness is re-checked here, atomically.
--- @include "args"
--- @include "fenced"
--- @include "keys"
--- @include "worker-id"
--- @include "worker-liveness"
--- @include "v2-inbox"
--- @include "stop-attempt"
--- @include "fail-attempt"

if not fenced() then return '{"stale":false,"not_leader":true}' end
local w = ARGV[4]
if not valid_worker_id(w) then return '{"stale":false,"invalid_id":true}' end
if not is_stale(w, ARGV[5]) then return '{"stale":false}' end
local held = redis.call('GET', holder_key(w))
local outcome = nil
if held then
  redis.call('DEL', holder_key(w))
  local unseen = drop_from_inbox(w, held)
  local f = redis.call('HMGET', tkey(held), 'status', 'assigned_worker')
  if (f[1] == 'DISPATCHED' or f[1] == 'RUNNING') and f[2] == w then
    local err = 'worker ' .. w .. ' lost (heartbeat expired)'
    local extra = nil
    if not unseen then extra = { worker_told = tell_worker_to_stop(w, held, err) } end
    outcome = fail_attempt(held, w, err, tonumber(ARGV[6]), extra)
  end
end
local removed = false
if ARGV[7] == '1' then
  redis.call('SREM', {{WORKER_IDS_KEY}}, w)
  redis.call('DEL', worker_key(w), {{workerHeartbeatKey(w)}}, inbox_key(w), {{workerProcessingKey(w)}})
  redis.call('PUBLISH', {{WORKERS_EVENTS_CHANNEL}}, cjson.encode({ type = 'UNREGISTER', worker_id = w, ts = NOW_ISO, source = {{ORCHESTRATOR_SOURCE}} }))
  removed = true
end
return cjson.encode({ stale = true, task = held or cjson.null, outcome = outcome or cjson.null, removed = removed })
