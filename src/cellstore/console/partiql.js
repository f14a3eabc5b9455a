// The PartiQL editor: one statement with `?` parameters run by ExecuteStatement,
// its items shown as the items page shows them, paged by NextToken, and the
// same call printed for boto3 and the AWS CLI.  Nothing is parsed here: a
// statement the server cannot read is answered with AWS's error type and
// message, which is what the user sees.

import { call } from "./aws.js";
import { boto3Call, cliCall } from "./codegen.js";
import { display, fromPlain } from "./ddbjson.js";
import { clear, errorBox, field, h, notice, select } from "./dom.js";
import { listTableNames } from "./tables.js";

const TYPES = new Set(["S", "N", "B", "BOOL", "NULL", "SS", "NS", "BS", "L", "M"]);

// `#/partiql` or `#/partiql/TABLE` (the statement starts as a SELECT of that table).
export async function partiqlPage(main, tableName) {
  const endpoint = location.origin;
  const box = errorBox();
  const results = h("div", { class: "results", hidden: true });
  const code = h("div", { class: "code" });
  let tokens = [undefined];  // the NextToken that starts each page seen, for "Previous"
  let last = null;

  const names = await listTableNames().catch(() => []);
  const first = tableName || names[0];
  const statement = h("textarea", {
    name: "statement", rows: 4, spellcheck: "false", "aria-label": "Statement",
    placeholder: 'SELECT * FROM "orders" WHERE customer = ?',
  });
  statement.value = first ? `SELECT * FROM "${first.replace(/"/g, '""')}"` : "";
  const parameters = h("input", { name: "parameters", autocomplete: "off", placeholder: '["alice", 2]' });
  const form = h("form", { class: "card builder", "aria-label": "PartiQL statement" },
    field("Statement", statement,
      "One ExecuteStatement: SELECT, INSERT, UPDATE or DELETE (docs/PARTIQL.md). Names in double quotes, strings in single quotes; ? is a parameter."),
    h("div", { class: "row" },
      field("Parameters (a JSON list, one value per ?)", parameters),
      field("Parameters are", select("parametersFormat", [["plain", "Plain JSON"], ["dynamodb", "DynamoDB JSON"]], "plain")),
      field("Page size", h("input", { name: "limit", type: "number", min: 1, placeholder: "no limit" })),
      field("Consistent read", h("input", { name: "consistent", type: "checkbox" }))),
    h("p", { class: "muted" }, "Start from a SELECT of: ",
      names.length ? names.map((name, index) => [index ? ", " : "", h("a", {
        href: `#/partiql/${encodeURIComponent(name)}`, title: `SELECT * FROM "${name}"`,
      }, name)]) : "(no tables yet)"),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, "Run")));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    tokens = [undefined];
    run(0);
  });

  function buildRequest() {
    const data = new FormData(form);
    const request = { Statement: data.get("statement").trim() };
    const text = data.get("parameters").trim();
    if (text) {
      let list;
      try {
        list = JSON.parse(text);
      } catch (err) {
        throw new Error(`Parameters: not valid JSON (${err.message})`);
      }
      if (!Array.isArray(list)) throw new Error("Parameters: a JSON list, one value for each ? in order, e.g. [\"alice\", 2]");
      request.Parameters = data.get("parametersFormat") === "dynamodb" ? list.map(typed) : list.map(fromPlain);
    }
    const limit = Number(data.get("limit"));
    if (limit) request.Limit = limit;
    if (data.get("consistent")) request.ConsistentRead = true;
    return request;
  }

  async function run(page) {
    box.show(null);
    results.hidden = true;  // until this statement's answer: never the last one's items under this one's code
    let request;
    try {
      request = buildRequest();
    } catch (err) {
      box.show(err);
      return;
    }
    if (tokens[page]) request.NextToken = tokens[page];
    last = { request, page };
    clear(code,
      h("details", { open: true },
        h("summary", {}, "The same request from code"),
        h("div", { class: "row" },
          h("figure", {}, h("figcaption", {}, "boto3"),
            h("pre", { "data-testid": "boto3" }, boto3Call("dynamodb", "ExecuteStatement", request, endpoint))),
          h("figure", {}, h("figcaption", {}, "AWS CLI"),
            h("pre", { "data-testid": "cli" }, cliCall("dynamodb", "ExecuteStatement", request, endpoint))))));
    let answer;
    try {
      answer = await call("dynamodb", "ExecuteStatement", request);
    } catch (err) {
      if (last.request !== request) return;
      box.show(err);
      results.hidden = true;
      return;
    }
    if (last.request !== request) return;  // a newer run has started meanwhile
    if (answer.NextToken) tokens[page + 1] = answer.NextToken;
    else tokens.length = page + 1;
    render(answer, page);
  }

  function render(answer, page) {
    const items = answer.Items || [];
    const columns = [];
    for (const item of items) for (const attribute of Object.keys(item)) if (!columns.includes(attribute)) columns.push(attribute);
    results.hidden = false;
    clear(results,
      h("div", { class: "pager" },
        h("span", { role: "status", "data-testid": "count" },
          `Page ${page + 1}: ${items.length} item${items.length === 1 ? "" : "s"}${answer.NextToken ? " (more follow)" : ""}`),
        h("button", { type: "button", disabled: page === 0, onclick: () => run(page - 1) }, "Previous"),
        h("button", { type: "button", disabled: !answer.NextToken, onclick: () => run(page + 1) }, "Next")),
      items.length
        ? h("table", { class: "grid items", "aria-label": "Items" },
          h("thead", {}, h("tr", {}, columns.map((c) => h("th", {}, c)))),
          h("tbody", {}, items.map((item) => h("tr", {},
            columns.map((c) => h("td", {}, item[c] === undefined ? "" : display(item[c])))))))
        : notice(/^\s*select\b/i.test(last.request.Statement) ? "No items matched." : "Done: the statement returned no items."));
  }

  clear(main,
    h("div", { class: "title" }, h("h1", {}, "PartiQL")),
    form, box, code, results);
  statement.focus();
}

// One parameter given as DynamoDB JSON: exactly one type and its value, e.g. {"S": "alice"}.
function typed(value, index) {
  const keys = value && typeof value === "object" && !Array.isArray(value) ? Object.keys(value) : [];
  if (keys.length !== 1 || !TYPES.has(keys[0])) {
    throw new Error(`Parameters: value ${index + 1} is not DynamoDB JSON (one type and its value, e.g. {"S": "alice"}); choose Plain JSON for plain values`);
  }
  return value;
}
