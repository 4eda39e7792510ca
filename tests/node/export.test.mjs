// A real export's folder (here: the default model laid out as pylate-onnx-export writes it) gets a
// manifest from the CLI and then loads and searches like any bundle; a folder that cannot work is
// refused with the reason.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { copyFileSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { createHash } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Retriever } from "colbert-wasm";
import { bundleDir, repoRoot } from "./helpers.mjs";
import { exportsDir, tokenizerFor } from "./exports-helpers.mjs";

const CLI = `${repoRoot}www/lib/make-manifest.mjs`;

function exportFolder(config) {
  const dir = mkdtempSync(join(tmpdir(), "colbert-export-"));
  symlinkSync(join(bundleDir, "model.onnx"), join(dir, "model_int8.onnx"));
  copyFileSync(join(bundleDir, "tokenizer.json"), join(dir, "tokenizer.json"));
  writeFileSync(join(dir, "config_sentence_transformers.json"), JSON.stringify(config));
  return dir;
}

test("a PyLate export folder gets a manifest and then loads and searches", async () => {
  const dir = exportFolder({
    query_prefix: "[unused0]",
    document_prefix: "[unused1]",
    query_length: 32,
    document_length: 256,
    do_query_expansion: true,
    attend_to_expansion_tokens: false,
    embedding_dim: 128,
  });
  try {
    const out = execFileSync(process.execPath, [CLI, dir, "--name", "my-export"], { encoding: "utf8" });
    assert.match(out, /wrote .*manifest\.json: my-export, model model_int8\.onnx, dim 128/);
    const manifest = JSON.parse(readFileSync(join(dir, "manifest.json"), "utf8"));
    const model = readFileSync(join(dir, "model_int8.onnx"));
    assert.equal(manifest.files.model.sha256, createHash("sha256").update(model).digest("hex"));
    assert.equal(manifest.files.model.bytes, model.length);
    assert.deepEqual(manifest.query_marker, { token: "[unused0]" });
    assert.equal(manifest.query_mask_expansion, true);

    const retriever = await Retriever.load(dir);
    await retriever.add([
      { id: "bread", text: "Feed the sourdough starter with flour and water every morning." },
      { id: "bike", text: "Replace the bicycle chain once it stretches past half a percent." },
    ]);
    const hits = await retriever.search("when do I feed my sourdough starter?", 2);
    assert.equal(hits[0].id, "bread");
    retriever.free();
  } finally {
    rmSync(dir, { recursive: true });
  }
});

test("an export whose prefix token the tokenizer lacks is refused, naming the token", () => {
  const dir = exportFolder({ query_prefix: "[Q] ", document_prefix: "[D] ", embedding_dim: 128 });
  try {
    const run = spawnSync(process.execPath, [CLI, dir], { encoding: "utf8" });
    assert.equal(run.status, 1);
    assert.match(run.stderr, /ManifestError: .*\[Q\]/);
  } finally {
    rmSync(dir, { recursive: true });
  }
});

// Export-shaped folders of both architectures, as pylate-onnx-export writes them with torch's default
// exporter: model.onnx + model.onnx.data, tokenizer.json, config_sentence_transformers.json.
const ARCHITECTURES = [
  // BERT checkpoints (answerai-colbert-small-v1) use [unused0]/[unused1] as markers.
  ["bert-sdpa-default", { query_prefix: "[unused0]", document_prefix: "[unused1]", embedding_dim: 16 }],
  // ModernBERT checkpoints (GTE-ModernColBERT-v1) add "[Q] "/"[D] " tokens: PyLate's defaults.
  ["modernbert-sdpa-default", { embedding_dim: 16, query_length: 32, document_length: 180 }],
];

function architectureFolder(fixture, config) {
  const dir = mkdtempSync(join(tmpdir(), "colbert-export-"));
  for (const file of ["model.onnx", "model.onnx.data"]) copyFileSync(join(exportsDir, fixture, file), join(dir, file));
  copyFileSync(tokenizerFor(fixture), join(dir, "tokenizer.json"));
  writeFileSync(join(dir, "config_sentence_transformers.json"), JSON.stringify(config));
  return dir;
}

for (const [fixture, config] of ARCHITECTURES) {
  test(`${fixture}: an export folder with external data gets a manifest, loads, adds and searches`, async () => {
    const dir = architectureFolder(fixture, config);
    try {
      const out = execFileSync(process.execPath, [CLI, dir], { encoding: "utf8" });
      assert.match(out, /model model\.onnx, data model\.onnx\.data, dim 16/);
      const manifest = JSON.parse(readFileSync(join(dir, "manifest.json"), "utf8"));
      const data = readFileSync(join(dir, "model.onnx.data"));
      assert.deepEqual(manifest.files.model_data, {
        path: "model.onnx.data", sha256: createHash("sha256").update(data).digest("hex"), bytes: data.length,
      });
      const retriever = await Retriever.load(dir);
      const notes = [
        { id: "bread", text: "Feed the sourdough starter with flour and water every morning." },
        { id: "bike", text: "Replace the bicycle chain once it stretches past half a percent." },
        { id: "long", text: "A long note about many things. ".repeat(60) },
      ];
      assert.deepEqual(await retriever.add(notes), { encoded: 3, unchanged: 0 });
      const hits = await retriever.search("sourdough starter", 3);
      assert.equal(hits.length, 3);
      // Random weights: the ranking means nothing, so check its shape: every note once, best first.
      assert.deepEqual(hits.map((h) => h.id).sort(), ["bike", "bread", "long"]);
      assert.ok(hits.every((h, i) => Number.isFinite(h.score) && (i === 0 || hits[i - 1].score >= h.score)));
      retriever.free();
    } finally {
      rmSync(dir, { recursive: true });
    }
  });
}

test("an export whose external data file is missing is refused by the CLI, naming it", () => {
  const dir = architectureFolder(...ARCHITECTURES[0]);
  try {
    rmSync(join(dir, "model.onnx.data"));
    const run = spawnSync(process.execPath, [CLI, dir], { encoding: "utf8" });
    assert.equal(run.status, 1);
    assert.match(run.stderr, /ManifestError: .*model\.onnx\.data/);
  } finally {
    rmSync(dir, { recursive: true });
  }
});
