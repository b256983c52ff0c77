-- finalize-parent: every shard of a parent succeeded; stores the aggregate and finishes the parent.
-- KEYS: none (keys are built from the ids; docs/redis-keys.md).
-- ARGV: [1-3] now (ms), now (ISO), fence (includes/args.lua; unfenced); [4] parent id,
--   [5] aggregated result JSON.
-- Returns: 1 when the parent became DONE, else 0.
-- Race prevented: two processes aggregating the same parent; only the first one finishes it.
--- @include "keys"
--- @include "final"
--- @include "finalize"
--- @include "release-dependents"

local id = ARGV[4]
local k = tkey(id)
local f = redis.call('HMGET', k, 'status', 'shards_done', 'shard_total')
if not f[1] or FINAL[f[1]] then return 0 end
if tonumber(f[2] or '0') < tonumber(f[3] or '1') then return 0 end
redis.call('HSET', k, 'result', ARGV[5], 'error', '')
finalize(id, 'DONE', nil)
release_dependents(id)
return 1
