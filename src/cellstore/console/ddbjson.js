// DynamoDB JSON ({"S": "a"}, {"N": "1"}, ...) and plain JSON, both ways.
//
// Plain JSON cannot say everything DynamoDB JSON can: sets become lists,
// binary becomes its base64 text and a number JavaScript cannot hold exactly
// becomes a string.  `toPlain` reports each such loss in `losses`, so the
// editor can say "edit this one as DynamoDB JSON" instead of silently
// changing an item's types when it is saved.

const SAFE_DIGITS = 15;

export function toPlain(value, losses = [], path = "") {
  const [type, inner] = Object.entries(value)[0] || [];
  switch (type) {
    case "S": return inner;
    case "BOOL": return inner;
    case "NULL": return null;
    case "N": {
      const number = Number(inner);
      if (Number.isFinite(number) && inner.replace(/[^0-9]/g, "").replace(/^0+/, "").length <= SAFE_DIGITS) return number;
      losses.push(`${path || "value"}: the number ${inner} is shown as a string`);
      return inner;
    }
    case "B":
      losses.push(`${path || "value"}: binary is shown as base64 text`);
      return inner;
    case "SS": case "NS": case "BS":
      losses.push(`${path || "value"}: a ${type} set is shown as a list`);
      return inner.map((member) => (type === "NS" ? Number(member) : member));
    case "L": return inner.map((member, index) => toPlain(member, losses, `${path}[${index}]`));
    case "M": return itemToPlain(inner, losses, path);
    default: throw new Error(`not a DynamoDB JSON value: ${JSON.stringify(value)}`);
  }
}

export function itemToPlain(item, losses = [], path = "") {
  const plain = {};
  for (const [name, value] of Object.entries(item)) plain[name] = toPlain(value, losses, path ? `${path}.${name}` : name);
  return plain;
}

export function fromPlain(value) {
  if (value === null) return { NULL: true };
  if (typeof value === "string") return { S: value };
  if (typeof value === "number") return { N: String(value) };
  if (typeof value === "boolean") return { BOOL: value };
  if (Array.isArray(value)) return { L: value.map(fromPlain) };
  return { M: itemFromPlain(value) };
}

export function itemFromPlain(object) {
  if (object === null || typeof object !== "object" || Array.isArray(object)) {
    throw new Error("an item is a JSON object of attributes");
  }
  const item = {};
  for (const [name, value] of Object.entries(object)) item[name] = fromPlain(value);
  return item;
}

// A value as one short line for a table cell.
export function display(value) {
  const [type, inner] = Object.entries(value || {})[0] || [];
  if (type === undefined) return "";
  if (type === "S" || type === "N") return inner;
  if (type === "NULL") return "null";
  if (type === "BOOL") return String(inner);
  if (type === "B") return `<binary ${inner.length} chars>`;
  const losses = [];
  return JSON.stringify(toPlain(value, losses));
}

// An attribute value of a key's type from what was typed in a form.
export function keyValue(type, text) {
  return { [type]: String(text) };
}

// The key attributes of `item` for `keySchema`.
export function keyOf(item, keySchema) {
  const key = {};
  for (const { AttributeName } of keySchema) key[AttributeName] = item[AttributeName];
  return key;
}
