// Runs a LocalEngine in a worker so encoding never blocks the page: a Web Worker in browsers, a
// worker_threads Worker in Node (an encoder pool's engines, pool.js). Protocol: the caller sends
// { id, method, args }, the worker answers { id, result, stats } or { id, error: { name, message } },
// after any number of { id, progress: [...] } from methods that report progress (api.js rows with
// `progress`). Calls run concurrently: an { method: "abortAdd" } reaches an add while it encodes.
// What each method does is engine.js's `dispatch`, shared with the in-thread engine.
import { dispatch } from "./engine.js";

const state = { engine: null };

async function handle(post, { id, method, args }) {
  try {
    const result = await dispatch(state, method, args, (...progress) => post({ id, progress }));
    post({ id, result, stats: state.engine?.stats() ?? {} });
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
