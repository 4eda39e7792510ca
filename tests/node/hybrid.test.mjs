// Hybrid search through the built package: the three modes, an exact code found first, both halves
// of an explanation, the words kept across persistence, and files of the previous format version.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { Retriever } from "colbert-wasm";
import { readBundle } from "./helpers.mjs";

const bundle = readBundle();
const NOTES = [
  { id: "invoice", text: "Paid the plumber: invoice INV-2024-0042, 180 euros, due 3 March." },
  { id: "other-invoice", text: "Electrician's invoice INV-2023-0917 for 240 euros is still open." },
  { id: "bread", text: "Feed the sourdough starter every morning with flour and water." },
  { id: "bike", text: "Replace the bicycle chain when it stretches past 0.75 percent." },
  { id: "tax", text: "File the tax return before April; keep the receipts in the blue folder." },
];

test("every mode finds an exact code's note first; lexical returns only notes holding a query word", async () => {
  const r = await Retriever.fromBytes(bundle);
  await r.add(NOTES);
  for (const mode of ["hybrid", "lexical"]) {
    const hits = await r.search("INV-2024-0042", 3, { mode });
    assert.equal(hits[0].id, "invoice", mode);
    assert.equal(hits.mode, mode);
  }
  const lexical = await r.search("INV-2024-0042", 5, { mode: "lexical" });
  assert.deepEqual(lexical.map((h) => h.id).sort(), ["invoice", "other-invoice"]);
  assert.equal((await r.search("sourdough starter", 1)).mode, "hybrid", "hybrid is the default");
  assert.equal((await r.search("sourdough starter", 1, { mode: "late" }))[0].id, "bread");
  assert.equal((await r.search("the of", 3, { mode: "lexical" })).length, 0, "stop words match nothing");
  const work = await r.search("invoice", 5, { mode: "lexical", filter: { none: 1 } });
  assert.equal(work.length, 0, "filters apply in lexical mode too");
  await assert.rejects(r.search("x", 1, { mode: "bm25" }), { name: "InvalidInputError" });
});

test("explain gives the lexical half: the query words the passage holds, summing to the BM25 score", async () => {
  const r = await Retriever.fromBytes(bundle);
  await r.add(NOTES);
  const query = "Invoices paid to the plumber";
  const [hit] = await r.search(query, 1, { mode: "lexical" });
  assert.equal(hit.id, "invoice");
  const text = NOTES[0].text;
  const matches = await r.explain(query, text, hit);
  assert.ok(matches.length > 0, "the late-interaction half is still there");
  const words = Object.fromEntries(matches.words.map((w) => [w.term, w]));
  assert.deepEqual(Object.keys(words).sort(), ["invoic", "paid", "plumber"]);
  assert.deepEqual(words.invoic.queryRanges.map((q) => query.slice(q.start, q.end)), ["Invoices"]);
  assert.deepEqual(words.invoic.docRanges.map((d) => text.slice(d.start, d.end)), ["invoice"]);
  const total = matches.words.reduce((sum, w) => sum + w.score, 0);
  assert.ok(Math.abs(total - hit.score) < 1e-4, `${total} vs ${hit.score}`);
});

test("a persisted index keeps its words: reopened, a lexical search finds the same notes", async () => {
  const open = () => Retriever.fromBytes(bundle, { worker: false, persist: "hybrid-words" });
  const r = await open();
  await r.add(NOTES);
  const before = await r.search("INV-2024-0042 receipts", 5, { mode: "lexical" });
  r.free();
  const reopened = await open();
  assert.deepEqual([...(await reopened.search("INV-2024-0042 receipts", 5, { mode: "lexical" }))], [...before]);
  reopened.free();
  await Retriever.deleteIndex("hybrid-words");
});

/** The same index file as format version 1 wrote it: no words in the header. */
function asVersion1(file) {
  const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const headerLength = view.getUint32(8, true);
  const header = JSON.parse(new TextDecoder().decode(file.subarray(12, 12 + headerLength)));
  for (const doc of header.docs) delete doc.words;
  const headerBytes = new TextEncoder().encode(JSON.stringify(header));
  const body = new Uint8Array(12 + headerBytes.length + (file.length - 32 - 12 - headerLength));
  body.set(file.subarray(0, 12));
  new DataView(body.buffer).setUint32(4, 1, true);
  new DataView(body.buffer).setUint32(8, headerBytes.length, true);
  body.set(headerBytes, 12);
  body.set(file.subarray(12 + headerLength, file.length - 32), 12 + headerBytes.length);
  const checksum = createHash("sha256").update(body).digest();
  return new Uint8Array([...body, ...checksum]);
}

test("a version-1 file imports with its documents' texts; without them an IndexError names one", async () => {
  const r = await Retriever.fromBytes(bundle);
  await r.add(NOTES);
  const v1 = asVersion1(await r.exportIndex());
  const copy = await Retriever.fromBytes(bundle);
  await copy.add([{ id: "kept", text: "a note that must survive a refused import" }]);
  await assert.rejects(copy.importIndex(v1), (err) => err.name === "IndexError" && /version 1/.test(err.message) && /texts/.test(err.message));
  const partial = Object.fromEntries(NOTES.slice(1).map((n) => [n.id, n.text]));
  await assert.rejects(copy.importIndex(v1, { texts: partial }), (err) => err.name === "IndexError" && err.message.includes("'invoice'"));
  assert.equal(copy.size, 1, "a refused import changes nothing");
  const texts = Object.fromEntries(NOTES.map((n) => [n.id, n.text]));
  await copy.importIndex(v1, { texts });
  assert.equal(copy.size, NOTES.length);
  for (const mode of ["hybrid", "late", "lexical"]) {
    const query = "INV-2024-0042 receipts";
    assert.deepEqual([...(await copy.search(query, 5, { mode }))], [...(await r.search(query, 5, { mode }))], mode);
  }
  await assert.rejects(copy.importIndex(v1, { texts: { invoice: 7 } }), { name: "InvalidInputError" });
});
