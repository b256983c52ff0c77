-- args: the arguments every script takes first (scripts.ts scriptPrefix): ARGV[1] = now in ms,
-- ARGV[2] = now as ISO-8601 UTC, ARGV[3] = the caller's fencing token ('*' when the script needs
-- none). A script's own arguments start at ARGV[4].
local NOW_MS = tonumber(ARGV[1])
local NOW_ISO = ARGV[2]
local FENCE = ARGV[3]
