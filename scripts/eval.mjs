// Retrieval quality of the built wasm package over a BEIR-layout folder.
// usage: npm run eval -- <dir> [--split test] [--max-docs N] [--workers N] [--bundle DIR] [--no-baselines]
//                            [--index FILE]
// Every judged query of the split is scored exhaustively against the whole corpus (document text =
// title + " " + text), in one index (hybrid fusion needs the whole collection's ranks and BM25
// statistics): encoded in wasm by a pool of --workers encoders, or read from --index, a file the
// native indexer wrote from the same texts (`--index` with a missing file writes it first: fast,
// and what the README's build-time path gives). Each search mode (hybrid, late, lexical) is scored;
// then a table beside BM25 and the default encoder as a mean-pooled bi-encoder on the same split
// (training/baselines.py, cached), per-query wins and losses, and one line for the default mode:
//   ndcg@10=<x> recall@100=<y> queries=<n> docs=<m>
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { availableParallelism } from "node:os";
import { fileURLToPath } from "node:url";
import { Retriever } from "colbert-wasm";
import { docText, readJsonl, readQrels, repoRoot } from "../tests/node/helpers.mjs";

const DEPTH = 100;
const MODES = ["hybrid", "late", "lexical"]; // the default first: the closing line is its figures

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
    else if (flag === "--index") opts.index = value();
    else if (flag.startsWith("--")) usage(`unknown option ${flag}`);
    else positional.push(flag);
  }
  if (positional.length !== 1) usage("give exactly one BEIR folder");
  opts.dir = positional[0].endsWith("/") ? positional[0] : positional[0] + "/";
  return opts;
}

function usage(problem) {
  console.error(`${problem}\nusage: npm run eval -- <dir-in-BEIR-layout> [--split test] [--max-docs N] [--workers N] [--bundle DIR] [--no-baselines] [--index FILE]`);
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

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const qrels = readQrels(`${opts.dir}qrels/${opts.split}.tsv`);
  const corpus = readJsonl(`${opts.dir}corpus.jsonl`).slice(0, opts.maxDocs);
  const queries = readJsonl(`${opts.dir}queries.jsonl`).filter((q) => qrels.has(q._id));
  console.log(`corpus ${corpus.length} docs, ${queries.length} judged queries (${opts.split}), ${opts.workers} encoders`);

  const retriever = await Retriever.load(opts.bundle, { encoders: opts.workers });
  const started = performance.now();
  const docs = corpus.map((d) => ({ id: d._id, text: docText(d) }));
  if (opts.index) await importNative(retriever, docs, opts);
  else await retriever.add(docs, { onProgress: progressPrinter(corpus.length, started) });
  const indexSecs = (performance.now() - started) / 1000;
  console.log(`indexed ${corpus.length} docs in ${indexSecs.toFixed(1)} s (${opts.index ? "native indexer" : "wasm"})`);

  const idOf = opts.index ? corpusId : (id) => id;
  const perMode = {};
  for (const mode of MODES) {
    const searchStarted = performance.now();
    const perQuery = [];
    for (const q of queries) {
      const ranked = (await retriever.search(q.text, DEPTH, { mode })).map((h) => idOf(h.id));
      perQuery.push({ ndcg: ndcgAt10(ranked, qrels.get(q._id)), recall: recallAt(ranked, qrels.get(q._id), DEPTH) });
    }
    const ms = (performance.now() - searchStarted) / queries.length;
    perMode[mode] = perQuery;
    console.log(`${mode}: ${ms.toFixed(1)} ms/query`);
  }
  await retriever.close?.();

  const n = queries.length;
  const mean = (rows, key) => rows.reduce((sum, r) => sum + r[key], 0) / n;
  const rows = MODES.map((mode) => [`${bundleName(opts.bundle)} (${mode})`, mean(perMode[mode], "ndcg"), mean(perMode[mode], "recall")]);
  if (opts.baselines && opts.maxDocs === Infinity) rows.push(...baselines(opts));
  console.log("\n| method | nDCG@10 | Recall@100 |\n|---|---|---|");
  for (const [name, n10, r100] of rows) console.log(`| ${name} | ${n10.toFixed(4)} | ${r100.toFixed(4)} |`);
  console.log("\nper query, nDCG@10:\n| | wins | losses | ties |\n|---|---|---|---|");
  for (const [a, b] of [["hybrid", "late"], ["hybrid", "lexical"], ["late", "lexical"]]) {
    const diff = perMode[a].map((r, i) => r.ndcg - perMode[b][i].ndcg);
    const count = (f) => diff.filter(f).length;
    console.log(`| ${a} vs ${b} | ${count((d) => d > 1e-9)} | ${count((d) => d < -1e-9)} | ${count((d) => Math.abs(d) <= 1e-9)} |`);
  }
  const best = perMode[MODES[0]];
  console.log(`ndcg@10=${mean(best, "ndcg").toFixed(4)} recall@100=${mean(best, "recall").toFixed(4)} queries=${n} docs=${corpus.length}`);
}

/** A hit's corpus id: the native indexer's are file paths `<encoded id>.txt`. */
const corpusId = (id) => (id.endsWith(".txt") ? decodeURIComponent(id.slice(0, -4)) : id);

function progressPrinter(total, started) {
  let lastReport = 0;
  return (done) => {
    const pct = Math.floor((100 * done) / total);
    if (pct < lastReport + 5 && done !== total) return;
    lastReport = pct;
    const secs = (performance.now() - started) / 1000;
    console.log(`indexed ${done}/${total} (${pct}%) · ${(done / secs).toFixed(1)} docs/s`);
  };
}

/** The native indexer's file for these documents (written first when missing, from a folder of one
 *  `<id>.txt` file per document: the indexer's ids are those paths, `corpusId` reads them back). */
async function importNative(retriever, docs, opts) {
  if (!existsSync(opts.index)) {
    const folder = mkdtempSync(join(tmpdir(), "colbert-eval-"));
    for (const d of docs) writeFileSync(join(folder, `${encodeURIComponent(d.id)}.txt`), d.text);
    execFileSync("cargo", ["run", "-q", "--profile", "native-test", "--bin", "colbert-wasm", "--", "index", folder,
      "--bundle", opts.bundle, "-o", opts.index], { cwd: repoRoot, stdio: "inherit" });
    rmSync(folder, { recursive: true });
  }
  const file = new Uint8Array(readFileSync(opts.index));
  await retriever.importIndex(file);
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

await main();
