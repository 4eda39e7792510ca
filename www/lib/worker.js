// Runs a LocalEngine inside a Web Worker so encoding never blocks the page. Protocol: the page sends
// { id, method, args }, the worker answers { id, result, stats } or { id, error: { name, message } },
// after any number of { id, progress: [...] } from methods that report progress (PROGRESS_METHODS:
// the model download, an add's passages). Calls run concurrently: an { method: "abortAdd" } reaches
// an add while it encodes.
import { LocalEngine, PROGRESS_METHODS } from "./engine.js";

let engine;

self.onmessage = async ({ data: { id, method, args } }) => {
  try {
    let result;
    const onProgress = (...progress) => self.postMessage({ id, progress });
    const callArgs = PROGRESS_METHODS.has(method) ? [...args, onProgress] : args;
    if (method === "open") engine = await LocalEngine.open(...callArgs);
    else if (!engine) throw new Error("the retriever is not loaded");
    else result = await engine[method](...callArgs);
    self.postMessage({ id, result, stats: engine.stats() });
  } catch (err) {
    self.postMessage({ id, error: { name: err?.name ?? "Error", message: err?.message ?? String(err) } });
  }
};
