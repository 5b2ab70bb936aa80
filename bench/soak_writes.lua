-- bench/soak_writes.lua: a wrk script of writes only, on a data set that does not grow, for the
-- memory soak (bench/soak ... writes). Each request replaces the direct tags of one of 200
-- resources with one of four fixed sets, so every write commits (assignments added and
-- removed, change records, history) while what tagd holds in memory stays the same size:
-- memory that keeps growing is a leak. Every answer must be 2xx.
local counter = 0
local bad = 0
local threads = {}
local sets = {'["Soak.w.a","Soak.w.b"]', '["Soak.w.b","Soak.w.c"]', '["Soak.w.c"]',
              '["Soak.w.a","Soak.w.d","Soak.w.e"]'}

function setup(thread)
  thread:set("thread_id", #threads + 1)
  table.insert(threads, thread)
end

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

function response(status, headers, body)
  if status >= 300 then
    bad = bad + 1
  end
end

function done(summary, latency, requests)
  local total_bad = 0
  for _, t in ipairs(threads) do
    total_bad = total_bad + (t:get("bad") or 0)
  end
  io.write(string.format("SOAK requests=%d unexpected=%d p50_us=%d p99_us=%d max_us=%d\n",
    summary.requests, total_bad, latency:percentile(50), latency:percentile(99), latency.max))
end
