// Retrieval quality of the built wasm package over a BEIR-layout folder.
// usage: npm run eval -- <dir> [--split test] [--max-docs N] [--workers N] [--bundle DIR] [--no-baselines]
// Every judged query of the split is scored exhaustively against the whole corpus (document text =
// title + " " + text). The corpus is sharded over worker threads, each holding its own Retriever;
// per-shard top-100 lists merge into the exact global top-100. Then a table beside BM25 and the default
// encoder as a mean-pooled bi-encoder on the same split (training/baselines.py, cached), and one line:
//   ndcg@10=<x> recall@100=<y> queries=<n> docs=<m>
import { execFileSync } from "node:child_process";
import { Worker, isMainThread, parentPort, workerData } from "node:worker_threads";
import { readFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { fileURLToPath } from "node:url";
import { Retriever } from "colbert-wasm";
import { docText, readJsonl, readQrels, repoRoot } from "../tests/node/helpers.mjs";

const DEPTH = 100;

function parseArgs(argv) {
  const opts = {
    split: "test",
    maxDocs: Infinity,
    workers: availableParallelism(),
    bundle: `${repoRoot}models/default/`,
    baselines: true,
  };
  const positional = [];
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = () => argv[++i] ?? usage(`${flag} needs a value`);
    if (flag === "--split") opts.split = value();
    else if (flag === "--max-docs") opts.maxDocs = Number(value());
    else if (flag === "--workers") opts.workers = Number(value());
    else if (flag === "--bundle") opts.bundle = value();
    else if (flag === "--no-baselines") opts.baselines = false;
    else if (flag.startsWith("--")) usage(`unknown option ${flag}`);
    else positional.push(flag);
  }
  if (positional.length !== 1) usage("give exactly one BEIR folder");
  opts.dir = positional[0].endsWith("/") ? positional[0] : positional[0] + "/";
  return opts;
}

function usage(problem) {
  console.error(`${problem}\nusage: npm run eval -- <dir-in-BEIR-layout> [--split test] [--max-docs N] [--workers N] [--bundle DIR] [--no-baselines]`);
  process.exit(2);
}

/** nDCG@10 with graded gains, as trec_eval computes it. */
function ndcgAt10(ranked, relevant) {
  const dcg = ranked.slice(0, 10).reduce((sum, id, i) => sum + (relevant.get(id) ?? 0) / Math.log2(i + 2), 0);
  const ideal = [...relevant.values()].sort((a, b) => b - a).slice(0, 10);
  const idcg = ideal.reduce((sum, g, i) => sum + g / Math.log2(i + 2), 0);
  return idcg > 0 ? dcg / idcg : 0;
}

function recallAt(ranked, relevant, depth) {
  const judged = [...relevant].filter(([, g]) => g > 0).map(([id]) => id);
  return judged.filter((id) => ranked.slice(0, depth).includes(id)).length / judged.length;
}

function ask(worker, message) {
  return new Promise((resolve, reject) => {
    const onMessage = (reply) => {
      if (reply.type === "progress") return;
      worker.off("message", onMessage);
      reply.type === "error" ? reject(new Error(reply.message)) : resolve(reply);
    };
    worker.on("message", onMessage);
    worker.postMessage(message);
  });
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const qrels = readQrels(`${opts.dir}qrels/${opts.split}.tsv`);
  const corpus = readJsonl(`${opts.dir}corpus.jsonl`).slice(0, opts.maxDocs);
  const queries = readJsonl(`${opts.dir}queries.jsonl`).filter((q) => qrels.has(q._id));
  console.log(`corpus ${corpus.length} docs, ${queries.length} judged queries (${opts.split}), ${opts.workers} workers`);

  const started = performance.now();
  let encoded = 0;
  let lastReport = 0;
  const workers = Array.from({ length: opts.workers }, (_, w) => {
    const docs = corpus.filter((_, i) => i % opts.workers === w).map((d) => ({ id: d._id, text: docText(d) }));
    const worker = new Worker(fileURLToPath(import.meta.url), { workerData: { bundle: opts.bundle } });
    worker.on("message", (m) => {
      if (m.type !== "progress") return;
      encoded += m.added;
      const pct = Math.floor((100 * encoded) / corpus.length);
      if (pct >= lastReport + 5 || encoded === corpus.length) {
        lastReport = pct;
        const secs = (performance.now() - started) / 1000;
        console.log(`indexed ${encoded}/${corpus.length} (${pct}%) · ${(encoded / secs).toFixed(1)} docs/s`);
      }
    });
    return { worker, docs };
  });
  await Promise.all(workers.map(({ worker, docs }) => ask(worker, { type: "index", docs })));
  const indexSecs = (performance.now() - started) / 1000;

  const searchStarted = performance.now();
  const shardHits = await Promise.all(
    workers.map(({ worker }) => ask(worker, { type: "search", queries: queries.map((q) => q.text), k: DEPTH })),
  );
  const searchSecs = (performance.now() - searchStarted) / 1000;
  workers.forEach(({ worker }) => worker.terminate());

  let ndcg = 0;
  let recall = 0;
  queries.forEach((q, i) => {
    const merged = shardHits.flatMap((s) => s.hits[i]).sort((a, b) => b.score - a.score).slice(0, DEPTH);
    const ranked = merged.map((h) => h.id);
    ndcg += ndcgAt10(ranked, qrels.get(q._id));
    recall += recallAt(ranked, qrels.get(q._id), DEPTH);
  });
  console.log(
    `indexing ${indexSecs.toFixed(1)} s (${(corpus.length / indexSecs).toFixed(1)} docs/s), ` +
      `search ${((1000 * searchSecs) / queries.length).toFixed(1)} ms/query per shard`,
  );
  const n = queries.length;
  const rows = [[bundleName(opts.bundle), ndcg / n, recall / n]];
  if (opts.baselines && opts.maxDocs === Infinity) rows.push(...baselines(opts));
  console.log("\n| method | nDCG@10 | Recall@100 |\n|---|---|---|");
  for (const [name, n10, r100] of rows) console.log(`| ${name} | ${n10.toFixed(4)} | ${r100.toFixed(4)} |`);
  console.log(`ndcg@10=${(ndcg / n).toFixed(4)} recall@100=${(recall / n).toFixed(4)} queries=${n} docs=${corpus.length}`);
}

function bundleName(bundle) {
  const dir = bundle.endsWith("/") ? bundle : `${bundle}/`;
  return `colbert-wasm: ${JSON.parse(readFileSync(`${dir}manifest.json`, "utf8")).name}`;
}

/** BM25 and the default encoder as a bi-encoder, scored by training/baselines.py on the same split. */
function baselines(opts) {
  const python = `${repoRoot}.cache/venv/bin/python`;
  const out = execFileSync(python, [`${repoRoot}training/baselines.py`, "--beir", opts.dir, "--split", opts.split], {
    cwd: repoRoot,
    encoding: "utf8",
    stdio: ["ignore", "pipe", "inherit"],
  });
  return Object.entries(JSON.parse(out)).map(([name, f]) => [name, f["ndcg@10"], f["recall@100"]]);
}

async function serveShard() {
  const retriever = await Retriever.load(workerData.bundle);
  parentPort.on("message", async (msg) => {
    try {
      if (msg.type === "index") {
        for (let i = 0; i < msg.docs.length; i += 16) {
          const batch = msg.docs.slice(i, i + 16);
          await retriever.add(batch);
          parentPort.postMessage({ type: "progress", added: batch.length });
        }
        parentPort.postMessage({ type: "indexed" });
      } else if (msg.type === "search") {
        const hits = [];
        for (const q of msg.queries) hits.push(await retriever.search(q, msg.k));
        parentPort.postMessage({ type: "hits", hits });
      }
    } catch (err) {
      parentPort.postMessage({ type: "error", message: `${err.name}: ${err.message}` });
    }
  });
}

if (isMainThread) await main();
else await serveShard();
