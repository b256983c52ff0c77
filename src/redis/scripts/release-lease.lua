-- release-lease: ARGV[3] (the fence) is our token. Deletes the lease only if it is still ours, so
-- another replica can take over at once on a clean shutdown. Returns 1 when released.
if redis.call('GET', P .. 'leader') ~= FENCE then return 0 end
redis.call('DEL', P .. 'leader')
return 1
