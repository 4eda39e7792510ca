// Runs a LocalEngine inside a Web Worker so encoding never blocks the page. Protocol: the page sends
// { id, method, args }, the worker answers { id, result, stats } or { id, error: { name, message } },
// after any number of { id, progress: [loaded, total] } while the model downloads.
import { LocalEngine } from "./engine.js";

let engine;

self.onmessage = async ({ data: { id, method, args } }) => {
  try {
    let result;
    const onProgress = (loaded, total) => self.postMessage({ id, progress: [loaded, total] });
    if (method === "open") engine = await LocalEngine.open(...args, onProgress);
    else if (!engine) throw new Error("the retriever is not loaded");
    else result = await engine[method](...args);
    self.postMessage({ id, result, stats: engine.stats() });
  } catch (err) {
    self.postMessage({ id, error: { name: err?.name ?? "Error", message: err?.message ?? String(err) } });
  }
};
