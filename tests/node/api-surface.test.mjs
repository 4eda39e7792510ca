// One declaration per API method, checked at its three ends: the hand-written index.d.ts declares
// exactly the Retriever's public methods and getters (most generated from api.js's table), every
// table row a caller can reach is on the facade, and every wasm method the table, the engine and its
// persistence port call exists on the wasm class.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { Retriever } from "colbert-wasm";
import { GETTERS, METHODS } from "../../www/lib/api.js";
import { WasmRetriever } from "../../www/lib/wasm.js";
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

test("every table row a caller can reach is on the facade, and every getter too", () => {
  for (const [name, row] of Object.entries(METHODS)) {
    if (!row.check) continue; // engine-only calls (an encoder pool's)
    const key = typeof row.facade === "symbol" ? row.facade : name;
    assert.equal(typeof Retriever.prototype[key], "function", `${String(key)} is not a Retriever method`);
    assert.equal(typeof row.run, "function", `${name} has no engine side`);
  }
  for (const name of Object.keys(GETTERS)) {
    assert.ok(Object.getOwnPropertyDescriptor(Retriever.prototype, name)?.get, `${name} is not a getter`);
  }
});

test("every wasm method the table, the engine and its persistence port call exists", () => {
  const sources = ["api.js", "engine.js", "persistence.js"].map(lib).join("\n");
  const called = new Set([...sources.matchAll(/\binner(?:\(\))?\.(\w+)\(/g)].map(([, name]) => name));
  assert.ok(called.size > 15, `found ${called.size} calls`);
  const wasm = new Set(Object.getOwnPropertyNames(WasmRetriever.prototype));
  assert.deepEqual([...called].filter((name) => !wasm.has(name)).sort(), [], "called but not in the wasm class");
  assert.equal(typeof WasmRetriever.fromBundle, "function");
});
