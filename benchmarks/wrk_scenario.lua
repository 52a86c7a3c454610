-- wrk script for benchmarks/infra.py:run_wrk. Configured by environment variables:
--   BENCH_PATH    path template; "{id}" is replaced per request by a random id
--   BENCH_METHOD  GET, POST, PUT, ...
--   BENCH_BODY    body template ("{id}" replaced too, "{seq}" by a value new for every
--                 request); empty = no body
--   BENCH_CONTENT_TYPE  of the body (default application/json)
--   BENCH_ID_MIN, BENCH_ID_MAX  range of the random id
--   BENCH_TOKEN   bearer token; empty = no Authorization header
-- done() prints one line "WRK_JSON {...}" with counts and latency percentiles (microseconds).

local path = os.getenv("BENCH_PATH") or "/"
local method = os.getenv("BENCH_METHOD") or "GET"
local body = os.getenv("BENCH_BODY") or ""
local id_min = tonumber(os.getenv("BENCH_ID_MIN") or "")
local id_max = tonumber(os.getenv("BENCH_ID_MAX") or "")
local token = os.getenv("BENCH_TOKEN") or ""
local content_type = os.getenv("BENCH_CONTENT_TYPE") or "application/json"
local seq, prefix = 0, ""

local headers = {}
if token ~= "" then
  headers["Authorization"] = "Bearer " .. token
end
if body ~= "" then
  headers["Content-Type"] = content_type
end

function init(args)
  math.randomseed(os.time() + (tonumber(tostring({}):sub(8)) or 0))
  prefix = tostring(math.random(1, 1000000000))
end

function request()
  local p, b = path, body
  if id_min and id_max then
    local id = tostring(math.random(id_min, id_max))
    p = p:gsub("{id}", id)
    b = b:gsub("{id}", id)
  end
  if b:find("{seq}", 1, true) then
    seq = seq + 1
    b = b:gsub("{seq}", prefix .. "-" .. seq)
  end
  if b == "" then
    b = nil
  end
  return wrk.format(method, p, headers, b)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests": %d, "duration_us": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d, '
      .. '"max_us": %d, "errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, e.connect, e.read, e.write, e.status, e.timeout))
end
