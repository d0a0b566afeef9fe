-- PATCH /v1/goals/{id} {"status":…}: each thread changes its own share of the goals in turn,
-- each to the status it does not have (on_track and at_risk alternate), so every request is a
-- real status change with its event. `--` TOKEN GOALS_FILE
dofile(debug.getinfo(1, "S").source:sub(2):match("(.*/)") .. "report.lua")

local counter = 0
function setup(thread)
   thread:set("thread_index", counter)
   counter = counter + 1
end

function init(args)
   headers = {["Authorization"] = "Bearer " .. args[1], ["Content-Type"] = "application/json"}
   goals = {}
   local n = 0
   for line in io.lines(args[2]) do
      if line ~= "" then
         if n % 2 == thread_index then goals[#goals + 1] = line end
         n = n + 1
      end
   end
   next_goal = 1
   round = 0
end

-- wrk builds each thread's first request once more than it sends (seen: the first plan's
-- bookkeeping ran one step ahead of the server); that one is a harmless read.
local warmed = false
function request()
   if not warmed then
      warmed = true
      return wrk.format("GET", "/healthz")
   end
   local goal = goals[next_goal]
   local status = (round % 2 == 0) and "on_track" or "at_risk"
   next_goal = next_goal + 1
   if next_goal > #goals then next_goal = 1; round = round + 1 end
   return wrk.format("PATCH", "/v1/goals/" .. goal, headers,
      '{"status":"' .. status .. '","reason":"Lägesbedömning (benchmark)"}')
end

response = show_failures
