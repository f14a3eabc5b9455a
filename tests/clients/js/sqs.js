// The AWS SDK for JavaScript v3's SQS client against a served cellstore: the
// SDK checks the MD5 of every body and attribute it sends and receives, so a
// wrong digest fails here.  argv[2] is the endpoint, argv[3] a name suffix.
"use strict";
const assert = require("node:assert/strict");
const {
  SQSClient, CreateQueueCommand, GetQueueAttributesCommand, SendMessageCommand, SendMessageBatchCommand,
  ReceiveMessageCommand, DeleteMessageCommand, DeleteMessageBatchCommand, ChangeMessageVisibilityCommand,
  DeleteQueueCommand, GetQueueUrlCommand, QueueDoesNotExist, ListQueuesCommand, paginateListQueues,
  StartMessageMoveTaskCommand, ListMessageMoveTasksCommand,
} = require("@aws-sdk/client-sqs");

const sqs = new SQSClient({
  endpoint: process.argv[2], region: "us-east-1",
  credentials: { accessKeyId: "any", secretAccessKey: "any" },
});
const run = process.argv[3] || String(Date.now());

async function main() {
  const dlq = (await sqs.send(new CreateQueueCommand({ QueueName: `js-dlq-${run}` }))).QueueUrl;
  const dlqArn = (await sqs.send(new GetQueueAttributesCommand({ QueueUrl: dlq, AttributeNames: ["QueueArn"] })))
    .Attributes.QueueArn;
  const QueueUrl = (await sqs.send(new CreateQueueCommand({ QueueName: `js-jobs-${run}`, Attributes: {
    VisibilityTimeout: "30", RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlqArn, maxReceiveCount: 1 }),
  } }))).QueueUrl;
  const empty = await sqs.send(new ReceiveMessageCommand({ QueueUrl, WaitTimeSeconds: 0 }));
  assert.equal(empty.Messages, undefined);
  console.log("create, empty receive: ok");

  const sent = await sqs.send(new SendMessageCommand({ QueueUrl, MessageBody: "héllo ☃", MessageAttributes: {
    kind: { DataType: "String", StringValue: "resize" },
    size: { DataType: "Number", StringValue: "1024" },
    blob: { DataType: "Binary", BinaryValue: Uint8Array.from([0, 1, 2, 255]) },
  }, MessageSystemAttributes: {
    AWSTraceHeader: { DataType: "String", StringValue: "Root=1-5759e988-bd862e3fe1be46a994272793" },
  } }));
  assert.ok(sent.MD5OfMessageAttributes && sent.MD5OfMessageSystemAttributes);
  const got = await sqs.send(new ReceiveMessageCommand({
    QueueUrl, MessageAttributeNames: ["All"], MessageSystemAttributeNames: ["All"], WaitTimeSeconds: 1,
  }));
  const [message] = got.Messages;
  assert.equal(message.Body, "héllo ☃");
  assert.equal(message.MessageAttributes.size.StringValue, "1024");
  assert.deepEqual([...message.MessageAttributes.blob.BinaryValue], [0, 1, 2, 255]);
  assert.equal(message.Attributes.ApproximateReceiveCount, "1");
  assert.equal(message.Attributes.AWSTraceHeader, "Root=1-5759e988-bd862e3fe1be46a994272793");
  console.log("send/receive with MD5 checks: ok");

  // Not deleted: back on the queue at once, received a second time -> dead-letter queue.
  await sqs.send(new ChangeMessageVisibilityCommand({ QueueUrl, ReceiptHandle: message.ReceiptHandle, VisibilityTimeout: 0 }));
  const again = await sqs.send(new ReceiveMessageCommand({ QueueUrl, WaitTimeSeconds: 1 }));
  assert.equal(again.Messages, undefined);
  const dead = await sqs.send(new ReceiveMessageCommand({ QueueUrl: dlq, WaitTimeSeconds: 1, MessageAttributeNames: ["All"] }));
  assert.equal(dead.Messages[0].Body, "héllo ☃");
  await sqs.send(new ChangeMessageVisibilityCommand({ QueueUrl: dlq, ReceiptHandle: dead.Messages[0].ReceiptHandle, VisibilityTimeout: 0 }));
  const task = await sqs.send(new StartMessageMoveTaskCommand({ SourceArn: dlqArn }));
  assert.ok(task.TaskHandle);
  let status;
  for (let i = 0; i < 50 && status !== "COMPLETED"; i++) {
    status = (await sqs.send(new ListMessageMoveTasksCommand({ SourceArn: dlqArn }))).Results[0].Status;
    if (status !== "COMPLETED") await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(status, "COMPLETED");
  const redriven = await sqs.send(new ReceiveMessageCommand({ QueueUrl, WaitTimeSeconds: 1 }));
  assert.equal(redriven.Messages[0].Body, "héllo ☃");
  await sqs.send(new DeleteMessageCommand({ QueueUrl, ReceiptHandle: redriven.Messages[0].ReceiptHandle }));
  console.log("dead-letter queue and move task: ok");

  const batch = await sqs.send(new SendMessageBatchCommand({ QueueUrl, Entries: [0, 1, 2, 3].map((i) => ({
    Id: `m${i}`, MessageBody: `body ${i}`, MessageAttributes: { n: { DataType: "Number", StringValue: String(i) } },
  })) }));
  assert.equal(batch.Successful.length, 4);
  const bodies = [];
  while (bodies.length < 4) {
    const page = await sqs.send(new ReceiveMessageCommand({ QueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }));
    assert.ok(page.Messages, `received so far: ${bodies}`);
    bodies.push(...page.Messages.map((m) => m.Body));
    const deleted = await sqs.send(new DeleteMessageBatchCommand({ QueueUrl,
      Entries: page.Messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle })) }));
    assert.equal(deleted.Successful.length, page.Messages.length);
  }
  assert.deepEqual(bodies.sort(), ["body 0", "body 1", "body 2", "body 3"]);
  console.log("batches: ok");

  const fifo = (await sqs.send(new CreateQueueCommand({ QueueName: `js-orders-${run}.fifo`,
    Attributes: { FifoQueue: "true", ContentBasedDeduplication: "true" } }))).QueueUrl;
  for (const n of [1, 2, 3, 1]) {
    await sqs.send(new SendMessageCommand({ QueueUrl: fifo, MessageBody: `order ${n}`, MessageGroupId: "g" }));
  }
  const fifoPage = await sqs.send(new ReceiveMessageCommand({ QueueUrl: fifo, MaxNumberOfMessages: 10 }));
  assert.deepEqual(fifoPage.Messages.map((m) => m.Body), ["order 1", "order 2", "order 3"]);
  console.log("fifo: ok");

  const urls = [];
  for await (const page of paginateListQueues({ client: sqs, pageSize: 1 }, { QueueNamePrefix: "js-", MaxResults: 1 })) {
    urls.push(...(page.QueueUrls || []));
  }
  for (const url of [dlq, QueueUrl, fifo]) assert.ok(urls.includes(url), url);
  for (const url of [dlq, QueueUrl, fifo]) await sqs.send(new DeleteQueueCommand({ QueueUrl: url }));
  await assert.rejects(sqs.send(new GetQueueUrlCommand({ QueueName: `js-jobs-${run}` })), QueueDoesNotExist);
  const none = await sqs.send(new ListQueuesCommand({ QueueNamePrefix: `js-jobs-${run}` }));
  assert.deepEqual(none.QueueUrls ?? [], []);
  console.log("list, delete, errors: ok");
}

main().catch((err) => { console.error(err); process.exit(1); });
