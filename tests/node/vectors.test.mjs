// Vector parity in wasm: the built package's tract, running the bundle's fp32 graph, gives the
// per-token vectors Python onnxruntime gave (tests/fixtures/reference_vectors_fp32.json, made by
// scripts/gen_fixtures.py) within 1e-4, as the native build does (tests/model.rs).
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { Retriever } from "colbert-wasm";
import { bundleDir, readBundle, repoRoot } from "./helpers.mjs";

test("wasm fp32 vectors match onnxruntime within 1e-4", async () => {
  const { tokenizer, manifest } = readBundle();
  const model = new Uint8Array(readFileSync(`${bundleDir}model.fp32.onnx`));
  const reference = JSON.parse(readFileSync(`${repoRoot}tests/fixtures/reference_vectors_fp32.json`, "utf8"));
  const sha256 = createHash("sha256").update(model).digest("hex");
  assert.equal(reference.model_sha256, sha256, "fixture made from this fp32 graph");
  const m = JSON.parse(new TextDecoder().decode(manifest));
  m.files.model.sha256 = sha256;
  m.normalize = false; // the fixture holds the graph's raw rows
  const r = await Retriever.fromBytes({ manifest: JSON.stringify(m), model, tokenizer });
  assert.ok(reference.cases.length >= 20);
  let worst = 0;
  for (const { ids, vectors } of reference.cases) {
    const rows = await r.encodeIds(ids);
    assert.equal(rows.length, vectors.length * vectors[0].length);
    vectors.flat().forEach((want, i) => (worst = Math.max(worst, Math.abs(rows[i] - want))));
  }
  console.log(`# wasm fp32 vs onnxruntime: max abs difference ${worst.toExponential(2)} over ${reference.cases.length} texts`);
  assert.ok(worst < 1e-4, `max abs difference ${worst}`);
  r.free();
});
