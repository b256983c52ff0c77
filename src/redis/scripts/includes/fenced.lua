-- fenced: scheduling writes are fenced: only the current leader (whose lease value the caller
-- passes as ARGV[3]) may make them, so a deposed leader that has not noticed yet changes nothing.
--- @include "args"

local function fenced()
  return FENCE == '*' or redis.call('GET', {{Keys.leader}}) == FENCE
end
