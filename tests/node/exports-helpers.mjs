// The real-exporter fixtures (../shared/fixtures/exports, see its README, and this repository's
// tests/fixtures/exports: the RoBERTa graphs of scripts/make_roberta_exports.py) as bundles: a manifest
// made here for each graph, the tokenizer it pairs with (BERT: the default bundle's WordPiece
// vocabulary of the same size; ModernBERT and RoBERTa: the byte-level BPE of tests/fixtures/tokenizers,
// 2048 ids), and the graph's external data file when it has one. Shared by the Node conformance and
// CLI tests.
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { bundleDir, repoRoot } from "./helpers.mjs";

export const exportsDir = process.env.COLBERT_EXPORTS_DIR ?? `${repoRoot}../shared/fixtures/exports/`;

const exportRoots = [exportsDir, `${repoRoot}tests/fixtures/exports/`];
const graphsIn = (root) => (existsSync(root) ? readdirSync(root) : []).filter((name) => existsSync(join(root, name, "reference.json")));

/** Every fixture folder's name, of both roots. */
export const fixtureFolders = () => exportRoots.flatMap(graphsIn).sort();

/** The folder `name` of whichever root holds it. */
export const fixtureDir = (name) => join(exportRoots.find((root) => graphsIn(root).includes(name)), name);

export const tokenizerFor = (folder) =>
  /^(modernbert|roberta)/.test(folder)
    ? join(repoRoot, "tests/fixtures/tokenizers/bpe.json")
    : join(bundleDir, "tokenizer.json");

const sha256 = (bytes) => createHash("sha256").update(bytes).digest("hex");
const entry = (path, bytes) => ({ path, sha256: sha256(bytes), bytes: bytes.length });

/** `{ bundle, reference }`: the bytes `Retriever.fromBytes` takes for `folder/file`, and its reference. */
export function fixtureBundle(folder, file) {
  const dir = fixtureDir(folder);
  const reference = JSON.parse(readFileSync(join(dir, "reference.json"), "utf8"));
  const model = new Uint8Array(readFileSync(join(dir, file)));
  const tokenizer = new Uint8Array(readFileSync(tokenizerFor(folder)));
  const files = { model: entry(file, model), tokenizer: entry("tokenizer.json", tokenizer) };
  const modelData = {};
  // torch's default exporter keeps fp32 weights in model.onnx.data; its int8 graphs are inline.
  if (file === "model.onnx" && existsSync(join(dir, "model.onnx.data"))) {
    modelData.model_data = new Uint8Array(readFileSync(join(dir, "model.onnx.data")));
    files.model_data = entry("model.onnx.data", modelData.model_data);
  }
  const manifest = {
    format: "colbert-wasm-bundle", format_version: 1, name: `${folder}/${file}`, files,
    dim: reference.fp32[0][0].length, query_length: 32, document_length: 256,
  };
  return { bundle: { manifest: JSON.stringify(manifest), model, tokenizer, modelData }, reference };
}

/** Largest absolute difference and worst token cosine of `rows` (flat) against `expected` ([[…]]). */
export function difference(rows, expected) {
  const dim = expected[0].length;
  if (rows.length !== expected.length * dim) throw new Error(`${rows.length} values, expected ${expected.length * dim}`);
  let maxAbs = 0;
  let worstCosine = 1;
  expected.forEach((want, t) => {
    const got = rows.subarray(t * dim, (t + 1) * dim);
    let dot = 0, a = 0, b = 0;
    want.forEach((w, i) => {
      maxAbs = Math.max(maxAbs, Math.abs(got[i] - w));
      dot += got[i] * w; a += got[i] * got[i]; b += w * w;
    });
    worstCosine = Math.min(worstCosine, dot / Math.sqrt(a * b));
  });
  return { maxAbs, worstCosine };
}
