// The conformance suite in wasm: every real-exporter fixture graph (fp32 with external data, and
// int8) loads through Retriever.fromBytes and gives onnxruntime's rows for the reference ids.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Retriever } from "colbert-wasm";
import { difference, fixtureBundle, fixtureFolders } from "./exports-helpers.mjs";

const GRAPHS = [
  ["model.onnx", "fp32"],
  ["model_int8.onnx", "int8"],
];

test("every export fixture matches onnxruntime in wasm", async () => {
  const folders = fixtureFolders();
  assert.ok(folders.length >= 8, `expected the 8 export fixtures, found ${folders.length}`);
  const rows = [];
  for (const folder of folders) {
    for (const [file, precision] of GRAPHS) {
      const { bundle, reference } = fixtureBundle(folder, file);
      const retriever = await Retriever.fromBytes(bundle, { worker: false });
      let worst = { maxAbs: 0, worstCosine: 1 };
      try {
        for (const [i, ids] of reference.ids.entries()) {
          const d = difference(await retriever.encodeIds(ids), reference[precision][i]);
          worst = { maxAbs: Math.max(worst.maxAbs, d.maxAbs), worstCosine: Math.min(worst.worstCosine, d.worstCosine) };
        }
      } finally {
        retriever.free();
      }
      rows.push(`${folder.padEnd(30)} ${file.padEnd(16)} max abs ${worst.maxAbs.toExponential(2)}, worst cosine ${worst.worstCosine.toFixed(6)}`);
      const ok = precision === "fp32" ? worst.maxAbs <= 1e-4 : worst.maxAbs <= 1e-3 || worst.worstCosine >= 0.999;
      assert.ok(ok, `${folder}/${file}: ${JSON.stringify(worst)}`);
    }
  }
  console.log(rows.join("\n"));
});

test("a missing or altered external data file is refused, naming it", async () => {
  const { bundle } = fixtureBundle("bert-sdpa-default", "model.onnx");
  await assert.rejects(Retriever.fromBytes({ ...bundle, modelData: {} }, { worker: false }), (err) => {
    assert.equal(err.name, "ManifestError");
    assert.match(err.message, /model\.onnx\.data/);
    return true;
  });
  const altered = bundle.modelData.model_data.slice();
  altered[100] ^= 1;
  await assert.rejects(Retriever.fromBytes({ ...bundle, modelData: { model_data: altered } }, { worker: false }), (err) => {
    assert.equal(err.name, "ChecksumError");
    assert.match(err.message, /model\.onnx\.data/);
    return true;
  });
});

test("ids past the embedding table are an InvalidInputError and the retriever keeps working", async () => {
  const { bundle, reference } = fixtureBundle("bert-sdpa-torchscript", "model.onnx");
  const retriever = await Retriever.fromBytes(bundle, { worker: false });
  try {
    for (const ids of [[101, 99999999, 102], [101, 30522, 102], [], Array(257).fill(101)]) {
      await assert.rejects(retriever.encodeIds(ids), { name: "InvalidInputError" }, `ids ${ids.slice(0, 4)}`);
    }
    const d = difference(await retriever.encodeIds(reference.ids[0]), reference.fp32[0]);
    assert.ok(d.maxAbs <= 1e-4, "the same retriever still encodes after the refusals");
    await retriever.add([{ id: "a", text: "still indexing after bad ids" }]);
    assert.equal(retriever.size, 1);
  } finally {
    retriever.free();
  }
});

test("a tokenizer with more ids than the model's embedding table is refused at load, naming both", async () => {
  // The BPE tokenizer has 2048 ids; a BERT fixture's table has 30522, the ModernBERT one 2048: pair
  // the BERT tokenizer (30522 ids) with the ModernBERT graph.
  const { bundle: modern } = fixtureBundle("modernbert-sdpa-torchscript", "model.onnx");
  const { bundle: bert } = fixtureBundle("bert-sdpa-torchscript", "model.onnx");
  const manifest = JSON.parse(modern.manifest);
  manifest.files.tokenizer = JSON.parse(bert.manifest).files.tokenizer;
  const mismatched = { ...modern, manifest: JSON.stringify(manifest), tokenizer: bert.tokenizer };
  await assert.rejects(Retriever.fromBytes(mismatched, { worker: false }), (err) => {
    assert.equal(err.name, "ModelError");
    assert.match(err.message, /30521/);
    assert.match(err.message, /2048/);
    return true;
  });
});
