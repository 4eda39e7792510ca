// Runs a LocalEngine in a worker so encoding never blocks the page: a Web Worker in browsers, a
// worker_threads Worker in Node (an encoder pool's engines, pool.js). Protocol: the caller sends
// { id, method, args }, the worker answers { id, result, stats } or { id, error: { name, message } },
// after any number of { id, progress: [...] } from methods that report progress (PROGRESS_METHODS:
// the model download, an add's passages). `shareCompiledWasm`, sent before `open`, hands over the
// page's compiled WebAssembly.Module so N workers do not compile 16 MB of wasm N times. Calls run concurrently: an { method: "abortAdd" } reaches
// an add while it encodes.
import { LocalEngine, PROGRESS_METHODS } from "./engine.js";
import { shareCompiledWasm } from "./wasm.js";

let engine;

async function handle(post, { id, method, args }) {
  try {
    let result;
    const onProgress = (...progress) => post({ id, progress });
    const callArgs = PROGRESS_METHODS.has(method) ? [...args, onProgress] : args;
    if (method === "shareCompiledWasm") shareCompiledWasm(...args);
    else if (method === "open") engine = await LocalEngine.open(...callArgs);
    else if (!engine) throw new Error("the retriever is not loaded");
    else result = await engine[method](...callArgs);
    post({ id, result, stats: engine?.stats() ?? {} });
  } catch (err) {
    post({ id, error: { name: err?.name ?? "Error", message: err?.message ?? String(err) } });
  }
}

if (typeof self !== "undefined" && typeof self.postMessage === "function") {
  self.onmessage = ({ data }) => handle((m) => self.postMessage(m), data);
} else {
  // Node: messages sent before this listener exists wait on the port.
  import("node:worker_threads").then(({ parentPort }) => {
    parentPort.on("message", (data) => handle((m) => parentPort.postMessage(m), data));
  });
}
