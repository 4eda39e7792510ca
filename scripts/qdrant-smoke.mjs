// npm run qdrant:smoke — the Qdrant hand-off against a real server (no server runs in the test command:
// there its requests are checked against Qdrant's OpenAPI document and its ranking against Qdrant
// Edge). Needs QDRANT_URL (QDRANT_API_KEY for Qdrant Cloud) and the native indexer (COLBERT_INDEXER,
// default target/release/colbert-wasm; https needs it built with `--features https`). Indexes three
// notes into a fresh collection with the indexer, checks the collection's model record against the
// package's model, queries it with encodeQuery through @qdrant/js-client-rest as the README shows,
// runs the indexer again (nothing to upload), and deletes the collection. Exits non-zero on any miss.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { QdrantClient } from "@qdrant/js-client-rest";
import { Retriever } from "../www/lib/index.js";

const url = process.env.QDRANT_URL;
if (!url) {
  console.error("QDRANT_URL is not set: this smoke test needs a Qdrant server (e.g. docker run -p 6333:6333 qdrant/qdrant)");
  process.exit(2);
}
const root = new URL("../", import.meta.url).pathname;
const indexer = process.env.COLBERT_INDEXER ?? `${root}target/release/colbert-wasm`;
const bundle = `${root}models/default/`;
const collection = `colbert-wasm-smoke-${Date.now()}`;
const notes = {
  "bread.md": "Feed the sourdough starter with rye flour every morning.",
  "bike.md": "Replace the bicycle chain when it stretches.",
  "taxes.md": "File the quarterly tax return before the end of April.",
};

const vault = mkdtempSync(join(tmpdir(), "colbert-smoke-"));
const client = new QdrantClient({ url, apiKey: process.env.QDRANT_API_KEY });
const check = (ok, what) => {
  console.log(`${ok ? "ok" : "FAILED"}: ${what}`);
  if (!ok) process.exitCode = 1;
};
try {
  for (const [name, text] of Object.entries(notes)) writeFileSync(join(vault, name), text);
  const run = () => execFileSync(indexer, ["index", vault, "--bundle", bundle, "--qdrant", url, "--collection", collection], { encoding: "utf8" });
  console.log(run().trim());
  const read = (name) => new Uint8Array(readFileSync(bundle + name));
  const retriever = await Retriever.fromBytes({ manifest: read("manifest.json"), model: read("model.onnx"), tokenizer: read("tokenizer.json") }, { worker: false });
  const info = await client.getCollection(collection);
  check(info.config.metadata?.colbert_wasm?.model_sha256 === retriever.modelSha256, "the collection records this package's model");
  check(info.points_count === 3, `3 points (${info.points_count})`);
  const { points } = await client.query(collection, { query: await retriever.encodeQuery("sourdough bread"), limit: 3, with_payload: true });
  check(points[0]?.payload?.doc_id === "bread.md", `top hit for "sourdough bread": ${points[0]?.payload?.doc_id} (${points[0]?.score?.toFixed(3)})`);
  check(/0 documents uploaded/.test(run()), "a second run uploads nothing");
  retriever.free();
} finally {
  await client.deleteCollection(collection).catch(() => {});
  rmSync(vault, { recursive: true });
}
