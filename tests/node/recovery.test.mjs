// The engine survives what it cannot prevent: a wasm trap (forced here through the test-only
// trapForTesting symbol) rejects that call with an EngineError, a fresh instance takes over with the
// committed index, and the next calls work. Long documents report progress per passage and stop
// within one passage of an abort, committing nothing of the unfinished batch.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Retriever } from "colbert-wasm";
import { readBundle } from "./helpers.mjs";

const trap = Symbol.for("colbert-wasm.trapForTesting");
const NOTES = [
  { id: "bread", text: "Feed the sourdough starter with flour and water every morning." },
  { id: "bike", text: "Replace the bicycle chain once it stretches past half a percent." },
];

test("a trap in a call rejects it with an EngineError and the next calls work with the index kept", async () => {
  const r = await Retriever.fromBytes(readBundle(), { worker: false });
  try {
    await r.add(NOTES);
    await assert.rejects(r[trap]("now"), (err) => {
      assert.equal(err.name, "EngineError");
      assert.match(err.message, /nothing committed was lost/);
      return true;
    });
    assert.equal((await r.search("sourdough starter", 1))[0].id, "bread");
    await r.add([{ id: "tax", text: "File the quarterly tax return before April." }]);
    assert.equal(r.size, 3);
    assert.equal((await r.search("tax return", 1))[0].id, "tax");
  } finally {
    r.free();
  }
});

test("a trap inside a commit keeps the previous commits and loses only the failed batch", async () => {
  const r = await Retriever.fromBytes(readBundle(), { worker: false });
  try {
    await r.add(NOTES);
    await r[trap]("commit");
    await assert.rejects(r.add([{ id: "tax", text: "File the quarterly tax return." }]), { name: "EngineError" });
    assert.equal(r.size, 2);
    assert.deepEqual((await r.search("bicycle chain", 2)).map((h) => h.id), ["bike", "bread"]);
    await r.add([{ id: "tax", text: "File the quarterly tax return." }]);
    assert.equal(r.size, 3);
  } finally {
    r.free();
  }
});

test("a long document reports progress per passage and an abort stops within one passage", async () => {
  const r = await Retriever.fromBytes(readBundle(), { worker: false });
  try {
    await r.add(NOTES);
    const paragraph = "Sourdough starters need regular feeding with flour and water to stay active. ";
    const long = { id: "long", text: paragraph.repeat(1500) }; // ~115 kB, ~100 passages
    const controller = new AbortController();
    const passages = [];
    let afterAbort = 0;
    const started = Date.now();
    const rejected = r.add([long], {
      signal: controller.signal,
      onProgress: (done, total, passage) => {
        if (!passage) return;
        passages.push([passage.done, passage.total, Date.now() - started]);
        if (controller.signal.aborted) afterAbort += 1;
        if (passage.done === 5) controller.abort();
      },
    });
    await assert.rejects(rejected, { name: "AbortError" });
    const total = passages[0][1];
    console.log(`# ${total} passages; progress reports ${passages.length}; reports after the abort: ${afterAbort}`);
    assert.ok(total > 50, `${total} passages`);
    assert.deepEqual(passages.slice(0, 6).map(([d]) => d), [0, 1, 2, 3, 4, 5], "one report per passage");
    assert.ok(afterAbort <= 1, `stopped within one passage (${afterAbort} more)`);
    assert.equal(r.size, 2, "nothing of the aborted batch was added");
    assert.equal((await r.search("bicycle", 1))[0].id, "bike");
  } finally {
    r.free();
  }
});

test("documents past maxDocumentLength are refused before any work, and the limit is configurable", async () => {
  const r = await Retriever.fromBytes(readBundle(), { worker: false, maxDocumentLength: 1000 });
  try {
    await assert.rejects(r.add([{ id: "a", text: "x".repeat(1001) }]), (err) => {
      assert.equal(err.name, "InvalidInputError");
      assert.match(err.message, /docs\[0\]\.text .* 1000/);
      return true;
    });
    await r.add([{ id: "a", text: "x".repeat(1000) }]);
    assert.equal(r.size, 1);
  } finally {
    r.free();
  }
  await assert.rejects(Retriever.fromBytes(readBundle(), { worker: false, maxDocumentLength: -1 }), { name: "InvalidInputError" });
});
