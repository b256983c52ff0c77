-- json: lists stored as JSON in task fields.

-- cjson encodes an empty table as {}; our lists must stay lists.
local function json_array(t)
  if #t == 0 then return '[]' end
  return cjson.encode(t)
end

local function decode_list(raw)
  if not raw or raw == '' then return {} end
  local ok, v = pcall(cjson.decode, raw)
  if ok and type(v) == 'table' then return v end
  return {}
end
