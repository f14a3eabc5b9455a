// Streams: tail a table's stream live.  The page reads the stream with
// DynamoDB Streams' own calls (DescribeStream, GetShardIterator, GetRecords),
// as any consumer would, and shows each record's old and new image side by
// side with what changed marked.

import { call } from "./aws.js";
import { display } from "./ddbjson.js";
import { clear, errorBox, field, h, notice, select } from "./dom.js";
import { describeTable, listTableNames } from "./tables.js";

const POLL_MS = 1000;
const KEEP = 200;

export async function streamsPage(main) {
  const tables = await Promise.all((await listTableNames()).map((name) => describeTable(name).catch(() => null)));
  const streaming = tables.filter((t) => t && t.StreamSpecification?.StreamEnabled);
  clear(main,
    h("div", { class: "title" }, h("h1", {}, "Streams")),
    streaming.length
      ? h("table", { class: "grid", "aria-label": "Streams" },
        h("thead", {}, h("tr", {}, ["Table", "View", "Stream ARN"].map((t) => h("th", {}, t)))),
        h("tbody", {}, streaming.map((t) => h("tr", {},
          h("td", {}, h("a", { href: `#/streams/${encodeURIComponent(t.TableName)}` }, t.TableName)),
          h("td", {}, t.StreamSpecification.StreamViewType),
          h("td", {}, h("code", {}, t.LatestStreamArn))))))
      : notice("No table has a stream. Turn one on when creating a table, or with UpdateTable's StreamSpecification."));
}

export async function streamPage(main, name) {
  const table = await describeTable(name);
  const box = errorBox();
  const records = h("div", { class: "records", "aria-label": "Stream records" });
  const state = h("span", { role: "status", class: "muted" });
  const from = select("from", [["LATEST", "from now on"], ["TRIM_HORIZON", "from the oldest record kept"]], "LATEST");
  let iterators = new Map();  // shard id → iterator
  let timer = null;
  let running = false;
  let shown = 0;

  clear(main,
    h("p", { class: "crumbs" }, h("a", { href: "#/streams" }, "Streams"), " / ", name),
    h("div", { class: "title" }, h("h1", {}, `Stream of ${name}`)),
    box);
  const arn = table.LatestStreamArn;
  if (!table.StreamSpecification?.StreamEnabled || !arn) {
    main.append(notice("This table has no stream."));
    return undefined;
  }
  const toggle = h("button", { type: "button", class: "primary", onclick: () => (running ? stop() : start()) }, "Start");
  main.append(h("div", { class: "card row" }, field("Read", from, null, "narrow"), toggle, state), records);

  async function openShards() {
    const description = (await call("streams", "DescribeStream", { StreamArn: arn })).StreamDescription;
    for (const shard of description.Shards || []) {
      if (iterators.has(shard.ShardId)) continue;
      const type = shard.SequenceNumberRange?.EndingSequenceNumber ? "TRIM_HORIZON" : from.value;
      if (type === "LATEST" && shard.SequenceNumberRange?.EndingSequenceNumber) continue;
      const answer = await call("streams", "GetShardIterator", { StreamArn: arn, ShardId: shard.ShardId, ShardIteratorType: type });
      iterators.set(shard.ShardId, answer.ShardIterator);
    }
  }

  async function poll() {
    for (const [shard, iterator] of iterators) {
      if (!iterator) continue;
      const answer = await call("streams", "GetRecords", { ShardIterator: iterator, Limit: 100 });
      iterators.set(shard, answer.NextShardIterator || null);
      for (const record of answer.Records || []) show(record);
    }
    if ([...iterators.values()].some((iterator) => iterator === null)) await openShards();
  }

  function show(record) {
    const change = record.dynamodb || {};
    shown += 1;
    records.prepend(h("article", { class: `record ${record.eventName.toLowerCase()}` },
      h("header", {},
        h("strong", {}, record.eventName), " ",
        h("code", {}, Object.entries(change.Keys || {}).map(([k, v]) => `${k}=${display(v)}`).join(", ")), " ",
        h("small", { class: "muted" }, `#${change.SequenceNumber} · ${new Date(Number(change.ApproximateCreationDateTime) * 1000).toLocaleTimeString()}`)),
      diff(change.OldImage, change.NewImage)));
    while (records.children.length > KEEP) records.lastChild.remove();
    state.textContent = `Tailing: ${shown} record${shown === 1 ? "" : "s"} so far.`;
  }

  async function loop() {
    if (!running) return;
    try {
      await poll();
      box.show(null);
    } catch (err) {
      box.show(err);
    }
    if (running) timer = setTimeout(loop, POLL_MS);
  }

  async function start() {
    running = true;
    toggle.textContent = "Stop";
    from.disabled = true;
    iterators = new Map();
    state.textContent = "Opening the stream…";
    try {
      await openShards();
    } catch (err) {
      box.show(err);
    }
    // Only now: every record written from here on is one the iterators will read.
    state.textContent = `Tailing: ${shown ? `${shown} records so far` : "waiting for records…"}`;
    loop();
  }

  function stop() {
    running = false;
    clearTimeout(timer);
    toggle.textContent = "Start";
    from.disabled = false;
    state.textContent = `Stopped after ${shown} records.`;
  }

  await start();
  return stop;
}

// Old and new image, attribute by attribute, with what was added, removed or changed marked.
function diff(oldImage, newImage) {
  if (!oldImage && !newImage) return h("p", { class: "muted" }, "Keys only: this stream does not carry images.");
  const names = [...new Set([...Object.keys(oldImage || {}), ...Object.keys(newImage || {})])].sort();
  return h("table", { class: "grid diff" },
    h("thead", {}, h("tr", {}, h("th", {}, "Attribute"), h("th", {}, "Old"), h("th", {}, "New"))),
    h("tbody", {}, names.map((attribute) => {
      const before = oldImage?.[attribute];
      const after = newImage?.[attribute];
      let kind = "same";
      if (before === undefined && after !== undefined) kind = oldImage ? "added" : "same";
      else if (after === undefined && before !== undefined) kind = newImage ? "removed" : "same";
      else if (JSON.stringify(before) !== JSON.stringify(after)) kind = "changed";
      return h("tr", { class: kind },
        h("td", {}, attribute),
        h("td", {}, before === undefined ? "" : display(before)),
        h("td", {}, after === undefined ? "" : display(after)));
    })));
}
