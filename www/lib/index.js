// colbert-wasm: the package entry. In browsers the model runs in a Web Worker (worker.js), so no call
// blocks the page; in Node it runs in-thread. All retrieval logic lives in Rust (www/pkg).
import { LocalEngine, isNode } from "./engine.js";

const ADD_CHUNK = 8;

/** Forwards engine calls to worker.js and resolves them by message id. */
class WorkerEngine {
  #worker;
  #pending = new Map();
  #nextId = 0;
  stats = {};

  constructor() {
    this.#worker = new Worker(new URL("./worker.js", import.meta.url), { type: "module" });
    this.#worker.onmessage = ({ data }) => {
      const call = this.#pending.get(data.id);
      this.#pending.delete(data.id);
      if (data.error) {
        const err = new Error(data.error.message);
        err.name = data.error.name;
        call.reject(err);
      } else {
        this.stats = data.stats;
        call.resolve(data.result);
      }
    };
    this.#worker.onerror = (event) => {
      const err = new Error(`the retriever's worker failed: ${event.message ?? "unknown error"}`);
      for (const call of this.#pending.values()) call.reject(err);
      this.#pending.clear();
    };
  }

  call(method, args = [], transfer = []) {
    return new Promise((resolve, reject) => {
      const id = this.#nextId++;
      this.#pending.set(id, { resolve, reject });
      this.#worker.postMessage({ id, method, args }, transfer);
    });
  }

  terminate() {
    this.#worker.terminate();
  }
}

/** Runs a LocalEngine in this thread behind the same `call` interface as WorkerEngine. */
class InThreadEngine {
  #engine;
  stats = {};

  async call(method, args = []) {
    let result;
    if (method === "open") this.#engine = await LocalEngine.open(args[0]);
    else result = await this.#engine[method](...args);
    this.stats = this.#engine.stats();
    return result;
  }

  terminate() {
    this.#engine?.free();
  }
}

function bundleUrl(location) {
  if (location instanceof URL) return location.href;
  const dir = location.endsWith("/") ? location : location + "/";
  if (isNode && !/^[a-z]+:/i.test(dir)) return new URL(dir, `file://${process.cwd()}/`).href;
  return new URL(dir, globalThis.location?.href).href;
}

function pickEngine(options) {
  const useWorker = options.worker ?? (!isNode && typeof Worker !== "undefined");
  return useWorker ? new WorkerEngine() : new InThreadEngine();
}

export class Retriever {
  #engine;

  constructor(engine) {
    this.#engine = engine;
  }

  /**
   * Loads a bundle folder (manifest.json + the files it names) from a URL or, in Node, a path.
   * options.worker: run in a Web Worker (default: true in browsers, false in Node).
   */
  static async load(location, options = {}) {
    const engine = pickEngine(options);
    await engine.call("open", [{ url: bundleUrl(location) }]);
    return new Retriever(engine);
  }

  /** Loads a bundle from its three files' bytes. Checksums are verified against the manifest. */
  static async fromBytes({ manifest, model, tokenizer }, options = {}) {
    const engine = pickEngine(options);
    await engine.call("open", [{ bytes: { manifest, model, tokenizer } }]);
    return new Retriever(engine);
  }

  /**
   * Adds (or replaces) documents: `[{ id, text }]`. Documents are committed in small chunks, each
   * all-or-nothing; `onProgress(done, total)` follows them and `signal` stops before the next chunk
   * (chunks already committed stay).
   */
  async add(docs, { onProgress, signal } = {}) {
    if (!Array.isArray(docs)) throw new TypeError("add() takes an array of { id, text }");
    const ids = docs.map((d) => String(d.id));
    const texts = docs.map((d) => String(d.text ?? ""));
    for (let start = 0; start < docs.length; start += ADD_CHUNK) {
      signal?.throwIfAborted();
      await this.#engine.call("add", [ids.slice(start, start + ADD_CHUNK), texts.slice(start, start + ADD_CHUNK)]);
      onProgress?.(Math.min(start + ADD_CHUNK, docs.length), docs.length);
    }
  }

  /** The `k` best documents for `query`: `[{ id, score, passage: { start, end } }]`, best first.
   *  `passage` is the best-matching part of the document's text: `text.slice(start, end)`. */
  async search(query, k = 10) {
    return this.#engine.call("search", [String(query), k]);
  }

  /** The tokenizer's ids for `text` (no special tokens): e.g. to count tokens. */
  async tokenize(text) {
    return this.#engine.call("tokenize", [String(text)]);
  }

  /** Number of stored documents. */
  get size() {
    return this.#engine.stats.size;
  }

  /** Stored passages: a document longer than the model's budget is split into several. */
  get passageCount() {
    return this.#engine.stats.passageCount;
  }

  /** Stored token vectors over all documents. */
  get tokenCount() {
    return this.#engine.stats.tokenCount;
  }

  /** MaxSim backend in use: "simd" (CPU lanes; the scalar reference is for tests). */
  get backend() {
    return this.#engine.stats.backend;
  }

  /** sha256 of the loaded model file: the bundle's identity. */
  get modelSha256() {
    return this.#engine.stats.modelSha256;
  }

  /** Frees the model and index (and the worker, if any). */
  free() {
    this.#engine.terminate();
  }
}
