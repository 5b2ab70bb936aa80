-- bench/soak.lua: a wrk script mixing reads and writes against tagd for the soak test.
-- 70% list tags, 15% create a tag (unique name per thread and counter), 15% read a
-- resource's effective tags. Every answer must be 2xx; anything else is counted and printed.
local counter = 0
thread_id = 0

-- 404 is expected for resources the soak never created.
function expected(status)
  return status < 300 or status == 404
end
dofile((debug.getinfo(1, "S").source:sub(2):match("^(.*/)") or "") .. "lua/soak_tally.lua")

function init(args)
  token = os.getenv("TAGD_SOAK_TOKEN") or "soak-token"
  round = os.getenv("TAGD_SOAK_ROUND") or "0" -- names stay new in every round's wrk
end

function request()
  counter = counter + 1
  local h = {["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json"}
  local r = counter % 20
  if r < 14 then
    return wrk.format("GET", "/v1/tags?limit=100&prefix=Soak", h)
  elseif r < 17 then
    local body = string.format('{"name":"Soak.r%s.t%d.n%d"}', round, thread_id, counter)
    return wrk.format("POST", "/v1/tags", h, body)
  else
    return wrk.format("GET", "/v1/resources/file/soak-" .. (counter % 50) .. "/tags?effective=true", h)
  end
end
