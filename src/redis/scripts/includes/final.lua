-- final: the statuses a task never leaves (contracts/task-states.ts FINAL_STATUSES).
local FINAL = { DONE = true, FAILED = true, CANCELLED = true }
