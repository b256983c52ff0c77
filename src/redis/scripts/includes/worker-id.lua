-- worker-id: the worker-id rule (contracts/protocol.ts isValidWorkerId), checked again in the
-- scripts that take a worker id from an event: an id with ':' or a glob character could name
-- another worker's keys ('victim:hb' -> worker:victim:hb). The length is in bytes here (at most 4
-- per character).

local function valid_worker_id(w)
  return w ~= '' and #w <= 4 * {{MAX_WORKER_ID_LENGTH}} and not string.find(w, '[%s%c:%*%?%[%]\\]')
end
