-- Query of a random preloaded partition: 10 items come back.
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "common.lua")
bench.headers("Query")
function init(args) bench.init(args) end

function request()
  return bench.request('{"TableName":"' .. bench.table .. '",'
    .. '"KeyConditionExpression":"pk = :p",'
    .. '"ExpressionAttributeValues":{":p":{"S":"' .. bench.partition() .. '"}}}')
end
