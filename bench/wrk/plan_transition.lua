-- POST /v1/plans/{id}/transitions: each thread moves its own share of the plans in turn,
-- adopted → under_revision → adopted (a new document version, a changelog row), each a real
-- transition with its event. `--` TOKEN PLANS_FILE
dofile(debug.getinfo(1, "S").source:sub(2):match("(.*/)") .. "report.lua")

local counter = 0
function setup(thread)
   thread:set("thread_index", counter)
   counter = counter + 1
end

function init(args)
   headers = {["Authorization"] = "Bearer " .. args[1], ["Content-Type"] = "application/json"}
   plans, states = {}, {}
   local n = 0
   for line in io.lines(args[2]) do
      local id, status = line:match("^(%S+) (%S+)$")
      if id and (status == "adopted" or status == "under_revision") then
         if n % 2 == thread_index then
            plans[#plans + 1] = id
            states[#plans] = status
         end
         n = n + 1
      end
   end
   next_plan = 1
   version = 0
   stamp = os.time()
end

-- wrk builds each thread's first request once more than it sends (seen: the first plan's
-- bookkeeping ran one step ahead of the server); that one is a harmless read.
local warmed = false
function request()
   if not warmed then
      warmed = true
      return wrk.format("GET", "/healthz")
   end
   local i = next_plan
   next_plan = next_plan + 1
   if next_plan > #plans then next_plan = 1 end
   local body
   if states[i] == "adopted" then
      states[i] = "under_revision"
      body = '{"to":"under_revision","reason":"Revidering (benchmark)"}'
   else
      states[i] = "adopted"
      version = version + 1
      body = string.format('{"to":"adopted","decided_by":"KS","decided_on":"2026-11-22",' ..
         '"document_version":"b%d.%d.%d","change":"Revidering (benchmark)"}', stamp, thread_index, version)
   end
   return wrk.format("POST", "/v1/plans/" .. plans[i] .. "/transitions", headers, body)
end

response = show_failures
