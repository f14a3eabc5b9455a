// A page over one read-only admin answer (GET /_cellstore/NAME: handlers, cells, cache), polled every 2 s:
// its title with an "as of" stamp, a line saying what it shows, errors in a box, the body redrawn by
// `render(body, status)` on every answer.  The Handlers, Cells and Cache pages differ only in those.

import { admin } from "./aws.js";
import { clear, errorBox, h } from "./dom.js";

const POLL_MS = 2000;

// Shows the page in `main`; returns the function that stops its polling (the router calls it on leaving).
export async function adminPage(main, { title, source, intro, render, stamp = () => "" }) {
  const box = errorBox();
  const body = h("div", {}, h("p", { class: "muted" }, "Loading…"));
  const when = h("span", { class: "muted" });
  clear(main,
    h("div", { class: "title" }, h("h1", {}, title), when),
    h("p", { class: "muted" }, ...intro, " Refreshed every 2 seconds."),
    box, body);
  let timer = null;
  let stopped = false;

  async function refresh() {
    try {
      const status = await admin(source);
      box.show(null);
      render(body, status);
      when.textContent = `${stamp(status)}as of ${new Date().toLocaleTimeString()}`;
    } catch (err) {
      box.show(err);
    }
    if (!stopped) timer = setTimeout(refresh, POLL_MS);
  }
  await refresh();
  return () => { stopped = true; clearTimeout(timer); };
}
