// How does the facade reach its engine? Through one `call(method, args, onProgress)` interface, to a
// worker (`WorkerEngine`: a Web Worker in browsers, a worker_threads Worker for an encoder pool in
// Node) or to an engine in this thread (`InThreadEngine`); both end in engine.js's `dispatch`.
import { dispatch, isNode } from "./engine.js";
import { compileWasm } from "./wasm.js";

const FREED = "this Retriever was freed (free() was called): load another to go on";

function lostError(message) {
  const err = new Error(message);
  err.name = "EngineError";
  err.workerLost = true;
  return err;
}

/**
 * Forwards engine calls to worker.js and resolves them by message id. A worker that fails or is
 * stopped rejects every call in flight with an `EngineError` whose `workerLost` is true, and takes no
 * more calls.
 */
export class WorkerEngine {
  #worker;
  #lostWhy = "";
  #pending = new Map();
  #nextId = 0;
  stats = {};
  lost = false;

  static async start() {
    const engine = new WorkerEngine(await WorkerEngine.#spawn());
    // One compilation for every worker: the page compiles, each worker instantiates (its own memory).
    // Best effort: a worker that cannot take the module (not cloneable here) compiles its own.
    try {
      engine.call("shareCompiledWasm", [await compileWasm()]).catch(() => {});
    } catch {}
    return engine;
  }

  static async #spawn() {
    // Written out in full so bundlers (Vite, webpack) recognise the worker and bundle its imports.
    if (!isNode) return new Worker(new URL("./worker.js", import.meta.url), { type: "module" });
    const { Worker: NodeWorker } = await import("node:worker_threads");
    // Not the pattern above, so bundlers for browsers leave this Node-only URL alone.
    const script = "./worker.js";
    return new NodeWorker(new URL(script, import.meta.url));
  }

  constructor(worker) {
    this.#worker = worker;
    const onMessage = (data) => {
      const call = this.#pending.get(data.id);
      if (!call) return;
      if (data.progress) return call.onProgress?.(...data.progress);
      this.#settled(data.id);
      if (data.error) {
        const err = new Error(data.error.message);
        err.name = data.error.name;
        call.reject(err);
      } else {
        this.stats = data.stats;
        call.resolve(data.result);
      }
    };
    const onFailure = (why) => this.#lose(`the retriever's worker failed: ${why?.message ?? why ?? "unknown error"}`);
    if (isNode) {
      worker.on("message", onMessage);
      worker.on("error", onFailure);
      worker.on("exit", (code) => this.#lose(`the retriever's worker exited (code ${code})`));
      worker.unref(); // an idle worker does not keep Node running; a call refs it (#settled unrefs)
    } else {
      worker.onmessage = ({ data }) => onMessage(data);
      worker.onerror = (event) => onFailure(event);
    }
  }

  call(method, args = [], onProgress = undefined) {
    if (this.lost) return Promise.reject(lostError(`the retriever's worker is gone: ${this.#lostWhy}`));
    return new Promise((resolve, reject) => {
      const id = this.#nextId++;
      this.#pending.set(id, { resolve, reject, onProgress });
      if (isNode && this.#pending.size === 1) this.#worker.ref();
      this.#worker.postMessage({ id, method, args });
    });
  }

  #settled(id) {
    this.#pending.delete(id);
    if (isNode && this.#pending.size === 0) this.#worker.unref();
  }

  #lose(why) {
    if (this.lost) return;
    this.lost = true;
    this.#lostWhy = why;
    for (const call of this.#pending.values()) call.reject(lostError(why));
    this.#pending.clear();
    this.#worker.terminate();
  }

  /** Stops the worker as a crash would (calls in flight reject); also how `terminate` ends it. */
  kill() {
    this.#lose("the retriever's worker was stopped");
  }

  terminate() {
    this.#lose(FREED);
  }
}

/** Runs a LocalEngine in this thread behind the same `call` interface as WorkerEngine. */
export class InThreadEngine {
  #state = { engine: null };
  #freed = false;
  stats = {};

  async call(method, args = [], onProgress = undefined) {
    if (this.#freed) throw lostError(FREED); // not wasm-bindgen's "null pointer passed to rust"
    const result = await dispatch(this.#state, method, args, onProgress);
    this.stats = this.#state.engine.stats();
    return result;
  }

  terminate() {
    this.#freed = true;
    this.#state.engine?.free();
  }
}

/** A worker where there are workers (browsers) unless `worker: false`; in Node, in-thread. */
export function pickEngine(options) {
  const useWorker = options.worker ?? (!isNode && typeof Worker !== "undefined");
  return useWorker ? WorkerEngine.start() : new InThreadEngine();
}
