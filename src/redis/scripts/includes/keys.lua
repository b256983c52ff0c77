-- keys: the per-task and per-worker keys the scripts build from ids. Key names are templated from
-- src/redis/keys.ts and src/contracts/protocol.ts at load time (docs/redis-keys.md). Scripts touch
-- keys not passed in KEYS: this relies on a single Redis (not a cluster).
local function tkey(id) return {{Keys.task(id)}} end
local function holder_key(w) return {{Keys.workerTask(w)}} end
local function inbox_key(w) return {{workerInboxKey(w)}} end
local function worker_key(w) return {{workerKey(w)}} end
