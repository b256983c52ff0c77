-- task-events: lifecycle events for monitoring on tasks.events; the ORCH_ prefix keeps them apart
-- from worker reports.
--- @include "args"

local function publish_task_event(etype, id, fields)
  local ev = fields or {}
  ev.type = etype
  ev.task_id = id
  ev.ts = NOW_ISO
  ev.source = {{ORCHESTRATOR_SOURCE}}
  redis.call('PUBLISH', {{TASKS_EVENTS_CHANNEL}}, cjson.encode(ev))
end
