// On-demand backups: the list (ListBackups, optionally of one table), create
// with a name, describe, delete after a confirmation, and restore to a new
// table whose status (CREATING → ACTIVE) is followed until the copy is done.
// Every action is the DynamoDB call of the same name; refusals show the API's
// own error type and message.

import { call } from "./aws.js";
import { clear, confirmDialog, errorBox, field, formatBytes, formatTime, h, notice, select } from "./dom.js";
import { describeTable, listTableNames } from "./tables.js";

const POLL_MS = 1000;

async function listBackups(tableName) {
  const summaries = [];
  let start;
  do {
    const request = { Limit: 100 };
    if (tableName) request.TableName = tableName;
    if (start) request.ExclusiveStartBackupArn = start;
    const page = await call("dynamodb", "ListBackups", request);
    summaries.push(...(page.BackupSummaries || []));
    start = page.LastEvaluatedBackupArn;
  } while (start);
  return summaries.reverse();  // newest first
}

// `#/backups` or `#/backups/TABLE` (only that table's backups).
export async function backupsPage(main, tableName) {
  const timers = new Set();
  let stopped = false;
  const box = errorBox();
  const list = h("div", {}, h("p", { class: "muted" }, "Loading…"));
  const detail = h("div", {});
  // A key that may not list tables can still list and restore backups: say why the table choices are empty.
  let listError = null;
  const names = await listTableNames().catch((err) => { listError = err; return []; });
  const filter = select("table", [["", "(all tables)"], ...names.map((n) => [n, n]),
    ...(tableName && !names.includes(tableName) ? [[tableName, `${tableName} (deleted)`]] : [])], tableName || "");
  filter.addEventListener("change", () => {
    location.hash = filter.value ? `#/backups/${encodeURIComponent(filter.value)}` : "#/backups";
  });

  const createBox = errorBox();
  const create = h("form", { class: "card", "aria-label": "Create backup" },
    h("h2", {}, "Create a backup"),
    h("p", { class: "muted" }, "A consistent copy of the table's items and schema, taken at once (CreateBackup)."),
    h("div", { class: "row" },
      field("Table", select("table", names.map((n) => [n, n]), tableName && names.includes(tableName) ? tableName : names[0])),
      field("Backup name", h("input", { name: "backupName", required: true, autocomplete: "off", placeholder: "e.g. nightly" }),
        "3 to 255 of letters, digits, _ . -")),
    createBox,
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary", disabled: !names.length }, "Create backup")));
  create.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = new FormData(create);
    try {
      const answer = await call("dynamodb", "CreateBackup", { TableName: data.get("table"), BackupName: data.get("backupName").trim() });
      createBox.show(null);
      create.elements.backupName.value = "";
      await load();
      await describe(answer.BackupDetails.BackupArn);
    } catch (err) {
      createBox.show(err);
    }
  });

  async function load() {
    const backups = await listBackups(tableName);
    if (!backups.length) {
      clear(list, notice(tableName ? `No backups of ${tableName} yet.` : "No backups yet. Create one above."));
      return;
    }
    clear(list, h("table", { class: "grid", "aria-label": "Backups" },
      h("thead", {}, h("tr", {}, ["Name", "Table", "Created", "Size", "Status", ""].map((t) => h("th", {}, t)))),
      h("tbody", {}, backups.map((backup) => h("tr", {},
        h("td", {}, backup.BackupName),
        h("td", {}, names.includes(backup.TableName)
          ? h("a", { href: `#/tables/${encodeURIComponent(backup.TableName)}` }, backup.TableName)
          : `${backup.TableName} (deleted)`),
        h("td", {}, formatTime(backup.BackupCreationDateTime)),
        h("td", { class: "num" }, formatBytes(backup.BackupSizeBytes)),
        h("td", {}, h("span", { class: `status ${String(backup.BackupStatus).toLowerCase()}` }, backup.BackupStatus)),
        h("td", { class: "actions" },
          h("button", { type: "button", class: "small", "aria-label": `Describe ${backup.BackupName}`, onclick: () => describe(backup.BackupArn).catch((err) => box.show(err)) }, "Describe"),
          h("button", { type: "button", class: "small", "aria-label": `Restore ${backup.BackupName}`, onclick: () => describe(backup.BackupArn, true).catch((err) => box.show(err)) }, "Restore"),
          h("button", { type: "button", class: "small danger", "aria-label": `Delete ${backup.BackupName}`, onclick: () => remove(backup) }, "Delete")))))));
  }

  async function remove(backup) {
    if (!(await confirmDialog(`Delete backup ${backup.BackupName} of ${backup.TableName}? This cannot be undone.`))) return;
    try {
      await call("dynamodb", "DeleteBackup", { BackupArn: backup.BackupArn });
      box.show(null);
      if (detail.dataset.arn === backup.BackupArn) clear(detail);
      await load();
    } catch (err) {
      box.show(err);
    }
  }

  async function describe(arn, restoring = false) {
    if (restoring && detail.dataset.arn === arn) {
      // Already shown (a backup never changes): keep what was typed and any restore being followed.
      focusTarget();
      return;
    }
    const { BackupDescription: description } = await call("dynamodb", "DescribeBackup", { BackupArn: arn });
    box.show(null);
    detail.dataset.arn = arn;
    clear(detail, backupCard(description, follow));
    if (restoring) focusTarget();
  }

  function focusTarget() {
    const target = detail.querySelector("input[name=target]");
    target.scrollIntoView({ block: "nearest" });
    target.focus();
  }

  // Re-read a restored table every second until it is ACTIVE, showing each status it passes through.
  // `first` is the status the restore answered with (CREATING), so a copy done before the first read still shows it.
  function follow(name, line, first) {
    const seen = first ? [first] : [];
    const poll = async () => {
      timers.delete(timer);
      let table;
      try {
        table = await describeTable(name);
      } catch (err) {
        clear(line, h("span", { class: "bad" }, `${err.type || "Error"}: ${err.message}`));
        return;
      }
      if (seen[seen.length - 1] !== table.TableStatus) seen.push(table.TableStatus);
      const restoring = table.RestoreSummary?.RestoreInProgress;
      clear(line,
        h("span", { "data-testid": "restore-status" }, "Table ", h("strong", {}, name), ": ",
          seen.map((s, i) => [i ? " → " : "", h("span", { class: `status ${s.toLowerCase()}` }, s)])),
        ` · ${table.ItemCount ?? 0} items`,
        restoring ? " · copying the backup's items…" : null,
        table.TableStatus === "ACTIVE"
          ? [" · ", h("a", { href: `#/tables/${encodeURIComponent(name)}/items` }, `Browse ${name}'s items`)]
          : null);
      if (table.TableStatus !== "ACTIVE" && !stopped) { timer = setTimeout(poll, POLL_MS); timers.add(timer); }
    };
    let timer = setTimeout(poll, 0);
    timers.add(timer);
  }

  clear(main,
    h("div", { class: "title" }, h("h1", {}, tableName ? `Backups of ${tableName}` : "Backups"),
      h("form", { class: "actions", "aria-label": "Filter backups" }, field("Table", filter))),
    names.length ? create : listError ? null : notice("Create a table first: a backup is of a table."),
    box, detail, list);
  box.show(listError);
  await load();
  return () => { stopped = true; for (const timer of timers) clearTimeout(timer); };
}

function fact(term, value) {
  return [h("dt", {}, term), h("dd", {}, value)];
}

// One backup described, with the form that restores it to a new table.
function backupCard(description, follow) {
  const details = description.BackupDetails;
  const source = description.SourceTableDetails || {};
  const features = description.SourceTableFeatureDetails || {};
  const indexes = [
    ...(features.GlobalSecondaryIndexes || []).map((i) => `${i.IndexName} (global)`),
    ...(features.LocalSecondaryIndexes || []).map((i) => `${i.IndexName} (local)`),
  ];
  const box = errorBox();
  const line = h("p", { role: "status", class: "muted" });
  const restore = h("form", { class: "inline-form", "aria-label": "Restore backup" },
    h("h3", {}, "Restore to a new table"),
    h("p", { class: "muted" },
      "RestoreTableFromBackup creates the table at once (CREATING) and copies the items in the background; it is ACTIVE when every item is in. ",
      "The restored table has the backup's key, indexes and billing mode, but no stream, TTL or tags."),
    h("div", { class: "row" },
      field("New table name", h("input", { name: "target", required: true, autocomplete: "off", value: `${source.TableName}-restored` })),
      h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, "Restore"))),
    box, line);
  restore.addEventListener("submit", async (event) => {
    event.preventDefault();
    const target = new FormData(restore).get("target").trim();
    let answer;
    try {
      answer = await call("dynamodb", "RestoreTableFromBackup", { TargetTableName: target, BackupArn: details.BackupArn });
    } catch (err) {
      box.show(err);
      return;
    }
    box.show(null);
    follow(target, line, answer.TableDescription?.TableStatus);
  });
  return h("section", { class: "card", "aria-label": `Backup ${details.BackupName}` },
    h("h2", {}, `Backup ${details.BackupName}`),
    h("dl", { class: "facts" },
      fact("Status", h("span", { class: `status ${String(details.BackupStatus).toLowerCase()}` }, details.BackupStatus)),
      fact("Type", details.BackupType),
      fact("Created", formatTime(details.BackupCreationDateTime)),
      fact("Size", formatBytes(details.BackupSizeBytes)),
      fact("Table", source.TableName),
      fact("Key", (source.KeySchema || []).map((k) => `${k.AttributeName}${k.KeyType === "RANGE" ? " (sort)" : ""}`).join(" + ")),
      fact("Items", String(source.ItemCount ?? 0)),
      fact("Billing", source.BillingMode || "–"),
      fact("Indexes", indexes.length ? indexes.join(", ") : "none"),
      fact("Stream then", features.StreamDescription?.StreamEnabled ? features.StreamDescription.StreamViewType : "off"),
      fact("TTL then", features.TimeToLiveDescription?.AttributeName || "off"),
      fact("ARN", h("code", {}, details.BackupArn))),
    restore);
}
