-- bench/soak.sh's wrk script: requests alternate between the Python and the Node function. With
-- SOAK_RATE set (requests per second, for this one wrk thread) they are paced: the n-th request
-- is due n / SOAK_RATE seconds after the first, whatever the latency, so a slow answer does not
-- lower the offered rate (a connection that falls behind sends at once until it catches up; the
-- connection count caps what is in flight). Without it, wrk sends as fast as answers come back.
local paths = { "/fn/soak-py", "/fn/soak-js" }
local sent = 0

function request()
  sent = sent + 1
  return wrk.format("GET", paths[sent % 2 + 1])
end

local rate = tonumber(os.getenv("SOAK_RATE") or "")
if rate and rate > 0 then
  local ffi = require("ffi")
  ffi.cdef([[
    typedef struct { long tv_sec; long tv_nsec; } soak_timespec;
    int clock_gettime(int clock, soak_timespec* out);
  ]])
  local clock_monotonic = 1
  local now = ffi.new("soak_timespec")
  local function nowMs()
    ffi.C.clock_gettime(clock_monotonic, now)
    return tonumber(now.tv_sec) * 1000 + tonumber(now.tv_nsec) / 1e6
  end
  local interval_ms = 1000 / rate
  local first_ms = nil
  local scheduled = 0

  -- wrk asks before every request how many milliseconds to wait.
  function delay()
    first_ms = first_ms or nowMs()
    local due = first_ms + scheduled * interval_ms
    scheduled = scheduled + 1
    return math.max(0, math.floor(due - nowMs()))
  end
end
