-- expire-unacked: dispatches whose acknowledgement deadline passed. A still-DISPATCHED task counts
-- a failed attempt and is retried elsewhere; a task that ended meanwhile (cancelled) only frees its
-- worker. A worker that let a dispatch time out is marked suspect and gets no work until it is heard
-- from again. A v2 worker that took the dispatch from its inbox is told to stop it (stop-attempt).
-- KEYS: none (keys are built from the ids; docs/redis-keys.md).
-- ARGV: [1-3] now (ms), now (ISO), fence (includes/args.lua; fenced); [4] max count,
--   [5] retry backoff cap (s), [6] ack timeout (s, for the message).
-- Returns: JSON [[id, worker, outcome], ...] ('[]' when not the leader).
-- Race prevented: an acknowledgement racing the deadline; ack-task removes the task from the
-- unacked set in the same atomic step that makes it RUNNING.
--- @include "args"
--- @include "fenced"
--- @include "keys"
--- @include "final"
--- @include "v2-inbox"
--- @include "release-worker"
--- @include "stop-attempt"
--- @include "fail-attempt"

if not fenced() then return '[]' end
local due = redis.call('ZRANGEBYSCORE', {{Keys.unacked}}, '-inf', NOW_MS, 'LIMIT', 0, tonumber(ARGV[4]))
local out = {}
for _, id in ipairs(due) do
  redis.call('ZREM', {{Keys.unacked}}, id)
  local f = redis.call('HMGET', tkey(id), 'status', 'assigned_worker')
  local w = f[2] or ''
  if f[1] == 'DISPATCHED' then
    local unseen = drop_from_inbox(w, id)
    release_worker(w, id)
    if w ~= '' then redis.call('SET', {{Keys.workerSuspect(w)}}, NOW_ISO) end
    local err = 'worker ' .. w .. ' did not acknowledge the dispatch within ' .. ARGV[6] .. ' s'
    -- Taken from the inbox (v2) or perhaps heard (v1): the worker may be running it.
    local extra = nil
    if not unseen and w ~= '' then extra = { worker_told = tell_worker_to_stop(w, id, err) } end
    local r = fail_attempt(id, w, err, tonumber(ARGV[5]), extra)
    table.insert(out, { id, w, r })
  elseif f[1] and FINAL[f[1]] then
    drop_from_inbox(w, id)
    release_worker(w, id)
    table.insert(out, { id, w, 'released' })
  end
end
if #out == 0 then return '[]' end
return cjson.encode(out)
