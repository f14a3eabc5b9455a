// Queues: the list with depth and in-flight counts, and one queue's page:
// send, peek without consuming, purge, and redrive from a dead-letter queue.
//
// Peeking is an ordinary ReceiveMessage with VisibilityTimeout=0: the
// messages it returns stay visible to every consumer at once.  It is still a
// receive (docs/CONSOLE.md): each peeked message's receive count goes up.

import { call } from "./aws.js";
import { clear, confirmDialog, errorBox, field, formatTime, h, notice, select } from "./dom.js";

const POLL_MS = 2000;

function queueName(url) {
  return url.slice(url.lastIndexOf("/") + 1);
}

function arnName(arn) {
  return arn.slice(arn.lastIndexOf(":") + 1);
}

async function listQueueUrls() {
  const urls = [];
  let token;
  do {
    const page = await call("sqs", "ListQueues", token ? { MaxResults: 1000, NextToken: token } : { MaxResults: 1000 });
    urls.push(...(page.QueueUrls || []));
    token = page.NextToken;
  } while (token);
  return urls;
}

async function attributesOf(url) {
  return (await call("sqs", "GetQueueAttributes", { QueueUrl: url, AttributeNames: ["All"] })).Attributes || {};
}

function deadLetterTarget(attributes) {
  if (!attributes.RedrivePolicy) return null;
  try {
    return arnName(JSON.parse(attributes.RedrivePolicy).deadLetterTargetArn || "");
  } catch {
    return null;
  }
}

export async function queuesPage(main) {
  const list = h("div", {});
  const form = createQueueForm();
  const box = errorBox();
  clear(main,
    h("div", { class: "title" }, h("h1", {}, "Queues"),
      h("button", { type: "button", class: "primary", onclick: () => { form.hidden = !form.hidden; } }, "Create queue")),
    form, box, list);
  const urls = await listQueueUrls();
  const all = await Promise.all(urls.map((url) => attributesOf(url).then((a) => [url, a]).catch(() => null)));
  const queues = all.filter(Boolean);
  form.setQueues(queues.map(([url]) => queueName(url)));
  if (!queues.length) {
    clear(list, notice("No queues yet. Create one to start."));
    return;
  }
  clear(list, h("table", { class: "grid", "aria-label": "Queues" },
    h("thead", {}, h("tr", {}, ["Name", "Type", "Available", "In flight", "Delayed", "Dead-letter queue"].map((t) => h("th", {}, t)))),
    h("tbody", {}, queues.map(([url, a]) => h("tr", {},
      h("td", {}, h("a", { href: `#/queues/${encodeURIComponent(queueName(url))}` }, queueName(url))),
      h("td", {}, a.FifoQueue === "true" ? "FIFO" : "standard"),
      h("td", { class: "num" }, a.ApproximateNumberOfMessages ?? "0"),
      h("td", { class: "num" }, a.ApproximateNumberOfMessagesNotVisible ?? "0"),
      h("td", { class: "num" }, a.ApproximateNumberOfMessagesDelayed ?? "0"),
      h("td", {}, deadLetterTarget(a) || "–"))))));
}

function createQueueForm() {
  const box = errorBox();
  const dlq = select("dlq", [["", "none"]], "");
  const form = h("form", { class: "card", hidden: true, "aria-label": "Create queue" },
    h("h2", {}, "Create a queue"),
    field("Queue name", h("input", { name: "queueName", required: true, autocomplete: "off" }), "A name ending in .fifo makes a FIFO queue."),
    h("div", { class: "row" },
      field("Dead-letter queue", dlq),
      field("Receives before moving there", h("input", { name: "maxReceiveCount", type: "number", min: 1, value: "5" }))),
    box,
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, "Create")));
  form.setQueues = (names) => {
    clear(dlq, h("option", { value: "" }, "none"), names.map((n) => h("option", { value: n }, n)));
  };
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = new FormData(form);
    const name = data.get("queueName").trim();
    const attributes = {};
    if (name.endsWith(".fifo")) attributes.FifoQueue = "true";
    try {
      if (data.get("dlq")) {
        const target = (await call("sqs", "GetQueueUrl", { QueueName: data.get("dlq") })).QueueUrl;
        const arn = (await call("sqs", "GetQueueAttributes", { QueueUrl: target, AttributeNames: ["QueueArn"] })).Attributes.QueueArn;
        attributes.RedrivePolicy = JSON.stringify({ deadLetterTargetArn: arn, maxReceiveCount: data.get("maxReceiveCount") });
      }
      await call("sqs", "CreateQueue", { QueueName: name, Attributes: attributes });
    } catch (err) {
      box.show(err);
      return;
    }
    location.hash = `#/queues/${encodeURIComponent(name)}`;
  });
  return form;
}

export async function queuePage(main, name) {
  const url = (await call("sqs", "GetQueueUrl", { QueueName: name })).QueueUrl;
  const box = errorBox();
  const facts = h("section", { class: "card" });
  const peeked = h("div", {});
  const redrive = h("div", {});
  let timer = null;
  let stopped = false;
  let fifo = false;

  async function refresh() {
    const attributes = await attributesOf(url);
    fifo = attributes.FifoQueue === "true";
    sendForm.elements.groupId.closest("label").hidden = !fifo;
    sendForm.elements.dedupId.closest("label").hidden = !fifo;
    sendForm.elements.delay.closest("label").hidden = fifo;
    const sources = (await call("sqs", "ListDeadLetterSourceQueues", { QueueUrl: url }).catch(() => ({}))).queueUrls || [];
    clear(facts,
      h("h2", {}, "Overview"),
      h("dl", { class: "facts" },
        fact("Available", h("span", { "data-testid": "available" }, attributes.ApproximateNumberOfMessages ?? "0")),
        fact("In flight", h("span", { "data-testid": "in-flight" }, attributes.ApproximateNumberOfMessagesNotVisible ?? "0")),
        fact("Delayed", attributes.ApproximateNumberOfMessagesDelayed ?? "0"),
        fact("Type", fifo ? "FIFO" : "standard"),
        fact("Visibility timeout", `${attributes.VisibilityTimeout} s`),
        fact("Retention", `${Math.round(Number(attributes.MessageRetentionPeriod) / 3600)} h`),
        fact("Dead-letter queue", deadLetterTarget(attributes) || "–"),
        fact("Dead-letter queue of", sources.length ? sources.map(queueName).join(", ") : "–"),
        fact("URL", h("code", {}, url)),
        fact("ARN", h("code", {}, attributes.QueueArn))));
    await renderRedrive(attributes.QueueArn, sources);
    if (!stopped) timer = setTimeout(() => refresh().catch((err) => box.show(err)), POLL_MS);
  }

  async function renderRedrive(arn, sources) {
    if (!sources.length) { clear(redrive); return; }
    const tasks = (await call("sqs", "ListMessageMoveTasks", { SourceArn: arn, MaxResults: 10 }).catch(() => ({}))).Results || [];
    clear(redrive, h("section", { class: "card" },
      h("h2", {}, "Redrive"),
      h("p", { class: "muted" }, "This is a dead-letter queue. Redrive moves its messages back to the queues they came from (StartMessageMoveTask)."),
      h("button", {
        type: "button",
        onclick: async () => {
          try {
            await call("sqs", "StartMessageMoveTask", { SourceArn: arn });
            box.show(null);
          } catch (err) {
            box.show(err);
          }
          refresh().catch((err) => box.show(err));
        },
      }, "Redrive to source queues"),
      tasks.length
        ? h("table", { class: "grid", "aria-label": "Move tasks" },
          h("thead", {}, h("tr", {}, ["Started", "Status", "Moved", "To move", "Failure"].map((t) => h("th", {}, t)))),
          h("tbody", {}, tasks.map((t) => h("tr", {},
            h("td", {}, formatTime(Number(t.StartedTimestamp) / 1000)),
            h("td", {}, t.Status),
            h("td", { class: "num" }, String(t.ApproximateNumberOfMessagesMoved ?? 0)),
            h("td", { class: "num" }, String(t.ApproximateNumberOfMessagesToMove ?? "–")),
            h("td", {}, t.FailureReason || "")))))
        : null));
  }

  const sendBox = errorBox();
  const sent = h("p", { class: "muted", role: "status" });
  const sendForm = h("form", { class: "card", "aria-label": "Send message" },
    h("h2", {}, "Send a message"),
    field("Message body", h("textarea", { name: "body", rows: 4, required: true })),
    h("div", { class: "row" },
      field("Message group ID", h("input", { name: "groupId", autocomplete: "off" })),
      field("Deduplication ID", h("input", { name: "dedupId", autocomplete: "off" }), "Optional with content-based deduplication."),
      field("Delay (seconds)", h("input", { name: "delay", type: "number", min: 0, max: 900, value: "0" }))),
    sendBox, sent,
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, "Send")));
  sendForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = new FormData(sendForm);
    const request = { QueueUrl: url, MessageBody: data.get("body") };
    if (fifo) {
      request.MessageGroupId = data.get("groupId");
      if (data.get("dedupId")) request.MessageDeduplicationId = data.get("dedupId");
    } else if (Number(data.get("delay"))) request.DelaySeconds = Number(data.get("delay"));
    try {
      const answer = await call("sqs", "SendMessage", request);
      sendBox.show(null);
      sent.textContent = `Sent message ${answer.MessageId}.`;
      sendForm.elements.body.value = "";
    } catch (err) {
      sendBox.show(err);
      return;
    }
    clearTimeout(timer);
    refresh().catch((err) => box.show(err));
  });

  async function peek() {
    try {
      const answer = await call("sqs", "ReceiveMessage", {
        QueueUrl: url, MaxNumberOfMessages: 10, VisibilityTimeout: 0, WaitTimeSeconds: 0,
        MessageSystemAttributeNames: ["All"], MessageAttributeNames: ["All"],
      });
      const messages = answer.Messages || [];
      clear(peeked, messages.length
        ? h("table", { class: "grid", "aria-label": "Peeked messages" },
          h("thead", {}, h("tr", {}, ["Message ID", "Body", "Received", "Sent", "Group"].map((t) => h("th", {}, t)))),
          h("tbody", {}, messages.map((m) => h("tr", {},
            h("td", {}, h("code", {}, m.MessageId)),
            h("td", {}, h("pre", { class: "body" }, m.Body)),
            h("td", { class: "num" }, m.Attributes?.ApproximateReceiveCount ?? ""),
            h("td", {}, formatTime(Number(m.Attributes?.SentTimestamp) / 1000)),
            h("td", {}, m.Attributes?.MessageGroupId || "")))))
        : notice("No message is available to peek at (in-flight and delayed messages are not shown)."));
    } catch (err) {
      box.show(err);
    }
  }

  async function purge() {
    if (!(await confirmDialog(`Delete every message in ${name}?`, { typed: name, action: "Purge" }))) return;
    try {
      await call("sqs", "PurgeQueue", { QueueUrl: url });
      clear(peeked);
      box.show(null);
    } catch (err) {
      box.show(err);
    }
    clearTimeout(timer);
    refresh().catch((err) => box.show(err));
  }

  async function removeQueue() {
    if (!(await confirmDialog(`Delete queue ${name} and its messages?`, { typed: name }))) return;
    try {
      await call("sqs", "DeleteQueue", { QueueUrl: url });
      location.hash = "#/queues";
    } catch (err) {
      box.show(err);
    }
  }

  clear(main,
    h("p", { class: "crumbs" }, h("a", { href: "#/queues" }, "Queues"), " / ", name),
    h("div", { class: "title" }, h("h1", {}, name),
      h("div", { class: "actions" },
        h("button", { type: "button", class: "danger", onclick: purge }, "Purge"),
        h("button", { type: "button", class: "danger", onclick: removeQueue }, "Delete queue"))),
    box, facts,
    h("div", { class: "columns" },
      sendForm,
      h("section", { class: "card", "aria-label": "Peek" },
        h("h2", {}, "Peek"),
        h("p", { class: "muted" },
          "Shows up to 10 available messages without taking them: a receive with visibility timeout 0, so they stay ",
          "visible to consumers. Each peek still counts as a receive (receive count, dead-letter redrive)."),
        h("button", { type: "button", onclick: peek }, "Peek at messages"),
        peeked)),
    redrive);
  await refresh();
  return () => { stopped = true; clearTimeout(timer); };
}

function fact(term, value) {
  return [h("dt", {}, term), h("dd", {}, value)];
}
