// Tables: the list, one table's description, create and delete, and global
// secondary indexes added (with their backfill's progress) and removed.

import { call } from "./aws.js";
import { clear, confirmDialog, errorBox, field, formatBytes, formatTime, h, notice, select } from "./dom.js";

const KEY_TYPES = [["S", "String"], ["N", "Number"], ["B", "Binary"]];
const STREAM_VIEWS = [["", "Off"], ["NEW_AND_OLD_IMAGES", "New and old images"], ["NEW_IMAGE", "New image"],
  ["OLD_IMAGE", "Old image"], ["KEYS_ONLY", "Keys only"]];
const POLL_MS = 1000;

export async function listTableNames() {
  const names = [];
  let start;
  do {
    const page = await call("dynamodb", "ListTables", start ? { ExclusiveStartTableName: start, Limit: 100 } : { Limit: 100 });
    names.push(...page.TableNames);
    start = page.LastEvaluatedTableName;
  } while (start);
  return names;
}

export async function describeTable(name) {
  return (await call("dynamodb", "DescribeTable", { TableName: name })).Table;
}

export function keyText(table, keySchema = table.KeySchema) {
  const types = Object.fromEntries(table.AttributeDefinitions.map((d) => [d.AttributeName, d.AttributeType]));
  return keySchema.map((k) => `${k.AttributeName} (${types[k.AttributeName] || "?"}${k.KeyType === "RANGE" ? ", sort" : ""})`).join(" + ");
}

export async function tablesPage(main) {
  const box = errorBox();
  const list = h("div", {}, h("p", { class: "muted" }, "Loading…"));
  const form = createTableForm();
  clear(main,
    h("div", { class: "title" }, h("h1", {}, "Tables"),
      h("button", { type: "button", class: "primary", onclick: () => { form.hidden = !form.hidden; } }, "Create table")),
    form, box, list);

  async function load() {
    box.show(null);
    const names = await listTableNames();
    const tables = await Promise.all(names.map((name) => describeTable(name).catch(() => null)));
    if (!names.length) {
      clear(list, notice("No tables yet. Create one to start."));
      return;
    }
    clear(list, h("table", { class: "grid", "aria-label": "Tables" },
      h("thead", {}, h("tr", {}, ["Name", "Status", "Key", "Indexes", "Items", "Size", "Stream"].map((t) => h("th", {}, t)))),
      h("tbody", {}, tables.filter(Boolean).map((table) => h("tr", {},
        h("td", {}, h("a", { href: `#/tables/${encodeURIComponent(table.TableName)}` }, table.TableName)),
        h("td", {}, status(table.TableStatus)),
        h("td", {}, keyText(table)),
        h("td", {}, String((table.GlobalSecondaryIndexes || []).length + (table.LocalSecondaryIndexes || []).length)),
        h("td", { class: "num" }, String(table.ItemCount ?? 0)),
        h("td", { class: "num" }, formatBytes(table.TableSizeBytes)),
        h("td", {}, table.StreamSpecification?.StreamEnabled ? table.StreamSpecification.StreamViewType : "–"))))));
  }
  await load();
}

function status(text) {
  return h("span", { class: `status ${String(text).toLowerCase()}` }, text);
}

function keyFields(prefix, required) {
  return h("div", { class: "row" },
    field(`${prefix} key name`, h("input", { name: `${prefix.toLowerCase()}Name`, required, placeholder: required ? "e.g. pk" : "optional" })),
    field("Type", select(`${prefix.toLowerCase()}Type`, KEY_TYPES, "S")));
}

function createTableForm() {
  const box = errorBox();
  const form = h("form", { class: "card", hidden: true, "aria-label": "Create table" },
    h("h2", {}, "Create a table"),
    field("Table name", h("input", { name: "tableName", required: true, autocomplete: "off" })),
    keyFields("Partition", true),
    keyFields("Sort", false),
    field("Stream", select("stream", STREAM_VIEWS, "")),
    box,
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, "Create")));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = new FormData(form);
    const definitions = [{ AttributeName: data.get("partitionName").trim(), AttributeType: data.get("partitionType") }];
    const keySchema = [{ AttributeName: definitions[0].AttributeName, KeyType: "HASH" }];
    const sortName = data.get("sortName").trim();
    if (sortName) {
      definitions.push({ AttributeName: sortName, AttributeType: data.get("sortType") });
      keySchema.push({ AttributeName: sortName, KeyType: "RANGE" });
    }
    const request = {
      TableName: data.get("tableName").trim(), KeySchema: keySchema, AttributeDefinitions: definitions,
      BillingMode: "PAY_PER_REQUEST",
    };
    if (data.get("stream")) request.StreamSpecification = { StreamEnabled: true, StreamViewType: data.get("stream") };
    try {
      await call("dynamodb", "CreateTable", request);
    } catch (err) {
      box.show(err);
      return;
    }
    box.show(null);
    form.reset();
    form.hidden = true;
    location.hash = `#/tables/${encodeURIComponent(request.TableName)}`;
  });
  return form;
}

export async function tablePage(main, name) {
  let timer = null;
  let stopped = false;
  const box = errorBox();
  const body = h("div", {});
  clear(main,
    h("p", { class: "crumbs" }, h("a", { href: "#/tables" }, "Tables"), " / ", name),
    h("div", { class: "title" }, h("h1", {}, name),
      h("div", { class: "actions" },
        h("a", { class: "button", href: `#/tables/${encodeURIComponent(name)}/items` }, "Browse items"),
        h("a", { class: "button", href: `#/partiql/${encodeURIComponent(name)}` }, "PartiQL"),
        h("a", { class: "button", href: `#/backups/${encodeURIComponent(name)}` }, "Backups"),
        h("button", { type: "button", class: "danger", onclick: remove }, "Delete table"))),
    box, body);

  async function remove() {
    if (!(await confirmDialog(`Delete table ${name} and every item in it? This cannot be undone.`, { typed: name }))) return;
    try {
      await call("dynamodb", "DeleteTable", { TableName: name });
      location.hash = "#/tables";
    } catch (err) {
      box.show(err);
    }
  }

  async function load() {
    const [table, ttl] = await Promise.all([
      describeTable(name),
      call("dynamodb", "DescribeTimeToLive", { TableName: name }).then((r) => r.TimeToLiveDescription).catch(() => null),
    ]);
    render(table, ttl);
    const busy = table.TableStatus !== "ACTIVE" ||
      (table.GlobalSecondaryIndexes || []).some((index) => index.IndexStatus !== "ACTIVE");
    if (busy && !stopped) timer = setTimeout(() => load().catch((err) => box.show(err)), POLL_MS);
  }

  function render(table, ttl) {
    const stream = table.StreamSpecification?.StreamEnabled;
    clear(body,
      h("section", { class: "card" },
        h("h2", {}, "Overview"),
        h("dl", { class: "facts" },
          fact("Status", status(table.TableStatus)),
          fact("Key", keyText(table)),
          fact("Items", String(table.ItemCount ?? 0)),
          fact("Size", formatBytes(table.TableSizeBytes)),
          fact("Billing", table.BillingModeSummary?.BillingMode || "PROVISIONED"),
          fact("Created", formatTime(table.CreationDateTime)),
          fact("Time to live", ttl ? `${ttl.TimeToLiveStatus}${ttl.AttributeName ? ` (attribute ${ttl.AttributeName})` : ""}` : "–"),
          fact("Stream", stream
            ? h("span", {}, table.StreamSpecification.StreamViewType, " · ",
              h("a", { href: `#/streams/${encodeURIComponent(name)}` }, "tail it live"))
            : "off"),
          fact("ARN", h("code", {}, table.TableArn)))),
      indexesSection(table, box, () => { clearTimeout(timer); load().catch((err) => box.show(err)); }));
  }

  await load();
  return () => { stopped = true; clearTimeout(timer); };
}

function fact(term, value) {
  return [h("dt", {}, term), h("dd", {}, value)];
}

function indexesSection(table, box, reload) {
  const globals = table.GlobalSecondaryIndexes || [];
  const locals = table.LocalSecondaryIndexes || [];
  const rows = [
    ...globals.map((index) => indexRow(table, index, "global", box, reload)),
    ...locals.map((index) => indexRow(table, index, "local", box, reload)),
  ];
  return h("section", { class: "card" },
    h("h2", {}, "Secondary indexes"),
    rows.length
      ? h("table", { class: "grid", "aria-label": "Indexes" },
        h("thead", {}, h("tr", {}, ["Name", "Kind", "Key", "Projection", "Status", "Items", "Size", ""].map((t) => h("th", {}, t)))),
        h("tbody", {}, rows))
      : h("p", { class: "muted" }, "No secondary indexes."),
    addIndexForm(table, reload));
}

function indexRow(table, index, kind, box, reload) {
  const backfilling = index.Backfilling || index.IndexStatus === "CREATING";
  const tableItems = Number(table.ItemCount || 0);
  const done = Number(index.ItemCount || 0);
  const progress = backfilling
    ? h("div", { class: "progress", title: "Items indexed so far, of the table's items" },
      h("progress", { max: Math.max(tableItems, 1), value: Math.min(done, tableItems) }),
      h("small", {}, `backfilling: ${done} of ${tableItems} items (${tableItems ? Math.min(100, Math.round((100 * done) / tableItems)) : 0}%)`))
    : null;
  const removeButton = kind === "global" && index.IndexStatus === "ACTIVE"
    ? h("button", {
      type: "button", class: "danger small", "aria-label": `Remove index ${index.IndexName}`,
      onclick: async () => {
        if (!(await confirmDialog(`Remove index ${index.IndexName} from ${table.TableName}?`, { action: "Remove" }))) return;
        try {
          await call("dynamodb", "UpdateTable", {
            TableName: table.TableName, GlobalSecondaryIndexUpdates: [{ Delete: { IndexName: index.IndexName } }],
          });
          reload();
        } catch (err) {
          box.show(err);
        }
      },
    }, "Remove")
    : null;
  return h("tr", {},
    h("td", {}, index.IndexName),
    h("td", {}, kind),
    h("td", {}, keyText(table, index.KeySchema)),
    h("td", {}, index.Projection?.ProjectionType || "–"),
    h("td", {}, status(index.IndexStatus || "ACTIVE"), progress),
    h("td", { class: "num" }, String(index.ItemCount ?? 0)),
    h("td", { class: "num" }, formatBytes(index.IndexSizeBytes)),
    h("td", {}, removeButton));
}

function addIndexForm(table, reload) {
  const box = errorBox();
  const form = h("form", { class: "inline-form", "aria-label": "Add global secondary index" },
    h("h3", {}, "Add a global secondary index"),
    h("p", { class: "muted" }, "Existing items are indexed in the background (a backfill); its progress shows above."),
    field("Index name", h("input", { name: "indexName", required: true, autocomplete: "off" })),
    keyFields("Partition", true),
    keyFields("Sort", false),
    field("Projection", select("projection", ["ALL", "KEYS_ONLY"], "ALL")),
    box,
    h("div", { class: "actions" }, h("button", { type: "submit" }, "Add index")));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = new FormData(form);
    const definitions = new Map(table.AttributeDefinitions.map((d) => [d.AttributeName, d.AttributeType]));
    const keySchema = [{ AttributeName: data.get("partitionName").trim(), KeyType: "HASH" }];
    definitions.set(keySchema[0].AttributeName, data.get("partitionType"));
    const sortName = data.get("sortName").trim();
    if (sortName) {
      keySchema.push({ AttributeName: sortName, KeyType: "RANGE" });
      definitions.set(sortName, data.get("sortType"));
    }
    const create = { IndexName: data.get("indexName").trim(), KeySchema: keySchema, Projection: { ProjectionType: data.get("projection") } };
    if (table.BillingModeSummary?.BillingMode !== "PAY_PER_REQUEST") {
      const { ReadCapacityUnits, WriteCapacityUnits } = table.ProvisionedThroughput || {};
      create.ProvisionedThroughput = { ReadCapacityUnits: ReadCapacityUnits || 5, WriteCapacityUnits: WriteCapacityUnits || 5 };
    }
    try {
      await call("dynamodb", "UpdateTable", {
        TableName: table.TableName,
        AttributeDefinitions: [...definitions].map(([AttributeName, AttributeType]) => ({ AttributeName, AttributeType })),
        GlobalSecondaryIndexUpdates: [{ Create: create }],
      });
    } catch (err) {
      box.show(err);
      return;
    }
    reload();
  });
  return form;
}
