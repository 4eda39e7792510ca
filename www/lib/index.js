// colbert-wasm: the package entry. In browsers the model runs in a Web Worker (worker.js), so no call
// blocks the page; in Node it runs in-thread. All retrieval logic lives in Rust (www/pkg).
import { LocalEngine, PROGRESS_METHODS, isNode } from "./engine.js";
import { openStorage } from "./storage.js";
import {
  checkBytes, checkDocuments, checkFilter, checkId, checkK, checkMaxDocumentLength, checkOffset, checkString, checkTokenIds,
} from "./validate.js";

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
      if (data.progress) return call.onProgress?.(...data.progress);
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

  call(method, args = [], onProgress = undefined) {
    return new Promise((resolve, reject) => {
      const id = this.#nextId++;
      this.#pending.set(id, { resolve, reject, onProgress });
      this.#worker.postMessage({ id, method, args });
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

  async call(method, args = [], onProgress = undefined) {
    let result;
    const callArgs = PROGRESS_METHODS.has(method) ? [...args, onProgress] : args;
    if (method === "open") this.#engine = await LocalEngine.open(...callArgs);
    else result = await this.#engine[method](...callArgs);
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

function engineOptions({ precision, gpu, backend, persist }) {
  return { precision, gpu, backend, persist };
}

function pickEngine(options) {
  const useWorker = options.worker ?? (!isNode && typeof Worker !== "undefined");
  return useWorker ? new WorkerEngine() : new InThreadEngine();
}

export class Retriever {
  #engine;
  #maxDocumentLength;

  constructor(engine, options = {}) {
    this.#engine = engine;
    this.#maxDocumentLength = checkMaxDocumentLength(options.maxDocumentLength);
  }

  /**
   * Loads a bundle folder (manifest.json + the files it names) from a URL or, in Node, a path.
   * Options (all optional): worker, precision, gpu, backend, persist, onProgress: see index.d.ts.
   */
  static async load(location, options = {}) {
    if (!(location instanceof URL)) checkString(location, "location");
    checkMaxDocumentLength(options.maxDocumentLength);
    const engine = pickEngine(options);
    await engine.call("open", [{ url: bundleUrl(location) }, engineOptions(options)], options.onProgress);
    return Retriever.#warmed(engine, options);
  }

  /**
   * Loads a bundle from its files' bytes: `modelData` maps the manifest's data roles (`model_data`, …)
   * to the model's external data files. Checksums are verified against the manifest.
   */
  static async fromBytes({ manifest, model, tokenizer, modelData }, options = {}) {
    checkMaxDocumentLength(options.maxDocumentLength);
    const engine = pickEngine(options);
    await engine.call("open", [{ bytes: { manifest, model, tokenizer, modelData } }, engineOptions(options)]);
    return Retriever.#warmed(engine, options);
  }

  /**
   * In a worker, a warm-up encode is queued behind `open` without waiting for it: the page gets the
   * retriever at once, and the first real query no longer pays the first run's extra cost (it waits at
   * most for the rest of the warm-up). Measured in Chromium: first search 43 ms without, 23 ms with.
   * In-thread (Node) there is nothing to overlap it with, so none.
   */
  static #warmed(engine, options) {
    if (engine instanceof WorkerEngine) engine.call("warmUp").catch(() => {});
    return new Retriever(engine, options);
  }

  /** Deletes a stored index (see the `persist` option): the explicit way to start over. */
  static async deleteIndex(name) {
    await openStorage(checkString(name, "name")).remove();
  }

  /**
   * Adds (or replaces) documents: `[{ id, text, metadata? }]`. A document whose text is unchanged is
   * not encoded again (its metadata is still updated). Documents are committed in small chunks, each
   * all-or-nothing (and, with `persist`, stored in one transaction); `onProgress(done, total)` follows
   * them and `signal` stops before the next chunk (chunks already committed stay). Resolves to
   * `{ encoded, unchanged }`.
   */
  async add(docs, { onProgress, signal } = {}) {
    const { ids, texts, metadata } = checkDocuments(docs, this.#maxDocumentLength);
    const report = { encoded: 0, unchanged: 0 };
    // The engine stops the chunk it is encoding at its next passage.
    const abort = () => this.#engine.call("abortAdd").catch(() => {});
    signal?.addEventListener("abort", abort);
    try {
      for (let start = 0; start < docs.length; start += ADD_CHUNK) {
        signal?.throwIfAborted();
        const end = Math.min(start + ADD_CHUNK, docs.length);
        const passages = (done, total) => onProgress?.(start, docs.length, { done, total });
        const args = [ids.slice(start, end), texts.slice(start, end), metadata.slice(start, end)];
        const done = await this.#engine.call("add", args, passages).catch((err) => {
          throw err?.name === "AbortError" && signal?.aborted ? signal.reason : err;
        });
        report.encoded += done.encoded;
        report.unchanged += done.unchanged;
        onProgress?.(end, docs.length);
      }
    } finally {
      signal?.removeEventListener("abort", abort);
    }
    return report;
  }

  /** The `k` best documents for `query`: `[{ id, score, passage: { start, end }, metadata }]`, best
   *  first. `passage` is the best-matching part of the document's text: `text.slice(start, end)`.
   *  `filter` (e.g. `{ folder: "work" }`) keeps documents whose metadata has each value (or an array
   *  containing it). The array's `backend` says which MaxSim backend scored it. */
  async search(query, k = 10, { filter } = {}) {
    const args = [checkString(query, "query"), checkK(k), checkFilter(filter)];
    const { hits, backend } = await this.#engine.call("search", args);
    return Object.assign(hits, { backend });
  }

  /**
   * Why `text` matched `query`: `[{ queryToken, queryRange, docRange, score }]`, one per query token:
   * the document token it matched best (MaxSim's argmax) as a range of `text` (null for a special
   * token) and its share of the score. Pass the hit for a long document so its best passage is used.
   */
  async explain(query, text, hit) {
    const start = hit?.passage?.start;
    if (start !== undefined) checkOffset(start, "hit.passage.start");
    return this.#engine.call("explain", [checkString(query, "query"), checkString(text, "text"), start]);
  }

  /** Removes a document by id; resolves to whether it was stored. */
  async remove(id) {
    return this.#engine.call("remove", [checkId(id)]);
  }

  /** Chooses the MaxSim backend: "auto" (default), "webgpu", "simd" or "scalar". */
  async setBackend(name) {
    await this.#engine.call("setBackend", [checkString(name, "name")]);
  }

  /**
   * A deliberate wasm trap, reachable only through this symbol: the engine's recovery tests use it
   * ("now": trap in this call; "commit": trap inside the next add's commit).
   */
  async [Symbol.for("colbert-wasm.trapForTesting")](when) {
    await this.#engine.call("trapForTesting", [checkString(when, "when")]);
  }

  /** Destroys the WebGPU device as a driver reset would (tests of the CPU fallback). */
  async destroyGpuForTesting() {
    await this.#engine.call("destroyGpuForTesting");
  }

  /** The whole index as one versioned, checksummed file (a Uint8Array), for backup or moving. */
  async exportIndex() {
    return this.#engine.call("exportIndex");
  }

  /** Replaces the index with an exported file. An altered, truncated or foreign file rejects with an
   *  `IndexError` and the current index stays. */
  async importIndex(bytes) {
    await this.#engine.call("importIndex", [checkBytes(bytes, "bytes")]);
  }

  /** The encoder's rows (Float32Array, `dim` per token) for exactly these token ids, with no
   *  markers added: for checking this runtime against another on the same model. */
  async encodeIds(ids) {
    return this.#engine.call("encodeIds", [checkTokenIds(ids)]);
  }

  /** The tokenizer's ids for `text` (no special tokens): e.g. to count tokens. */
  async tokenize(text) {
    return this.#engine.call("tokenize", [checkString(text, "text")]);
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

  /** The MaxSim backend a full-length query would use now: "webgpu", "simd" or "scalar". */
  get backend() {
    return this.#engine.stats.backend;
  }

  /**
   * What `auto` measured at the index's current size: `{ sizeClass, gpuMs, cpuMs }` from one search
   * run on both the GPU and the CPU kernel (the faster is used for that size), or null before then.
   */
  get backendMeasurement() {
    return this.#engine.stats.backendMeasurement;
  }

  /** How document vectors are stored: "int8" (default), "f32", "f16" or "binary". */
  get precision() {
    return this.#engine.stats.precision;
  }

  /** The WebGPU adapter in use, or null; `gpuError` says why there is none. */
  get gpuAdapter() {
    return this.#engine.stats.gpuAdapter;
  }

  get gpuError() {
    return this.#engine.stats.gpuError;
  }

  /** With `persist`: `{ name, version }` of the stored index this one matches; else null. */
  get persisted() {
    return this.#engine.stats.persisted;
  }

  /** Which wasm build runs the model: "relaxed-simd" (faster; engines with relaxed SIMD) or "simd128". */
  get wasmBuild() {
    return this.#engine.stats.wasmBuild;
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
