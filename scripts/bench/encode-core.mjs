// The encoder benchmark body, shared by Node and the browser page: our wasm encoder against
// onnxruntime-web (wasm backend, one thread, SIMD) on the same graph (`modelBytes`: its int8 file) and ids.
// Both are warmed up by the same rule before timing (warmup.js: until their times settle), and the
// benchmark prints what that took: a fresh wasm module is slow until V8 has optimised it.
import { runUntilSettled } from "../../www/lib/warmup.js";
import { WasmRetriever, initWasm } from "../../www/lib/wasm.js";
import { fetchBundle } from "../../www/lib/bundle.js";
import { profileEncoder } from "../../www/pkg/colbert_wasm.js";

const WORDS = "the patient cohort showed reduced inflammation after treatment with low dose aspirin over twelve weeks".split(" ");

function percentile(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

function summarise(times) {
  const sorted = [...times].sort((a, b) => a - b);
  return { p50: percentile(sorted, 50), p95: percentile(sorted, 95), mean: times.reduce((a, b) => a + b, 0) / times.length };
}

/** onnxruntime-web's file in a bundle folder: the same graph as onnxruntime's own dynamic quantiser
 *  writes it, which onnxruntime-web runs 5-7x faster than our per-token int8 model.onnx
 *  (build_model.py, quantize_for_onnxruntime). */
export const PEER_MODEL = "model.ort-int8.onnx";

/** fn's time in ms. */
async function timed(fn) {
  const started = performance.now();
  await fn();
  return performance.now() - started;
}

/** Times `reps` runs of each of `fns`, taking turns run by run, so a machine that speeds up or slows
 *  down meanwhile (a shared 2-core VM does, by 10-20% within a minute) moves every side alike. */
async function timeTurns(reps, ...fns) {
  for (const fn of fns) {
    await fn(); // warm-up: first runs allocate and plan
    await fn();
  }
  const times = fns.map(() => []);
  for (let i = 0; i < reps; i++) {
    for (const [side, fn] of fns.entries()) times[side].push(await timed(fn));
  }
  return times.map(summarise);
}

/** A text of exactly `n` tokens under this tokenizer (plain words, one token each). */
async function textOfTokens(retriever, n) {
  const single = [];
  for (const w of WORDS) if ((await retriever.tokenize(w)).length === 1) single.push(w);
  const text = Array.from({ length: n }, (_, i) => single[i % single.length]).join(" ");
  const ids = Array.from(await retriever.tokenize(text));
  if (ids.length !== n) throw new Error(`expected ${n} tokens, got ${ids.length}`);
  return { text, ids: [101, ...ids, 102] };
}

function ortFeeds(ort, ids) {
  const n = ids.length;
  const tensor = (values) => new ort.Tensor("int64", BigInt64Array.from(values, BigInt), [1, n]);
  return { input_ids: tensor(ids), attention_mask: tensor(ids.map(() => 1)), token_type_ids: tensor(ids.map(() => 0)) };
}

/**
 * Returns { query: {ours, ort, ratio}, document: {...} } with times in ms; ratio = ours / theirs
 * (query: p50 latency; document: throughput, theirs / ours time).
 */
/** Documents/s of `add` with an encoder pool (`encoders` undefined: the default), after a warm-up add
 *  that starts its workers: 48 distinct documents of `doc`'s length. */
async function poolThroughput(Retriever, bundleUrl, doc, encoders) {
  const words = doc.text.split(" ");
  const docs = Array.from({ length: 48 }, (_, i) => ({
    id: `pool-${i}`,
    text: [...words.slice(i % words.length), ...words.slice(0, i % words.length)].join(" "),
  }));
  const pooled = await Retriever.load(bundleUrl, encoders ? { encoders } : {});
  await pooled.add(docs.slice(0, 16).map((d) => ({ ...d, id: `warm-${d.id}`, text: `${d.text} warm` })));
  const started = performance.now();
  await pooled.add(docs);
  const seconds = (performance.now() - started) / 1000;
  pooled.free();
  return docs.length / seconds;
}

/** Where our encode of `ids` spends its time in this wasm build: [{ op, nodes, ms }], slowest first
 *  (a second instance of the model, profiled node by node over `runs` runs). */
async function profileOurs(bundleUrl, ids, runs = 10) {
  await initWasm();
  const base = new URL(bundleUrl, globalThis.location?.href ?? "file://");
  const { manifest, model, tokenizer } = await fetchBundle(base.href);
  const inner = WasmRetriever.fromBundle(manifest, model, tokenizer, undefined, undefined);
  try {
    return profileEncoder(inner, Uint32Array.from(ids), runs);
  } finally {
    inner.free();
  }
}

export async function benchEncode({ Retriever, ort, bundleUrl, modelBytes, reps = 20, log = console.log, encoders }) {
  const retriever = await Retriever.load(bundleUrl, { worker: false });
  ort.env.wasm.numThreads = 1;
  const session = await ort.InferenceSession.create(modelBytes, { executionProviders: ["wasm"], graphOptimizationLevel: "all" });

  const query = await textOfTokens(retriever, 30); // + [CLS] [SEP] = 32
  const doc = await textOfTokens(retriever, 178); // + [CLS] [SEP] = 180
  log(`query: ${query.ids.length} tokens, document: ${doc.ids.length} tokens, ${reps} runs each after the warm-up`);

  const oursWarmUp = await retriever.warmUp();
  const ortWarmUp = await runUntilSettled(() => timed(() => session.run(ortFeeds(ort, query.ids))));
  // An empty index makes search() cost tokenising + encoding the query only.
  const [oursQuery, ortQuery] = await timeTurns(reps, () => retriever.search(query.text, 1), () => session.run(ortFeeds(ort, query.ids)));
  const docReps = Math.max(5, Math.floor(reps / 2));
  // A new id each run: re-adding an unchanged text is skipped (content hash), which times nothing.
  let added = 0;
  const addOne = async () => {
    const { encoded } = await retriever.add([{ id: `bench-${added++}`, text: doc.text }]);
    if (encoded !== 1) throw new Error("the benchmark document was not encoded");
  };
  const [oursDoc, ortDoc] = await timeTurns(docReps, addOne, () => session.run(ortFeeds(ort, doc.ids)));
  const build = retriever.wasmBuild;
  retriever.free();
  const profile = await profileOurs(bundleUrl, doc.ids);
  const poolDocsPerSec = await poolThroughput(Retriever, bundleUrl, doc, encoders);
  return {
    build,
    profile,
    query: { ours: oursQuery, ort: ortQuery, latencyRatio: oursQuery.p50 / ortQuery.p50, oursWarmUp, ortWarmUp },
    document: {
      oursDocsPerSec: 1000 / oursDoc.mean,
      ortDocsPerSec: 1000 / ortDoc.mean,
      throughputRatio: ortDoc.mean / oursDoc.mean,
      poolDocsPerSec,
      poolRatio: (poolDocsPerSec * ortDoc.mean) / 1000,
    },
  };
}

export function report(where, r, log = console.log) {
  const f = (x) => x.toFixed(1);
  where = `${where}, ${r.build}`;
  log(`[${where}] query encode (32 tokens): ours p50 ${f(r.query.ours.p50)} ms p95 ${f(r.query.ours.p95)} ms | ` +
    `onnxruntime-web p50 ${f(r.query.ort.p50)} ms p95 ${f(r.query.ort.p95)} ms | ours/theirs latency ${r.query.latencyRatio.toFixed(2)} (goal <= 1.0)`);
  const warm = (w) => `${w.runs} runs, first ${f(w.firstMs)} ms, last ${f(w.lastMs)} ms`;
  log(`[${where}] warm-up until settled (query encodes): ours ${warm(r.query.oursWarmUp)} | onnxruntime-web ${warm(r.query.ortWarmUp)}`);
  log(`[${where}] query p95/p50 after warm-up: ours ${(r.query.ours.p95 / r.query.ours.p50).toFixed(2)} (goal <= 1.5) | ` +
    `onnxruntime-web ${(r.query.ort.p95 / r.query.ort.p50).toFixed(2)}`);
  log(`[${where}] document encode (180 tokens): ours ${f(r.document.oursDocsPerSec)} docs/s | onnxruntime-web ` +
    `${f(r.document.ortDocsPerSec)} docs/s | ours/theirs throughput ${r.document.throughputRatio.toFixed(2)} (goal >= 1.0)`);
  const total = r.profile.reduce((sum, t) => sum + t.ms, 0);
  const top = r.profile.slice(0, 8).map((t) => `${t.op} ${f(t.ms)} ms (${((100 * t.ms) / total).toFixed(0)}%, ${t.nodes} nodes)`);
  log(`[${where}] document encode by op (node by node, ${f(total)} ms): ${top.join(", ")}`);
  log(`[${where}] document encode with the encoder pool (add of 48 documents): ${f(r.document.poolDocsPerSec)} docs/s | ` +
    `ours/onnxruntime-web single-thread ${r.document.poolRatio.toFixed(2)} (goal >= 1.5 in Chromium)`);
}
