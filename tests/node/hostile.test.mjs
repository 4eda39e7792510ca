// Hostile input, one case after another on the same retriever, as a careless or malicious caller
// would send it: each case must reject with the named error kind (or succeed where stated), never
// crash the engine, and leave the retriever working (a canary search after every case).
import { test } from "node:test";
import assert from "node:assert/strict";
import { Retriever } from "colbert-wasm";
import { readBundle } from "./helpers.mjs";

const invalid = "InvalidInputError";
const cyclic = {};
cyclic.self = cyclic;
const big = "x".repeat(4_000_001);

// [what, call(retriever), expected error name | null (must succeed) | function(result) => void]
const CASES = [
  ["add: not an array", (r) => r.add({ id: "a", text: "b" }), invalid],
  ["add: null", (r) => r.add(null), invalid],
  ["add: a string", (r) => r.add("hello"), invalid],
  ["add: an array holding null", (r) => r.add([null]), invalid],
  ["add: an array holding a string", (r) => r.add(["just text"]), invalid],
  ["add: a document without text", (r) => r.add([{ id: "a" }]), invalid],
  ["add: text a number", (r) => r.add([{ id: "a", text: 42 }]), invalid],
  ["add: text an object", (r) => r.add([{ id: "a", text: { toString: () => "x" } }]), invalid],
  ["add: numeric id", (r) => r.add([{ id: 7, text: "x" }]), invalid],
  ["add: empty id", (r) => r.add([{ id: "", text: "x" }]), invalid],
  ["add: id of 2,000 characters", (r) => r.add([{ id: "i".repeat(2000), text: "x" }]), invalid],
  ["add: the same id twice in one chunk", (r) => r.add([{ id: "d", text: "x" }, { id: "d", text: "y" }]), invalid],
  ["add: metadata with a cycle", (r) => r.add([{ id: "a", text: "x", metadata: cyclic }]), invalid],
  ["add: metadata a BigInt", (r) => r.add([{ id: "a", text: "x", metadata: 10n }]), invalid],
  ["add: metadata a function", (r) => r.add([{ id: "a", text: "x", metadata: () => 1 }]), invalid],
  ["add: a class instance as document", (r) => r.add([new (class Doc { id = "a"; text = "x"; })()]), invalid],
  ["add: text past the maximum document length", (r) => r.add([{ id: "big", text: big }]), invalid],
  ["add: empty array", (r) => r.add([]), (report) => assert.deepEqual(report, { encoded: 0, unchanged: 0 })],
  ["add: empty text", (r) => r.add([{ id: "empty", text: "" }]), null],
  ["add: only whitespace and controls", (r) => r.add([{ id: "ws", text: " \t\n\u0000\u0007\u200b " }]), null],
  ["add: lone surrogates and emoji", (r) => r.add([{ id: "sur", text: "\ud800 a \udfff 👨‍👩‍👧 é" }]), null],
  ["add: 100,000 characters without a space", (r) => r.add([{ id: "run", text: "a".repeat(100_000) }]), null],
  ["add: metadata null is kept as JSON null", (r) => r.add([{ id: "m", text: "meta", metadata: null }]), null],
  ["search: query an object", (r) => r.search({ q: 1 }), invalid],
  ["search: query a number", (r) => r.search(42), invalid],
  ["search: query undefined", (r) => r.search(), invalid],
  ["search: k negative", (r) => r.search("canary", -1), invalid],
  ["search: k zero", (r) => r.search("canary", 0), invalid],
  ["search: k NaN", (r) => r.search("canary", NaN), invalid],
  ["search: k fractional", (r) => r.search("canary", 2.5), invalid],
  ["search: k Infinity", (r) => r.search("canary", Infinity), invalid],
  ["search: k a string", (r) => r.search("canary", "3"), invalid],
  ["search: k past the maximum", (r) => r.search("canary", 1e9), invalid],
  ["search: filter a string", (r) => r.search("canary", 3, { filter: "folder" }), invalid],
  ["search: filter an array", (r) => r.search("canary", 3, { filter: ["a"] }), invalid],
  ["search: filter with a cycle", (r) => r.search("canary", 3, { filter: cyclic }), invalid],
  ["search: filter a Map", (r) => r.search("canary", 3, { filter: new Map() }), invalid],
  ["search: empty query gives no hits", (r) => r.search("", 3), (hits) => assert.equal(hits.length, 0)],
  ["search: a 1 MB query is cut to the query length", (r) => r.search("word ".repeat(200_000), 3), (hits) => assert.ok(hits.length > 0)],
  ["search: filter matching nothing", (r) => r.search("canary", 3, { filter: { folder: "none" } }), (hits) => assert.equal(hits.length, 0)],
  ["encodeIds: id past the vocabulary", (r) => r.encodeIds([101, 99999999, 102]), invalid],
  ["encodeIds: negative id", (r) => r.encodeIds([101, -1, 102]), invalid],
  ["encodeIds: fractional id", (r) => r.encodeIds([101, 1.5, 102]), invalid],
  ["encodeIds: NaN id", (r) => r.encodeIds([NaN]), invalid],
  ["encodeIds: string ids", (r) => r.encodeIds(["101"]), invalid],
  ["encodeIds: not an array", (r) => r.encodeIds(101), invalid],
  ["encodeIds: empty", (r) => r.encodeIds([]), invalid],
  ["encodeIds: longer than the model takes", (r) => r.encodeIds(Array(600).fill(1000)), invalid],
  ["remove: numeric id", (r) => r.remove(3), invalid],
  ["remove: empty id", (r) => r.remove(""), invalid],
  ["remove: unknown id", (r) => r.remove("nobody"), (removed) => assert.equal(removed, false)],
  ["explain: text not a string", (r) => r.explain("q", null), invalid],
  ["explain: hit with a negative passage start", (r) => r.explain("q", "text", { passage: { start: -4 } }), invalid],
  ["explain: passage start past the text", (r) => r.explain("canary", "canary note", { passage: { start: 1e6 } }), null],
  ["importIndex: random bytes", (r) => r.importIndex(new Uint8Array([1, 2, 3, 4, 5])), "IndexError"],
  ["importIndex: a string", (r) => r.importIndex("CWIX"), invalid],
  ["importIndex: empty", (r) => r.importIndex(new Uint8Array()), "IndexError"],
  ["setBackend: unknown name", (r) => r.setBackend("cuda"), invalid],
  ["setBackend: not a string", (r) => r.setBackend(1), invalid],
  ["tokenize: not a string", (r) => r.tokenize(undefined), invalid],
];

test(`${CASES.length} hostile cases: typed errors, no crash, the retriever keeps working`, async () => {
  assert.ok(CASES.length >= 40);
  const retriever = await Retriever.fromBytes(readBundle(), { worker: false });
  await retriever.add([{ id: "canary", text: "The canary note about sourdough bread." }]);
  const table = [];
  try {
    for (const [what, call, expected] of CASES) {
      let outcome;
      try {
        const result = await call(retriever);
        if (typeof expected === "string") assert.fail(`${what}: resolved, expected ${expected}`);
        if (typeof expected === "function") expected(result);
        outcome = "ok";
      } catch (err) {
        if (err?.code === "ERR_ASSERTION") throw err;
        assert.equal(err?.name, expected, `${what}: ${err?.name}: ${err?.message}`);
        assert.ok(err instanceof Error && err.message.length > 0, what);
        outcome = `${err.name}: ${err.message.slice(0, 90)}`;
      }
      table.push(`${what.padEnd(48)} → ${outcome}`);
      const hits = await retriever.search("sourdough canary", 10);
      assert.ok(hits.some((h) => h.id === "canary"), `${what}: the retriever still finds the canary`);
    }
  } finally {
    retriever.free();
  }
  console.log(table.join("\n"));
});
