// npm run bench:scale — how far one tab goes: for notes of 64 and 256 tokens, int8 and binary, the wasm
// memory an index of N documents takes (measured: a fresh wasm instance per row, the memory it grew by
// while the index was built, the way the retriever's store grows), the index file's bytes (what
// IndexedDB holds), and a whole CPU search (late interaction, and hybrid) at that size. From those it
// prints how many documents fit before wasm32's ceiling (probed: this engine's largest memory) and a
// given IndexedDB quota. Synthetic vectors and texts (scripts/bench/maxsim-core.mjs's MaxSimBench): the
// model is not needed, and scoring cost does not depend on the values.
import { readFileSync } from "node:fs";
import { time } from "./maxsim-core.mjs";

const DIM = 128;
const QUERY_TOKENS = 32;
const SIZES = (process.env.SIZES ?? "10000,40000").split(",").map(Number);
const wasmUrl = new URL("../../www/pkg/colbert_wasm_bg.wasm", import.meta.url);
const module = await WebAssembly.compile(readFileSync(wasmUrl));
let instances = 0;

/** A fresh instance of the package's wasm (its own memory), with its glue. */
async function freshWasm() {
  const glue = await import(`../../www/pkg/colbert_wasm.js?instance=${++instances}`);
  const exports = glue.initSync({ module });
  return { glue, memory: exports.memory };
}

/** The most memory this engine gives one wasm instance (grown 64 MiB at a time until refused). */
async function memoryCeiling() {
  const { memory } = await freshWasm();
  try {
    for (;;) memory.grow(1024);
  } catch {
    return memory.buffer.byteLength;
  }
}

const MiB = 1 << 20;
const rows = [];
for (const tokens of [64, 256]) {
  for (const precision of ["int8", "binary"]) {
    for (const docs of SIZES) {
      const { glue, memory } = await freshWasm();
      const before = memory.buffer.byteLength;
      const bench = new glue.MaxSimBench(docs, tokens, DIM, QUERY_TOKENS, precision);
      const grown = memory.buffer.byteLength - before;
      const bytes = bench.indexBytes();
      const fileBytes = bytes.vectorBytes + bytes.fileWordBytes + bytes.sentenceBytes;
      const lateMs = 1000 * time(() => bench.rank("late", 10), 400);
      const hybridMs = 1000 * time(() => bench.rank("hybrid", 10), 400);
      bench.free();
      const heldBytes = bytes.vectorBytes + bytes.lexicalBytes + bytes.sentenceBytes;
      rows.push({ tokens, precision, docs, memoryPerDoc: grown / docs, heldPerDoc: heldBytes / docs, filePerDoc: fileBytes / docs, lateMs, hybridMs });
      console.error(`# ${tokens} tokens, ${precision}, ${docs} docs: done`);
    }
  }
}

const ceiling = await memoryCeiling();
const MODEL_MIB = 65; // the default bundle loaded and one add (bench:encode's memory line)
const quotaGiB = Number(process.env.QUOTA_GIB ?? 10);
console.log(`\n== one tab's index (Node ${process.versions.node}, this machine's CPU, one thread; synthetic ${DIM}-d vectors, ${QUERY_TOKENS}-token query, 10 hits)`);
console.log(`wasm memory ceiling here: ${(ceiling / MiB).toFixed(0)} MiB; the model takes ~${MODEL_MIB} MiB of it; IndexedDB quota assumed ${quotaGiB} GiB (QUOTA_GIB)`);
console.log("memory/doc: what wasm memory grew by (its high-water mark: a growing arena briefly holds old and new copies,");
console.log("and wasm memory never shrinks); held/doc: the index's data. docs in wasm32: the lesser of the memory ceiling and");
console.log("one arena's 2 GiB (an allocation on wasm32 is at most isize::MAX bytes; the int8 codes are the largest arena).");
console.log("tokens precision     docs  memory/doc  held/doc  file/doc  per 10k notes  late ms  hybrid ms  docs in wasm32  docs in quota");
for (const r of rows) {
  const arenaFit = Math.floor(2 ** 31 / (r.tokens * DIM));
  const fitMemory = Math.min(arenaFit, Math.floor(((ceiling / MiB - MODEL_MIB) * MiB) / r.memoryPerDoc));
  const fitQuota = Math.floor((quotaGiB * 1024 * MiB) / r.filePerDoc);
  console.log(
    `${String(r.tokens).padStart(6)} ${r.precision.padEnd(9)} ${String(r.docs).padStart(8)} ${(r.memoryPerDoc / 1024).toFixed(1).padStart(8)} KB ${(r.heldPerDoc / 1024).toFixed(1).padStart(6)} KB ${(r.filePerDoc / 1024).toFixed(1).padStart(6)} KB ` +
    `${((r.memoryPerDoc * 10000) / MiB).toFixed(0).padStart(9)} MiB ${r.lateMs.toFixed(1).padStart(8)} ${r.hybridMs.toFixed(1).padStart(10)} ${String(fitMemory).padStart(15)} ${String(fitQuota).padStart(14)}`,
  );
}
