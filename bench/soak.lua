-- bench/soak.lua: a wrk script mixing reads and writes against tagd for the soak test.
-- 70% list tags, 15% create a tag (unique name per thread and counter), 15% read a
-- resource's effective tags. Every answer must be 2xx; anything else is counted and printed.
local counter = 0
local thread_id = 0
local bad = 0
local threads = {}

function setup(thread)
  thread:set("thread_id", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  token = os.getenv("TAGD_SOAK_TOKEN") or "soak-token"
end

function request()
  counter = counter + 1
  local h = {["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json"}
  local r = counter % 20
  if r < 14 then
    return wrk.format("GET", "/v1/tags?limit=100&prefix=Soak", h)
  elseif r < 17 then
    local body = string.format('{"name":"Soak.t%d.n%d"}', thread_id, counter)
    return wrk.format("POST", "/v1/tags", h, body)
  else
    return wrk.format("GET", "/v1/resources/file/soak-" .. (counter % 50) .. "/tags?effective=true", h)
  end
end

function response(status, headers, body)
  -- 404 is expected for resources the soak never created.
  if status >= 300 and status ~= 404 then
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
