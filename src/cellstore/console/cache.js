// Cache: serve --cache's read-through item cache (docs/CACHE.md) — hit rates per zone and per memcached
// node, fallbacks to other zones and queued writes, from the server's read-only GET /_cellstore/cache.
// The counters are the answering server process's own (each of --workers N counts its own reads).

import { adminPage } from "./adminpage.js";
import { clear, h, notice } from "./dom.js";

export function hitRate(hits, misses) {
  const total = Number(hits || 0) + Number(misses || 0);
  return total ? (100 * Number(hits || 0)) / total : null;
}

function rateCell(hits, misses) {
  const rate = hitRate(hits, misses);
  if (rate === null) return h("td", { class: "muted" }, "no reads yet");
  return h("td", {}, h("div", { class: "progress" },
    h("progress", { max: 100, value: Math.round(rate) }), h("small", { "data-testid": "hit-rate" }, `${rate.toFixed(1)}%`)));
}

function ms(seconds) {
  return `${(Number(seconds || 0) * 1000).toFixed(2)} ms`;
}

export function cachePage(main) {
  return adminPage(main, {
    title: "Cache", source: "cache", render, stamp: (status) => `process ${status.pid}, `,
    intro: [
      "Eventually consistent GetItem and BatchGetItem of the tables below are answered from memcached, read from this ",
      "server's zone first (docs/CACHE.md). Counters since this server process started.",
    ],
  });
}

function render(body, status) {
  const zones = Object.entries(status.zones || {});
  const tables = Object.entries(status.tables || {});
  clear(body,
    h("section", { class: "card" },
      h("dl", { class: "facts" },
        h("dt", {}, "This server's zone"), h("dd", { "data-testid": "own-zone" }, status.zone || "–"),
        h("dt", {}, "Tables cached"), h("dd", {}, tables.length
          ? tables.map(([name, t], i) => [i ? ", " : "", h("code", {}, name), ` (${t.ttl} s)`])
          : h("span", { class: "muted" }, "none: name them as [tables.NAME] in the cache file")),
        h("dt", {}, "Writes waiting to be retried"), h("dd", {}, String(status.retry_pending ?? 0)))),
    h("h2", {}, "Zones"),
    zones.length
      ? h("table", { class: "grid", "aria-label": "Zones" },
        h("thead", {}, h("tr", {}, ["Zone", "Hit rate", "Hits", "Misses", "Errors", "Fallbacks", "Repairs", "Queued",
          "Replayed"].map((t) => h("th", {}, t)))),
        h("tbody", {}, zones.map(([name, zone]) => h("tr", { "data-zone": name },
          h("td", {}, h("strong", {}, name), name === status.zone ? h("small", { class: "muted" }, " (read first)") : null),
          rateCell(zone.hits, zone.misses),
          h("td", { class: "num" }, String(zone.hits ?? 0)),
          h("td", { class: "num" }, String(zone.misses ?? 0)),
          h("td", { class: `num${zone.errors ? " bad" : ""}` }, String(zone.errors ?? 0)),
          h("td", { class: "num", title: "keys asked of this zone first that another zone answered" }, String(zone.fallbacks ?? 0)),
          h("td", { class: "num" }, String(zone.repairs ?? 0)),
          h("td", { class: "num" }, String(zone.queued ?? 0)),
          h("td", { class: "num" }, String(zone.replayed ?? 0))))))
      : notice("No cache client in this process yet."),
    h("h2", { class: "spaced" }, "Nodes"),
    h("table", { class: "grid", "aria-label": "Nodes" },
      h("thead", {}, h("tr", {}, ["Zone", "Node", "Hit rate", "Hits", "Misses", "Errors", "Calls", "Latency avg",
        "Latency max"].map((t) => h("th", {}, t)))),
      h("tbody", {}, zones.flatMap(([zoneName, zone]) => Object.entries(zone.nodes || {}).map(([node, n]) =>
        h("tr", {},
          h("td", {}, zoneName),
          h("td", {}, h("code", {}, node)),
          rateCell(n.hits, n.misses),
          h("td", { class: "num" }, String(n.hits ?? 0)),
          h("td", { class: "num" }, String(n.misses ?? 0)),
          h("td", { class: `num${n.errors ? " bad" : ""}` }, String(n.errors ?? 0)),
          h("td", { class: "num" }, String(n.calls ?? 0)),
          h("td", { class: "num" }, ms(n.latency_avg)),
          h("td", { class: "num" }, ms(n.latency_max))))))));
}
