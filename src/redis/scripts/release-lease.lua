-- release-lease: deletes the lease only if it is still ours, so another replica can take over at
-- once on a clean shutdown.
-- KEYS: none (the lease key is templated from keys.ts).
-- ARGV: [1-3] now (ms), now (ISO), fence (includes/args.lua): the fence is our token.
-- Returns: 1 when released, else 0.
--- @include "args"

if redis.call('GET', {{Keys.leader}}) ~= FENCE then return 0 end
redis.call('DEL', {{Keys.leader}})
return 1
