// The npm package as users get it: `npm pack`, installed into a scratch Node project (same import as in
// the browser) and into a scratch Vite app whose production build runs in Chromium, worker and .wasm
// found by URL relative to the module.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { build } from "vite";
import { startServer } from "../../scripts/serve.mjs";
import { launchChromium } from "./browser.mjs";
import { preferredBuild } from "../../www/lib/wasm.js";
import { repoRoot, bundleDir } from "../node/helpers.mjs";

let scratch;
let tarball;

before(() => {
  scratch = mkdtempSync(join(tmpdir(), "colbert-wasm-pack-"));
  const packed = JSON.parse(execFileSync("npm", ["pack", "--json", "--pack-destination", scratch], { cwd: repoRoot, encoding: "utf8" }));
  tarball = join(scratch, packed[0].filename);
  const files = packed[0].files.map((f) => f.path);
  for (const file of ["www/pkg/colbert_wasm_bg.wasm", "www/pkg/colbert_wasm_relaxed_bg.wasm", "www/lib/worker.js", "www/lib/make-manifest.mjs"]) {
    assert.ok(files.includes(file), `${file} is packed: ${files.join(", ")}`);
  }
  assert.ok(!files.some((f) => f.startsWith("models/") || f.startsWith("tests/")), "no model or tests in the package");
});

after(() => rmSync(scratch, { recursive: true, force: true }));

function project(name, files) {
  const dir = join(scratch, name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "package.json"), JSON.stringify({ name, private: true, type: "module" }));
  for (const [path, text] of Object.entries(files)) writeFileSync(join(dir, path), text);
  execFileSync("npm", ["install", "--no-audit", "--no-fund", "--offline", tarball], { cwd: dir, stdio: "pipe" });
  return dir;
}

test("the packed package works from a Node script", () => {
  const dir = project("node-app", {
    "main.mjs": `
      import { Retriever } from "colbert-wasm";
      const r = await Retriever.load(process.argv[2]);
      await r.add([{ id: "a", text: "Sourdough needs a starter." }, { id: "b", text: "Bicycle chain wear." }]);
      const hits = await r.search("bread starter", 2);
      console.log(JSON.stringify({ top: hits[0].id, backend: hits.backend, build: r.wasmBuild }));
    `,
  });
  const out = execFileSync("node", ["main.mjs", bundleDir], { cwd: dir, encoding: "utf8" });
  // Node 20 lacks relaxed SIMD without a flag: the simd128 build.
  assert.deepEqual(JSON.parse(out.trim().split("\n").at(-1)), { top: "a", backend: "simd", build: preferredBuild });
});

test("the packed package works from a Vite production build in Chromium, in its Web Worker", async () => {
  const dir = project("vite-app", {
    "index.html": `<!doctype html><html><body><script type="module" src="./main.js"></script></body></html>`,
    "main.js": `
      import { Retriever } from "colbert-wasm";
      window.run = async () => {
        const r = await Retriever.load("/models/default/");
        await r.add([{ id: "a", text: "Sourdough needs a starter." }, { id: "b", text: "Bicycle chain wear." }]);
        return { ids: (await r.search("bread starter", 2)).map((h) => h.id), build: r.wasmBuild };
      };
    `,
  });
  await build({ root: dir, base: "./", logLevel: "warn", build: { outDir: join(dir, "dist") } });
  // Serve the build as /app/ beside the model folder, as a site would.
  mkdirSync(join(repoRoot, "test-results"), { recursive: true });
  const site = join(repoRoot, "test-results", "vite-site");
  rmSync(site, { recursive: true, force: true });
  execFileSync("cp", ["-r", join(dir, "dist"), site]);
  const server = await startServer(0, "127.0.0.1", ["test-results/vite-site"]);
  const browser = await launchChromium();
  try {
    const page = await browser.newPage();
    const errors = [];
    page.on("pageerror", (e) => errors.push(e.message));
    await page.goto(`http://127.0.0.1:${server.address().port}/test-results/vite-site/index.html`);
    await page.waitForFunction(() => typeof window.run === "function");
    // Chromium has relaxed SIMD: the faster build must have been emitted by Vite and loaded.
    assert.deepEqual(await page.evaluate(() => window.run()), { ids: ["a", "b"], build: "relaxed-simd" });
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
    server.close();
  }
});
