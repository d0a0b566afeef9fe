-- GET of a fixed path, given after `--`: PATH [TOKEN].
dofile(debug.getinfo(1, "S").source:sub(2):match("(.*/)") .. "report.lua")

function init(args)
   path = args[1]
   headers = {}
   if args[2] and args[2] ~= "" then headers["Authorization"] = "Bearer " .. args[2] end
   req = wrk.format("GET", path, headers)
end

function request()
   return req
end
