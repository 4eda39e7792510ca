// Vector parity in wasm (Node: the simd128 build on Node 20): the built package's tract gives the
// per-token vectors Python onnxruntime gave, as the native build does (tests/model.rs). The same
// check runs in Chromium on the relaxed-simd build (tests/browser/vectors.test.mjs).
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { Retriever } from "colbert-wasm";
import { repoRoot } from "./helpers.mjs";
import { describeParity, parityFailures, vectorParity } from "./parity.mjs";
import { preferredBuild } from "../../www/lib/wasm.js";

test("wasm vectors match onnxruntime: fp32 within 1e-4, int8 token cosine >= 0.99", async () => {
  const result = await vectorParity(Retriever, async (path) => new Uint8Array(await readFile(repoRoot + path)));
  console.log(`# ${describeParity(result)}`);
  assert.equal(result.build, preferredBuild);
  assert.deepEqual(parityFailures(result), []);
});
