-- TransactWriteItems of 4 new items per request.
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "common.lua")
bench.headers("TransactWriteItems")
function init(args) bench.init(args) end

function request()
  local puts = {}
  for i = 1, 4 do
    puts[i] = '{"Put":{"TableName":"' .. bench.table .. '","Item":'
      .. bench.item(bench.fresh_key(), "0") .. '}}'
  end
  return bench.request('{"TransactItems":[' .. table.concat(puts, ",") .. ']}')
end
