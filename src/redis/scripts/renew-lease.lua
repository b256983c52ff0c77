-- renew-lease: extends the lease, only while its value is still our token.
-- KEYS: none (the lease key is templated from keys.ts).
-- ARGV: [1-3] now (ms), now (ISO), fence (includes/args.lua): the fence is our token;
--   [4] lease TTL (ms).
-- Returns: 1 when renewed, 0 when the lease is no longer ours (expired and maybe taken by another
-- replica).
-- Race prevented: renewing a lease another replica already holds.
--- @include "args"

if redis.call('GET', {{Keys.leader}}) ~= FENCE then return 0 end
redis.call('PEXPIRE', {{Keys.leader}}, tonumber(ARGV[4]))
return 1
