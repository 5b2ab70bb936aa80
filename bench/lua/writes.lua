-- bench/lua/writes.lua (wrk): durable assignment adds, one random tag on one random file each.
--
-- Each wrk thread has its own Lua state, and LuaJIT's generator starts from the same state in
-- every one: unseeded, the threads sent the same (file, tag) pairs, and a later run the pairs of
-- the one before, so that most "adds" found the tag already there and wrote nothing. Each
-- thread is seeded with its own number and the time.
local first = tonumber(os.getenv("BENCH_FIRST_FILE"))
local last = tonumber(os.getenv("BENCH_FILES"))
local ntags = tonumber(os.getenv("BENCH_TAGS"))
local threads = 0
wrk.headers["Content-Type"] = "application/json"

function setup(thread)
    threads = threads + 1
    thread:set("thread_no", threads)
end

function init(args)
    math.randomseed(os.time() * 1000 + thread_no)
    -- LuaJIT's first draws after seeding are poorly mixed.
    for _ = 1, 10 do math.random() end
end

request = function()
    local r = math.random(first, last)
    local t = math.random(1, ntags)
    return wrk.format("POST", "/v1/resources/file/f-" .. r .. "/tags", nil,
                      '{"tags":[' .. t .. ']}')
end
