// The encoder pool's workers instantiate the module the page compiled (one compilation of the 16 MB
// wasm, not one per worker): worker.js's `shareCompiledWasm` message, sent by WorkerEngine.start.
import { pathToFileURL } from "node:url";
import { Worker } from "node:worker_threads";
import { test } from "node:test";
import assert from "node:assert/strict";
import { compileWasm } from "../../www/lib/wasm.js";
import { bundleDir } from "./helpers.mjs";

function startWorker() {
  const worker = new Worker(new URL("../../www/lib/worker.js", import.meta.url));
  let nextId = 0;
  const call = (method, args) =>
    new Promise((resolve, reject) => {
      const id = ++nextId;
      const onMessage = (m) => {
        if (m.id !== id || m.progress) return;
        worker.off("message", onMessage);
        m.error ? reject(Object.assign(new Error(m.error.message), { name: m.error.name })) : resolve(m);
      };
      worker.on("message", onMessage);
      worker.postMessage({ id, method, args });
    });
  return { worker, call };
}

async function openedStats(share) {
  const { worker, call } = startWorker();
  try {
    if (share) await call("shareCompiledWasm", [await compileWasm()]);
    await call("open", [{ url: pathToFileURL(bundleDir).href }, { gpu: false }]);
    await call("add", [[{ id: "n", text: "a shared module still encodes" }]]);
    return (await call("search", ["shared module", 1])).stats;
  } finally {
    await worker.terminate();
  }
}

test("a worker given the page's compiled module uses it instead of compiling its own", async () => {
  const shared = await openedStats(true);
  assert.equal(shared.wasmShared, true);
  assert.equal(shared.size, 1);
  const own = await openedStats(false);
  assert.equal(own.wasmShared, false, "without the message a worker compiles for itself");
  assert.equal(shared.wasmBuild, own.wasmBuild);
});
