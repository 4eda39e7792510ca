// Shared helpers for the Node tests: the default bundle's location and a SciFact sample.
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

export const repoRoot = fileURLToPath(new URL("../../", import.meta.url));
export const bundleDir = process.env.COLBERT_BUNDLE_DIR ?? `${repoRoot}models/default/`;
export const sharedDir = process.env.COLBERT_SHARED_DIR ?? `${repoRoot}../shared/`;
export const scifactDir = process.env.SCIFACT_DIR ?? `${sharedDir}data/scifact/`;

export function readBundle() {
  const read = (name) => new Uint8Array(readFileSync(bundleDir + name));
  return { manifest: read("manifest.json"), model: read("model.onnx"), tokenizer: read("tokenizer.json") };
}

export function readJsonl(path) {
  return readFileSync(path, "utf8").split("\n").filter(Boolean).map((line) => JSON.parse(line));
}

/** qrels/<split>.tsv as Map(queryId -> Map(docId -> grade)). */
export function readQrels(path) {
  const qrels = new Map();
  for (const line of readFileSync(path, "utf8").split("\n").slice(1)) {
    const [q, d, grade] = line.trim().split("\t");
    if (!q) continue;
    if (!qrels.has(q)) qrels.set(q, new Map());
    qrels.get(q).set(d, Number(grade));
  }
  return qrels;
}

export const docText = (doc) => `${doc.title} ${doc.text}`.trim();
