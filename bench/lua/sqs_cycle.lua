-- SQS on one standard queue: send, receive, delete, over and over, in the AWS
-- JSON protocol (X-Amz-Target: AmazonSQS.*).
--
-- wrk's Lua state is shared by all the connections of a thread, so the cycle
-- is one state machine per thread, not per connection: request() steps
-- send -> receive -> delete; a delete takes the oldest receipt handle that
-- response() parsed out of a ReceiveMessage reply, and becomes a send when no
-- handle is pending (so an empty receive only grows the backlog by one).
-- ReceiveMessage asks for one message with WaitTimeSeconds 0: nothing
-- long-polls, an empty queue answers at once.  bench/run.py puts a backlog of
-- messages in the queue first, so receives find a message from the start.
--
-- Arguments (after wrk's "--"): queue URL, message body size in bytes.
--
-- The unit is a cycle, one message's whole life (sent, received, deleted):
-- done() adds "cycles", the DeleteMessage requests answered 2xx, and the
-- per-operation counters.  A DeleteMessage answer ({}) looks like an empty
-- ReceiveMessage answer, so cycles are the 2xx answers with neither a message
-- nor a MessageId, capped by the deletes sent; with the backlog, receives are
-- never empty and the two agree.  Answers that are not 2xx are counted
-- ("non2xx", and wrk's own status errors), so a broken run shows.

dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "common.lua")

-- Per-thread counters, read by done() in the main state through thread:get().
sqs = {send = 0, receive = 0, delete = 0, sent = 0, received = 0, empty = 0, non2xx = 0}

local handles, first, last = {}, 1, 0  -- FIFO of receipt handles not yet deleted
local step = 0
local send_request, receive_request, delete_headers, queue_member
local shown = false

function init(args)
  local url = args[1] or error("sqs_cycle.lua: the queue URL is the first argument")
  local body_bytes = tonumber(args[2] or "200")
  queue_member = '{"QueueUrl":"' .. url .. '"'
  send_request = wrk.format("POST", "/", bench.sqs_headers("SendMessage"),
    queue_member .. ',"MessageBody":"' .. string.rep("m", body_bytes) .. '"}')
  receive_request = wrk.format("POST", "/", bench.sqs_headers("ReceiveMessage"),
    queue_member .. ',"MaxNumberOfMessages":1,"WaitTimeSeconds":0}')
  delete_headers = bench.sqs_headers("DeleteMessage")
end

function request()
  step = step % 3 + 1
  if step == 2 then
    sqs.receive = sqs.receive + 1
    return receive_request
  end
  if step == 3 and first <= last then
    local handle = handles[first]
    handles[first] = nil
    first = first + 1
    sqs.delete = sqs.delete + 1
    return wrk.format("POST", "/", delete_headers, queue_member .. ',"ReceiptHandle":"' .. handle .. '"}')
  end
  sqs.send = sqs.send + 1
  return send_request
end

function response(status, headers, body)
  if status < 200 or status > 299 then
    sqs.non2xx = sqs.non2xx + 1
    if os.getenv("BENCH_DEBUG") and not shown then
      shown = true
      io.stderr:write("status " .. status .. ": " .. body .. "\n")
    end
    return
  end
  local found = false
  for handle in body:gmatch('"ReceiptHandle"%s*:%s*"([^"]+)"') do
    last = last + 1
    handles[last] = handle
    sqs.received = sqs.received + 1
    found = true
  end
  if not found then
    if body:find('"MessageId"', 1, true) then
      sqs.sent = sqs.sent + 1
    else
      sqs.empty = sqs.empty + 1
    end
  end
end

bench.extra = function()
  local total = {send = 0, receive = 0, delete = 0, sent = 0, received = 0, empty = 0, non2xx = 0}
  for _, thread in ipairs(bench.threads) do
    local counts = thread:get("sqs") or {}
    for name, value in pairs(counts) do total[name] = (total[name] or 0) + value end
  end
  return string.format(
    ',"cycles":%d,"non2xx":%d,"ops":{"send":%d,"receive":%d,"delete":%d,'
      .. '"sent_ok":%d,"received_messages":%d,"empty_ok":%d}',
    math.min(total.delete, total.empty), total.non2xx, total.send, total.receive, total.delete,
    total.sent, total.received, total.empty)
end
