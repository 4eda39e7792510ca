// A Qdrant REST server in miniature for the indexer's upload tests: it keeps collections and points in
// memory and answers the handful of calls the indexer and the README's query example make. Every
// request is checked against Qdrant's published OpenAPI document (../shared/specs): its path and
// method must exist, its query parameters must be declared, and its body must validate against the
// operation's requestBody schema. What does not is recorded in `violations` and answered 422, as a
// server that rejects it would. It does not score: Qdrant's own engine (Qdrant Edge) does that in
// qdrant-edge.test.mjs.
import { createServer } from "node:http";
import { readFileSync } from "node:fs";
import Ajv from "ajv";
import { sharedDir } from "./helpers.mjs";

const SPEC_PATH = `${sharedDir}specs/qdrant-openapi-v1.19.json`;

/** OpenAPI 3.0's `nullable` as JSON Schema: `{nullable: true}` alone means null; beside a type, or null. */
function toJsonSchema(node) {
  if (Array.isArray(node)) return node.map(toJsonSchema);
  if (node === null || typeof node !== "object") return node;
  const out = {};
  for (const [key, value] of Object.entries(node)) {
    if (key !== "nullable" && key !== "example") out[key] = toJsonSchema(value);
  }
  if (node.nullable === true) {
    if (Object.keys(out).length === 0 || (Object.keys(out).length === 1 && "description" in out)) return { type: "null" };
    if (typeof out.type === "string") out.type = [out.type, "null"];
    else return { anyOf: [out, { type: "null" }] };
  }
  return out;
}

const INTEGER_FORMATS = { uint: [0, Infinity], uint8: [0, 255], uint32: [0, 2 ** 32 - 1], uint64: [0, Infinity], int64: [-Infinity, Infinity] };

/** The spec's operations, each with a compiled validator for its JSON body. */
function loadOperations() {
  const spec = JSON.parse(readFileSync(SPEC_PATH, "utf8"));
  const ajv = new Ajv({ strict: false, allErrors: true });
  for (const [name, [min, max]] of Object.entries(INTEGER_FORMATS)) {
    ajv.addFormat(name, { type: "number", validate: (n) => Number.isInteger(n) && n >= min && n <= max });
  }
  for (const name of ["float", "double"]) ajv.addFormat(name, { type: "number", validate: Number.isFinite });
  ajv.addFormat("uuid", /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i);
  for (const name of ["date-time", "partial-date-time", "uri", "binary"]) ajv.addFormat(name, true);
  ajv.addSchema({ $id: "qdrant", components: toJsonSchema(spec.components) });
  const operations = [];
  for (const [template, methods] of Object.entries(spec.paths)) {
    const pattern = new RegExp(`^${template.replace(/\{[^}]+\}/g, "([^/]+)")}$`);
    for (const [method, op] of Object.entries(methods)) {
      const schema = op.requestBody?.content?.["application/json"]?.schema;
      operations.push({
        method: method.toUpperCase(),
        template,
        pattern,
        query: new Set((op.parameters ?? []).filter((p) => p.in === "query").map((p) => p.name)),
        validate: schema && ajv.compile(toJsonSchema(JSON.parse(JSON.stringify(schema).replaceAll('"#/components', '"qdrant#/components')))),
        bodyRequired: op.requestBody?.required === true,
      });
    }
  }
  return operations;
}

let operations;

/** What the spec says of one request: the operation it is, or why it is none / its body is wrong. */
export function checkRequest(method, url, body) {
  operations ??= loadOperations();
  const { pathname, searchParams } = new URL(url, "http://qdrant");
  const op = operations.find((o) => o.method === method && o.pattern.test(pathname));
  if (!op) return { problems: [`${method} ${pathname}: no such operation in Qdrant's API`] };
  const problems = [...searchParams.keys()].filter((k) => !op.query.has(k)).map((k) => `${method} ${op.template}: unknown query parameter '${k}'`);
  if (body === undefined && op.bodyRequired) problems.push(`${method} ${op.template}: body required`);
  if (body !== undefined && op.validate && !op.validate(body)) {
    problems.push(`${method} ${op.template}: ${JSON.stringify(op.validate.errors.slice(0, 3))}`);
  }
  return { op, problems };
}

/** Starts the server; resolves to its handle: url, collections, requests, violations, failNext(). */
export async function startFakeQdrant() {
  const collections = new Map();
  const requests = [];
  const violations = [];
  const faults = [];
  const server = createServer(async (req, res) => {
    const chunks = [];
    for await (const chunk of req) chunks.push(chunk);
    const text = Buffer.concat(chunks).toString("utf8");
    const body = text ? JSON.parse(text) : undefined;
    const { op, problems } = checkRequest(req.method, req.url, body);
    const path = new URL(req.url, "http://qdrant").pathname;
    requests.push({ method: req.method, path, body, headers: req.headers });
    const reply = (status, payload) => {
      res.writeHead(status, { "content-type": "application/json" });
      res.end(JSON.stringify(payload));
    };
    if (problems.length) {
      violations.push(...problems);
      return reply(422, { status: { error: problems.join("; ") } });
    }
    const fault = faults.findIndex((f) => f.method === req.method && f.pattern.test(path));
    if (fault >= 0) {
      const [{ status }] = faults.splice(fault, 1);
      return reply(status, { status: { error: `injected ${status}` } });
    }
    const name = decodeURIComponent(path.split("/")[2] ?? "");
    const [status, result] = answer(collections, op.template, req.method, name, body);
    reply(status, status < 300 ? { status: "ok", time: 0.001, result } : { status: { error: result } });
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    collections,
    requests,
    violations,
    /** The next `times` requests of `method` to a path matching `pattern` answer `status`. */
    failNext(method, pattern, status, times = 1) {
      for (let i = 0; i < times; i++) faults.push({ method, pattern, status });
    },
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}

function answer(collections, template, method, name, body) {
  const collection = collections.get(name);
  const route = `${method} ${template.replace("{collection_name}", "_")}`;
  if (route === "PUT /collections/_") {
    if (collection) return [409, `collection ${name} already exists`];
    collections.set(name, { config: body, points: new Map(), indexes: {} });
    return [200, true];
  }
  if (!collection) return [404, `Collection \`${name}\` doesn't exist!`];
  const done = { operation_id: 1, status: "completed" };
  switch (route) {
    case "GET /collections/_":
      return [200, { status: "green", config: { params: { vectors: collection.config.vectors }, metadata: collection.config.metadata ?? null } }];
    case "PUT /collections/_/index":
      collection.indexes[body.field_name] = body.field_schema;
      return [200, done];
    case "PUT /collections/_/points":
      for (const point of body.points) {
        const wrong = point.vector.find((v) => v.length !== collection.config.vectors.size);
        if (wrong) return [400, `wrong vector dimension: expected ${collection.config.vectors.size}, got ${wrong.length}`];
        collection.points.set(point.id, point);
      }
      return [200, done];
    case "POST /collections/_/points/delete":
      for (const [id, point] of collection.points) if (matches(point.payload, body.filter)) collection.points.delete(id);
      return [200, done];
    case "POST /collections/_/points/scroll": {
      const ids = [...collection.points.keys()].sort();
      const from = body.offset === undefined ? 0 : ids.indexOf(body.offset);
      const page = ids.slice(from, from + (body.limit ?? 10));
      const next = ids[from + page.length] ?? null;
      return [200, { points: page.map((id) => ({ id, payload: collection.points.get(id).payload })), next_page_offset: next }];
    }
    case "POST /collections/_/points/query":
      return [200, { points: [] }];
    default:
      return [501, `${route}: not in this fake`];
  }
}

/** `filter.must` of `{ key, match: { value } }` conditions: what the indexer deletes by. */
function matches(payload, filter) {
  return (filter?.must ?? []).every((c) => payload?.[c.key] === c.match?.value);
}
