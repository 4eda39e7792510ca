// The built npm package, imported by its name, finds SciFact's judged documents for known queries.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Retriever } from "colbert-wasm";
import { bundleDir, docText, readJsonl, readQrels, scifactDir } from "./helpers.mjs";

const QUERIES = 12;
const DOCS = 40;

test("judged SciFact documents rank at the top among distractors", async () => {
  const qrels = readQrels(`${scifactDir}qrels/test.tsv`);
  const corpus = readJsonl(`${scifactDir}corpus.jsonl`);
  const queries = new Map(readJsonl(`${scifactDir}queries.jsonl`).map((q) => [q._id, q.text]));

  const sample = [...qrels.keys()].slice(0, QUERIES);
  const judged = new Set(sample.flatMap((q) => [...qrels.get(q).keys()]));
  // Distractors: the first corpus documents that are not judged for the sampled queries.
  const docs = corpus.filter((d) => judged.has(d._id));
  for (const d of corpus) {
    if (docs.length >= DOCS) break;
    if (!judged.has(d._id)) docs.push(d);
  }

  // Two encoders (worker_threads): the abstracts are encoded on both cores of a small machine.
  const retriever = await Retriever.load(bundleDir, { encoders: 2 });
  await retriever.add(docs.map((d) => ({ id: d._id, text: docText(d) })));
  assert.equal(retriever.size, docs.length);
  assert.equal(retriever.backend, "simd");

  let top1 = 0;
  let top5 = 0;
  for (const q of sample) {
    const hits = await retriever.search(queries.get(q), 5);
    assert.equal(hits.length, 5);
    for (let i = 1; i < hits.length; i++) assert.ok(hits[i - 1].score >= hits[i].score, "hits sorted by score");
    const relevant = qrels.get(q);
    if (relevant.has(hits[0].id)) top1++;
    if (hits.some((h) => relevant.has(h.id))) top5++;
  }
  console.log(`# ${docs.length} docs, ${sample.length} queries: judged doc at rank 1 for ${top1}, in top 5 for ${top5}`);
  // A random ranking puts a judged doc in the top 5 for ~6% of queries; a broken encoder fails here.
  assert.ok(top5 >= 0.85 * sample.length, `judged doc in top 5 for only ${top5}/${sample.length} queries`);
  assert.ok(top1 >= 0.6 * sample.length, `judged doc at rank 1 for only ${top1}/${sample.length} queries`);
});
