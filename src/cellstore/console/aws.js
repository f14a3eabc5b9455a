// cellstore's APIs from the browser: JSON requests to this same origin,
// signed with AWS Signature Version 4 using WebCrypto, exactly as an SDK signs
// them.  The server checks them as it checks any client's: with `--auth
// sigv4` the signature and the key's policies, otherwise only that the
// signature is well-formed.

const SERVICES = {
  dynamodb: { prefix: "DynamoDB_20120810", signingName: "dynamodb" },
  streams: { prefix: "DynamoDBStreams_20120810", signingName: "dynamodb" },
  sqs: { prefix: "AmazonSQS", signingName: "sqs" },
};
const CONTENT_TYPE = "application/x-amz-json-1.0";
const encoder = new TextEncoder();

export class ApiError extends Error {
  constructor(type, message, status) {
    super(message);
    this.type = type;
    this.status = status;
  }
}

// Errors that mean "these credentials are not accepted" rather than "not allowed" or "bad request".
export const SIGN_IN_ERRORS = new Set([
  "UnrecognizedClientException", "InvalidSignatureException", "IncompleteSignatureException",
  "MissingAuthenticationTokenException", "InvalidClientTokenId", "ExpiredTokenException", "SignatureDoesNotMatch",
]);

let session = null;

// {accessKeyId, secretAccessKey, sessionToken?, region}
export function setSession(value) { session = value; }
export function getSession() { return session; }

function hex(buffer) {
  return Array.from(new Uint8Array(buffer), (byte) => byte.toString(16).padStart(2, "0")).join("");
}

async function sha256Hex(text) {
  return hex(await crypto.subtle.digest("SHA-256", encoder.encode(text)));
}

async function hmac(key, text) {
  const raw = typeof key === "string" ? encoder.encode(key) : key;
  const cryptoKey = await crypto.subtle.importKey("raw", raw, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  return crypto.subtle.sign("HMAC", cryptoKey, encoder.encode(text));
}

// The headers of a signed POST to "/" carrying `body` (AWS's SigV4, header form).
export async function signedHeaders(signingName, target, body, now = new Date()) {
  return sign("POST", "/", signingName, { "content-type": CONTENT_TYPE, "x-amz-target": target }, body, now);
}

// `headers` plus host, date, token and authorization: SigV4 over `method` `path` (no query string) and `body`.
async function sign(method, path, signingName, extra, body, now = new Date()) {
  const amzDate = now.toISOString().replace(/[-:]/g, "").replace(/\.\d{3}/, "");
  const date = amzDate.slice(0, 8);
  const headers = { ...extra, host: location.host, "x-amz-date": amzDate };
  if (session.sessionToken) headers["x-amz-security-token"] = session.sessionToken;
  const names = Object.keys(headers).sort();
  const canonicalHeaders = names.map((name) => `${name}:${headers[name]}\n`).join("");
  const signed = names.join(";");
  const canonical = [method, path, "", canonicalHeaders, signed, await sha256Hex(body)].join("\n");
  const scope = `${date}/${session.region}/${signingName}/aws4_request`;
  const toSign = ["AWS4-HMAC-SHA256", amzDate, scope, await sha256Hex(canonical)].join("\n");
  let key = await hmac("AWS4" + session.secretAccessKey, date);
  key = await hmac(key, session.region);
  key = await hmac(key, signingName);
  key = await hmac(key, "aws4_request");
  const signature = hex(await hmac(key, toSign));
  delete headers.host; // the browser sends it itself, and the same
  headers.authorization =
    `AWS4-HMAC-SHA256 Credential=${session.accessKeyId}/${scope}, SignedHeaders=${signed}, Signature=${signature}`;
  return headers;
}

// One API call: `service` is dynamodb, streams or sqs; answers the parsed JSON or throws ApiError.
export async function call(service, operation, payload = {}) {
  const { prefix, signingName } = SERVICES[service];
  const body = JSON.stringify(payload);
  const headers = await signedHeaders(signingName, `${prefix}.${operation}`, body);
  let response;
  try {
    response = await fetch("/", { method: "POST", headers, body, cache: "no-store" });
  } catch (err) {
    throw new ApiError("NetworkError", `cellstore did not answer (${err.message})`, 0);
  }
  return answerOf(response);
}

// One of the server's read-only admin answers (GET /_cellstore/NAME: handlers, cells, cache), signed for the
// service "cellstore": under --auth sigv4 only a principal allowed cellstore:Describe<Name> may read it.
export async function admin(name) {
  const path = `/_cellstore/${name}`;
  const headers = await sign("GET", path, "cellstore", {}, "");
  let response;
  try {
    response = await fetch(path, { headers, cache: "no-store" });
  } catch (err) {
    throw new ApiError("NetworkError", `cellstore did not answer (${err.message})`, 0);
  }
  return answerOf(response);
}

async function answerOf(response) {
  const text = await response.text();
  let answer = {};
  try { answer = text ? JSON.parse(text) : {}; } catch { answer = { message: text }; }
  if (!response.ok) {
    const type = String(answer.__type || response.headers.get("x-amzn-ErrorType") || `HTTP ${response.status}`);
    throw new ApiError(type.split("#").pop().split(":")[0], answer.message || answer.Message || text, response.status);
  }
  return answer;
}

export function isSignInError(err) {
  return err instanceof ApiError && SIGN_IN_ERRORS.has(err.type);
}
