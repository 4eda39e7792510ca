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
  const result = await runUntilSettled(async () => (n++ % 2 ? 20 : 40), 24);
  assert.equal(result.runs, 24);
});

test("a worker engine warms itself up after load and answers calls between its runs", async () => {
  const retriever = await Retriever.load(bundleDir, { worker: true, gpu: false, encoders: 1 });
  try {
    const warming = retriever.warmUp(); // the warm-up the load started, not a second one
    assert.equal(retriever.warmUp(), warming);
    let warmedUp = false;
    warming.then(() => (warmedUp = true), () => {});
    // Sent as load resolves, the add is answered after the warm-up's run in progress, while the
    // warm-up (three runs at least) still has runs to go. (The search after it is not asserted: on a
    // loaded machine the warm-up can settle between the two.)
    await retriever.add([{ id: "a", text: "aspirin lowers inflammation" }]);
    const warmedUpAtAdd = warmedUp;
    const hits = await retriever.search("aspirin", 1);
    assert.equal(hits[0].id, "a");
    assert.equal(warmedUpAtAdd, false, "the add waited for the whole warm-up");
    const { runs, firstMs, lastMs } = await warming;
    assert.ok(runs >= 3 && runs <= 24, `runs ${runs}`);
    assert.ok(firstMs > 0 && lastMs > 0);
  } finally {
    retriever.free();
  }
});
