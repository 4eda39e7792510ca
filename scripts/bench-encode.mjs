// npm run bench:encode — encoder speed of the built wasm package against onnxruntime-web (wasm backend,
// one thread, SIMD) on the same graph and token ids, each in the int8 form it runs fastest, in Node and
// in headless Chromium, in one run.
// Also prints the shipped .wasm size, raw and gzipped. Speed claims need an idle machine.
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import * as ort from "onnxruntime-web";
import { Retriever } from "colbert-wasm";
import { wasmMemoryBytes } from "../www/lib/wasm.js";
import { PEER_MODEL, benchEncode, report } from "./bench/encode-core.mjs";
import { startServer } from "./serve.mjs";
import { launchChromium } from "../tests/browser/browser.mjs";
import { repoRoot } from "../tests/node/helpers.mjs";

const reps = Number(process.env.REPS ?? 40); // 40: p95 is the second slowest run, not the slowest
const bundleDir = `${repoRoot}models/default/`;

/** The indexer binary to time (COLBERT_INDEXER overrides): the newer of the release build (what the
 *  README tells users to build: fat LTO, target-cpu=native) and the tests' native-test build; null
 *  when neither exists. */
function nativeIndexer() {
  const built = ["target/release/colbert-wasm", "target/native-test/colbert-wasm"]
    .map((path) => `${repoRoot}${path}`)
    .filter((path) => existsSync(path));
  built.sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs);
  return built[0] ?? null;
}

/** The native build-time indexer (`colbert-wasm index`, every core) on 96 documents of ~180 tokens,
 *  against onnxruntime-web single-thread documents/s measured in Node above. */
function reportNativeIndexer(ortDocsPerSec) {
  const indexer = process.env.COLBERT_INDEXER ?? nativeIndexer();
  if (!indexer) return console.log("native indexer: not built (cargo build --release, as the README says; or the tests' --profile native-test)");
  const vault = mkdtempSync(join(tmpdir(), "bench-vault-"));
  try {
    const words = "the patient cohort showed reduced inflammation after treatment with low dose aspirin over twelve weeks".split(" ");
    for (let i = 0; i < 96; i++) {
      const text = Array.from({ length: 178 }, (_, j) => words[(i + j) % words.length]).join(" ");
      writeFileSync(join(vault, `doc-${i}.txt`), text);
    }
    const out = execFileSync(indexer, ["index", vault, "--bundle", bundleDir, "-o", join(vault, "bench.cwix")], { encoding: "utf8" });
    const docsPerSec = Number(/([\d.]+) docs\/s/.exec(out)?.[1]);
    console.log(`[native indexer, ${availableParallelism()} threads, ${indexer.replace(repoRoot, "")}] ${docsPerSec.toFixed(1)} docs/s | ours/onnxruntime-web single-thread (Node) ${(docsPerSec / ortDocsPerSec).toFixed(2)} (goal >= 5)`);
  } finally {
    rmSync(vault, { recursive: true });
  }
}

const mib = (n) => (n / 2 ** 20).toFixed(2);
for (const file of ["colbert_wasm_bg.wasm", "colbert_wasm_relaxed_bg.wasm"]) {
  const wasm = readFileSync(`${repoRoot}www/pkg/${file}`);
  console.log(`shipped ${file}: ${mib(wasm.length)} MiB raw, ${mib(gzipSync(wasm, { level: 9 }).length)} MiB gzipped (goal <= 3 MiB gzipped; a page loads one of the two)`);
}

/** Memory of one engine in Node: the wasm instance's linear memory after loading the bundle (its peak
 *  during the load, since wasm memory never shrinks) and the process's resident growth. */
async function reportMemoryPerEngine() {
  const rssBefore = process.memoryUsage().rss;
  const retriever = await Retriever.load(bundleDir);
  await retriever.add([{ id: "warm", text: "one short note to encode" }]);
  const rss = process.memoryUsage().rss - rssBefore;
  console.log(`[memory per engine, Node] wasm memory ${mib(wasmMemoryBytes())} MiB (goal <= 100), process RSS +${mib(rss)} MiB`);
  retriever.free();
}

await reportMemoryPerEngine();
const encoders = availableParallelism();
console.log(`onnxruntime-web runs ${PEER_MODEL} (onnxruntime's dynamic int8 quantisation of the same graph); ours runs model.onnx`);
const node = await benchEncode({ Retriever, ort, bundleUrl: bundleDir, modelBytes: readFileSync(`${bundleDir}${PEER_MODEL}`), reps, encoders });
report("node", node);
reportNativeIndexer(node.document.ortDocsPerSec);

const server = await startServer(0, "127.0.0.1", ["scripts/bench", "node_modules/onnxruntime-web/dist"]);
const browser = await launchChromium();
try {
  const page = await browser.newPage();
  page.on("console", (msg) => console.log(`  (page) ${msg.text()}`));
  await page.goto(`http://127.0.0.1:${server.address().port}/www/demo/blank.html`);
  const chromium = await page.evaluate(async ([reps, peerModel]) => {
    const ort = await import("/node_modules/onnxruntime-web/dist/ort.wasm.min.mjs");
    ort.env.wasm.wasmPaths = "/node_modules/onnxruntime-web/dist/";
    const { Retriever } = await import("/www/lib/index.js");
    const { benchEncode } = await import("/scripts/bench/encode-core.mjs");
    const modelBytes = new Uint8Array(await (await fetch(`/models/default/${peerModel}`)).arrayBuffer());
    return benchEncode({ Retriever, ort, bundleUrl: "/models/default/", modelBytes, reps, log: console.log });
  }, [reps, PEER_MODEL]);
  report("chromium", chromium);
} finally {
  await browser.close();
  server.close();
}
