-- bench/lua/soak_tally.lua: loaded by bench/soak.lua and bench/soak_writes.lua (dofile): counts
-- the answers a soak did not expect in each wrk thread and prints the line bench/soak reads.
-- A script sets `expected(status)` before loading this, or every status >= 300 counts.
bad = 0
local threads = {}

function setup(thread)
  thread:set("thread_id", #threads + 1)
  table.insert(threads, thread)
end

function response(status, headers, body)
  if not (expected and expected(status) or status < 300) then
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
