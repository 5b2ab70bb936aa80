-- bench/lua/seed.lua: loaded by the other scripts (dofile); seeds each wrk thread on its own.
--
-- Each wrk thread has its own Lua state, and LuaJIT's generator starts from the same state in
-- every one: unseeded, the threads drew the same numbers, and a later run those of the one
-- before (for writes.lua: the same (file, tag) pairs, so that most "adds" found the tag already
-- there and wrote nothing). Each thread is seeded with its own number and the time.
local threads = 0

function setup(thread)
    threads = threads + 1
    thread:set("thread_no", threads)
end

function init(args)
    math.randomseed(os.time() * 1000 + thread_no)
    -- LuaJIT's first draws after seeding are poorly mixed.
    for _ = 1, 10 do math.random() end
end
