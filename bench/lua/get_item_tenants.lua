-- GetItem of a preloaded item per request, rotating over N tenants (N <= 9), signed as
-- put_item_tenants.lua signs (bench/cells.py --workload get_item preloads each tenant's
-- partitions "q0".."q{partitions-1}", sort keys "0".."9").  Eventually consistent, as by default.
-- Arguments: table name, item size in bytes, partitions, tenants.
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "common.lua")
bench.headers("GetItem")

local SIGNATURE = "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7"
local tenant_headers = {}
local next_tenant = 0

function init(args)
  bench.init(args)
  local tenants = tonumber(args[4] or "1")
  for k = 1, tenants do
    local headers = {}
    for name, value in pairs(wrk.headers) do headers[name] = value end
    headers["Authorization"] = "AWS4-HMAC-SHA256 Credential=10000000000" .. k
      .. "/20260101/us-east-1/dynamodb/aws4_request, SignedHeaders=host;x-amz-date, Signature=" .. SIGNATURE
    tenant_headers[k] = headers
  end
end

function request()
  next_tenant = next_tenant % #tenant_headers + 1
  return wrk.format("POST", "/", tenant_headers[next_tenant], '{"TableName":"' .. bench.table .. '","Key":'
    .. bench.key(bench.partition(), tostring(math.random(0, 9))) .. '}')
end
