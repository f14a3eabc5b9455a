-- GetItem of a random preloaded item.
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "common.lua")
bench.headers("GetItem")
function init(args) bench.init(args) end

function request()
  return bench.request('{"TableName":"' .. bench.table .. '","Key":'
    .. bench.key(bench.partition(), tostring(math.random(0, 9))) .. '}')
end
