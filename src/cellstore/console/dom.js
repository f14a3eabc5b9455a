// A tiny DOM builder: every value goes in as text or an attribute, never as
// HTML, so nothing read from the database can become markup or script.

export function h(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else if (name === "class") node.className = value;
    else if (name === "value") node.value = value;
    else if (name === "checked" || name === "selected" || name === "disabled") node[name] = true;
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const child of children) {
    if (child === undefined || child === null || child === false) continue;
    if (Array.isArray(child)) append(node, child);
    else node.append(child instanceof Node ? child : String(child));
  }
}

export function clear(node, ...children) {
  node.replaceChildren();
  append(node, children);
  return node;
}

// A labelled form control: the label names it, so tests and screen readers find it by its label.
export function field(label, control, hint, extraClass = "") {
  return h("label", { class: `field ${extraClass}`.trim() }, h("span", {}, label), control, hint ? h("small", {}, hint) : null);
}

export function select(name, options, value) {
  return h("select", { name },
    options.map((option) => {
      const [optionValue, text] = Array.isArray(option) ? option : [option, option];
      return h("option", { value: optionValue, selected: optionValue === value }, text);
    }));
}

// Where an API call's failure is shown, next to what caused it.
export function errorBox() {
  const box = h("div", { class: "error", role: "alert", hidden: true });
  box.show = (err) => {
    if (!err) { box.hidden = true; box.replaceChildren(); return; }
    clear(box, err.type ? h("strong", {}, err.type + ": ") : null, err.message || String(err));
    box.hidden = false;
  };
  return box;
}

export function notice(text) {
  return h("div", { class: "notice", role: "status" }, text);
}

// A dialog that must be confirmed; with `typed`, the user must type that text first (e.g. a table's name).
export function confirmDialog(message, { typed, action = "Delete" } = {}) {
  return new Promise((resolve) => {
    const input = typed ? h("input", { name: "confirm", autocomplete: "off", "aria-label": `Type ${typed} to confirm` }) : null;
    const ok = h("button", { type: "submit", class: "danger", disabled: Boolean(typed) }, action);
    const cancel = h("button", { type: "button" }, "Cancel");
    const dialog = h("dialog", { class: "confirm" },
      h("form", { method: "dialog" },
        h("p", {}, message),
        typed ? h("p", {}, "Type ", h("code", {}, typed), " to confirm.") : null,
        input,
        h("div", { class: "actions" }, cancel, ok)));
    if (input) input.addEventListener("input", () => { ok.disabled = input.value !== typed; });
    let answer = false;
    ok.addEventListener("click", () => { answer = true; });
    cancel.addEventListener("click", () => dialog.close());
    dialog.addEventListener("close", () => { dialog.remove(); resolve(answer); });
    document.body.append(dialog);
    dialog.showModal();
    (input || ok).focus();
  });
}

export function formatBytes(bytes) {
  if (bytes === undefined || bytes === null) return "–";
  const units = ["B", "KB", "MB", "GB", "TB"];
  let value = Number(bytes);
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) { value /= 1024; unit += 1; }
  return `${unit ? value.toFixed(1) : value} ${units[unit]}`;
}

export function formatTime(seconds) {
  if (seconds === undefined || seconds === null) return "–";
  return new Date(Number(seconds) * 1000).toLocaleString();
}
