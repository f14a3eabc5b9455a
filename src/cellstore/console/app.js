// The console's shell: sign-in, the page router and the header.
//
// Every page is a function (main, ...route parameters) that fills `main` and
// may return a function that stops its timers when the user leaves it.

import { call, getSession, isSignInError, setSession } from "./aws.js";
import { backupsPage } from "./backups.js";
import { cachePage } from "./cache.js";
import { cellsPage } from "./cells.js";
import { clear, errorBox, field, h } from "./dom.js";
import { handlersPage } from "./handlers.js";
import { partiqlPage } from "./partiql.js";
import { queuePage, queuesPage } from "./queues.js";
import { streamPage, streamsPage } from "./streams.js";
import { itemsPage } from "./items.js";
import { tablePage, tablesPage } from "./tables.js";

const ROUTES = [
  [/^#\/tables\/?$/, "tables", tablesPage],
  [/^#\/tables\/([^/]+)\/items$/, "tables", itemsPage],
  [/^#\/tables\/([^/]+)$/, "tables", tablePage],
  [/^#\/partiql\/?$/, "partiql", partiqlPage],
  [/^#\/partiql\/([^/]+)$/, "partiql", partiqlPage],
  [/^#\/backups\/?$/, "backups", backupsPage],
  [/^#\/backups\/([^/]+)$/, "backups", backupsPage],
  [/^#\/queues\/?$/, "queues", queuesPage],
  [/^#\/queues\/([^/]+)$/, "queues", queuePage],
  [/^#\/streams\/?$/, "streams", streamsPage],
  [/^#\/streams\/([^/]+)$/, "streams", streamPage],
  // The server's read-only admin answers (GET /_cellstore/NAME): shown where config.json's `pages` has them.
  [/^#\/handlers\/?$/, "handlers", handlersPage],
  [/^#\/cells\/?$/, "cells", cellsPage],
  [/^#\/cache\/?$/, "cache", cachePage],
];

// Without --auth sigv4 any well-formed signature is accepted, and a 12-digit
// access key id names the account the request acts in; the console signs with
// the account chosen in its header (the default account unless changed).
const DEFAULT_ACCOUNT = "000000000000";
const ANONYMOUS_SECRET = "cellstore-console";
const STORAGE_KEY = "cellstore-console-credentials";
const ACCOUNT_KEY = "cellstore-console-account";

const main = document.getElementById("main");
let config = { region: "us-east-1", authRequired: false, pages: [] };
let stopPage = null;

// Each visit gets a view of its own: a page still loading when the user moves
// on renders into its detached view, never over the next page.
let visits = 0;

async function route() {
  const visit = ++visits;
  if (stopPage) { stopPage(); stopPage = null; }
  if (!getSession()) { signInPage(); return; }
  const hash = location.hash || "#/tables";
  for (const [pattern, section, page] of ROUTES) {
    const match = pattern.exec(hash);
    if (!match) continue;
    for (const link of document.querySelectorAll("nav a")) {
      link.classList.toggle("current", link.dataset.page === section);
    }
    const view = h("div", {}, h("p", { class: "muted" }, "Loading…"));
    clear(main, view);
    try {
      const stop = await page(view, ...match.slice(1).map(decodeURIComponent));
      if (typeof stop === "function") {
        if (visit === visits) stopPage = stop;
        else stop();
      }
    } catch (err) {
      if (visit !== visits) return;
      if (isSignInError(err)) { signOut(err); return; }
      const box = errorBox();
      clear(view, h("h1", {}, "Something went wrong"), box);
      box.show(err);
    }
    return;
  }
  location.hash = "#/tables";
}

function showWho() {
  const who = document.getElementById("who");
  const session = getSession();
  if (!session) { clear(who); return; }
  if (!config.authRequired) {
    clear(who, accountForm(session));
    return;
  }
  clear(who, h("span", {}, "Signed in as ", h("code", {}, session.accessKeyId)), " ",
    h("button", { type: "button", class: "link", onclick: () => signOut() }, "Sign out"));
}

// Without --auth sigv4: which account the console acts in (each has its own tables and queues).
function accountForm(session) {
  const input = h("input", {
    name: "account", value: session.accessKeyId, size: 13, inputmode: "numeric", "aria-label": "Account",
    title: "The 12-digit account the console acts in; each account has its own tables and queues",
  });
  const form = h("form", { class: "account", "aria-label": "Account" },
    h("span", { class: "muted", title: "The server runs without --auth sigv4" }, "no sign-in required · account "), input);
  input.addEventListener("input", () => input.setCustomValidity(""));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const account = input.value.trim();
    if (!/^\d{12}$/.test(account)) {
      input.setCustomValidity("An account id is 12 digits.");
      input.reportValidity();
      return;
    }
    sessionStorage.setItem(ACCOUNT_KEY, account);
    setSession({ ...getSession(), accessKeyId: account });
    route();
  });
  return form;
}

function signOut(reason) {
  sessionStorage.removeItem(STORAGE_KEY);
  setSession(null);
  showWho();
  signInPage(reason);
}

function signInPage(reason) {
  const box = errorBox();
  const form = h("form", { class: "card signin", "aria-label": "Sign in" },
    h("h1", {}, "Sign in to cellstore"),
    h("p", { class: "muted" },
      "This server checks every request's signature and policies (--auth sigv4). The console signs its requests ",
      "in this browser with the key you give here; the secret stays in this tab and is never sent."),
    field("Access key ID", h("input", { name: "accessKeyId", required: true, autocomplete: "username" })),
    field("Secret access key", h("input", { name: "secretAccessKey", type: "password", required: true, autocomplete: "current-password" })),
    field("Session token (optional)", h("input", { name: "sessionToken", autocomplete: "off" })),
    box,
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, "Sign in")));
  if (reason) box.show(reason);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = new FormData(form);
    const session = {
      accessKeyId: data.get("accessKeyId").trim(),
      secretAccessKey: data.get("secretAccessKey"),
      sessionToken: data.get("sessionToken").trim() || undefined,
      region: config.region,
    };
    setSession(session);
    try {
      await call("dynamodb", "ListTables", { Limit: 1 });
    } catch (err) {
      if (isSignInError(err)) { setSession(null); box.show(err); return; }
      // Any other answer (AccessDenied included) means the key was accepted: its policies decide the rest.
    }
    sessionStorage.setItem(STORAGE_KEY, JSON.stringify(session));
    showWho();
    route();
  });
  clear(main, form);
  form.querySelector("input").focus();
}

async function start() {
  try {
    config = await (await fetch("/console/config.json", { cache: "no-store" })).json();
  } catch {
    // keep the defaults: an older server without config.json
  }
  if (!config.authRequired) {
    const account = sessionStorage.getItem(ACCOUNT_KEY) || DEFAULT_ACCOUNT;
    setSession({ accessKeyId: account, secretAccessKey: ANONYMOUS_SECRET, region: config.region });
  } else {
    const saved = sessionStorage.getItem(STORAGE_KEY);
    if (saved) setSession(JSON.parse(saved));
  }
  for (const link of document.querySelectorAll("nav a[data-admin]")) {
    link.hidden = !(config.pages || []).includes(link.dataset.page);
  }
  showWho();
  window.addEventListener("hashchange", route);
  route();
}

start();
