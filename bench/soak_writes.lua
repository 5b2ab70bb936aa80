-- bench/soak_writes.lua: a wrk script of writes only, on a data set that does not grow, for the
-- memory soak (bench/soak ... writes). Each request replaces the direct tags of one of 200
-- resources with one of four fixed sets, so every write commits (assignments added and
-- removed, change records, history) while what tagd holds in memory stays the same size:
-- memory that keeps growing is a leak. Every answer must be 2xx.
local counter = 0
dofile((debug.getinfo(1, "S").source:sub(2):match("^(.*/)") or "") .. "lua/soak_tally.lua")
local sets = {'["Soak.w.a","Soak.w.b"]', '["Soak.w.b","Soak.w.c"]', '["Soak.w.c"]',
              '["Soak.w.a","Soak.w.d","Soak.w.e"]'}

function init(args)
  token = os.getenv("TAGD_SOAK_TOKEN") or "soak-token"
  counter = 0
end

function request()
  -- Resource n % 200 gets the next of the four sets on each visit: every write changes it.
  counter = counter + 1
  local h = {["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json"}
  local set = sets[math.floor(counter / 200) % 4 + 1]
  local body = string.format('{"tags":%s,"create_missing":true}', set)
  return wrk.format("PUT", "/v1/resources/file/soakw-" .. (counter % 200) .. "/tags", h, body)
end
