// Token pooling (`poolFactor`): an added document keeps about 1/factor of its token vectors, still
// ranks its own topic first, and a bad factor is refused before anything loads.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Retriever } from "colbert-wasm";
import { bundleDir } from "./helpers.mjs";

const notes = [
  { id: "bread", text: "Feed the sourdough starter with rye flour and water every morning before baking the loaf." },
  { id: "bike", text: "Replace the bicycle chain when it stretches past half a percent, and oil the new one." },
  { id: "tax", text: "File the quarterly tax return before the end of April and keep the receipts for five years." },
];

test("poolFactor keeps about 1/factor of the tokens and the ranking", async () => {
  const counts = {};
  for (const poolFactor of [1, 2, 3]) {
    const r = await Retriever.load(bundleDir, { poolFactor });
    await r.add(notes);
    counts[poolFactor] = r.tokenCount;
    assert.equal((await r.search("sourdough baking", 1))[0].id, "bread", `poolFactor ${poolFactor}`);
    assert.equal((await r.search("tax receipts", 1))[0].id, "tax", `poolFactor ${poolFactor}`);
    r.free();
  }
  // Per passage: the first token is kept, the rest pooled into floor((n - 1) / factor) clusters.
  assert.ok(counts[2] < 0.6 * counts[1] && counts[2] > 0.4 * counts[1], JSON.stringify(counts));
  assert.ok(counts[3] < 0.45 * counts[1] && counts[3] > 0.25 * counts[1], JSON.stringify(counts));
  await assert.rejects(Retriever.load(bundleDir, { poolFactor: 0 }), { name: "InvalidInputError" });
  await assert.rejects(Retriever.load(bundleDir, { poolFactor: 2.5 }), { name: "InvalidInputError" });
});
