-- release-lost-worker: ARGV[4] worker id, [5] last_seen cutoff (ISO), [6] retry backoff cap (s),
-- [7] '1' to also remove the worker from the registry (cleanup), '0' to keep it.
-- When the worker is stale (heartbeat key gone or last_seen before the cutoff), the task it holds
-- counts a failed attempt and goes back to the queue; with removal, the v1 unregister steps run
-- and an UNREGISTER event is published. Returns JSON {stale, task, outcome, removed}.
-- Race prevented: a heartbeat arriving while we decide; staleness is re-checked here, atomically.
if not fenced() then return '{"stale":false,"not_leader":true}' end
local w = ARGV[4]
-- The worker-id rule (contracts/protocol.ts isValidWorkerId), checked again here: an id with ':'
-- or a glob character could name another worker's keys ('victim:hb' -> worker:victim:hb).
if w == '' or #w > 512 or string.find(w, '[%s%c:%*%?%[%]\\]') then return '{"stale":false,"invalid_id":true}' end
if not is_stale(w, ARGV[5]) then return '{"stale":false}' end
local held = redis.call('GET', holder_key(w))
local outcome = nil
if held then
  redis.call('DEL', holder_key(w))
  drop_from_inbox(w, held)
  local f = redis.call('HMGET', tkey(held), 'status', 'assigned_worker')
  if (f[1] == 'DISPATCHED' or f[1] == 'RUNNING') and f[2] == w then
    outcome = fail_attempt(held, w, 'worker ' .. w .. ' lost (heartbeat expired)', tonumber(ARGV[6]))
  end
end
local removed = false
if ARGV[7] == '1' then
  redis.call('SREM', 'workers:ids', w)
  redis.call('DEL', 'worker:' .. w, 'worker:' .. w .. ':hb', inbox_key(w), P .. 'worker:' .. w .. ':processing')
  redis.call('PUBLISH', 'workers.events', cjson.encode({ type = 'UNREGISTER', worker_id = w, ts = NOW_ISO, source = 'orchestrator' }))
  removed = true
end
return cjson.encode({ stale = true, task = held or cjson.null, outcome = outcome or cjson.null, removed = removed })
