// The AWS SDK for JavaScript v3 against a served cellstore: tables, the
// DocumentClient, paginators, waiters, transactions and typed errors.
// Run by tests/clients/test_clients.py with NODE_PATH=.clients/node/node_modules;
// argv[2] is the endpoint, argv[3] a name suffix unique to the run.  Each step prints "<step>: ok"; any failure throws.
"use strict";
const assert = require("node:assert/strict");
const {
  DynamoDBClient, CreateTableCommand, DescribeTableCommand, DeleteTableCommand,
  ConditionalCheckFailedException, ResourceNotFoundException, TransactionCanceledException,
  paginateScan, waitUntilTableExists, waitUntilTableNotExists,
} = require("@aws-sdk/client-dynamodb");
const {
  DynamoDBDocumentClient, PutCommand, GetCommand, UpdateCommand, DeleteCommand,
  BatchWriteCommand, TransactWriteCommand, paginateQuery,
} = require("@aws-sdk/lib-dynamodb");

const client = new DynamoDBClient({
  endpoint: process.argv[2], region: "us-east-1",
  credentials: { accessKeyId: "any", secretAccessKey: "any" },
});
const doc = DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
const TableName = `js-orders-${process.argv[3] || Date.now()}`;

async function main() {
  await client.send(new CreateTableCommand({
    TableName, BillingMode: "PAY_PER_REQUEST",
    KeySchema: [{ AttributeName: "customer", KeyType: "HASH" }, { AttributeName: "order", KeyType: "RANGE" }],
    AttributeDefinitions: [
      { AttributeName: "customer", AttributeType: "S" }, { AttributeName: "order", AttributeType: "N" },
      { AttributeName: "status", AttributeType: "S" },
    ],
    GlobalSecondaryIndexes: [{
      IndexName: "by-status", KeySchema: [{ AttributeName: "status", KeyType: "HASH" }],
      Projection: { ProjectionType: "ALL" },
    }],
  }));
  await waitUntilTableExists({ client, maxWaitTime: 20, minDelay: 1 }, { TableName });
  const described = await client.send(new DescribeTableCommand({ TableName }));
  assert.equal(described.Table.TableStatus, "ACTIVE");
  console.log("create table, waiter: ok");

  await doc.send(new PutCommand({ TableName, Item: {
    customer: "ada", order: 1, status: "open", total: 12.5, tags: new Set(["gift"]),
    lines: [{ sku: "pen", qty: 2 }], note: undefined,
  } }));
  const { Item } = await doc.send(new GetCommand({ TableName, Key: { customer: "ada", order: 1 } }));
  assert.deepEqual(Item, {
    customer: "ada", order: 1, status: "open", total: 12.5, tags: new Set(["gift"]), lines: [{ sku: "pen", qty: 2 }],
  });
  const updated = await doc.send(new UpdateCommand({
    TableName, Key: { customer: "ada", order: 1 },
    UpdateExpression: "SET #s = :s, #t = #t + :d", ConditionExpression: "#s = :open",
    ExpressionAttributeNames: { "#s": "status", "#t": "total" },
    ExpressionAttributeValues: { ":s": "paid", ":d": 7.5, ":open": "open" }, ReturnValues: "ALL_NEW",
  }));
  assert.equal(updated.Attributes.total, 20);
  await assert.rejects(
    doc.send(new DeleteCommand({ TableName, Key: { customer: "ada", order: 1 }, ConditionExpression: "#s = :open",
      ExpressionAttributeNames: { "#s": "status" }, ExpressionAttributeValues: { ":open": "open" } })),
    (err) => err instanceof ConditionalCheckFailedException && err.$metadata.httpStatusCode === 400,
  );
  console.log("document client: ok");

  const items = [];
  for (let n = 2; n <= 60; n++) items.push({ customer: n % 2 ? "ada" : "bob", order: n, status: n % 3 ? "open" : "paid" });
  for (let i = 0; i < items.length; i += 25) {
    const out = await doc.send(new BatchWriteCommand({
      RequestItems: { [TableName]: items.slice(i, i + 25).map((Item) => ({ PutRequest: { Item } })) },
    }));
    assert.deepEqual(out.UnprocessedItems, {});
  }
  const adaOrders = [];
  for await (const page of paginateQuery({ client: doc, pageSize: 7 }, {
    TableName, KeyConditionExpression: "customer = :c", ExpressionAttributeValues: { ":c": "ada" },
    ScanIndexForward: false,
  })) adaOrders.push(...page.Items.map((i) => i.order));
  assert.equal(adaOrders.length, 30);  // order 1 and the 29 odd orders 3..59
  assert.deepEqual(adaOrders, [...adaOrders].sort((a, b) => b - a));
  let scanned = 0, pages = 0;
  for await (const page of paginateScan({ client, pageSize: 10 }, { TableName, IndexName: "by-status" })) {
    scanned += page.Count; pages += 1;
  }
  assert.equal(scanned, 60);
  assert.ok(pages >= 6, `pages: ${pages}`);
  console.log("paginators: ok");

  await doc.send(new TransactWriteCommand({ TransactItems: [
    { Put: { TableName, Item: { customer: "cy", order: 1, status: "open" }, ConditionExpression: "attribute_not_exists(customer)" } },
    { Update: { TableName, Key: { customer: "bob", order: 2 }, UpdateExpression: "SET #s = :s",
      ExpressionAttributeNames: { "#s": "status" }, ExpressionAttributeValues: { ":s": "shipped" } } },
  ] }));
  await assert.rejects(
    doc.send(new TransactWriteCommand({ TransactItems: [
      { Put: { TableName, Item: { customer: "cy", order: 1 }, ConditionExpression: "attribute_not_exists(customer)" } },
      { Delete: { TableName, Key: { customer: "bob", order: 4 } } },
    ] })),
    (err) => err instanceof TransactionCanceledException
      && err.CancellationReasons.map((r) => r.Code).join() === "ConditionalCheckFailed,None",
  );
  const bob4 = await doc.send(new GetCommand({ TableName, Key: { customer: "bob", order: 4 } }));
  assert.ok(bob4.Item, "a cancelled transaction deleted nothing");
  console.log("transactions: ok");

  await client.send(new DeleteTableCommand({ TableName }));
  await waitUntilTableNotExists({ client, maxWaitTime: 20, minDelay: 1 }, { TableName });
  await assert.rejects(client.send(new DescribeTableCommand({ TableName })), ResourceNotFoundException);
  console.log("delete table, waiter: ok");
}

main().catch((err) => { console.error(err); process.exit(1); });
