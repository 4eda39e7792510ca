// Off the main thread: in Chromium the package runs the model in a Web Worker (the page itself never
// instantiates the wasm; the long tasks it saw while indexing are printed, not asserted: a timing on a
// busy machine says nothing about the design), with progress and cancellation along the way.
import { test } from "node:test";
import assert from "node:assert/strict";
import { serveAndLaunch } from "./browser.mjs";

const session = serveAndLaunch();

async function openPage() {
  const page = await session.browser().newPage();
  await page.goto(session.url("/www/demo/blank.html"));
  return page;
}

test("indexing notes runs in the worker: the page never instantiates the model", async () => {
  const page = await openPage();
  const result = await page.evaluate(async () => {
    const { Retriever } = await import("/www/lib/index.js");
    const { wasmMemoryBytes } = await import("/www/lib/wasm.js");
    const retriever = await Retriever.load("/models/default/");
    const notes = Array.from({ length: 120 }, (_, i) => ({
      id: `n${i}`,
      text: `Note ${i}: ${["groceries", "meeting", "garden", "bike", "taxes"][i % 5]} item number ${i * 7} to remember.`,
    }));
    const longTasks = [];
    const observer = new PerformanceObserver((list) => longTasks.push(...list.getEntries().map((e) => e.duration)));
    observer.observe({ type: "longtask" });
    const progress = [];
    const started = performance.now();
    await retriever.add(notes, { onProgress: (done, total) => progress.push([done, total]) });
    const indexMs = performance.now() - started;
    await new Promise((resolve) => setTimeout(resolve, 100)); // let the observer flush
    observer.disconnect();
    const hits = await retriever.search("garden item number 42", 3);
    return { longTasks, indexMs, progress, size: retriever.size, top: hits[0]?.id, pageWasmBytes: wasmMemoryBytes() };
  });
  console.log(`# 120 notes indexed in ${Math.round(result.indexMs)} ms; long tasks: ${JSON.stringify(result.longTasks.map(Math.round))}`);
  assert.equal(result.size, 120);
  assert.equal(result.top, "n42"); // "Note 42: garden …"
  assert.deepEqual(result.progress.at(-1), [120, 120]);
  assert.ok(result.progress.length > 10, "progress is reported as chunks commit");
  assert.equal(result.pageWasmBytes, 0, "the model ran in the worker, not on the page");
});

test("loading reports the model download's bytes through the worker, then the cached bytes", async () => {
  const page = await openPage();
  const result = await page.evaluate(async () => {
    const { Retriever } = await import("/www/lib/index.js");
    const { files } = await (await fetch("/models/default/manifest.json")).json();
    const load = async () => {
      const calls = [];
      const retriever = await Retriever.load("/models/default/", { onProgress: (loaded, total) => calls.push([loaded, total]) });
      retriever.free();
      return calls;
    };
    return { expected: files.model.bytes + files.tokenizer.bytes, fresh: await load(), cached: await load() };
  });
  const { expected, fresh, cached } = result;
  console.log(`# download progress: ${fresh.length} reports, then ${cached.length} from the cache`);
  assert.ok(fresh.length > 20, `a ${expected}-byte download is reported piece by piece (${fresh.length} reports)`);
  assert.ok(fresh.length <= 110, "at most about one report per percent");
  for (let i = 1; i < fresh.length; i++) assert.ok(fresh[i][0] >= fresh[i - 1][0], "loaded never goes back");
  assert.ok(fresh.every(([, total]) => total === expected), "total is the manifest's byte count");
  assert.deepEqual(fresh.at(-1), [expected, expected]);
  assert.deepEqual(cached.at(-1), [expected, expected]);
});

test("an aborted add stops early and keeps what was committed; errors keep their kind", async () => {
  const page = await openPage();
  const result = await page.evaluate(async () => {
    const { Retriever } = await import("/www/lib/index.js");
    const retriever = await Retriever.load("/models/default/");
    const controller = new AbortController();
    const notes = Array.from({ length: 200 }, (_, i) => ({ id: `n${i}`, text: `note ${i}` }));
    let abortError;
    await retriever
      .add(notes, { signal: controller.signal, onProgress: (done) => done >= 16 && controller.abort() })
      .catch((err) => (abortError = err.name));
    let invalid;
    await retriever.add([{ id: "", text: "x" }]).catch((err) => (invalid = err.name));
    return { abortError, invalid, size: retriever.size };
  });
  assert.equal(result.abortError, "AbortError");
  assert.equal(result.invalid, "InvalidInputError");
  assert.equal(result.size, 16);
});
