// The boto3 and AWS CLI calls equivalent to a request the console makes, so
// that what a user builds here can be pasted into a program or a shell.

const CLI_SERVICES = { dynamodb: "dynamodb", sqs: "sqs", streams: "dynamodbstreams" };

function snake(name) {
  return name.replace(/([a-z0-9])([A-Z])/g, "$1_$2").toLowerCase();
}

function kebab(name) {
  return name.replace(/([a-z0-9])([A-Z])/g, "$1-$2").toLowerCase();
}

function python(value, indent) {
  const pad = "    ".repeat(indent + 1);
  const end = "    ".repeat(indent);
  if (value === null) return "None";
  if (value === true) return "True";
  if (value === false) return "False";
  if (typeof value === "number") return String(value);
  if (typeof value === "string") return JSON.stringify(value);
  if (Array.isArray(value)) {
    if (!value.length) return "[]";
    return `[\n${value.map((member) => pad + python(member, indent + 1)).join(",\n")},\n${end}]`;
  }
  const entries = Object.entries(value);
  if (!entries.length) return "{}";
  return `{\n${entries.map(([key, member]) => `${pad}${JSON.stringify(key)}: ${python(member, indent + 1)}`).join(",\n")},\n${end}}`;
}

export function boto3Call(service, operation, payload, endpoint) {
  const args = Object.entries(payload).map(([name, value]) => `    ${name}=${python(value, 1)},`);
  return [
    "import boto3",
    "",
    `client = boto3.client("${service}", endpoint_url="${endpoint}")`,
    `response = client.${snake(operation)}(`,
    ...args,
    ")",
  ].join("\n");
}

function shellQuote(text) {
  return /^[A-Za-z0-9_./:=@%+-]+$/.test(text) ? text : `'${text.replace(/'/g, "'\\''")}'`;
}

export function cliCall(service, operation, payload, endpoint) {
  const parts = [`aws ${CLI_SERVICES[service]} ${kebab(operation)}`, `--endpoint-url ${endpoint}`];
  for (const [name, value] of Object.entries(payload)) {
    const flag = kebab(name);
    if (value === true) parts.push(`--${flag}`);
    else if (value === false) parts.push(`--no-${flag}`);
    else if (typeof value === "number") parts.push(`--${flag} ${value}`);
    else if (typeof value === "string") parts.push(`--${flag} ${shellQuote(value)}`);
    else parts.push(`--${flag} ${shellQuote(JSON.stringify(value))}`);
  }
  return parts.join(" \\\n    ");
}
