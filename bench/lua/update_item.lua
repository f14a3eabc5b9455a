-- UpdateItem of a random preloaded item: a condition, then ADD to a counter.
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "common.lua")
bench.headers("UpdateItem")
function init(args) bench.init(args) end

function request()
  return bench.request('{"TableName":"' .. bench.table .. '","Key":'
    .. bench.key(bench.partition(), tostring(math.random(0, 9))) .. ','
    .. '"ConditionExpression":"attribute_exists(pk) AND #n < :max",'
    .. '"UpdateExpression":"ADD #n :one",'
    .. '"ExpressionAttributeNames":{"#n":"n"},'
    .. '"ExpressionAttributeValues":{":one":{"N":"1"},":max":{"N":"1000000000"}}}')
end
