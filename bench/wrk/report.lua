-- Shared by every wrk script: one line of JSON with the figures, after the run.
function done(summary, latency, requests)
   local seconds = summary.duration / 1e6
   io.write(string.format(
      'WRK {"requests":%d,"seconds":%.3f,"rps":%.1f,"lat_mean_ms":%.3f,"lat_p50_ms":%.3f,"lat_p99_ms":%.3f,' ..
      '"non_2xx":%d,"socket_errors":%d}\n',
      summary.requests, seconds, summary.requests / seconds, latency.mean / 1000,
      latency:percentile(50) / 1000, latency:percentile(99) / 1000, summary.errors.status,
      summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end

-- Writes: the first few answers other than 2xx, so that a failure says why.
shown = 0
function show_failures(status, headers, body)
   if status >= 300 and shown < 3 then
      shown = shown + 1
      io.stderr:write("non-2xx " .. status .. ": " .. tostring(body):sub(1, 300) .. "\n")
   end
end
