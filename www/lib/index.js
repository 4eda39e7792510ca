// colbert-wasm: the package entry, the `Retriever` facade. Its methods and getters are generated from
// api.js's table (validation, then one engine call); only loading, `add` (chunks and the encoder
// pool), `warmUp` and `free` are written here. Documentation: index.d.ts. In browsers the model runs
// in a Web Worker (worker.js), so no call blocks the page; in Node it runs in-thread (clients.js).
import { GETTERS, METHODS, facadeMethods } from "./api.js";
import { WorkerEngine, pickEngine } from "./clients.js";
import { isNode } from "./engine.js";
import { EncoderPool, addInOrder, addInPool, defaultEncoders } from "./pool.js";
import { openStorage } from "./storage.js";
import { yieldToEvents } from "./recovery.js";
import { runUntilSettled } from "./warmup.js";
import { checkEncoders, checkMaxDocumentLength, checkPoolFactor, checkString } from "./validate.js";

const ADD_CHUNK = 8;
/** Load option (tests): a `settled(times)` rule replacing warmup.js's, to hold the warm-up open. */
const WARM_UP_SETTLED_FOR_TESTING = Symbol.for("colbert-wasm.warmUpSettledForTesting");

function bundleUrl(location) {
  if (location instanceof URL) return location.href;
  const dir = location.endsWith("/") ? location : location + "/";
  if (isNode && !/^[a-z]+:/i.test(dir)) return new URL(dir, `file://${process.cwd()}/`).href;
  return new URL(dir, globalThis.location?.href).href;
}

function engineOptions({ precision, gpu, backend, persist, poolFactor, storeText }) {
  return { precision, gpu, backend, persist, poolFactor: checkPoolFactor(poolFactor), storeText: Boolean(storeText) };
}

export class Retriever {
  #engine;
  #maxDocumentLength;
  /** With more than one encoder: the pool that encodes `add`'s chunks in parallel (pool.js). */
  #pool;
  /** The warm-up in progress or done (`warmUp`). */
  #warming;
  /** When the warm-up's times count as settled: warmup.js's rule unless a test holds the warm-up open. */
  #warmUpSettled;

  static {
    for (const [key, name, row] of facadeMethods()) {
      Object.defineProperty(Retriever.prototype, key, {
        async value(...callerArgs) {
          const args = row.check(...callerArgs);
          const result = await this.#engine.call(name, args);
          return row.result ? row.result(result, args) : result;
        },
        writable: true,
        configurable: true,
      });
    }
    for (const [name, { default: fallback }] of Object.entries(GETTERS)) {
      Object.defineProperty(Retriever.prototype, name, {
        get() {
          return this.#engine.stats[name] ?? fallback ?? null;
        },
        configurable: true,
      });
    }
  }

  constructor(engine, options = {}, pool = null) {
    this.#engine = engine;
    this.#maxDocumentLength = checkMaxDocumentLength(options.maxDocumentLength);
    this.#pool = pool;
    this.#warmUpSettled = options[WARM_UP_SETTLED_FOR_TESTING];
  }

  static async load(location, options = {}) {
    if (!(location instanceof URL)) checkString(location, "location");
    return Retriever.#open({ url: bundleUrl(location) }, options, options.onProgress);
  }

  static async fromBytes({ manifest, model, tokenizer, modelData }, options = {}) {
    return Retriever.#open({ bytes: { manifest, model, tokenizer, modelData } }, options);
  }

  /**
   * In a worker, the engine warms itself up (see `warmUp`) without the page waiting: the retriever is
   * returned at once, and queries no longer land in the slow first runs of a fresh wasm module (they
   * wait for at most one warm-up encode). In-thread there is nothing to overlap it with, so none.
   */
  static async #open(source, options, onProgress) {
    checkMaxDocumentLength(options.maxDocumentLength);
    const encoders = checkEncoders(options.encoders) ?? defaultEncoders();
    const engine = await pickEngine(options);
    await engine.call("open", [source, engineOptions(options)], onProgress);
    // The pool's engines open the same bundle (through the offline cache) in the same precision.
    const open = [source, { precision: options.precision, gpu: false, poolFactor: options.poolFactor }];
    const pool = encoders > 1 ? new EncoderPool(encoders, open, () => WorkerEngine.start()) : null;
    const retriever = new Retriever(engine, options, pool);
    if (engine instanceof WorkerEngine) retriever.warmUp().catch(() => {});
    return retriever;
  }

  warmUp() {
    const runOnce = async () => {
      await yieldToEvents();
      return this.#engine.call("warmUp");
    };
    this.#warming ??= runUntilSettled(runOnce, { isSettled: this.#warmUpSettled });
    return this.#warming;
  }

  static async deleteIndex(name) {
    await openStorage(checkString(name, "name")).remove();
  }

  async add(docs, { onProgress, signal } = {}) {
    const [checked] = METHODS.add.check(docs, this.#maxDocumentLength);
    const chunks = [];
    for (let start = 0; start < checked.length; start += ADD_CHUNK) {
      const end = Math.min(start + ADD_CHUNK, checked.length);
      chunks.push({ start, end, docs: checked.slice(start, end) });
    }
    // An id twice across chunks must be committed in order of encoding: leave that to one engine.
    const pooled = this.#pool && chunks.length > 1 && new Set(checked.map((d) => d.id)).size === checked.length;
    const addChunks = pooled ? addInPool : addInOrder;
    const abort = () => {
      // The engines stop the chunks they are encoding at their next passage.
      this.#engine.call("abortAdd").catch(() => {});
      this.#pool?.abort();
    };
    signal?.addEventListener("abort", abort);
    try {
      return await addChunks(this.#engine, this.#pool, chunks, checked.length, onProgress, signal);
    } catch (err) {
      throw err?.name === "AbortError" && signal?.aborted ? signal.reason : err;
    } finally {
      signal?.removeEventListener("abort", abort);
    }
  }

  free() {
    this.#engine.terminate();
    this.#pool?.terminate();
  }

  /** Stops one busy encoder of the pool as a crash would (tests: its chunk must be encoded again). */
  [Symbol.for("colbert-wasm.killEncoderForTesting")]() {
    return this.#pool?.killBusy() ?? false;
  }
}
