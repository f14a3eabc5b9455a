-- BatchWriteItem of 25 new items per request.
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "common.lua")
bench.headers("BatchWriteItem")
function init(args) bench.init(args) end

function request()
  local puts = {}
  for i = 1, 25 do
    puts[i] = '{"PutRequest":{"Item":' .. bench.item(bench.fresh_key(), "0") .. '}}'
  end
  return bench.request('{"RequestItems":{"' .. bench.table .. '":['
    .. table.concat(puts, ",") .. ']}}')
end
