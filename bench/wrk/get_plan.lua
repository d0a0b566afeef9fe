-- GET /v1/plans/{id} of a plan out of draft (public, no token); `--` PLANS_FILE [sweep].
-- A random plan each request; with `sweep`, each thread walks the plans in order from a random
-- start instead, so that a short run reads every plan at least once.
dofile(debug.getinfo(1, "S").source:sub(2):match("(.*/)") .. "report.lua")

function init(args)
   ids = {}
   for line in io.lines(args[1]) do
      local id, status = line:match("^(%S+) (%S+)$")
      if id and status ~= "draft" then ids[#ids + 1] = id end
   end
   math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16) % 1000)
   sweep = args[2] == "sweep"
   position = math.random(#ids)
end

function request()
   if sweep then
      position = position % #ids + 1
      return wrk.format("GET", "/v1/plans/" .. ids[position])
   end
   return wrk.format("GET", "/v1/plans/" .. ids[math.random(#ids)])
end
