// MaxSim throughput of the wasm kernels on a synthetic index (any size, no model), shared by Node and
// Chromium: docs/s and GFLOP/s per backend and precision, a plain JavaScript loop as the peer, and the
// fraction of this machine's wasm SIMD multiply-add peak measured in the same run.
const TOKENS = 128;
const DIM = 128;
const QUERY = 32;

/** Seconds per call of `fn`, after one warm-up call, over at least `minMs` of calls. */
export function time(fn, minMs = 300) {
  fn(); // warm-up
  let runs = 0;
  const started = performance.now();
  do {
    fn();
    runs++;
  } while (performance.now() - started < minMs);
  return (performance.now() - started) / 1000 / runs;
}

async function timeAsync(fn, minMs = 300) {
  await fn();
  let runs = 0;
  const started = performance.now();
  do {
    await fn();
    runs++;
  } while (performance.now() - started < minMs);
  return (performance.now() - started) / 1000 / runs;
}

/** The straightforward JavaScript MaxSim: Float32Array rows, nested loops. */
function jsMaxSim(query, docs, docCount) {
  let total = 0;
  const best = new Float32Array(QUERY);
  for (let d = 0; d < docCount; d++) {
    best.fill(-Infinity);
    for (let t = 0; t < TOKENS; t++) {
      const base = (d * TOKENS + t) * DIM;
      for (let q = 0; q < QUERY; q++) {
        let dot = 0;
        for (let i = 0; i < DIM; i++) dot += query[q * DIM + i] * docs[base + i];
        if (dot > best[q]) best[q] = dot;
      }
    }
    for (let q = 0; q < QUERY; q++) total += best[q];
  }
  return total;
}

/** What hybrid search costs over late interaction alone, on the CPU, per index size: a whole search
 *  after encoding (first pass, BM25, sentence cosines, best passages, fusion) in both modes, and the
 *  lexical index's and sentence vectors' bytes against the int8 token vectors'. */
export function benchHybridCost({ MaxSimBench, sizes, log = () => {} }) {
  const rows = [];
  for (const docs of sizes.filter((d) => d <= 10000)) {
    const bench = new MaxSimBench(docs, TOKENS, DIM, QUERY, "int8");
    // Interleaved, so a busy machine slows both alike.
    let [late, hybrid] = [0, 0];
    for (let round = 0; round < 5; round++) {
      late += time(() => bench.rank("late", 10), 100);
      hybrid += time(() => bench.rank("hybrid", 10), 100);
    }
    const bytes = bench.indexBytes();
    bench.free();
    const row = {
      docs, lateMs: (1000 * late) / 5, hybridMs: (1000 * hybrid) / 5, timeRatio: hybrid / late,
      byteRatio: bytes.lexicalBytes / bytes.vectorBytes, fileRatio: bytes.fileWordBytes / bytes.vectorBytes,
      sentenceRatio: bytes.sentenceBytes / bytes.vectorBytes,
    };
    rows.push(row);
    log(`${docs} hybrid/late ${row.timeRatio.toFixed(3)}, lexical/int8 bytes ${row.byteRatio.toFixed(3)}`);
  }
  return rows;
}

export function reportHybridCost(where, rows) {
  console.log(`\n== ${where}: hybrid search's cost over late interaction (CPU, int8, ${TOKENS}-token passages of ${TOKENS * 3 / 4} words, 10 hits)`);
  console.log("docs    late ms   hybrid ms  hybrid/late  lexical / int8 vector bytes (memory, file)  sentence vectors / int8 vectors");
  for (const r of rows) {
    console.log(`${String(r.docs).padEnd(7)} ${r.lateMs.toFixed(2).padStart(8)} ${r.hybridMs.toFixed(2).padStart(10)} ${r.timeRatio.toFixed(3).padStart(11)}x  ${r.byteRatio.toFixed(3)}, ${r.fileRatio.toFixed(3)}${" ".repeat(31)}${r.sentenceRatio.toFixed(3)}`);
  }
}

/** Returns rows of { docs, precision, backend, docsPerS, gflops, ofPeak } plus the peak. */
export async function benchMaxSim({ MaxSimBench, sizes = [1000, 10000, 50000], gpu = false, log = () => {} }) {
  const iterations = 2_000_000;
  const peakSecs = time(() => MaxSimBench.mulAddPeak(iterations));
  const peak = (iterations * 64) / peakSecs / 1e9;
  log(`wasm SIMD mul+add peak: ${peak.toFixed(2)} GFLOP/s`);
  const rows = [];
  const record = (docs, precision, backend, secs) => {
    const gflops = (2 * docs * TOKENS * QUERY * DIM) / secs / 1e9;
    rows.push({ docs, precision, backend, docsPerS: docs / secs, gflops, ofPeak: gflops / peak });
    log(`${docs} ${precision} ${backend}: ${(docs / secs).toFixed(0)} docs/s, ${gflops.toFixed(2)} GFLOP/s`);
  };
  for (const docs of sizes) {
    // f32/f16 at 50k would need 3.4/1.7 GB of wasm memory: past what a wasm32 page can rely on.
    const precisions = docs > 10000 ? ["int8", "binary"] : ["f32", "f16", "int8", "binary"];
    for (const precision of precisions) {
      const bench = new MaxSimBench(docs, TOKENS, DIM, QUERY, precision);
      const minMs = docs > 10000 ? 0 : 300;
      record(docs, precision, "simd", time(() => bench.scoreCpu("simd"), minMs));
      if (docs <= 10000) record(docs, precision, "scalar", time(() => bench.scoreCpu("scalar"), minMs));
      if (precision === "f32" && docs <= 1000) {
        const query = bench.queryRows();
        const rowsF32 = bench.documentRows();
        record(docs, precision, "js-loop", time(() => jsMaxSim(query, rowsF32, docs), 0));
      }
      if (gpu && docs <= 10000) {
        try {
          await bench.openGpu();
          record(docs, precision, "webgpu", await timeAsync(() => bench.scoreGpu(), minMs));
        } catch (err) {
          log(`webgpu unavailable: ${err.message}`);
          gpu = false;
        }
      }
      bench.free();
    }
  }
  return { peak, rows };
}

export function report(where, { peak, rows }) {
  console.log(`\n== ${where}: MaxSim, docs x ${TOKENS} tokens x ${DIM} dims, ${QUERY}-token query; wasm SIMD peak ${peak.toFixed(2)} GFLOP/s`);
  console.log("docs    precision backend   docs/s      GFLOP/s  of peak  vs simd f32");
  const simdF32 = new Map(rows.filter((r) => r.precision === "f32" && r.backend === "simd").map((r) => [r.docs, r.docsPerS]));
  for (const r of rows) {
    const ratio = simdF32.get(r.docs) ? (r.docsPerS / simdF32.get(r.docs)).toFixed(2) + "x" : "-";
    console.log(
      `${String(r.docs).padEnd(7)} ${r.precision.padEnd(9)} ${r.backend.padEnd(9)} ${r.docsPerS.toFixed(0).padStart(9)} ${r.gflops.toFixed(2).padStart(10)} ${(100 * r.ofPeak).toFixed(0).padStart(6)}%  ${ratio}`,
    );
  }
}
