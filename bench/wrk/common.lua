-- Shared by the bench scripts (loaded with dofile): thread ids, optional
-- per-thread target addresses, the data files the orchestrator writes, and
-- one machine-readable summary line that bench/wrkrun.py parses.
local M = {}

local started = 0

-- Runs in wrk's main Lua state once per thread, before that thread's init().
-- WRK_TARGETS="127.0.0.1:32002,127.0.0.1:32012" sends thread i to target i
-- (round-robin): one wrk process drives several replicas directly.
function M.setup(thread)
  started = started + 1
  thread:set("tid", started)
  local targets = os.getenv("WRK_TARGETS")
  if targets and targets ~= "" then
    local list = {}
    for item in targets:gmatch("[^,]+") do
      list[#list + 1] = item
    end
    local host, port = list[(started - 1) % #list + 1]:match("^(.+):(%d+)$")
    thread.addr = wrk.lookup(host, port)[1]
  end
end

-- A tab-separated file: one table of fields per non-empty line.
function M.read_tsv(path)
  local rows = {}
  local file = assert(io.open(path, "r"))
  for line in file:lines() do
    if line ~= "" then
      local fields = {}
      for field in (line .. "\t"):gmatch("([^\t]*)\t") do
        fields[#fields + 1] = field
      end
      rows[#rows + 1] = fields
    end
  end
  file:close()
  assert(#rows > 0, "no requests in " .. path)
  return rows
end

-- Where this thread starts in the shared list, so threads do not walk it in step.
function M.offset(count)
  local id = tid or 1
  return ((id - 1) * 7919) % count
end

function M.bearer(token)
  if token == nil or token == "" or token == "-" then
    return {}
  end
  return { Authorization = "Bearer " .. token }
end

local PERCENTILES = { { "p50", 50 }, { "p75", 75 }, { "p90", 90 }, { "p99", 99 }, { "p99_9", 99.9 } }

function M.done(summary, latency, requests)
  local e = summary.errors
  local parts = {}
  for _, item in ipairs(PERCENTILES) do
    parts[#parts + 1] = string.format('"%s":%.0f', item[1], latency:percentile(item[2]))
  end
  io.write(string.format(
    'WRK_JSON {"requests":%d,"duration_us":%d,"bytes":%d,'
      .. '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},'
      .. '"latency_us":{"min":%.0f,"max":%.0f,"mean":%.1f,"stdev":%.1f,%s}}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.min, latency.max, latency.mean, latency.stdev, table.concat(parts, ",")
  ))
end

return M
