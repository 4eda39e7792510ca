// The encoder warms itself up after load (warmup.js, Retriever.warmUp): the rule that says when its
// times have settled, and a worker engine that answers the page's calls between its warm-up runs.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Retriever } from "colbert-wasm";
import { runUntilSettled, settled } from "../../www/lib/warmup.js";
import { bundleDir } from "./helpers.mjs";

/** A runOnce that replays `times` (then repeats the last). */
const replay = (times) => {
  let i = 0;
  return async () => times[Math.min(i++, times.length - 1)];
};

test("warm-up stops once the last three runs are within 10% of each other", async () => {
  assert.equal(settled([34, 38, 33]), false); // 38 is 15% above 33
  assert.equal(settled([26, 25, 27]), true);
  assert.deepEqual(await runUntilSettled(replay([120, 63, 34, 38, 33, 42, 26, 25, 26, 90])), { runs: 9, firstMs: 120, lastMs: 26 });
});

test("warm-up gives up after its run limit when times never settle", async () => {
  let n = 0;
  const result = await runUntilSettled(async () => (n++ % 2 ? 20 : 40), { maxRuns: 24 });
  assert.equal(result.runs, 24);
});

test("a worker engine warms itself up after load and answers calls between its runs", { timeout: 60_000 }, async () => {
  // The warm-up is held open until the page's calls are answered: an add and a search that waited for
  // the whole warm-up would never be answered (the test would time out), whatever the machine's load.
  let released = false;
  const heldOpen = (times) => released && times.length >= 3;
  const retriever = await Retriever.load(bundleDir, {
    worker: true,
    gpu: false,
    encoders: 1,
    [Symbol.for("colbert-wasm.warmUpSettledForTesting")]: heldOpen,
  });
  try {
    const warming = retriever.warmUp(); // the warm-up the load started, not a second one
    assert.equal(retriever.warmUp(), warming);
    let warmedUp = false;
    warming.then(() => (warmedUp = true), () => {});
    await retriever.add([{ id: "a", text: "aspirin lowers inflammation" }]);
    const hits = await retriever.search("aspirin", 1);
    assert.equal(hits[0].id, "a");
    assert.equal(warmedUp, false, "the warm-up ended while held open");
    released = true;
    const { runs, firstMs, lastMs } = await warming;
    assert.ok(runs >= 3 && runs <= 24, `runs ${runs}`);
    assert.ok(firstMs > 0 && lastMs > 0);
  } finally {
    retriever.free();
  }
});
