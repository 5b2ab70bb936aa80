-- bench/lua/restags.lua (wrk): GET the effective tags of random depth-3 resources.
-- BENCH_KEYS names a file of "id<TAB>kind<TAB>key" lines (bench/gen.c writes depth3.tsv).
local paths = {}
for line in io.lines(os.getenv("BENCH_KEYS")) do
    local _, kind, key = line:match("^(%d+)\t(%S+)\t(%S+)$")
    if key then
        paths[#paths + 1] = "/v1/resources/" .. kind .. "/" .. key .. "/tags?effective=true"
    end
end

-- Each thread draws its own keys (unseeded, LuaJIT's threads would all draw the same ones).
local threads = 0
function setup(thread)
    threads = threads + 1
    thread:set("thread_no", threads)
end

function init(args)
    math.randomseed(os.time() * 1000 + thread_no)
    for _ = 1, 10 do math.random() end
end

request = function()
    return wrk.format("GET", paths[math.random(#paths)])
end
