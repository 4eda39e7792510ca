// The first big add after load, in Chromium, with the default encoder pool: what a user's first
// import of notes costs, worker start-up included, against the same add once the pool is warm.
// node scripts/bench/first-add.mjs [docs=48]
import { readFileSync } from "node:fs";
import { startServer } from "../serve.mjs";
import { launchChromium } from "../../tests/browser/browser.mjs";

const count = Number(process.argv[2] ?? 48);
const corpus = readFileSync(new URL("../../../shared/data/scifact/corpus.jsonl", import.meta.url), "utf8")
  .split("\n").filter(Boolean).slice(0, count * 2).map((l) => JSON.parse(l));
const docs = corpus.map((d) => ({ id: d._id, text: `${d.title} ${d.text}` }));
const server = await startServer(0, "127.0.0.1");
const browser = await launchChromium();
try {
  const page = await browser.newPage();
  await page.goto(`http://127.0.0.1:${server.address().port}/www/demo/blank.html`);
  const result = await page.evaluate(async ({ first, second }) => {
    const { Retriever } = await import("/www/lib/index.js");
    const r = await Retriever.load("/models/default/");
    await r.warmUp();
    let t = performance.now();
    await r.add(first);
    const firstMs = performance.now() - t;
    t = performance.now();
    await r.add(second);
    const warmMs = performance.now() - t;
    const build = r.wasmBuild;
    r.free();
    return { firstMs, warmMs, build, cores: navigator.hardwareConcurrency };
  }, { first: docs.slice(0, count), second: docs.slice(count) });
  const rate = (ms) => ((count * 1000) / ms).toFixed(1);
  console.log(`${count} SciFact abstracts, Chromium (${result.build}, ${result.cores} cores), default pool:`);
  console.log(`first add after load ${(result.firstMs / 1000).toFixed(1)} s (${rate(result.firstMs)} docs/s); warm pool ${(result.warmMs / 1000).toFixed(1)} s (${rate(result.warmMs)} docs/s); first/warm ${(result.firstMs / result.warmMs).toFixed(2)}`);
} finally {
  await browser.close();
  server.close();
}
