-- bench/lua/writes.lua (wrk): durable assignment adds, one random tag on one random file each.
local first = tonumber(os.getenv("BENCH_FIRST_FILE"))
local last = tonumber(os.getenv("BENCH_FILES"))
local ntags = tonumber(os.getenv("BENCH_TAGS"))
wrk.headers["Content-Type"] = "application/json"
dofile((debug.getinfo(1, "S").source:sub(2):match("^(.*/)") or "") .. "seed.lua")

request = function()
    local r = math.random(first, last)
    local t = math.random(1, ntags)
    return wrk.format("POST", "/v1/resources/file/f-" .. r .. "/tags", nil,
                      '{"tags":[' .. t .. ']}')
end
