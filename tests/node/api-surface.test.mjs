// One declaration per API method, checked: the hand-written index.d.ts declares exactly the public
// methods and getters index.js's Retriever has, and every engine call index.js makes (through the
// worker protocol or in-thread) names a method LocalEngine has.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { Retriever } from "colbert-wasm";
import { LocalEngine } from "../../www/lib/engine.js";
import { repoRoot } from "./helpers.mjs";

const lib = (name) => readFileSync(`${repoRoot}www/lib/${name}`, "utf8");

function declaredMembers() {
  const d = lib("index.d.ts");
  const body = d.slice(d.indexOf("export class Retriever {"));
  const members = new Set();
  for (const [, isStatic, name] of body.matchAll(/^\s{2}(static\s+)?(?:readonly\s+)?([a-zA-Z]\w*)\s*[(:?]/gm)) {
    members.add(`${isStatic ? "static " : ""}${name}`);
  }
  members.delete("constructor");
  return members;
}

function implementedMembers() {
  const own = (obj) => Object.getOwnPropertyNames(obj).filter((n) => !["constructor", "length", "name", "prototype"].includes(n));
  return new Set([...own(Retriever.prototype), ...own(Retriever).map((n) => `static ${n}`)]);
}

test("index.d.ts declares exactly the Retriever's public methods and getters", () => {
  const declared = declaredMembers();
  const implemented = implementedMembers();
  assert.ok(implemented.size > 20, `found ${implemented.size} members`);
  assert.deepEqual([...implemented].filter((m) => !declared.has(m)).sort(), [], "implemented but not declared");
  assert.deepEqual([...declared].filter((m) => !implemented.has(m)).sort(), [], "declared but not implemented");
});

test("every engine call index.js makes is a LocalEngine method", () => {
  const calls = new Set([...lib("index.js").matchAll(/\.call\("(\w+)"/g)].map(([, name]) => name));
  assert.ok(calls.size > 10, `found ${calls.size} calls`);
  const engine = new Set(Object.getOwnPropertyNames(LocalEngine.prototype));
  // worker.js answers these two itself: they come before an engine exists.
  const beforeEngine = new Set(["open", "shareCompiledWasm"]);
  const missing = [...calls].filter((name) => !beforeEngine.has(name) && !engine.has(name));
  assert.deepEqual(missing, [], "engine calls without a LocalEngine method");
  assert.equal(typeof LocalEngine.open, "function");
});
