// In Chromium, a module worker given the page's compiled WebAssembly.Module (worker.js's
// `shareCompiledWasm`, sent by WorkerEngine.start) instantiates it instead of compiling its own.
import { test } from "node:test";
import assert from "node:assert/strict";
import { serveAndLaunch } from "./browser.mjs";

const session = serveAndLaunch();

test("a page's workers share its one wasm compilation", async () => {
  const page = await session.browser().newPage();
  await page.goto(session.url("/www/demo/blank.html"));
  const opened = await page.evaluate(async () => {
    const { compileWasm } = await import("/www/lib/wasm.js");
    const open = async (share) => {
      const worker = new Worker("/www/lib/worker.js", { type: "module" });
      const call = (id, method, args) =>
        new Promise((resolve) => {
          worker.addEventListener("message", function answer({ data }) {
            if (data.id !== id || data.progress) return;
            worker.removeEventListener("message", answer);
            resolve(data);
          });
          worker.postMessage({ id, method, args });
        });
      if (share) await call(1, "shareCompiledWasm", [await compileWasm()]);
      const reply = await call(2, "open", [{ url: new URL("/models/default/", location.href).href }, { gpu: false }]);
      worker.terminate();
      return reply.error ?? reply.stats;
    };
    return { shared: await open(true), own: await open(false) };
  });
  assert.equal(opened.shared.wasmShared, true, JSON.stringify(opened.shared));
  assert.equal(opened.own.wasmShared, false, "a worker not given the module compiles its own");
  assert.equal(opened.shared.wasmBuild, opened.own.wasmBuild);
});
