-- renew-lease: ARGV[3] (the fence) is our token, ARGV[4] lease TTL (ms). Returns 1 when renewed,
-- 0 when the lease is no longer ours (expired and maybe taken by another replica).
-- Race prevented: renewing a lease another replica already holds.
if redis.call('GET', P .. 'leader') ~= FENCE then return 0 end
redis.call('PEXPIRE', P .. 'leader', tonumber(ARGV[4]))
return 1
