-- PutItem of a new item per request.
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "common.lua")
bench.headers("PutItem")
function init(args) bench.init(args) end

function request()
  return bench.request('{"TableName":"' .. bench.table .. '","Item":'
    .. bench.item(bench.fresh_key(), "0") .. '}')
end
