-- tests/pg/bench.lua: wrk script for tests/pg/bench. TAGD_BENCH_MODE=read fetches one tag,
-- =write creates tags with unique names (thread id, counter, random suffix).
local mode = os.getenv("TAGD_BENCH_MODE") or "read"
local token = os.getenv("TAGD_BENCH_TOKEN") or ""
local counter = 0
local seed = os.getenv("TAGD_BENCH_SEED") or tostring(math.random(1, 1000000000))
local hdr = {["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json"}
request = function()
  if mode == "read" then
    return wrk.format("GET", "/v1/tags/Bench.read", hdr)
  end
  counter = counter + 1
  return wrk.format("POST", "/v1/tags", hdr,
                    string.format('{"name":"Bench.w%s.%d"}', seed, counter))
end
done = function(summary, latency, requests)
  local bad = summary.errors.status + summary.errors.connect + summary.errors.read
              + summary.errors.write + summary.errors.timeout
  io.write(string.format("BENCH req=%d rps=%.0f p50_us=%d p99_us=%d errors=%d\n",
           summary.requests, summary.requests / (summary.duration / 1e6),
           latency:percentile(50), latency:percentile(99), bad))
end
