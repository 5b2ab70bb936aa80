-- bench/lua/restags.lua (wrk): GET the effective tags of random depth-3 resources.
-- BENCH_KEYS names a file of "id<TAB>kind<TAB>key" lines (bench/gen.c writes depth3.tsv).
local paths = {}
for line in io.lines(os.getenv("BENCH_KEYS")) do
    local _, kind, key = line:match("^(%d+)\t(%S+)\t(%S+)$")
    if key then
        paths[#paths + 1] = "/v1/resources/" .. kind .. "/" .. key .. "/tags?effective=true"
    end
end

dofile((debug.getinfo(1, "S").source:sub(2):match("^(.*/)") or "") .. "seed.lua")

request = function()
    return wrk.format("GET", paths[math.random(#paths)])
end
