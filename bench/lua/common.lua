-- Shared by every workload script: the AWS JSON 1.0 request shape, items
-- of a chosen size, keys that vary per request, and a done() hook that prints
-- wrk's summary and latency percentiles as one JSON line for bench/run.py.
--
-- Arguments (after wrk's "--"): table name, item size in bytes, number of
-- preloaded partitions (each holds sort keys "0".."9").  sqs_cycle.lua takes
-- its own (queue URL, message body size).

bench = {}

local SIGNATURE = "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7"

-- The SigV4-shaped Authorization header: moto's server routes a request to a
-- service by the credential scope, so it must name the right one.
local function authorization(service)
  return "AWS4-HMAC-SHA256 "
    .. "Credential=AKID/20260101/us-east-1/" .. service .. "/aws4_request, "
    .. "SignedHeaders=host;x-amz-date, Signature=" .. SIGNATURE
end

function bench.headers(operation)
  wrk.method = "POST"
  wrk.path = "/"
  wrk.headers["Content-Type"] = "application/x-amz-json-1.0"
  wrk.headers["X-Amz-Target"] = "DynamoDB_20120810." .. operation
  wrk.headers["X-Amz-Date"] = "20260101T000000Z"
  wrk.headers["Authorization"] = authorization("dynamodb")
end

-- A header table for one SQS JSON-protocol operation (AmazonSQS.<operation>),
-- for scripts that send more than one operation.  Call it from init(): by then
-- wrk has put the Host header (with the port) in wrk.headers, and a table
-- passed to wrk.format() replaces wrk.headers rather than adding to it.
function bench.sqs_headers(operation)
  local headers = {}
  for name, value in pairs(wrk.headers) do headers[name] = value end
  headers["Content-Type"] = "application/x-amz-json-1.0"
  headers["X-Amz-Target"] = "AmazonSQS." .. operation
  headers["X-Amz-Date"] = "20260101T000000Z"
  headers["Authorization"] = authorization("sqs")
  return headers
end

-- setup() runs in wrk's main Lua state once per thread; it numbers the threads
-- so that write keys from different threads never collide, and keeps them so
-- that done() can read a script's own counters (thread:get) at the end.
local next_thread = 0
bench.threads = {}
function setup(thread)
  next_thread = next_thread + 1
  thread:set("thread_id", next_thread)
  bench.threads[next_thread] = thread
end

function bench.init(args)
  bench.table = args[1] or "bench"
  bench.item_bytes = tonumber(args[2] or "200")
  bench.partitions = tonumber(args[3] or "200")
  local id = thread_id or 0
  math.randomseed(os.time() * 1000 + id)
  -- A run prefix keeps repeated runs against one server from rewriting the same keys.
  bench.prefix = string.format("w%d-%d-", id, math.random(1, 1000000000))
  bench.counter = 0
  -- pk, sk and n take ~30 bytes of the item; "data" pads it to the requested size.
  bench.padding = string.rep("x", math.max(1, bench.item_bytes - 30))
end

-- A fresh key for a write: thread, run and a per-thread counter.
function bench.fresh_key()
  bench.counter = bench.counter + 1
  return bench.prefix .. bench.counter
end

-- A random preloaded partition ("q0".."q{partitions-1}").
function bench.partition()
  return "q" .. math.random(0, bench.partitions - 1)
end

function bench.item(pk, sk)
  return '{"pk":{"S":"' .. pk .. '"},"sk":{"S":"' .. sk .. '"},"n":{"N":"1"},'
    .. '"data":{"S":"' .. bench.padding .. '"}}'
end

function bench.key(pk, sk)
  return '{"pk":{"S":"' .. pk .. '"},"sk":{"S":"' .. sk .. '"}}'
end

function bench.request(body)
  return wrk.format(nil, nil, nil, body)
end

-- With BENCH_DEBUG set, print the first failed response of each thread.
if os.getenv("BENCH_DEBUG") then
  local shown = false
  function response(status, headers, body)
    if status >= 400 and not shown then
      shown = true
      io.stderr:write("status " .. status .. ": " .. body .. "\n")
    end
  end
end

-- A script may set bench.extra (in its main chunk, so that it exists in the
-- main Lua state where done() runs) to a function returning more JSON members,
-- e.g. ',"ops":{...}'; it reads the threads' counters with thread:get().
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"bytes":%d,'
      .. '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},'
      .. '"latency_us":{"mean":%.1f,"p50":%d,"p90":%d,"p99":%d,"max":%d}%s}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.mean, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, bench.extra and bench.extra() or ""))
end
