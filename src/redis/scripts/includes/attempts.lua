-- attempts: the task's `attempts` field, the history of its ended attempts.
--- @include "args"
--- @include "keys"
--- @include "json"

-- Appends {attempt, worker, outcome, error, ended_at} for the current attempt; `extra` (a table or
-- nil) adds fields (a given-up attempt: worker_told).
local function record_attempt(id, w, outcome, err, extra)
  local k = tkey(id)
  local list = decode_list(redis.call('HGET', k, 'attempts'))
  local entry = { attempt = tonumber(redis.call('HGET', k, 'attempt') or '0'), worker = w,
    outcome = outcome, error = err, ended_at = NOW_ISO }
  for key, v in pairs(extra or {}) do entry[key] = v end
  table.insert(list, entry)
  redis.call('HSET', k, 'attempts', cjson.encode(list))
end
