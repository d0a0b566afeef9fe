-- GET /v1/plans/{id} of a plan out of draft (public, no token); `--` PLANS_FILE [sweep].
-- A random plan each request; with `sweep`, the threads walk the plans in order instead, each
-- from its own share's start, so that a short run reads every plan at least once.
dofile(debug.getinfo(1, "S").source:sub(2):match("(.*/)") .. "report.lua")

local counter = 0
function setup(thread)
   thread:set("thread_index", counter)
   counter = counter + 1
end

function init(args)
   ids = {}
   for line in io.lines(args[1]) do
      local id, status = line:match("^(%S+) (%S+)$")
      if id and status ~= "draft" then ids[#ids + 1] = id end
   end
   math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16) % 1000)
   sweep = args[2] == "sweep"
   -- run.sh runs wrk with two threads: each starts half the list apart.
   position = math.floor(thread_index * #ids / 2)
end

function request()
   if sweep then
      position = position % #ids + 1
      return wrk.format("GET", "/v1/plans/" .. ids[position])
   end
   return wrk.format("GET", "/v1/plans/" .. ids[math.random(#ids)])
end
