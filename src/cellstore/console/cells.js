// Cells: a server of cells (serve --cells FILE, docs/CELLS.md) — every cell's zone, health, tenants and
// load as this front end sees them, the map's version and the tenant moves in progress, from the server's
// read-only GET /_cellstore/cells (what `cellstore cells status --endpoint` prints).  Refreshed every 2 s.

import { adminPage } from "./adminpage.js";
import { clear, h, notice } from "./dom.js";
// A move's phases in order (cells/mover.py): each is recorded in the map before it starts.
const PHASES = ["copying", "fenced", "switched"];
const PHASE_HELP = {
  copying: "copying the tenant's data to the target while it is written",
  fenced: "writes held briefly: the last pass makes the target identical",
  switched: "the map points at the target; the source's copy is being deleted",
  aborting: "called off (cells move ACCOUNT --abort): the target's partial copy is being deleted; the tenant stays where it is",
};

export function cellsPage(main) {
  return adminPage(main, {
    title: "Cells", source: "cells", render,
    intro: [
      "Each tenant (account) lives in one cell; this front end routes its requests there (docs/CELLS.md). ",
      "Health is from the router's last probe; request rates are this server process's.",
    ],
  });
}

function render(body, status) {
  const cells = status.cells || [];
  const map = status.map || { moves: [] };
  const total = cells.reduce((sum, cell) => sum + Number(cell.tenants || 0), 0);
  clear(body,
    h("section", { class: "card" },
      h("dl", { class: "facts" },
        h("dt", {}, "Map version"), h("dd", { "data-testid": "map-version" }, String(map.version ?? "–")),
        h("dt", {}, "Tenants placed"), h("dd", {}, String(map.tenants ?? total)),
        h("dt", {}, "Map"), h("dd", {}, map.reachable === false
          ? h("span", { class: "status creating" }, "UNREACHABLE: routing by the cached map")
          : h("span", { class: "status active" }, "reachable")),
        h("dt", {}, "Requests re-routed"), h("dd", {}, String(status.reroutes ?? 0)))),
    h("h2", {}, "Cells"),
    h("table", { class: "grid", "aria-label": "Cells" },
      h("thead", {}, h("tr", {}, ["Cell", "Zone", "Health", "Tenants", "Share", "Requests", "Req/s", "Busy", "Queued",
        "Rejected", "New tenants", "Storage"].map((t) => h("th", {}, t)))),
      h("tbody", {}, cells.map((cell) => {
        const share = total ? Math.round((100 * Number(cell.tenants || 0)) / total) : 0;
        return h("tr", { "data-cell": cell.name },
          h("td", {}, h("strong", {}, cell.name)),
          h("td", {}, cell.zone || "–"),
          h("td", {}, h("span", { class: cell.health === "ok" ? "status active" : "status bad", "data-testid": "health",
            title: cell.error || "" }, cell.health === "ok" ? "healthy" : `unhealthy${cell.error ? ": " + cell.error : ""}`)),
          h("td", { class: "num" }, String(cell.tenants ?? 0)),
          h("td", {}, h("div", { class: "progress" }, h("progress", { max: 100, value: share }), h("small", {}, `${share}%`))),
          h("td", { class: "num" }, String(cell.requests ?? 0)),
          h("td", { class: "num" }, cell.requests_per_second === undefined ? "–" : Number(cell.requests_per_second).toFixed(1)),
          h("td", { class: "num" }, String(cell.busy ?? 0)),
          h("td", { class: "num" }, String(cell.queued ?? 0)),
          h("td", { class: `num${cell.rejected ? " bad" : ""}` }, String((cell.rejected ?? 0) + (cell.timed_out ?? 0))),
          h("td", {}, cell.accept_new === false ? "closed" : cell.max_tenants ? `up to ${cell.max_tenants}` : "open"),
          h("td", {}, h("code", {}, cell.storage || "–")));
      }))),
    h("h2", { class: "spaced" }, "Moves in progress"),
    (map.moves || []).length
      ? h("table", { class: "grid", "aria-label": "Moves" },
        h("thead", {}, h("tr", {}, ["Account", "From", "To", "Phase", "Progress"].map((t) => h("th", {}, t)))),
        h("tbody", {}, map.moves.map((move) => {
          const step = PHASES.indexOf(move.phase) + 1;
          return h("tr", { "data-account": move.account },
            h("td", {}, h("code", {}, move.account)),
            h("td", {}, move.source),
            h("td", {}, move.target),
            h("td", {}, h("span", { class: "status creating", "data-testid": "phase" }, move.phase), h("br"),
              h("small", { class: "muted" }, PHASE_HELP[move.phase] || "")),
            h("td", {}, step > 0
              ? h("div", { class: "progress" },
                h("progress", { max: PHASES.length + 1, value: step }),
                h("small", {}, `step ${step} of ${PHASES.length + 1} (then the move record is removed)`))
              : h("small", { class: "muted" }, "being called off (then the move record is removed)")));
        })))
      : h("p", { class: "muted" }, "None. Move a tenant with ", h("code", {}, "cellstore cells move ACCOUNT --to CELL"), "."),
    cells.length ? null : notice("The cells file names no cells."));
}
