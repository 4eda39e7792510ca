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
