// Explanations, metadata and export/import through the built package: what a notes UI needs to show
// why a note matched and to back up its index.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Retriever } from "colbert-wasm";
import { readBundle } from "./helpers.mjs";

const bundle = readBundle();

test("explain maps each query token to the words it matched, as JS string ranges", async () => {
  const r = await Retriever.fromBytes(bundle);
  const text = "🙂 Errands: renew the library card, return the books.";
  await r.add([{ id: "errands", text, metadata: { tags: ["todo"] } }]);
  const [hit] = await r.search("library card renewal", 1, { mode: "late" }); // scores MaxSim alone
  assert.deepEqual(hit.metadata, { tags: ["todo"] });
  const matches = await r.explain("library card renewal", text, hit);
  const words = matches.filter((m) => m.queryRange).map((m) => [m.queryToken, text.slice(m.docRange.start, m.docRange.end)]);
  assert.deepEqual(words.find(([q]) => q === "library"), ["library", "library"]);
  assert.deepEqual(words.find(([q]) => q === "card"), ["card", "card"]);
  const total = matches.reduce((sum, m) => sum + m.score, 0);
  assert.ok(Math.abs(total - hit.score) < 0.05, `contributions ${total} vs int8 score ${hit.score}`);
});

test("an exported index imports into a fresh retriever; a cut file is an IndexError", async () => {
  const r = await Retriever.fromBytes(bundle);
  await r.add([{ id: "a", text: "Sourdough needs a starter." }, { id: "b", text: "Bicycle chain wear." }]);
  const file = await r.exportIndex();
  const copy = await Retriever.fromBytes(bundle);
  await copy.importIndex(file);
  assert.deepEqual([...(await copy.search("bread", 2))], [...(await r.search("bread", 2))]);
  await assert.rejects(copy.importIndex(file.slice(0, 100)), (err) => err.name === "IndexError");
  assert.equal(copy.size, 2, "the failed import changed nothing");
});
