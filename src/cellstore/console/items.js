// A table's items: a Query/Scan builder that pages through results and shows
// the same request as boto3 and AWS CLI calls, and an editor that views,
// puts and deletes one item as DynamoDB JSON or plain JSON.  Every change is
// an ordinary PutItem or DeleteItem: the server's validation messages are
// what the user sees, inline, when an item is refused.

import { call } from "./aws.js";
import { boto3Call, cliCall } from "./codegen.js";
import { display, itemFromPlain, itemToPlain, keyOf, keyValue } from "./ddbjson.js";
import { clear, confirmDialog, errorBox, field, h, notice, select } from "./dom.js";
import { describeTable } from "./tables.js";

const SORT_CONDITIONS = [["", "any"], ["=", "="], ["<", "<"], ["<=", "≤"], [">", ">"], [">=", "≥"],
  ["begins_with", "begins with"], ["between", "between"]];

export async function itemsPage(main, name) {
  const table = await describeTable(name);
  const types = Object.fromEntries(table.AttributeDefinitions.map((d) => [d.AttributeName, d.AttributeType]));
  const indexes = [...(table.GlobalSecondaryIndexes || []), ...(table.LocalSecondaryIndexes || [])];
  const endpoint = location.origin;
  const box = errorBox();
  const results = h("div", { class: "results" });
  const code = h("div", { class: "code" });
  const editor = h("div", {});
  let pageStarts = [undefined];  // ExclusiveStartKey of each page seen, for "Previous"
  let lastRequest = null;

  const keySchemaOf = (indexName) => (indexName ? indexes.find((i) => i.IndexName === indexName).KeySchema : table.KeySchema);

  const form = h("form", { class: "card builder", "aria-label": "Query or scan" },
    h("div", { class: "row" },
      field("Operation", select("operation", ["Scan", "Query"], "Scan")),
      field("Index", select("index", [["", "(table)"], ...indexes.map((i) => [i.IndexName, i.IndexName])], "")),
      field("Sort order", select("order", [["asc", "ascending"], ["desc", "descending"]], "asc")),
      field("Page size", h("input", { name: "limit", type: "number", min: 1, max: 1000, value: "25" })),
      field("Consistent read", h("input", { name: "consistent", type: "checkbox" }))),
    h("div", { class: "row key-condition" },
      field("Partition key", h("input", { name: "partition", autocomplete: "off" })),
      field("Sort key", select("sortOp", SORT_CONDITIONS, "")),
      field("Sort value", h("input", { name: "sort", autocomplete: "off" })),
      field("and", h("input", { name: "sort2", autocomplete: "off", placeholder: "(between)" }))),
    h("div", { class: "row" },
      field("Filter expression", h("input", { name: "filter", autocomplete: "off", placeholder: "e.g. price > :min AND attribute_exists(#s)" })),
      field("Filter values (plain JSON)", h("input", { name: "filterValues", autocomplete: "off", placeholder: '{":min": 10}' })),
      field("Filter names (JSON)", h("input", { name: "filterNames", autocomplete: "off", placeholder: '{"#s": "status"}' }))),
    h("div", { class: "actions" },
      h("button", { type: "submit", class: "primary" }, "Run"),
      h("button", { type: "button", onclick: () => openEditor(null) }, "New item")));

  const keyRow = form.querySelector(".key-condition");
  const describeKeys = () => {
    const data = new FormData(form);
    const schema = keySchemaOf(data.get("index"));
    const query = data.get("operation") === "Query";
    keyRow.hidden = !query;
    form.elements.order.disabled = !query;
    const [partition, sort] = [schema[0], schema[1]];
    keyRow.querySelector("label span").textContent = `Partition key: ${partition.AttributeName} (${types[partition.AttributeName]})`;
    keyRow.querySelectorAll("label")[1].querySelector("span").textContent =
      sort ? `Sort key: ${sort.AttributeName} (${types[sort.AttributeName]})` : "Sort key: none";
    form.elements.sortOp.disabled = !sort;
  };
  form.addEventListener("change", describeKeys);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    pageStarts = [undefined];
    run(0);
  });

  function buildRequest() {
    const data = new FormData(form);
    const operation = data.get("operation");
    const request = { TableName: name };
    if (data.get("index")) request.IndexName = data.get("index");
    const names = {};
    const values = {};
    if (operation === "Query") {
      const [partition, sort] = keySchemaOf(data.get("index"));
      names["#pk"] = partition.AttributeName;
      values[":pk"] = keyValue(types[partition.AttributeName], data.get("partition"));
      let condition = "#pk = :pk";
      const op = data.get("sortOp");
      if (sort && op) {
        names["#sk"] = sort.AttributeName;
        values[":sk"] = keyValue(types[sort.AttributeName], data.get("sort"));
        if (op === "begins_with") condition += " AND begins_with(#sk, :sk)";
        else if (op === "between") {
          values[":sk2"] = keyValue(types[sort.AttributeName], data.get("sort2"));
          condition += " AND #sk BETWEEN :sk AND :sk2";
        } else condition += ` AND #sk ${op} :sk`;
      }
      request.KeyConditionExpression = condition;
      if (data.get("order") === "desc") request.ScanIndexForward = false;
    }
    if (data.get("filter").trim()) {
      request.FilterExpression = data.get("filter").trim();
      Object.assign(names, parseJson(data.get("filterNames"), "Filter names"));
      Object.assign(values, itemFromPlain(parseJson(data.get("filterValues"), "Filter values")));
    }
    if (Object.keys(names).length) request.ExpressionAttributeNames = names;
    if (Object.keys(values).length) request.ExpressionAttributeValues = values;
    const limit = Number(data.get("limit"));
    if (limit) request.Limit = limit;
    if (data.get("consistent")) request.ConsistentRead = true;
    return { operation, request };
  }

  async function run(page) {
    box.show(null);
    let built;
    try {
      built = buildRequest();
    } catch (err) {
      box.show(err);
      return;
    }
    const { operation, request } = built;
    if (pageStarts[page]) request.ExclusiveStartKey = pageStarts[page];
    lastRequest = { operation, request, page };
    clear(code,
      h("details", { open: true },
        h("summary", {}, "The same request from code"),
        h("div", { class: "row" },
          h("figure", {}, h("figcaption", {}, "boto3"), h("pre", { "data-testid": "boto3" }, boto3Call("dynamodb", operation, request, endpoint))),
          h("figure", {}, h("figcaption", {}, "AWS CLI"), h("pre", { "data-testid": "cli" }, cliCall("dynamodb", operation, request, endpoint))))));
    let answer;
    try {
      answer = await call("dynamodb", operation, request);
    } catch (err) {
      box.show(err);
      clear(results);
      return;
    }
    if (answer.LastEvaluatedKey) pageStarts[page + 1] = answer.LastEvaluatedKey;
    else pageStarts.length = page + 1;
    renderResults(answer, page);
  }

  function renderResults(answer, page) {
    const items = answer.Items || [];
    const keyNames = table.KeySchema.map((k) => k.AttributeName);
    const columns = [...keyNames];
    for (const item of items) for (const attribute of Object.keys(item)) if (!columns.includes(attribute)) columns.push(attribute);
    clear(results,
      h("div", { class: "pager" },
        h("span", { role: "status", "data-testid": "count" },
          `Page ${page + 1}: ${answer.Count} item${answer.Count === 1 ? "" : "s"} (${answer.ScannedCount} scanned)`),
        h("button", { type: "button", disabled: page === 0, onclick: () => run(page - 1) }, "Previous"),
        h("button", { type: "button", disabled: !answer.LastEvaluatedKey, onclick: () => run(page + 1) }, "Next")),
      items.length
        ? h("table", { class: "grid items", "aria-label": "Items" },
          h("thead", {}, h("tr", {}, columns.map((c) => h("th", { class: keyNames.includes(c) ? "key" : "" }, c)))),
          h("tbody", {}, items.map((item) => h("tr", {
            class: "clickable", tabindex: 0, onclick: () => openEditor(item),
            onkeydown: (event) => { if (event.key === "Enter") openEditor(item); },
          },
            columns.map((c) => h("td", {}, item[c] === undefined ? "" : display(item[c])))))))
        : notice("No items matched."));
  }

  function rerun() {
    if (lastRequest) run(lastRequest.page);
  }

  async function openEditor(item) {
    let full = item;
    if (item && lastRequest?.request.IndexName) {
      // An index may project only some attributes: edit the table's whole item, never the projection.
      try {
        full = (await call("dynamodb", "GetItem", { TableName: name, Key: keyOf(item, table.KeySchema) })).Item;
      } catch (err) {
        box.show(err);
        return;
      }
      if (!full) {
        box.show(new Error("That item is no longer in the table."));
        return;
      }
    }
    clear(editor, itemEditor(table, full, () => { clear(editor); rerun(); }, () => clear(editor)));
    editor.scrollIntoView({ block: "nearest" });
  }

  clear(main,
    h("p", { class: "crumbs" }, h("a", { href: "#/tables" }, "Tables"), " / ",
      h("a", { href: `#/tables/${encodeURIComponent(name)}` }, name), " / items"),
    h("div", { class: "title" }, h("h1", {}, `Items of ${name}`),
      h("a", { class: "button", href: `#/partiql/${encodeURIComponent(name)}` }, "PartiQL editor")),
    form, box, editor, code, results);
  describeKeys();
  await run(0);
}

function parseJson(text, what) {
  if (!text || !text.trim()) return {};
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new Error(`${what}: not valid JSON (${err.message})`);
  }
}

// The editor of one item (`item` null: a new one).
function itemEditor(table, item, saved, close) {
  const isNew = item === null;
  const keyNames = table.KeySchema.map((k) => k.AttributeName);
  const box = errorBox();
  const lossNote = h("div", { class: "notice", hidden: true });
  const text = h("textarea", { name: "item", rows: 14, spellcheck: "false", "aria-label": "Item JSON" });
  let format = "plain";
  let current = item || Object.fromEntries(table.KeySchema.map((k) => [k.AttributeName,
    { [table.AttributeDefinitions.find((d) => d.AttributeName === k.AttributeName).AttributeType]: "" }]));

  const fill = (value) => {
    text.value = value;
    text.rows = Math.min(30, Math.max(8, value.split("\n").length + 1));
  };
  const show = () => {
    if (format === "dynamodb") {
      lossNote.hidden = true;
      fill(JSON.stringify(current, null, 2));
      return;
    }
    const losses = [];
    fill(JSON.stringify(itemToPlain(current, losses), null, 2));
    lossNote.hidden = !losses.length;
    clear(lossNote, "Plain JSON cannot show every type: ", losses.join("; "),
      ". Saving in plain JSON would change these; switch to DynamoDB JSON to keep them.");
  };
  const read = () => {
    const parsed = JSON.parse(text.value);
    return format === "dynamodb" ? parsed : itemFromPlain(parsed);
  };
  const formatSelect = select("format", [["plain", "Plain JSON"], ["dynamodb", "DynamoDB JSON"]], format);
  formatSelect.addEventListener("change", () => {
    try {
      current = read();
    } catch (err) {
      formatSelect.value = format;
      box.show(new Error(`Fix the JSON before switching: ${err.message}`));
      return;
    }
    box.show(null);
    format = formatSelect.value;
    show();
  });

  async function save() {
    let next;
    try {
      next = read();
    } catch (err) {
      box.show(new Error(`Not valid JSON: ${err.message}`));
      return;
    }
    const request = { TableName: table.TableName, Item: next };
    if (isNew) {
      // A new item must not overwrite one with the same key without the user knowing.
      request.ConditionExpression = keyNames.map((_, i) => `attribute_not_exists(#k${i})`).join(" AND ");
      request.ExpressionAttributeNames = Object.fromEntries(keyNames.map((n, i) => [`#k${i}`, n]));
    }
    try {
      await call("dynamodb", "PutItem", request);
    } catch (err) {
      if (err.type === "ConditionalCheckFailedException" && isNew) {
        err.message = "An item with this key already exists; open it from the list to edit it.";
      }
      box.show(err);
      return;
    }
    saved();
  }

  async function remove() {
    if (!(await confirmDialog("Delete this item?"))) return;
    try {
      await call("dynamodb", "DeleteItem", { TableName: table.TableName, Key: keyOf(item, table.KeySchema) });
    } catch (err) {
      box.show(err);
      return;
    }
    saved();
  }

  show();
  return h("section", { class: "card editor", "aria-label": isNew ? "New item" : "Item" },
    h("div", { class: "title" }, h("h2", {}, isNew ? "New item" : "Item"), field("Format", formatSelect)),
    isNew ? null : h("p", { class: "muted" }, "Saving with a different key puts a new item; the original stays until you delete it."),
    lossNote, text, box,
    h("div", { class: "actions" },
      h("button", { type: "button", class: "primary", onclick: save }, isNew ? "Put item" : "Save"),
      isNew ? null : h("button", { type: "button", class: "danger", onclick: remove }, "Delete item"),
      h("button", { type: "button", onclick: close }, "Close")));
}
