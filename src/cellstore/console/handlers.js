// Handlers: every stream and queue handler (Lambda-style event-source mapping) that has run on this
// server's data — its mapping, state, lag and iterator age, and its failures — from the server's read-only
// GET /_cellstore/handlers, which is what `cellstore handlers status --json` prints.  Refreshed every 2 s.

import { adminPage } from "./adminpage.js";
import { clear, formatTime, h, notice } from "./dom.js";

// "arn:aws:dynamodb:r:a:table/orders/stream/…" → "table orders (stream)"; "arn:aws:sqs:r:a:jobs" → "queue jobs".
export function sourceName(arn) {
  const table = /:table\/([^/]+)/.exec(arn);
  if (table) return `table ${table[1]}${arn.includes("/stream/") ? " (stream)" : ""}`;
  if (arn.startsWith("arn:aws:sqs:")) return `queue ${arn.slice(arn.lastIndexOf(":") + 1)}`;
  return arn;
}

export function formatAge(ms) {
  const value = Number(ms || 0);
  if (value < 1000) return `${value} ms`;
  if (value < 60_000) return `${(value / 1000).toFixed(1)} s`;
  if (value < 3_600_000) return `${(value / 60_000).toFixed(1)} min`;
  return `${(value / 3_600_000).toFixed(1)} h`;
}

// A mapping nobody holds the lease of is not running anywhere, whatever its holder last saved.
function stateOf(entry) {
  const metrics = entry.metrics || {};
  if (!entry.owner) return metrics.state === "disabled" ? "disabled" : "idle";
  return metrics.state || "starting";
}

function stateClass(state) {
  if (state === "running") return "status active";
  if (state === "idle" || state === "disabled" || state === "stopped") return "status muted";
  return "status creating";
}

export function handlersPage(main) {
  return adminPage(main, {
    title: "Handlers", source: "handlers", render: (body, status) => render(body, status.handlers || []),
    intro: [
      "Stream and queue handlers run by this server (serve --handlers FILE, docs/HANDLERS.md), as the process ",
      "holding each one's lease last saved them (about every half second).",
    ],
  });
}

function failed(entry) {
  const m = entry.metrics || {};
  return Boolean(m.errors || m.discarded || m.last_error);
}

function render(body, handlers) {
  if (!handlers.length) {
    clear(body, notice("No handler has run on this server's data. Start it with --handlers handlers.toml to feed "
      + "Python functions from streams and queues (docs/HANDLERS.md)."));
    return;
  }
  const failing = handlers.filter(failed);
  clear(body,
    h("h2", {}, "Mappings"),
    h("table", { class: "grid", "aria-label": "Handlers" },
      h("thead", {}, h("tr", {}, ["Name", "Source", "Function", "Batch", "State", "Lease held by", "Records",
        "Invocations", "Errors", "Lag", "Iterator age", "Last invoked"].map((t) => h("th", {}, t)))),
      h("tbody", {}, handlers.map((entry) => {
        const m = entry.metrics || {};
        const settings = entry.settings || {};
        const state = stateOf(entry);
        return h("tr", { "data-name": entry.name },
          h("td", {}, h("strong", {}, entry.name)),
          h("td", {}, h("span", { title: entry.source }, sourceName(entry.source || "")), h("br"),
            h("small", { class: "muted" }, entry.kind === "queue" ? "SQS queue" : "DynamoDB stream")),
          h("td", {}, h("code", { class: "nowrap" }, entry.function || "–")),
          h("td", { class: "num" }, String(settings.BatchSize ?? "–")),
          h("td", {}, h("span", { class: stateClass(state), "data-testid": "state" }, state)),
          h("td", {}, entry.owner ? h("code", { title: "host:pid:lease" }, entry.owner) : h("span", { class: "muted" }, "nobody")),
          h("td", { class: "num", "data-testid": "records" }, String(m.records ?? 0)),
          h("td", { class: "num" }, String(m.invocations ?? 0)),
          h("td", { class: `num${m.errors ? " bad" : ""}`, "data-testid": "errors" }, String(m.errors ?? 0)),
          h("td", { class: "num", title: entry.kind === "queue" ? "messages visible in the queue" : "records behind the newest" },
            String(m.lag ?? 0)),
          h("td", { class: "num", "data-testid": "iterator-age" }, entry.kind === "queue" ? "–" : formatAge(m.iterator_age_ms)),
          h("td", {}, m.last_invoked ? formatTime(m.last_invoked) : "never"));
      }))),
    h("h2", { class: "spaced" }, "Failures"),
    failing.length
      ? h("table", { class: "grid", "aria-label": "Failures" },
        h("thead", {}, h("tr", {}, ["Name", "Errors", "Retries", "Discarded", "On failure", "Last error"].map((t) => h("th", {}, t)))),
        h("tbody", {}, failing.map((entry) => {
          const m = entry.metrics || {};
          const settings = entry.settings || {};
          const destination = settings.OnFailure || settings.DestinationConfig?.OnFailure?.Destination;
          return h("tr", { "data-name": entry.name },
            h("td", {}, entry.name),
            h("td", { class: "num bad" }, String(m.errors ?? 0)),
            h("td", { class: "num" }, String(m.retries ?? 0)),
            h("td", { class: "num" }, String(m.discarded ?? 0)),
            h("td", {}, destination ? h("code", {}, String(destination)) : h("span", { class: "muted" }, "none")),
            h("td", {}, m.last_error ? h("pre", { class: "body" }, m.last_error) : "–"));
        })))
      : h("p", { class: "muted" }, "No failures: every invocation so far succeeded."),
    h("details", { class: "raw" }, h("summary", {}, "Checkpoints and settings (JSON)"),
      h("pre", {}, JSON.stringify(handlers.map((e) => ({ name: e.name, checkpoint: e.checkpoint, settings: e.settings })), null, 2))));
}
