// The encoder pool (www/lib/pool.js) with worker_threads: chunks encoded in parallel are committed in
// the caller's order, each whole, and give the very index one engine builds; unchanged texts are not
// encoded; an abort stops every chunk and keeps only whole chunks; a worker that dies mid-chunk is
// replaced and its chunk encoded again.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Retriever } from "colbert-wasm";
import { bundleDir } from "./helpers.mjs";

const topics = ["sourdough starter and flour", "bicycle chain wear", "quarterly tax return", "watering the fern",
  "winter tyres and oil", "the sprint retrospective", "a birthday present list", "renewing the passport"];
const docs = (n, prefix = "n") => Array.from({ length: n }, (_, i) => ({
  id: `${prefix}${i}`,
  text: `Note ${i} about ${topics[i % topics.length]}, written on day ${i}.`,
  metadata: { i },
}));

const load = (encoders) => Retriever.load(bundleDir, { encoders });

test("a pool of two encoders builds the same index as one, in order, and skips unchanged texts", async () => {
  const [one, pool] = await Promise.all([load(1), load(2)]);
  try {
    const batch = docs(29); // four chunks, the last one short
    const seen = [];
    const report = await pool.add(batch, { onProgress: (done, total, passages) => seen.push({ done, total, passages }) });
    await one.add(batch);
    assert.deepEqual(report, { encoded: 29, unchanged: 0 });
    assert.deepEqual(await pool.exportIndex(), await one.exportIndex(), "byte-identical index: same vectors, same order");
    const committed = seen.map((s) => s.done);
    assert.deepEqual(committed, [...committed].sort((a, b) => a - b), "documents committed only grow");
    assert.equal(committed.at(-1), 29);
    assert.ok(seen.some((s) => s.passages?.done > 0 && s.passages.done < 29), "passages are reported as they are encoded");

    const again = batch.map((d) => ({ ...d, metadata: { i: d.metadata.i, tag: "re-added" } }));
    assert.deepEqual(await pool.add(again), { encoded: 0, unchanged: 29 });
    const [hit] = await pool.search("passport renewal", 1);
    assert.equal(hit.metadata.tag, "re-added");
  } finally {
    one.free();
    pool.free();
  }
});

test("an abort stops the pool and keeps whole chunks only", async () => {
  const pool = await load(2);
  try {
    await pool.add(docs(3, "kept"));
    const controller = new AbortController();
    const add = pool.add(docs(48), {
      signal: controller.signal,
      onProgress: (done, total, passages) => passages?.done >= 12 && controller.abort(new Error("stop")),
    });
    await assert.rejects(add, /stop/);
    const added = pool.size - 3;
    assert.ok(added < 48, `the abort stopped the add (${added} of 48 committed)`);
    assert.equal(added % 8, 0, `whole chunks only: ${added}`);
    assert.equal((await pool.search("kept note", 3)).length, 3, "the index still works");
  } finally {
    pool.free();
  }
});

test("a worker that dies mid-chunk is replaced and its chunk encoded again", async () => {
  const [one, pool] = await Promise.all([load(1), load(2)]);
  try {
    const batch = docs(24);
    let killed = false;
    const kill = Symbol.for("colbert-wasm.killEncoderForTesting");
    await pool.add(batch, {
      onProgress: (done, total, passages) => {
        if (!killed && passages?.done > 2) killed = pool[kill]();
      },
    });
    assert.ok(killed, "a busy encoder was stopped");
    await one.add(batch);
    assert.deepEqual(await pool.exportIndex(), await one.exportIndex(), "nothing lost, nothing twice");
  } finally {
    one.free();
    pool.free();
  }
});
