// The hand-off to Qdrant: the native indexer (`colbert-wasm index --qdrant`) writes a collection
// for its model and resumes, replaces, retries and refuses as a user expects, every request it sends
// valid against Qdrant's published OpenAPI document (fake-qdrant.mjs: no server runs here); and the
// package's encodeQuery feeds Qdrant's query API as the README shows. (Qdrant's own ranking of the
// points: qdrant-edge.test.mjs.) Runs after the native suite, which builds the indexer.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { QdrantClient } from "@qdrant/js-client-rest";
import { Retriever } from "colbert-wasm";
import { index, vaultOf, withQdrant } from "./qdrant-helpers.mjs";
import { readBundle } from "./helpers.mjs";

const LONG = Array.from({ length: 40 }, (_, i) => `Paragraph ${i} of the garden diary: the tomatoes, the beans and the weather on day ${i}.`).join("\n\n");
const NOTES = {
  "bread.md": "Feed the sourdough starter with flour and water every morning.",
  "bike.txt": "Replace the bicycle chain once it stretches past half a percent.",
  "garden.md": LONG,
};

const upserts = (qdrant) => qdrant.requests.filter((r) => r.method === "PUT" && r.path.endsWith("/points"));

test("the indexer creates a max_sim collection for its model, uploads every passage with its payload, and a second run sends nothing", async () => {
  const vault = vaultOf(NOTES);
  const retriever = await Retriever.fromBytes(readBundle(), { worker: false });
  try {
    await withQdrant(async (qdrant) => {
      const out = join(vault, "notes.cwix");
      const first = await index(vault, "-o", out, "--qdrant", qdrant.url, "--collection", "notes", "--batch", "4");
      assert.equal(first.code, 0, first.stderr);
      assert.match(first.stderr, /Qdrant collection 'notes' at .*: created/);
      assert.match(first.stderr, /points uploaded: \d+\/\d+ \(100%\)/);
      const { config, points, indexes } = qdrant.collections.get("notes");
      await retriever.importIndex(new Uint8Array(readFileSync(out)));
      const [query] = await retriever.encodeQuery("sourdough starter");
      assert.deepEqual(config.vectors, { size: query.length, distance: "Dot", datatype: "float32", multivector_config: { comparator: "max_sim" } });
      assert.deepEqual(config.metadata.colbert_wasm, { model_sha256: retriever.modelSha256, precision: "int8", dim: query.length });
      assert.equal(indexes.doc_id, "keyword");
      assert.equal(points.size, retriever.passageCount, "one point per passage");
      assert.ok(retriever.passageCount > 3, "the long note is several passages");
      assert.ok(upserts(qdrant).every((r) => r.body.points.length <= 4), "batches of --batch points");
      for (const point of points.values()) {
        const { doc_id, path, passage, text, content_hash } = point.payload;
        assert.equal(path, doc_id);
        assert.ok(NOTES[doc_id].includes(text) && text.length > 0, `${doc_id} #${passage}: the passage's own text`);
        assert.match(content_hash, /^[0-9a-f]{64}$/);
        assert.ok(point.vector.every((row) => row.length === query.length));
      }
      const sent = qdrant.requests.length;
      const second = await index(vault, "--qdrant", qdrant.url, "--collection", "notes");
      assert.equal(second.code, 0, second.stderr);
      assert.match(second.stdout, /3 files: 0 encoded, 3 unchanged/);
      assert.match(second.stdout, /0 documents uploaded \(0 points\), 3 unchanged/);
      assert.ok(qdrant.requests.slice(sent).every((r) => r.method === "GET" || r.path.endsWith("/scroll")), "a resumed run only reads");
    });
  } finally {
    retriever.free();
    rmSync(vault, { recursive: true });
  }
});

test("a changed note's old points are deleted and its new ones uploaded; transient failures are retried", async () => {
  const vault = vaultOf(NOTES);
  try {
    await withQdrant(async (qdrant) => {
      assert.equal((await index(vault, "--qdrant", qdrant.url, "--collection", "notes")).code, 0);
      const { points } = qdrant.collections.get("notes");
      const gardenBefore = [...points.values()].filter((p) => p.payload.doc_id === "garden.md").length;
      writeFileSync(join(vault, "garden.md"), "The garden diary is now one line: beans again.");
      qdrant.failNext("PUT", /\/points$/, 503, 2);
      const sent = qdrant.requests.length;
      const changed = await index(vault, "--qdrant", qdrant.url, "--collection", "notes");
      assert.equal(changed.code, 0, changed.stderr);
      assert.match(changed.stdout, /1 documents uploaded \(1 points\), 2 unchanged/);
      assert.match(changed.stderr, /Qdrant did not answer: trying again in 0\.5 s[\s\S]*trying again in 1\.0 s/);
      const deletes = qdrant.requests.slice(sent).filter((r) => r.path.endsWith("/points/delete"));
      assert.deepEqual(deletes.map((r) => r.body.filter.must[0].match.value), ["garden.md"]);
      const garden = [...points.values()].filter((p) => p.payload.doc_id === "garden.md");
      assert.ok(gardenBefore > 1);
      assert.deepEqual(garden.map((p) => p.payload.text), ["The garden diary is now one line: beans again."]);
      assert.equal(points.size, 3);
    });
  } finally {
    rmSync(vault, { recursive: true });
  }
});

test("a collection of another model, or not made by colbert-wasm, is refused before anything is sent", async () => {
  const vault = vaultOf(NOTES);
  try {
    await withQdrant(async (qdrant) => {
      const vectors = { size: 128, distance: "Dot", multivector_config: { comparator: "max_sim" } };
      const other = { model_sha256: "0".repeat(64), precision: "int8", dim: 128 };
      qdrant.collections.set("other", { config: { vectors, metadata: { colbert_wasm: other } }, points: new Map(), indexes: {} });
      qdrant.collections.set("foreign", { config: { vectors }, points: new Map(), indexes: {} });
      const refused = await index(vault, "--qdrant", qdrant.url, "--collection", "other");
      assert.equal(refused.code, 1);
      assert.match(refused.stderr, /InvalidInputError: .*'other' holds vectors of another model_sha256/);
      const foreign = await index(vault, "--qdrant", qdrant.url, "--collection", "foreign");
      assert.match(foreign.stderr, /InvalidInputError: .*'foreign' was not made by colbert-wasm/);
      const badName = await index(vault, "--qdrant", qdrant.url, "--collection", "../admin");
      assert.match(badName.stderr, /collection name '..\/admin'/);
      assert.equal(upserts(qdrant).length, 0);
      qdrant.failNext("GET", /^\/collections\/notes$/, 503, 3);
      const down = await index(vault, "--qdrant", qdrant.url, "--collection", "notes", "--retries", "2");
      assert.equal(down.code, 1);
      assert.match(down.stderr, /RemoteError: .*HTTP 503.*after 3 attempts; run again to resume/);
    });
  } finally {
    rmSync(vault, { recursive: true });
  }
});

test("encodeQuery gives the query's token vectors in the shape Qdrant's query API takes (the README's example)", async () => {
  const retriever = await Retriever.fromBytes(readBundle(), { worker: false });
  try {
    await withQdrant(async (qdrant) => {
      const vectors = await retriever.encodeQuery("sourdough starter");
      assert.ok(vectors.length > 2 && vectors.every((v) => v.length === vectors[0].length));
      const norms = vectors.map((v) => Math.hypot(...v));
      assert.ok(norms.every((n) => Math.abs(n - 1) < 1e-3), "normalised, as the documents are");
      await assert.rejects(retriever.encodeQuery(42), { name: "InvalidInputError" });
      const client = new QdrantClient({ url: qdrant.url, checkCompatibility: false });
      qdrant.collections.set("notes", { config: { vectors: { size: vectors[0].length } }, points: new Map(), indexes: {} });
      await client.query("notes", { query: vectors, limit: 10, with_payload: true });
      const sent = qdrant.requests.at(-1);
      assert.equal(sent.path, "/collections/notes/points/query");
      assert.deepEqual(sent.body.query, vectors);
    });
  } finally {
    retriever.free();
  }
});
