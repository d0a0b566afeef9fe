-- GET /v1/plans/{id} of a random plan out of draft (public, no token); `--` PLANS_FILE.
dofile(debug.getinfo(1, "S").source:sub(2):match("(.*/)") .. "report.lua")

function init(args)
   ids = {}
   for line in io.lines(args[1]) do
      local id, status = line:match("^(%S+) (%S+)$")
      if id and status ~= "draft" then ids[#ids + 1] = id end
   end
   math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16) % 1000)
end

function request()
   return wrk.format("GET", "/v1/plans/" .. ids[math.random(#ids)])
end
